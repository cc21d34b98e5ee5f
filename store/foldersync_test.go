package store_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestFolderSyncState(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "fs@example.org")
		folders, err := s.Folders(ctx, u.Mailbox)
		require.NoError(t, err)
		snap := store.HierarchyOf(folders)
		require.Len(t, snap, len(folders))

		_, err = s.FolderSyncState(ctx, u.ID, "devA")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.AdvanceFolderSync(ctx, u.ID, "devA", 5, snap)
		require.ErrorIs(t, err, store.ErrNotFound, "a non-zero key without state")

		k1, err := s.AdvanceFolderSync(ctx, u.ID, "devA", 0, snap)
		require.NoError(t, err)
		assert.Equal(t, uint64(1), k1)
		st, err := s.FolderSyncState(ctx, u.ID, "devA")
		require.NoError(t, err)
		assert.Equal(t, store.FolderSyncState{Key: 1, Folders: snap}, st)

		// Advance from the current key: the old snapshot becomes the previous one.
		extra := append(append([]store.HierarchyFolder(nil), snap...),
			store.HierarchyFolder{ID: 999, Parent: snap[0].ID, Name: "Tab\there — ü", Type: store.FolderUserMail})
		k2, err := s.AdvanceFolderSync(ctx, u.ID, "devA", k1, extra)
		require.NoError(t, err)
		assert.Equal(t, uint64(2), k2)
		st, err = s.FolderSyncState(ctx, u.ID, "devA")
		require.NoError(t, err)
		assert.Equal(t, store.FolderSyncState{Key: 2, Folders: extra, PrevKey: 1, PrevFolders: snap}, st)

		// A stale key changes nothing.
		_, err = s.AdvanceFolderSync(ctx, u.ID, "devA", k1, snap)
		require.ErrorIs(t, err, store.ErrConflict)
		st2, err := s.FolderSyncState(ctx, u.ID, "devA")
		require.NoError(t, err)
		assert.Equal(t, st, st2)

		// Another device of the same user has its own state.
		_, err = s.FolderSyncState(ctx, u.ID, "devB")
		require.ErrorIs(t, err, store.ErrNotFound)

		// Starting over keeps the key growing and drops the previous snapshot.
		k3, err := s.AdvanceFolderSync(ctx, u.ID, "devA", 0, snap[:2])
		require.NoError(t, err)
		assert.Equal(t, uint64(3), k3)
		st, err = s.FolderSyncState(ctx, u.ID, "devA")
		require.NoError(t, err)
		assert.Equal(t, store.FolderSyncState{Key: 3, Folders: snap[:2]}, st)

		require.NoError(t, s.DeleteFolderSyncState(ctx, u.ID, "devA"))
		_, err = s.FolderSyncState(ctx, u.ID, "devA")
		require.ErrorIs(t, err, store.ErrNotFound)

		_, err = s.AdvanceFolderSync(ctx, u.ID, "", 0, snap)
		require.ErrorIs(t, err, store.ErrInvalidArgument)

		// HierarchyFolders is Folders without the IMAP columns.
		hf, err := s.HierarchyFolders(ctx, u.Mailbox)
		require.NoError(t, err)
		assert.Equal(t, snap, hf)

		// A snapshot that does not decode is an error, not an empty hierarchy; starting
		// over replaces it.
		k, err := s.AdvanceFolderSync(ctx, u.ID, "devA", 0, snap)
		require.NoError(t, err)
		require.NoError(t, s.DB().Exec(`UPDATE folder_sync_states SET folders = 'garbage' WHERE user_id = ?`, int64(u.ID)).Error)
		_, err = s.FolderSyncState(ctx, u.ID, "devA")
		require.ErrorIs(t, err, store.ErrCorruptState)
		k4, err := s.AdvanceFolderSync(ctx, u.ID, "devA", 0, snap)
		require.NoError(t, err)
		assert.Greater(t, k4, k)
		st, err = s.FolderSyncState(ctx, u.ID, "devA")
		require.NoError(t, err)
		assert.Equal(t, store.FolderSyncState{Key: k4, Folders: snap}, st)
	})
}

// TestFolderSyncStateRace: of two requests advancing from the same key, exactly one wins.
func TestFolderSyncStateRace(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "race@example.org")
		k, err := s.AdvanceFolderSync(ctx, u.ID, "dev", 0, nil)
		require.NoError(t, err)
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.AdvanceFolderSync(ctx, u.ID, "dev", k, []store.HierarchyFolder{{ID: store.FolderID(i + 1), Name: "x"}})
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				assert.True(t, errors.Is(err, store.ErrConflict), "%v", err)
			}
		}
		assert.Equal(t, 1, won)
		st, err := s.FolderSyncState(ctx, u.ID, "dev")
		require.NoError(t, err)
		assert.Equal(t, k+1, st.Key)
	})
}
