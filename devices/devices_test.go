package devices_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newUser(t *testing.T, s *store.Store, addr string) store.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), store.NewUser{Address: addr, Password: "pw"})
	require.NoError(t, err)
	return u
}

func TestTouchCoalesces(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "touch@example.org")
		clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		reg := devices.New(s, devices.Options{Now: clk.now, FlushInterval: -1}) // flushed by the test only
		t.Cleanup(reg.Close)
		k := devices.Key{User: u.ID, DeviceID: "Ping1"}
		c := devices.Contact{DeviceType: "iPhone", UserAgent: "iOS/1", ProtocolVersion: "16.1"}
		t0 := clk.now()
		lastSeen := func() time.Time {
			t.Helper()
			row, err := s.DeviceOf(ctx, u.ID, "Ping1")
			require.NoError(t, err)
			return row.LastSeen
		}

		d, err := reg.Touch(ctx, k, c)
		require.NoError(t, err)
		assert.Equal(t, t0, d.LastSeen)
		assert.Equal(t, t0, lastSeen(), "first contact: written at once")

		// Within the interval: answered from memory without a statement; last_seen waits
		// for the flush.
		clk.advance(30 * time.Second)
		stmts := countStatements(t, s)
		d, err = reg.Touch(ctx, k, c)
		require.NoError(t, err)
		assert.Zero(t, stmts.Load(), "no database round trip")
		assert.Equal(t, t0.Add(30*time.Second), d.LastSeen, "in memory")
		assert.Equal(t, t0, lastSeen(), "not written yet")
		require.NoError(t, reg.Flush(ctx))
		assert.Equal(t, t0.Add(30*time.Second), lastSeen(), "written by the flush")

		// A changed protocol version is written at once.
		clk.advance(time.Second)
		c.ProtocolVersion = "14.1"
		_, err = reg.Touch(ctx, k, c)
		require.NoError(t, err)
		row, err := s.DeviceOf(ctx, u.ID, "Ping1")
		require.NoError(t, err)
		assert.Equal(t, "14.1", row.ProtocolVersion)
		assert.Equal(t, t0.Add(31*time.Second), row.LastSeen)

		// After the interval: the row is read again, not written; the flush writes last_seen.
		clk.advance(devices.DefaultTouchInterval)
		d, err = reg.Touch(ctx, k, c)
		require.NoError(t, err)
		assert.Equal(t, t0.Add(31*time.Second+devices.DefaultTouchInterval), d.LastSeen)
		assert.Equal(t, t0.Add(31*time.Second), lastSeen(), "read, not written")
		require.NoError(t, reg.Flush(ctx))
		assert.Equal(t, t0.Add(31*time.Second+devices.DefaultTouchInterval), lastSeen())

		// A row changed behind the registry's back (no signal) is seen after the interval.
		require.NoError(t, s.SetDeviceTrace(ctx, d.ID, true))
		clk.advance(time.Second)
		d, err = reg.Touch(ctx, k, c)
		require.NoError(t, err)
		assert.False(t, d.TraceEnabled, "within the interval: the cached row")
		clk.advance(devices.DefaultTouchInterval)
		d, err = reg.Touch(ctx, k, c)
		require.NoError(t, err)
		assert.True(t, d.TraceEnabled, "after it: read again")
	})
}

func TestRegistryLifecycle(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "life@example.org")
		reg := devices.New(s, devices.Options{})
		k := devices.Key{User: u.ID, DeviceID: "Life1"}
		d, err := reg.Touch(ctx, k, devices.Contact{DeviceType: "Android", ProtocolVersion: "16.1"})
		require.NoError(t, err)

		info := devices.Info{Model: "Pixel 8", OS: "Android 15", FriendlyName: "Pixel"}
		require.NoError(t, reg.SetInfo(ctx, k, info))
		got, err := reg.Get(ctx, k)
		require.NoError(t, err)
		assert.Equal(t, "Pixel 8", got.Info.Model)
		assert.ErrorIs(t, reg.SetInfo(ctx, devices.Key{User: u.ID, DeviceID: "nope"}, info), store.ErrNotFound)

		def, err := s.DefaultPolicy(ctx)
		require.NoError(t, err)
		temp, err := reg.BeginProvision(ctx, k, def.ID, def.Version)
		require.NoError(t, err)
		assert.NotZero(t, temp)
		_, err = reg.Acknowledge(ctx, k, temp+1, 1)
		assert.ErrorIs(t, err, devices.ErrWrongPolicyKey)
		_, err = reg.Acknowledge(ctx, k, 0, 1)
		assert.ErrorIs(t, err, devices.ErrWrongPolicyKey)
		final, err := reg.Acknowledge(ctx, k, temp, 1)
		require.NoError(t, err)
		assert.NotZero(t, final)
		assert.NotEqual(t, temp, final)
		got, err = reg.Get(ctx, k)
		require.NoError(t, err)
		assert.Equal(t, final, got.PolicyKey)

		_, traced := reg.Traced(k)
		assert.False(t, traced)
		require.NoError(t, reg.SetTrace(ctx, d.ID, true))
		id, traced := reg.Traced(k)
		assert.True(t, traced)
		assert.Equal(t, d.ID, id)
		tr, err := reg.Traces(ctx, d.ID, 0)
		require.NoError(t, err)
		assert.Empty(t, tr)
		require.NoError(t, s.AppendTrace(ctx, store.TraceRecord{Device: d.ID, Command: "Ping", HTTPStatus: 200}, 0))
		tr, err = reg.Traces(ctx, d.ID, 0)
		require.NoError(t, err)
		require.Len(t, tr, 1)
		assert.Equal(t, "Ping", tr[0].Command)

		list, err := reg.List(ctx, store.DeviceFilter{User: u.ID})
		require.NoError(t, err)
		require.Len(t, list, 1)

		// Removal: the next contact creates a new, unprovisioned partnership.
		require.NoError(t, reg.Remove(ctx, d.ID))
		_, traced = reg.Traced(k)
		assert.False(t, traced)
		assert.ErrorIs(t, reg.Remove(ctx, d.ID), store.ErrNotFound)
		nd, err := reg.Touch(ctx, k, devices.Contact{DeviceType: "Android", ProtocolVersion: "16.1"})
		require.NoError(t, err)
		assert.NotEqual(t, d.ID, nd.ID)
		assert.Zero(t, nd.PolicyKey)
	})
}

