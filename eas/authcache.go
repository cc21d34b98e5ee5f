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

// DefaultCredentialTTL is how long a verified password is remembered when
// Options.CredentialTTL is 0.
const DefaultCredentialTTL = 5 * time.Minute

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

// has reports whether addr authenticated with password within the TTL, and the account's
// password stamp at that time.
func (c *credCache) has(addr, password string) (stamp uint64, ok bool) {
	k := c.sum(addr, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if ok && !c.now().Before(e.expires) {
		delete(c.entries, k)
		return 0, false
	}
	return e.stamp, ok
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
