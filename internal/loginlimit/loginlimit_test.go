package loginlimit

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time          { return c.t }
func (c *testClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLimiterSlidingWindow(t *testing.T) {
	t.Parallel()
	clk := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newLimiter(Limit{Failures: 3, Window: time.Minute}, 10, clk.now)

	assert.Zero(t, l.retryAfter("k"))
	l.fail("k") // t=0
	clk.advance(20 * time.Second)
	l.fail("k") // t=20
	assert.Zero(t, l.retryAfter("k"), "2 of 3")
	clk.advance(20 * time.Second)
	l.fail("k") // t=40
	assert.Equal(t, 20*time.Second, l.retryAfter("k"), "blocked until the t=0 failure leaves the window")
	assert.Zero(t, l.retryAfter("other"), "keys are independent")

	clk.advance(20 * time.Second) // t=60: the first failure is out, two remain
	assert.Zero(t, l.retryAfter("k"))
	l.fail("k") // t=60: 20, 40, 60 in the window
	assert.Equal(t, 20*time.Second, l.retryAfter("k"), "sliding, not fixed, window")

	clk.advance(41 * time.Second)
	assert.Zero(t, l.retryAfter("k"))
}

func TestLimiterBoundedMemory(t *testing.T) {
	t.Parallel()
	clk := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newLimiter(Limit{Failures: 2, Window: time.Minute}, 100, clk.now)
	for i := range 1000 {
		l.fail(fmt.Sprint("addr", i))
		require.LessOrEqual(t, l.size(), 100)
	}
	// Expired keys are swept first: after the window, a new key replaces them all.
	clk.advance(2 * time.Minute)
	l.fail("fresh")
	assert.Equal(t, 1, l.size())

	// A key's history never exceeds its budget.
	for range 50 {
		l.fail("fresh")
	}
	l.mu.Lock()
	assert.Len(t, l.keys["fresh"].times, 2)
	l.mu.Unlock()
}

func TestThrottleKeys(t *testing.T) {
	t.Parallel()
	clk := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := New(Options{
		PerAddress: Limit{Failures: 2, Window: time.Minute},
		PerAccount: Limit{Failures: 3, Window: time.Minute},
		Now:        clk.now,
	})
	// Per account: failures from three addresses block the account everywhere.
	th.Failed("alice@example.com", netip.MustParseAddr("192.0.2.1"))
	th.Failed("alice@example.com", netip.MustParseAddr("192.0.2.2"))
	th.Failed("alice@example.com", netip.MustParseAddr("192.0.2.3"))
	assert.Positive(t, th.Allow("alice@example.com", netip.MustParseAddr("198.51.100.9")))
	assert.Zero(t, th.Allow("bob@example.com", netip.MustParseAddr("198.51.100.9")))

	// Per address: an IPv6 client counts per /64, whatever the rest of its address.
	th.Failed("x1@example.com", netip.MustParseAddr("2001:db8:1:2::1"))
	th.Failed("x2@example.com", netip.MustParseAddr("2001:db8:1:2:ffff::7"))
	assert.Positive(t, th.Allow("bob@example.com", netip.MustParseAddr("2001:db8:1:2::99")))
	assert.Zero(t, th.Allow("bob@example.com", netip.MustParseAddr("2001:db8:1:3::1")))
	// IPv4-mapped IPv6 is the IPv4 address.
	th.Failed("y@example.com", netip.MustParseAddr("::ffff:203.0.113.5"))
	th.Failed("z@example.com", netip.MustParseAddr("203.0.113.5"))
	assert.Positive(t, th.Allow("bob@example.com", netip.MustParseAddr("203.0.113.5")))

	assert.Equal(t, "2001:db8:1:2::/64", addrKey(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")))
	assert.Equal(t, "invalid IP", addrKey(netip.Addr{}))

	off := New(Options{Disable: true})
	for range 100 {
		off.Failed("alice@example.com", netip.MustParseAddr("192.0.2.1"))
	}
	assert.Zero(t, off.Allow("alice@example.com", netip.MustParseAddr("192.0.2.1")))
}
