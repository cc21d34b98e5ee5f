package policy_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestManager(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		m := policy.NewManager(s)

		def, err := m.Default(ctx)
		require.NoError(t, err)
		want := policy.Default()
		want.ID, want.Version = def.ID, 1
		assert.Equal(t, want, def, "the seeded policy is Default()")

		p := policy.Default()
		p.Name = "Strict"
		p.DevicePasswordEnabled = true
		p.MinDevicePasswordLength = ptr[uint8](8)
		created, err := m.Create(ctx, p)
		require.NoError(t, err)
		assert.Equal(t, int64(1), created.Version)
		assert.True(t, created.DevicePasswordEnabled)
		assert.Equal(t, uint8(8), *created.MinDevicePasswordLength)

		bad := p
		bad.Name = "Bad"
		bad.MaxDevicePasswordFailedAttempts = ptr[uint8](2)
		_, err = m.Create(ctx, bad)
		assert.ErrorIs(t, err, policy.ErrInvalid)
		_, err = m.Create(ctx, p)
		assert.ErrorIs(t, err, store.ErrExists)

		created.AllowCamera = false
		updated, err := m.Update(ctx, created)
		require.NoError(t, err)
		assert.Equal(t, int64(2), updated.Version)
		assert.False(t, updated.AllowCamera)
		renamed := updated
		renamed.Name = "Other"
		_, err = m.Update(ctx, renamed)
		assert.ErrorIs(t, err, store.ErrInvalidArgument)

		byName, err := m.ByName(ctx, "Strict")
		require.NoError(t, err)
		assert.Equal(t, updated, byName)
		list, err := m.List(ctx)
		require.NoError(t, err)
		assert.Len(t, list, 2)

		u, err := s.CreateUser(ctx, store.NewUser{Address: "m@example.org", Password: "pw"})
		require.NoError(t, err)
		require.NoError(t, m.Assign(ctx, u.ID, updated.ID))
		got, err := m.ForUser(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, "Strict", got.Name)
		require.NoError(t, m.Assign(ctx, u.ID, 0))
		got, err = m.ForUser(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, policy.DefaultName, got.Name)
	})
}

// Update and Assign tell every process (store.PublishAdminChange); a refused change tells no
// one.
func TestManagerSignalsChanges(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		var got []store.AdminChange
		defer s.SubscribeAdminChanges(func(ch store.AdminChange) { got = append(got, ch) })()
		m := policy.NewManager(s)
		u, err := s.CreateUser(ctx, store.NewUser{Address: "alice@example.com", Password: "secret"})
		require.NoError(t, err)

		def, err := m.Default(ctx)
		require.NoError(t, err)
		bad := def
		bad.MaxDevicePasswordFailedAttempts = ptr[uint8](2)
		_, err = m.Update(ctx, bad)
		require.ErrorIs(t, err, policy.ErrInvalid)
		require.Error(t, m.Assign(ctx, u.ID, 424242))
		assert.Empty(t, got, "nothing changed, nothing signalled")

		def.AllowCamera = false
		_, err = m.Update(ctx, def)
		require.NoError(t, err)
		require.NoError(t, m.Assign(ctx, u.ID, def.ID))
		assert.Equal(t, []store.AdminChange{{Kind: store.AdminChangePolicy}, {Kind: store.AdminChangePolicy, User: u.ID}}, got)
	})
}
