package store_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

const noticeMsg = "From: easd <postmaster@example.org>\r\nTo: <q@example.org>\r\nSubject: Your device is waiting\r\n\r\nwait\r\n"
const plainMsg = "From: <bob@example.org>\r\nTo: <q@example.org>\r\nSubject: Secret plans\r\n\r\nplans\r\n"

// Notices are told apart from the rest of the Inbox, also after deletes.
func TestNoticeItems(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		_, err := s.CreateUser(ctx, store.NewUser{Address: "q@example.org", Password: "pw"})
		require.NoError(t, err)
		n, err := s.DeliverNotice(ctx, "q@example.org", []byte(noticeMsg))
		require.NoError(t, err)
		p, err := s.Deliver(ctx, "q@example.org", []byte(plainMsg))
		require.NoError(t, err)
		require.Equal(t, n.Folder, p.Folder, "both in the Inbox")

		got, err := s.NoticeItems(ctx, n.Folder)
		require.NoError(t, err)
		assert.Equal(t, map[store.ItemID]bool{n.ID: true}, got)

		require.NoError(t, s.DeleteItem(ctx, n.ID))
		got, err = s.NoticeItems(ctx, n.Folder)
		require.NoError(t, err)
		assert.Empty(t, got)
		require.NoError(t, s.Check(ctx))
	})
}

// A device leaving quarantine loses its content sync states (they hold the
// quarantined view); other transitions keep them.
func TestLeavingQuarantineDropsSyncStates(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u, err := s.CreateUser(ctx, store.NewUser{Address: "q@example.org", Password: "pw"})
		require.NoError(t, err)
		d, err := s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: "Q1", DeviceType: "iPhone"})
		require.NoError(t, err)
		put := func() {
			_, err := s.PutSyncState(ctx, u.ID, "Q1", "5", store.SyncState{Generation: "g", Counter: 1, State: []byte("x")})
			require.NoError(t, err)
		}
		has := func() bool {
			_, err := s.SyncState(ctx, u.ID, "Q1", "5")
			if err != nil {
				require.ErrorIs(t, err, store.ErrNotFound)
				return false
			}
			return true
		}
		set := func(state string) {
			_, _, err := s.SetDeviceAccess(ctx, d.ID, store.DeviceAccess{State: state, Reason: store.ReasonIndividual, By: "test"}, false)
			require.NoError(t, err)
		}

		put()
		set(store.AccessQuarantined)
		assert.True(t, has(), "entering quarantine keeps them")
		set(store.AccessAllowed)
		assert.False(t, has(), "leaving quarantine drops them")

		put()
		set(store.AccessBlocked)
		assert.True(t, has(), "allowed to blocked keeps them")
		set(store.AccessAllowed)
		assert.True(t, has(), "blocked to allowed keeps them")
	})
}