// TestConcurrentFirstContact: requests of one new device on several registries (nodes) at
// once create one partnership.
func TestConcurrentFirstContact(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "burst@example.org")
		regs := []*devices.Registry{devices.New(s, devices.Options{}), devices.New(s, devices.Options{}), devices.New(s, devices.Options{})}
		var wg sync.WaitGroup
		errs := make(chan error, 30)
		for i := range 30 {
			wg.Go(func() {
				_, err := regs[i%len(regs)].Touch(ctx, devices.Key{User: u.ID, DeviceID: "Burst"},
					devices.Contact{DeviceType: "iPhone", ProtocolVersion: "16.1"})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		list, err := s.Devices(ctx, store.DeviceFilter{User: u.ID})
		require.NoError(t, err)
		assert.Len(t, list, 1)
	})
}

func TestNewPolicyKey(t *testing.T) {
	t.Parallel()
	seen := map[uint32]bool{}
	for range 1000 {
		k := devices.NewPolicyKey()
		require.NotZero(t, k)
		seen[k] = true
	}
	assert.Greater(t, len(seen), 990, "random keys")
}

// BenchmarkTouchCached: a request of a known device (the gate's Touch), its last_seen left
// to the flush. It reports the database statements per call (db-stmts/op), which must be 0.
func BenchmarkTouchCached(b *testing.B) {
	storetest.ForEachBench(b, func(b *testing.B, s *store.Store) {
		u, err := s.CreateUser(b.Context(), store.NewUser{Address: "bench@example.org", Password: "pw"})
		require.NoError(b, err)
		reg := devices.New(s, devices.Options{FlushInterval: -1}) // BenchmarkFlush measures the flush
		defer reg.Close()
		k := devices.Key{User: u.ID, DeviceID: "Bench1"}
		c := devices.Contact{DeviceType: "iPhone", UserAgent: "iOS", ProtocolVersion: "16.1"}
		_, err = reg.Touch(b.Context(), k, c)
		require.NoError(b, err)
		require.NoError(b, reg.Flush(b.Context()))
		stmts := countStatements(b, s)
		calls := 0
		b.ReportAllocs()
		for b.Loop() {
			if _, err := reg.Touch(b.Context(), k, c); err != nil {
				b.Fatal(err)
			}
			calls++
		}
		b.ReportMetric(float64(stmts.Load())/float64(calls), "db-stmts/op")
	})
}

func BenchmarkTouchWrite(b *testing.B) {
	storetest.ForEachBench(b, func(b *testing.B, s *store.Store) {
		u, err := s.CreateUser(b.Context(), store.NewUser{Address: "bench@example.org", Password: "pw"})
		require.NoError(b, err)
		reg := devices.New(s, devices.Options{TouchInterval: -1})
		k := devices.Key{User: u.ID, DeviceID: "Bench1"}
		c := devices.Contact{DeviceType: "iPhone", UserAgent: "iOS", ProtocolVersion: "16.1"}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := reg.Touch(b.Context(), k, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTouchReread is a known device's request once its entry is older than TouchInterval
// (every request of a device that was quiet for a minute, a Ping's most of all): the registry
// reads the row again, and what the user's lists say about it.
func BenchmarkTouchReread(b *testing.B) {
	storetest.ForEachBench(b, func(b *testing.B, s *store.Store) {
		u, err := s.CreateUser(b.Context(), store.NewUser{Address: "bench@example.org", Password: "pw"})
		require.NoError(b, err)
		clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		reg := devices.New(s, devices.Options{Now: clk.now, FlushInterval: -1})
		defer reg.Close()
		k := devices.Key{User: u.ID, DeviceID: "Bench1"}
		_, err = reg.Touch(b.Context(), k, contact)
		require.NoError(b, err)
		stmts := countStatements(b, s)
		calls := 0
		b.ReportAllocs()
		for b.Loop() {
			clk.advance(devices.DefaultTouchInterval)
			if _, err := reg.Touch(b.Context(), k, contact); err != nil {
				b.Fatal(err)
			}
			calls++
		}
		b.ReportMetric(float64(stmts.Load())/float64(calls), "db-stmts/op")
	})
}
