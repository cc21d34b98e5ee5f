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

// DefaultCredentialTTL is how long a verified password is remembered when
// Options.CredentialTTL is 0.
const DefaultCredentialTTL = 5 * time.Minute

// maxCachedCredentials bounds the credential cache.
const maxCachedCredentials = 100_000

// credCache remembers (address, password) pairs that authenticated, as an HMAC under a key
// made at start: the cache holds no password, and its entries are useless outside this
// process. The account itself is read again on every request (UserLookup), so disabling an
// account or switching ActiveSync off acts at once; a changed password stops the old one
// within the TTL. Safe for concurrent use.
type credCache struct {
	ttl time.Duration
	now func() time.Time
	key [32]byte

	mu      sync.Mutex
	entries map[[sha256.Size]byte]time.Time // expiry
}

func newCredCache(ttl time.Duration, now func() time.Time) *credCache {
	c := &credCache{ttl: ttl, now: now, entries: make(map[[sha256.Size]byte]time.Time)}
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

// has reports whether addr authenticated with password within the TTL.
func (c *credCache) has(addr, password string) bool {
	k := c.sum(addr, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.entries[k]
	if ok && !c.now().Before(exp) {
		delete(c.entries, k)
		return false
	}
	return ok
}

// add remembers that addr authenticated with password.
func (c *credCache) add(addr, password string) {
	k := c.sum(addr, password)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= maxCachedCredentials {
		for e, exp := range c.entries {
			if !now.Before(exp) {
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
	c.entries[k] = now.Add(c.ttl)
}

// forget drops addr's entry for password.
func (c *credCache) forget(addr, password string) {
	k := c.sum(addr, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, k)
}
