package store_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// Removing a partnership forgets what the device held, so a device that comes
// back provisions and then syncs from key 0; another device keeps its state.
func TestRemoveDeviceForgetsSyncState(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u, err := s.CreateUser(ctx, store.NewUser{Address: "alice@example.com", Password: "pw"})
		require.NoError(t, err)
		gone, err := s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: "gone", DeviceType: "iPhone"})
		require.NoError(t, err)
		_, err = s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: "kept", DeviceType: "iPhone"})
		require.NoError(t, err)
		for _, dev := range []string{"gone", "kept"} {
			_, err := s.PutSyncState(ctx, u.ID, dev, "2", store.SyncState{Generation: "g", Counter: 1, State: []byte("x")})
			require.NoError(t, err)
		}

		require.NoError(t, s.RemoveDevice(ctx, gone.ID))
		_, err = s.SyncState(ctx, u.ID, "gone", "2")
		assert.ErrorIs(t, err, store.ErrNotFound, "the removed device's sync state is gone")
		_, err = s.SyncState(ctx, u.ID, "kept", "2")
		assert.NoError(t, err, "the other device keeps its own")
	})
}
