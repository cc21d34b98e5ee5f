package store_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestDefaultFolders(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "bob@example.org")
		folders, err := s.Folders(ctx, u.Mailbox)
		require.NoError(t, err)
		want := map[store.FolderType]string{
			store.FolderInbox:    "Inbox",
			store.FolderDrafts:   "Drafts",
			store.FolderDeleted:  "Deleted Items",
			store.FolderSent:     "Sent Items",
			store.FolderOutbox:   "Outbox",
			store.FolderTasks:    "Tasks",
			store.FolderCalendar: "Calendar",
			store.FolderContacts: "Contacts",
			store.FolderNotes:    "Notes",
			store.FolderJournal:  "Journal",
		}
		require.Len(t, folders, len(want))
		validity := map[uint32]bool{}
		for _, f := range folders {
			assert.Equal(t, want[f.Type], f.Name, "type %d", f.Type)
			assert.Equal(t, u.Mailbox, f.Mailbox)
			assert.Zero(t, f.Parent)
			assert.Equal(t, uint32(1), f.UIDNext)
			assert.NotZero(t, f.UIDValidity)
			assert.False(t, validity[f.UIDValidity], "UIDVALIDITY unique in the mailbox")
			validity[f.UIDValidity] = true
			assert.True(t, f.Type.IsDefault())

			byType, err := s.FolderByType(ctx, u.Mailbox, f.Type)
			require.NoError(t, err)
			assert.Equal(t, f, byType)
		}
		// Creating the user logged one folder add per folder.
		ch, err := s.ChangesSince(ctx, u.Mailbox, 0)
		require.NoError(t, err)
		require.Len(t, ch, len(folders))
		for i, c := range ch {
			assert.Equal(t, store.Change{ModSeq: int64(i + 1), Kind: store.KindFolder, Op: store.OpAdd, Folder: folders[i].ID}, c)
		}
		_, err = s.FolderByType(ctx, u.Mailbox, store.FolderUserMail)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestFolderLifecycle(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "bob@example.org")
		mb := u.Mailbox
		inbox, err := s.FolderByType(ctx, mb, store.FolderInbox)
		require.NoError(t, err)
		m, err := s.ModSeq(ctx, mb)
		require.NoError(t, err)

		// create
		proj, err := s.CreateFolder(ctx, mb, 0, "Projects", store.FolderUserMail)
		require.NoError(t, err)
		assert.Equal(t, "Projects", proj.Name)
		assert.Equal(t, store.FolderUserMail, proj.Type)
		assert.Equal(t, m+1, proj.ModSeq)
		sub, err := s.CreateFolder(ctx, mb, proj.ID, "2026", store.FolderUserMail)
		require.NoError(t, err)
		assert.Equal(t, proj.ID, sub.Parent)
		m = requireChanges(t, s, mb, m,
			store.Change{Kind: store.KindFolder, Op: store.OpAdd, Folder: proj.ID},
			store.Change{Kind: store.KindFolder, Op: store.OpAdd, Folder: sub.ID},
		)

		for _, tc := range []struct {
			name   string
			parent store.FolderID
			fname  string
			typ    store.FolderType
			err    error
		}{
			{"duplicate name", 0, "Projects", store.FolderUserMail, store.ErrExists},
			{"default type", 0, "Inbox 2", store.FolderInbox, store.ErrInvalidArgument},
			{"empty name", 0, " ", store.FolderUserMail, store.ErrInvalidArgument},
			{"missing parent", 999999, "X", store.FolderUserMail, store.ErrNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.CreateFolder(ctx, mb, tc.parent, tc.fname, tc.typ)
				assert.ErrorIs(t, err, tc.err)
			})
		}
		// same name under another parent is fine
		_, err = s.CreateFolder(ctx, mb, inbox.ID, "2026", store.FolderUserMail)
		require.NoError(t, err)
		m++
		m = requireChanges(t, s, mb, m)

		// rename
		renamed, err := s.RenameFolder(ctx, proj.ID, 0, "Clients")
		require.NoError(t, err)
		assert.Equal(t, "Clients", renamed.Name)
		assert.Equal(t, proj.UIDValidity, renamed.UIDValidity, "rename keeps UIDVALIDITY")
		m = requireChanges(t, s, mb, m, store.Change{Kind: store.KindFolder, Op: store.OpChange, Folder: proj.ID})
		same, err := s.RenameFolder(ctx, proj.ID, 0, "Clients")
		require.NoError(t, err)
		assert.Equal(t, renamed, same)
		m = requireChanges(t, s, mb, m) // no-op: no modseq
		_, err = s.RenameFolder(ctx, inbox.ID, 0, "Posteingang")
		assert.ErrorIs(t, err, store.ErrConflict, "default folders cannot be renamed")
		_, err = s.RenameFolder(ctx, proj.ID, sub.ID, "Clients")
		assert.ErrorIs(t, err, store.ErrConflict, "not under its own child")
		_, err = s.RenameFolder(ctx, sub.ID, inbox.ID, "2026")
		assert.ErrorIs(t, err, store.ErrExists, "Inbox already has a 2026")
		m = requireChanges(t, s, mb, m)

		// delete a folder with a subfolder and items: tombstones, children first
		it, err := s.AppendMessage(ctx, sub.ID, msg("filed"), store.AppendOptions{Flags: store.Flags{Seen: true}})
		require.NoError(t, err)
		assert.True(t, it.Seen)
		m++
		require.NoError(t, s.DeleteFolder(ctx, proj.ID))
		m = requireChanges(t, s, mb, m,
			store.Change{Kind: store.KindFolder, Op: store.OpDelete, Folder: sub.ID},
			store.Change{Kind: store.KindFolder, Op: store.OpDelete, Folder: proj.ID},
		)
		_, err = s.Folder(ctx, sub.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.Item(ctx, it.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.ErrorIs(t, s.DeleteFolder(ctx, proj.ID), store.ErrNotFound)

		for _, f := range []store.FolderType{store.FolderInbox, store.FolderDeleted, store.FolderCalendar} {
			df, err := s.FolderByType(ctx, mb, f)
			require.NoError(t, err)
			assert.ErrorIs(t, s.DeleteFolder(ctx, df.ID), store.ErrConflict)
		}
		requireChanges(t, s, mb, m)

		// a re-created folder gets a larger UIDVALIDITY
		again, err := s.CreateFolder(ctx, mb, 0, "Clients", store.FolderUserMail)
		require.NoError(t, err)
		assert.Greater(t, again.UIDValidity, proj.UIDValidity)
		require.NoError(t, s.Check(ctx))
	})
}
