package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestSyncState(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "ss@example.org")
		_, err := s.SyncState(ctx, u.ID, "devA", "5")
		require.ErrorIs(t, err, store.ErrNotFound)

		// Version 0 creates.
		st, err := s.PutSyncState(ctx, u.ID, "devA", "5", store.SyncState{Generation: "g1", Counter: 1, State: []byte{1, 2, 0, 255}})
		require.NoError(t, err)
		require.NotZero(t, st.Version)
		got, err := s.SyncState(ctx, u.ID, "devA", "5")
		require.NoError(t, err)
		assert.Equal(t, st, got)
		assert.Nil(t, got.PrevState, "absent blobs read back nil")

		// The current version writes; the stale one conflicts.
		next := got
		next.Counter, next.PrevCounter, next.PrevState, next.State, next.Round = 2, 1, got.State, []byte("two"), []byte(`{"a":{}}`)
		next, err = s.PutSyncState(ctx, u.ID, "devA", "5", next)
		require.NoError(t, err)
		_, err = s.PutSyncState(ctx, u.ID, "devA", "5", got)
		require.ErrorIs(t, err, store.ErrConflict)
		again, err := s.SyncState(ctx, u.ID, "devA", "5")
		require.NoError(t, err)
		assert.Equal(t, next, again)

		// Version 0 replaces (a device starting over), whatever was there.
		reset, err := s.PutSyncState(ctx, u.ID, "devA", "5", store.SyncState{Generation: "g2", Counter: 1})
		require.NoError(t, err)
		assert.Greater(t, reset.Version, next.Version)
		again, err = s.SyncState(ctx, u.ID, "devA", "5")
		require.NoError(t, err)
		assert.Equal(t, "g2", again.Generation)
		assert.Zero(t, again.PrevCounter)

		// Collections and devices are separate; deleting a device's states leaves others.
		_, err = s.PutSyncState(ctx, u.ID, "devA", "", store.SyncState{Generation: "req", Counter: 1, State: []byte("{}")})
		require.NoError(t, err)
		_, err = s.PutSyncState(ctx, u.ID, "devB", "5", store.SyncState{Generation: "g3", Counter: 1})
		require.NoError(t, err)
		require.NoError(t, s.DeleteSyncStates(ctx, u.ID, "devA"))
		_, err = s.SyncState(ctx, u.ID, "devA", "5")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.SyncState(ctx, u.ID, "devA", "")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.SyncState(ctx, u.ID, "devB", "5")
		require.NoError(t, err)
		_, err = s.PutSyncState(ctx, u.ID, "devA", "5", again)
		require.ErrorIs(t, err, store.ErrConflict, "a deleted state cannot be written over")
		_, err = s.PutSyncState(ctx, u.ID, "", "5", store.SyncState{})
		require.ErrorIs(t, err, store.ErrInvalidArgument)
		require.NoError(t, s.Check(ctx))
	})
}

func TestSyncItemReads(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "sr@example.org")
		inbox, err := s.FolderByType(ctx, u.Mailbox, store.FolderInbox)
		require.NoError(t, err)
		base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		var items []store.Item
		for i := range 6 {
			it, err := s.AppendMessage(ctx, inbox.ID, msg("m"), store.AppendOptions{Received: base.Add(time.Duration(i) * 24 * time.Hour)})
			require.NoError(t, err)
			items = append(items, it)
		}
		require.NoError(t, s.DeleteItem(ctx, items[1].ID))

		got, err := s.ItemsByID(ctx, []store.ItemID{items[0].ID, items[1].ID, items[5].ID, 999999})
		require.NoError(t, err)
		ids := map[store.ItemID]bool{}
		for _, it := range got {
			ids[it.ID] = true
		}
		assert.Equal(t, map[store.ItemID]bool{items[0].ID: true, items[5].ID: true}, ids)
		none, err := s.ItemsByID(ctx, nil)
		require.NoError(t, err)
		assert.Empty(t, none)

		since := base.Add(3 * 24 * time.Hour)
		page, err := s.ItemsWindow(ctx, inbox.ID, 0, inbox.UIDNext+100, since, 2)
		require.NoError(t, err)
		require.Len(t, page, 2)
		assert.Equal(t, items[3].ID, page[0].ID)
		assert.Equal(t, items[4].ID, page[1].ID)
		page, err = s.ItemsWindow(ctx, inbox.ID, page[1].UID, items[5].UID, since, 10)
		require.NoError(t, err)
		assert.Empty(t, page, "beforeUID is exclusive")
		n, err := s.CountItemsWindow(ctx, inbox.ID, 0, items[5].UID+1, time.Time{})
		require.NoError(t, err)
		assert.Equal(t, 5, n)
		_, err = s.ItemsWindow(ctx, inbox.ID, 0, 10, since, 0)
		require.ErrorIs(t, err, store.ErrInvalidArgument)

		bodies, err := s.ItemBodies(ctx, []store.ItemID{items[0].ID, items[1].ID, items[2].ID})
		require.NoError(t, err)
		require.Len(t, bodies, 2, "the deleted item has no body")
		want, err := s.ItemBody(ctx, items[2].ID)
		require.NoError(t, err)
		assert.Equal(t, want, bodies[items[2].ID])

		old, err := s.ItemIDsReceivedBefore(ctx, inbox.ID, since)
		require.NoError(t, err)
		assert.Equal(t, []store.ItemID{items[0].ID, items[2].ID}, old)
	})
}
