package store_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// The password stamp lets front-ends cache verified credentials safely: it
// is the same on every read until the password changes, and differs after.
func TestPasswordStamp(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u, err := s.CreateUser(ctx, store.NewUser{Address: "alice@example.com", Password: "one"})
		require.NoError(t, err)
		require.NotZero(t, u.PasswordStamp)

		again, err := s.UserByAddress(ctx, "alice@example.com")
		require.NoError(t, err)
		assert.Equal(t, u.PasswordStamp, again.PasswordStamp)
		authed, err := s.Authenticate(ctx, "alice@example.com", "one")
		require.NoError(t, err)
		assert.Equal(t, u.PasswordStamp, authed.PasswordStamp)

		require.NoError(t, s.SetPassword(ctx, "alice@example.com", "one"))
		changed, err := s.UserByAddress(ctx, "alice@example.com")
		require.NoError(t, err)
		assert.NotEqual(t, u.PasswordStamp, changed.PasswordStamp, "even setting the same password again changes it")
	})
}
