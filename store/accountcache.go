package store

import (
	"context"
	"sync"
	"time"
)

// AccountCacheTTL bounds how long CachedUserAndPolicy trusts an account it holds in memory when
// no admin change signal arrived: a backstop for a signal lost without notice.
const AccountCacheTTL = 10 * time.Second

// maxCachedAccounts bounds the accounts CachedUserAndPolicy keeps.
const maxCachedAccounts = 100_000

// accountCache keeps what UserAndPolicy read, by address, and forgets it on the admin change
// signals that concern it (adminchange.go): AdminChangeUser (updateUser publishes it for every
// change of a user row: password, disabled, protocols), AdminChangePolicy (a policy's settings,
// an assignment, the default) and AdminChangeAll. A value read from the database is kept only
// if no signal arrived while it was read (gen), and the subscription is made before the first
// read.
type accountCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string]cachedAccount
	cancel  func()
}

type cachedAccount struct {
	u  User
	p  PolicyRecord
	ok bool
	at time.Time
}

func (s *Store) accounts() *accountCache {
	s.acOnce.Do(func() {
		c := &accountCache{entries: make(map[string]cachedAccount)}
		c.cancel = s.SubscribeAdminChanges(c.changed)
		s.ac = c
	})
	return s.ac
}

func (c *accountCache) changed(ch AdminChange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ch.Kind {
	case AdminChangeUser, AdminChangePolicy:
		if ch.User != 0 {
			c.gen++
			for a, e := range c.entries {
				if e.u.ID == ch.User {
					delete(c.entries, a)
				}
			}
			return
		}
	case AdminChangeAll:
	default:
		return // partnerships, lists, rules: not held here
	}
	c.gen++
	clear(c.entries)
}

// CachedUserAndPolicy is UserAndPolicy answered from memory while admin change signals from
// every process sharing the database arrive (the SQLite poller PollOtherWriters starts, the
// PostgreSQL listener of Open's PGNotifier), and from the database otherwise or after
// AccountCacheTTL. So a change made through this Store is seen by the next call, and one made
// by another process once its signal arrived (the poll interval on SQLite).
func (s *Store) CachedUserAndPolicy(ctx context.Context, addr string) (User, PolicyRecord, bool, error) {
	if !s.adminSignalsLive() {
		return s.UserAndPolicy(ctx, addr)
	}
	// Entries are keyed by addr as given: another spelling of the same address is another
	// entry of the same user, dropped by the same signals.
	c := s.accounts()
	now := time.Now()
	c.mu.Lock()
	if e, ok := c.entries[addr]; ok && now.Sub(e.at) < AccountCacheTTL {
		c.mu.Unlock()
		return e.u, e.p, e.ok, nil
	}
	gen := c.gen
	c.mu.Unlock()
	u, p, ok, err := s.UserAndPolicy(ctx, addr)
	if err != nil {
		return u, p, ok, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(c.entries) >= maxCachedAccounts {
			clear(c.entries)
		}
		c.entries[addr] = cachedAccount{u: u, p: p, ok: ok, at: now}
	}
	c.mu.Unlock()
	return u, p, ok, nil
}

// adminSignalsLive reports whether admin changes of other processes reach this Store: on
// SQLite once PollOtherWriters runs, on PostgreSQL through Open's PGNotifier while it listens.
func (s *Store) adminSignalsLive() bool {
	switch n := s.notifier.(type) {
	case *pollNotifier:
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.stop != nil
	case *PGNotifier:
		return n.Live()
	}
	return false
}

// closeAccountCache stops listening for admin changes.
func (s *Store) closeAccountCache() {
	if s.ac != nil && s.ac.cancel != nil {
		s.ac.cancel()
	}
}
