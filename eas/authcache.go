package eas

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/easd/easd/store"
)

// UserLookup is an optional capability of an Authenticator (*store.Store has it): reading an
// account without checking a password. With it the Server caches verified credentials, so
// that a device's every Sync and Ping does not pay the password KDF (argon2id with 64 MiB).
type UserLookup interface {
	UserByAddress(ctx context.Context, addr string) (store.User, error)
}

var _ UserLookup = (*store.Store)(nil)

// AccountLookup is an optional capability of a UserLookup (*store.Store has it): the account
// and the policy in force for it, read together and kept in memory until a change to either
// is signalled by any process sharing the database (store.CachedUserAndPolicy). With it a
// request whose credentials are cached reads no account from the database, and a Gate over the
// same store takes the policy from that read (Request.policyRec).
type AccountLookup interface {
	CachedUserAndPolicy(ctx context.Context, addr string) (store.User, store.PolicyRecord, bool, error)
}

var _ AccountLookup = (*store.Store)(nil)

// DefaultCredentialTTL is how long a verified password is remembered after its last use when
// Options.CredentialTTL is 0: longer than the longest Ping heartbeat (DefaultMaxHeartbeat,
// 59 minutes), so a device that only Pings never pays the KDF again. With five minutes (the
// default before) nearly every Ping after a heartbeat ran argon2id, and a wake-up of many
// devices queued one KDF run per user in front of the Syncs that fetch the new mail.
const DefaultCredentialTTL = 65 * time.Minute

// maxCachedCredentials bounds the credential cache.
const maxCachedCredentials = 100_000

// credCache remembers (address, password) pairs that authenticated, as an HMAC under a key
// made at start: the cache holds no password, and its entries are useless outside this
// process. The account itself is read again on every request (UserLookup; with an
// AccountLookup from the store's memory, which every change of the account drops, in this
// process at once and in the others when the change signal arrives), so disabling an account
// or switching ActiveSync off acts at once, and each entry keeps the account's PasswordStamp,
// so a changed password stops the old one at once too. Safe for concurrent use.
type credCache struct {
	ttl time.Duration
	now func() time.Time
	key [32]byte

	mu      sync.Mutex
	entries map[[sha256.Size]byte]credEntry
}

type credEntry struct {
	expires time.Time
	stamp   uint64 // store.User.PasswordStamp when the password was verified
}

func newCredCache(ttl time.Duration, now func() time.Time) *credCache {
	c := &credCache{ttl: ttl, now: now, entries: make(map[[sha256.Size]byte]credEntry)}
	_, _ = rand.Read(c.key[:])
	return c
}

func (c *credCache) sum(addr, password string) (out [sha256.Size]byte) {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(addr))
	m.Write([]byte{0})
	m.Write([]byte(password))
	m.Sum(out[:0])
	return out
}

// has reports whether addr authenticated with password and used it within the TTL, and the
// account's password stamp when the password was verified. A use renews the entry: the TTL
// runs from the last use. That is safe because every use compares the stamp with the
// account's, so a changed password, a disabled or removed account act at once whatever the
// TTL; what the TTL bounds is how long an unused entry stays.
func (c *credCache) has(addr, password string) (stamp uint64, ok bool) {
	k := c.sum(addr, password)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return 0, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, k)
		return 0, false
	}
	e.expires = now.Add(c.ttl)
	c.entries[k] = e
	return e.stamp, true
}

// add remembers that addr authenticated with password while its password stamp was stamp.
func (c *credCache) add(addr, password string, stamp uint64) {
	k := c.sum(addr, password)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= maxCachedCredentials {
		for e, ent := range c.entries {
			if !now.Before(ent.expires) {
				delete(c.entries, e)
			}
		}
		for e := range c.entries {
			if len(c.entries) < maxCachedCredentials {
				break
			}
			delete(c.entries, e)
		}
	}
	c.entries[k] = credEntry{expires: now.Add(c.ttl), stamp: stamp}
}

// forget drops addr's entry for password.
func (c *credCache) forget(addr, password string) {
	k := c.sum(addr, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, k)
}
