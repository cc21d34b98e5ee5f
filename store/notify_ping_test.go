package store_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// TestFolderMarks: FolderMarks says what Folders says about each folder's place and modseq,
// in ID order, and follows a delivery.
func TestFolderMarks(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "alice@example.com")
		_, err := s.CreateFolder(ctx, u.Mailbox, 0, "Projects", store.FolderUserMail)
		require.NoError(t, err)
		_, err = s.Deliver(ctx, u.Address, []byte("From: x@y.z\r\nSubject: s\r\n\r\nbody\r\n"))
		require.NoError(t, err)
		fs, err := s.Folders(ctx, u.Mailbox)
		require.NoError(t, err)
		marks, err := s.FolderMarks(ctx, u.Mailbox)
		require.NoError(t, err)
		require.Len(t, marks, len(fs))
		h := store.HierarchyOf(fs)
		for i, m := range marks {
			assert.Equal(t, h[i], m.HierarchyFolder)
			for _, f := range fs {
				if f.ID == m.ID {
					assert.Equal(t, f.ModSeq, m.ModSeq, "folder %s", f.Name)
				}
			}
		}
		_, err = s.FolderMarks(ctx, u.Mailbox+1000)
		require.NoError(t, err, "an unknown mailbox has no folders, which is not an error")
	})
}
