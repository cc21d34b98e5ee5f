package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// TestCachedUserAndPolicyOtherWriter: an account held in memory by one store (a server) is
// read again once a change made through a second store (easd user disable, the admin API of
// another node) has been signalled: disabling it, changing its password, assigning it a
// policy. Changes through the same store are seen at once.
func TestCachedUserAndPolicyOtherWriter(t *testing.T) {
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		a := storetest.Open(t, dsn)
		require.NoError(t, a.Migrate(ctx))
		a.PollOtherWriters(20 * time.Millisecond) // as easd serve does; nothing on PostgreSQL
		b := storetest.Open(t, dsn)
		u := newUser(t, b, "alice@example.com")

		get := func() (store.User, store.PolicyRecord) {
			t.Helper()
			gu, gp, ok, err := a.CachedUserAndPolicy(ctx, "alice@example.com")
			require.NoError(t, err)
			require.True(t, ok)
			return gu, gp
		}
		u0, p0 := get()
		assert.False(t, u0.Disabled)
		// Subscribed after the cache (the first call): signalled after it dropped the entry.
		seen := make(chan store.AdminChange, 16)
		cancel := a.SubscribeAdminChanges(func(ch store.AdminChange) { seen <- ch })
		defer cancel()
		wait := func(kind store.AdminChangeKind) {
			t.Helper()
			for {
				select {
				case ch := <-seen:
					if ch.Kind == kind {
						return
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("no %s signal from the other store", kind)
				}
			}
		}

		require.NoError(t, b.SetDisabled(ctx, u.Address, true))
		wait(store.AdminChangeUser)
		u1, _ := get()
		assert.True(t, u1.Disabled)

		require.NoError(t, b.SetPassword(ctx, u.Address, "new secret"))
		wait(store.AdminChangeUser)
		u2, _ := get()
		assert.NotEqual(t, u1.PasswordStamp, u2.PasswordStamp)

		m := policy.NewManager(b)
		sp := policy.Default()
		sp.Name = "Strict"
		strict, err := m.Create(ctx, sp)
		require.NoError(t, err)
		require.NoError(t, m.Assign(ctx, u.ID, strict.ID))
		wait(store.AdminChangePolicy)
		_, p3 := get()
		assert.Equal(t, strict.ID, p3.ID)
		assert.NotEqual(t, p0.ID, p3.ID)

		// Through the same store: at once.
		require.NoError(t, a.SetDisabled(ctx, u.Address, false))
		u4, _ := get()
		assert.False(t, u4.Disabled)
	})
}

// TestCachedUserAndPolicyNoSignals: on SQLite without the poller nothing tells the store about
// another process's changes, so every call reads the database.
func TestCachedUserAndPolicyNoSignals(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := storetest.SQLiteURL(t)
	a := storetest.Open(t, dsn)
	require.NoError(t, a.Migrate(ctx))
	b := storetest.Open(t, dsn)
	u := newUser(t, b, "alice@example.com")
	got, _, _, err := a.CachedUserAndPolicy(ctx, u.Address)
	require.NoError(t, err)
	assert.False(t, got.Disabled)
	require.NoError(t, b.SetDisabled(ctx, u.Address, true))
	got, _, _, err = a.CachedUserAndPolicy(ctx, u.Address)
	require.NoError(t, err)
	assert.True(t, got.Disabled)
	_, _, _, err = a.CachedUserAndPolicy(ctx, "nobody@example.com")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// TestCachedUserAndPolicyPolicyWrites: assigning, changing, un-assigning and deleting a policy
// (policy.Manager signals the first three, the store the deletion) are seen by the next call.
func TestCachedUserAndPolicyPolicyWrites(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		s.PollOtherWriters(0) // signals live on SQLite too
		m := policy.NewManager(s)
		u := newUser(t, s, "alice@example.com")
		_, p0, _, err := s.CachedUserAndPolicy(ctx, u.Address)
		require.NoError(t, err)
		sp := policy.Default()
		sp.Name = "Strict"
		p, err := m.Create(ctx, sp)
		require.NoError(t, err)
		require.NoError(t, m.Assign(ctx, u.ID, p.ID))
		_, got, _, err := s.CachedUserAndPolicy(ctx, u.Address)
		require.NoError(t, err)
		assert.Equal(t, p.ID, got.ID)
		p.AllowCamera = !p.AllowCamera
		up, err := m.Update(ctx, p)
		require.NoError(t, err)
		_, got, _, err = s.CachedUserAndPolicy(ctx, u.Address)
		require.NoError(t, err)
		assert.Equal(t, up.Version, got.Version)
		require.NoError(t, s.DeletePolicy(ctx, p.ID)) // alice falls back to the default
		_, got, _, err = s.CachedUserAndPolicy(ctx, u.Address)
		require.NoError(t, err)
		assert.Equal(t, p0.ID, got.ID)
	})
}
