package store_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestDevicePassword(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "pw@example.org")
		box, err := store.NewSecretBox(bytes.Repeat([]byte{7}, 32))
		require.NoError(t, err)

		_, err = s.DevicePassword(ctx, box, u.ID, "dev1")
		require.ErrorIs(t, err, store.ErrNotFound)

		const pw = "correct horse battery staple"
		require.NoError(t, s.SetDevicePassword(ctx, box, u.ID, "dev1", pw))
		got, err := s.DevicePassword(ctx, box, u.ID, "dev1")
		require.NoError(t, err)
		assert.Equal(t, pw, got)

		// At rest the column holds neither the password nor any long run of it.
		var raw [][]byte
		require.NoError(t, s.DB().Raw(`SELECT sealed FROM device_passwords WHERE user_id = ?`, int64(u.ID)).Scan(&raw).Error)
		require.Len(t, raw, 1)
		assert.NotContains(t, string(raw[0]), pw)
		assert.NotContains(t, string(raw[0]), "battery")

		// Another key does not open it, and the value is bound to its row.
		other, err := store.NewSecretBox(bytes.Repeat([]byte{8}, 32))
		require.NoError(t, err)
		_, err = s.DevicePassword(ctx, other, u.ID, "dev1")
		require.Error(t, err)
		require.NoError(t, s.DB().Exec(`INSERT INTO device_passwords (user_id, device_id, sealed, updated_at)
			SELECT user_id, 'dev2', sealed, updated_at FROM device_passwords WHERE device_id = 'dev1'`).Error)
		_, err = s.DevicePassword(ctx, box, u.ID, "dev2")
		require.Error(t, err, "a sealed value copied to another device does not open")

		// Replace, then clear.
		require.NoError(t, s.SetDevicePassword(ctx, box, u.ID, "dev1", "second"))
		got, err = s.DevicePassword(ctx, box, u.ID, "dev1")
		require.NoError(t, err)
		assert.Equal(t, "second", got)
		require.NoError(t, s.SetDevicePassword(ctx, box, u.ID, "dev1", ""))
		_, err = s.DevicePassword(ctx, box, u.ID, "dev1")
		require.ErrorIs(t, err, store.ErrNotFound)

		require.ErrorIs(t, s.SetDevicePassword(ctx, nil, u.ID, "dev1", pw), store.ErrNoSecretKey)
		require.ErrorIs(t, s.SetDevicePassword(ctx, box, u.ID+1000, "dev1", pw), store.ErrNotFound)
		_, err = store.NewSecretBox([]byte("short"))
		require.ErrorIs(t, err, store.ErrInvalidArgument)
	})
}
