package store_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// TestUserAndPolicy: one read gives what UserByAddress and UserPolicy give, for the default
// policy and an assigned one; an unknown or malformed address is not found.
func TestUserAndPolicy(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "alice@example.com")
		check := func() {
			t.Helper()
			wantU, err := s.UserByAddress(ctx, "Alice@Example.com")
			require.NoError(t, err)
			wantP, err := s.UserPolicy(ctx, u.ID)
			require.NoError(t, err)
			gotU, gotP, ok, err := s.UserAndPolicy(ctx, "Alice@Example.com")
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Equal(t, wantU, gotU)
			assert.Equal(t, wantP, gotP)
		}
		check()
		p, err := s.CreatePolicy(ctx, "Strict", `{"DevicePasswordEnabled":true}`)
		require.NoError(t, err)
		require.NoError(t, s.AssignPolicy(ctx, u.ID, p.ID))
		check()
		_, gotP, _, err := s.UserAndPolicy(ctx, u.Address)
		require.NoError(t, err)
		assert.Equal(t, p.ID, gotP.ID)

		for _, addr := range []string{"nobody@example.com", "not an address"} {
			_, _, _, err := s.UserAndPolicy(ctx, addr)
			require.ErrorIs(t, err, store.ErrNotFound, addr)
		}
	})
}
