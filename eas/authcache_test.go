package eas_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/store"
)

// lookupAuth adds the UserLookup capability to fakeAuth, which turns the credential cache on.
type lookupAuth struct {
	*fakeAuth
	lookups int
}

func (a *lookupAuth) UserByAddress(_ context.Context, addr string) (store.User, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lookups++
	u, ok := a.users[addr]
	if !ok {
		return store.User{}, fmt.Errorf("user %s: %w", addr, store.ErrNotFound)
	}
	return u.user, nil
}

func (a *lookupAuth) counts() (calls, lookups int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls, a.lookups
}

func (a *lookupAuth) update(addr string, f func(*fakeUser)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.users[addr]
	f(&u)
	a.users[addr] = u
}

func TestCredentialCache(t *testing.T) {
	t.Parallel()
	auth := &lookupAuth{fakeAuth: newFakeAuth()}
	env := newEnv(t, auth, func(o *eas.Options) { o.CredentialTTL = time.Minute })
	c := env.client("alice@example.com")

	assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")))
	calls, lookups := auth.counts()
	assert.Equal(t, 1, calls)
	assert.Equal(t, 0, lookups)

	// Verified recently: the password is not checked again, the account is read again.
	assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")))
	calls, lookups = auth.counts()
	assert.Equal(t, 1, calls)
	assert.Equal(t, 1, lookups)

	// Another password is checked in full.
	bad := env.client("alice@example.com")
	bad.Password = "other"
	assert.Equal(t, http.StatusUnauthorized, folderSync(t, bad, "0").StatusCode)
	calls, _ = auth.counts()
	assert.Equal(t, 2, calls)

	// Disabling the account and switching ActiveSync off act at once.
	auth.update("alice@example.com", func(u *fakeUser) { u.user.Disabled = true })
	assert.Equal(t, int(eas.StatusAccountDisabled), folderSyncStatus(t, folderSync(t, c, "0")))
	auth.update("alice@example.com", func(u *fakeUser) { u.user.Disabled, u.user.Protocols.EAS = false, false })
	assert.Equal(t, int(eas.StatusUserDisabledForSync), folderSyncStatus(t, folderSync(t, c, "0")))
	auth.update("alice@example.com", func(u *fakeUser) { u.user.Protocols.EAS = true })
	calls, _ = auth.counts()
	assert.Equal(t, 2, calls)

	// A changed password stops the old one at once: the account's password stamp changed.
	auth.update("alice@example.com", func(u *fakeUser) { u.password, u.user.PasswordStamp = "new", 2 })
	assert.Equal(t, http.StatusUnauthorized, folderSync(t, c, "0").StatusCode, "old password, within the TTL")

	// An account deleted meanwhile falls back to the full check.
	c.Password = "new"
	assert.Equal(t, http.StatusOK, folderSync(t, c, "0").StatusCode)
	auth.mu.Lock()
	delete(auth.users, "alice@example.com")
	auth.mu.Unlock()
	assert.Equal(t, http.StatusUnauthorized, folderSync(t, c, "0").StatusCode)
}

// The TTL runs from the last use: a device that keeps coming back within it is never checked
// again; one that stays away longer is.
func TestCredentialCacheSlides(t *testing.T) {
	t.Parallel()
	auth := &lookupAuth{fakeAuth: newFakeAuth()}
	env := newEnv(t, auth, func(o *eas.Options) { o.CredentialTTL = time.Minute })
	c := env.client("alice@example.com")
	assert.Equal(t, http.StatusOK, folderSync(t, c, "0").StatusCode)
	for range 5 { // 5 x 50 s: long past one TTL since the check
		env.clock.Advance(50 * time.Second)
		assert.Equal(t, http.StatusOK, folderSync(t, c, "0").StatusCode)
	}
	calls, _ := auth.counts()
	assert.Equal(t, 1, calls, "used within the TTL each time: checked once")

	env.clock.Advance(time.Minute)
	assert.Equal(t, http.StatusOK, folderSync(t, c, "0").StatusCode)
	calls, _ = auth.counts()
	assert.Equal(t, 2, calls, "unused for a TTL: checked again")
}

func TestCredentialCacheOff(t *testing.T) {
	t.Parallel()
	auth := &lookupAuth{fakeAuth: newFakeAuth()}
	env := newEnv(t, auth, func(o *eas.Options) { o.CredentialTTL = -1 })
	c := env.client("alice@example.com")
	for range 3 {
		require.Equal(t, http.StatusOK, folderSync(t, c, "0").StatusCode)
		<-env.seen
	}
	calls, lookups := auth.counts()
	assert.Equal(t, 3, calls)
	assert.Zero(t, lookups)
}

// slowAuth holds every password check until release is closed.
type slowAuth struct {
	*lookupAuth
	release chan struct{}
}

func (a *slowAuth) Authenticate(ctx context.Context, addr, password string) (store.User, error) {
	<-a.release
	return a.lookupAuth.Authenticate(ctx, addr, password)
}

// A reconnect storm of one user's devices costs one password check, not one per request.
func TestConcurrentLoginsShareOneCheck(t *testing.T) {
	t.Parallel()
	auth := &slowAuth{lookupAuth: &lookupAuth{fakeAuth: newFakeAuth()}, release: make(chan struct{})}
	env := newEnv(t, auth, func(o *eas.Options) { o.CredentialTTL = time.Minute })

	const n = 10
	codes := make(chan int, n)
	for range n {
		go func() {
			resp := folderSync(t, env.client("alice@example.com"), "0")
			codes <- resp.StatusCode
		}()
	}
	// Give the requests time to reach the check; one that arrives later finds the cache.
	time.Sleep(300 * time.Millisecond)
	close(auth.release)
	for range n {
		assert.Equal(t, http.StatusOK, <-codes)
	}
	calls, _ := auth.counts()
	assert.Equal(t, 1, calls, "one argon2id run for the whole storm")
}
