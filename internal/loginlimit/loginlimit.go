// Package loginlimit throttles failed logins, per client address and per
// account, for every front-end that checks passwords (ActiveSync,
// Autodiscover, and later IMAP, POP3, SMTP and the dashboard). One Limiter is
// shared by all of them, so an attacker cannot get a fresh budget by
// switching protocols.
//
// Each key has a sliding window of its last failures; memory is bounded (see
// limiter). A successful login resets nothing: an attacker who owns one
// account cannot clear his address's count by logging in to it.
package loginlimit

import (
	"net/netip"
	"sync"
	"time"
)

// Limit is a failure budget: at most Failures failed logins within any Window.
type Limit struct {
	Failures int
	Window   time.Duration
}

// limiter counts failures per key in a sliding window and refuses a key that has used up its
// budget. Memory is bounded: each key keeps at most limit.Failures timestamps, and at most
// maxKeys keys are tracked; when full, expired keys are swept and, if that is not enough, an
// arbitrary key is dropped (an attacker who floods the table can make us forget one of his
// other addresses, never grow it). Safe for concurrent use.
type limiter struct {
	limit   Limit
	maxKeys int
	now     func() time.Time

	mu   sync.Mutex
	keys map[string]*failures
}

// failures is a ring of the last limit.Failures failure times of one key.
type failures struct {
	times []time.Time // len == limit.Failures once full; oldest at next
	next  int
}

func newLimiter(l Limit, maxKeys int, now func() time.Time) *limiter {
	return &limiter{limit: l, maxKeys: maxKeys, now: now, keys: make(map[string]*failures)}
}

// retryAfter returns how long key must wait before its next attempt is considered, or 0 if it
// may try now. A key is blocked when its last limit.Failures failures all fall within the
// window; it is free again when the oldest of them leaves the window.
func (l *limiter) retryAfter(key string) time.Duration {
	if l.limit.Failures <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.keys[key]
	if f == nil || len(f.times) < l.limit.Failures {
		return 0
	}
	oldest := f.times[f.next]
	if d := oldest.Add(l.limit.Window).Sub(l.now()); d > 0 {
		return d
	}
	return 0
}

// fail records a failure of key.
func (l *limiter) fail(key string) {
	if l.limit.Failures <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.keys[key]
	if f == nil {
		if len(l.keys) >= l.maxKeys {
			l.evict(now)
		}
		f = &failures{times: make([]time.Time, 0, l.limit.Failures)}
		l.keys[key] = f
	}
	if len(f.times) < l.limit.Failures {
		f.times = append(f.times, now)
		return
	}
	f.times[f.next] = now
	f.next = (f.next + 1) % len(f.times)
}

// evict makes room for one key: first every key whose newest failure left the window, then,
// if none did, one arbitrary key (map iteration order is random).
func (l *limiter) evict(now time.Time) {
	for k, f := range l.keys {
		newest := f.times[(f.next+len(f.times)-1)%len(f.times)]
		if now.Sub(newest) >= l.limit.Window {
			delete(l.keys, k)
		}
	}
	if len(l.keys) < l.maxKeys {
		return
	}
	for k := range l.keys {
		delete(l.keys, k)
		return
	}
}

// size returns the number of tracked keys.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// Options configures New. The zero value gives the defaults.
type Options struct {
	// PerAddress limits failures from one client address (an IPv6 client counts per /64, the
	// smallest network one subscriber usually gets). Zero: 10 failures in 5 minutes.
	PerAddress Limit
	// PerAccount limits failures against one account, from anywhere. Zero: 20 failures in
	// 15 minutes.
	PerAccount Limit
	// MaxKeys bounds how many addresses and how many accounts are tracked (each). Zero:
	// 50,000.
	MaxKeys int
	// Disable turns the throttle off (tests of other things, or a proxy that throttles).
	Disable bool
	// Now is the clock; nil: time.Now. Tests pass a fake.
	Now func() time.Time
}

// Limiter combines the per-address and per-account limits. Safe for
// concurrent use.
type Limiter struct {
	addr, acct *limiter
}

// New returns a Limiter.
func New(o Options) *Limiter {
	if o.Disable {
		return &Limiter{addr: newLimiter(Limit{}, 0, nil), acct: newLimiter(Limit{}, 0, nil)}
	}
	if o.PerAddress == (Limit{}) {
		o.PerAddress = Limit{Failures: 10, Window: 5 * time.Minute}
	}
	if o.PerAccount == (Limit{}) {
		o.PerAccount = Limit{Failures: 20, Window: 15 * time.Minute}
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 50_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Limiter{
		addr: newLimiter(o.PerAddress, o.MaxKeys, o.Now),
		acct: newLimiter(o.PerAccount, o.MaxKeys, o.Now),
	}
}

// Allow returns how long a login for account from remote must wait, 0 if it
// may proceed. Check it before the password, so a throttled guesser costs no
// password hashing.
func (t *Limiter) Allow(account string, remote netip.Addr) time.Duration {
	return max(t.addr.retryAfter(addrKey(remote)), t.acct.retryAfter(account))
}

// Failed records a failed login. A success records nothing and resets
// nothing.
func (t *Limiter) Failed(account string, remote netip.Addr) {
	t.addr.fail(addrKey(remote))
	t.acct.fail(account)
}

// addrKey maps a client address to its key: the IPv4 address, or the /64 of
// an IPv6 address (the smallest network one subscriber usually gets). An
// invalid address (a client whose peer address could not be read) shares one
// key.
func addrKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
