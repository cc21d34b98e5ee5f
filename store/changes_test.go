package store_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func msg(subject string) []byte {
	return []byte("From: alice@example.com\r\nTo: bob@example.org\r\nSubject: " + subject + "\r\n\r\nbody of " + subject + "\r\n")
}

// requireChanges checks the changes since from against want (ModSeq is
// filled in as from+1, from+2, ...) and returns the new modseq.
func requireChanges(t *testing.T, s *store.Store, mb store.MailboxID, from int64, want ...store.Change) int64 {
	t.Helper()
	got, err := s.ChangesSince(t.Context(), mb, from)
	require.NoError(t, err)
	for i := range want {
		want[i].ModSeq = from + int64(i) + 1
	}
	if len(want) == 0 {
		require.Empty(t, got)
	} else {
		require.Equal(t, want, got)
	}
	cur, err := s.ModSeq(t.Context(), mb)
	require.NoError(t, err)
	require.Equal(t, from+int64(len(want)), cur, "mailbox modseq is the last change")
	return cur
}

func TestChangeLogItems(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "bob@example.org")
		mb := u.Mailbox
		inbox, err := s.FolderByType(ctx, mb, store.FolderInbox)
		require.NoError(t, err)
		trash, err := s.FolderByType(ctx, mb, store.FolderDeleted)
		require.NoError(t, err)
		m0, err := s.ModSeq(ctx, mb)
		require.NoError(t, err)

		// add
		a, err := s.Deliver(ctx, u.Address, msg("a"))
		require.NoError(t, err)
		b, err := s.Deliver(ctx, u.Address, msg("b"))
		require.NoError(t, err)
		assert.Equal(t, uint32(1), a.UID)
		assert.Equal(t, uint32(2), b.UID)
		assert.Equal(t, m0+1, a.ModSeq)
		assert.Equal(t, m0+2, b.ModSeq)
		m := requireChanges(t, s, mb, m0,
			store.Change{Kind: store.KindItem, Op: store.OpAdd, Folder: inbox.ID, Item: a.ID, UID: 1},
			store.Change{Kind: store.KindItem, Op: store.OpAdd, Folder: inbox.ID, Item: b.ID, UID: 2},
		)
		f, err := s.Folder(ctx, inbox.ID)
		require.NoError(t, err)
		assert.Equal(t, m, f.ModSeq, "folder modseq follows its contents")
		assert.Equal(t, uint32(3), f.UIDNext)

		// flags
		a, err = s.SetFlags(ctx, a.ID, store.FlagsUpdate{Seen: ptr(true), Categories: &[]string{"Work", "Q4"}})
		require.NoError(t, err)
		assert.True(t, a.Seen)
		assert.Equal(t, []string{"Work", "Q4"}, a.Categories)
		assert.Equal(t, m+1, a.ModSeq)
		m = requireChanges(t, s, mb, m,
			store.Change{Kind: store.KindItem, Op: store.OpChange, Folder: inbox.ID, Item: a.ID, UID: 1})
		again, err := s.Item(ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, a, again)

		// setting flags to what they are takes no modseq
		same, err := s.SetFlags(ctx, a.ID, store.FlagsUpdate{Seen: ptr(true), Flagged: ptr(false)})
		require.NoError(t, err)
		assert.Equal(t, a, same)
		m = requireChanges(t, s, mb, m)

		// move: tombstone in the source, add in the target with a new UID
		moved, err := s.MoveItem(ctx, a.ID, trash.ID)
		require.NoError(t, err)
		assert.Equal(t, a.ID, moved.ID)
		assert.Equal(t, trash.ID, moved.Folder)
		assert.Equal(t, uint32(1), moved.UID, "first UID in Deleted Items")
		assert.True(t, moved.Seen, "flags travel")
		assert.Equal(t, m+2, moved.ModSeq)
		m = requireChanges(t, s, mb, m,
			store.Change{Kind: store.KindItem, Op: store.OpDelete, Folder: inbox.ID, Item: a.ID, UID: 1},
			store.Change{Kind: store.KindItem, Op: store.OpAdd, Folder: trash.ID, Item: a.ID, UID: 1},
		)
		items, err := s.Items(ctx, inbox.ID)
		require.NoError(t, err)
		require.Len(t, items, 1)
		assert.Equal(t, b.ID, items[0].ID)
		fi, err := s.Folder(ctx, inbox.ID)
		require.NoError(t, err)
		assert.Equal(t, m-1, fi.ModSeq)
		ft, err := s.Folder(ctx, trash.ID)
		require.NoError(t, err)
		assert.Equal(t, m, ft.ModSeq)

		// moving to the folder it is in changes nothing
		_, err = s.MoveItem(ctx, a.ID, trash.ID)
		require.NoError(t, err)
		m = requireChanges(t, s, mb, m)

		// delete: tombstone keeps folder and UID
		require.NoError(t, s.DeleteItem(ctx, b.ID))
		m = requireChanges(t, s, mb, m,
			store.Change{Kind: store.KindItem, Op: store.OpDelete, Folder: inbox.ID, Item: b.ID, UID: 2})
		_, err = s.Item(ctx, b.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		assert.ErrorIs(t, s.DeleteItem(ctx, b.ID), store.ErrNotFound)
		_, err = s.SetFlags(ctx, b.ID, store.FlagsUpdate{Seen: ptr(true)})
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.MoveItem(ctx, b.ID, inbox.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.MoveItem(ctx, a.ID, 999999)
		assert.ErrorIs(t, err, store.ErrNotFound)
		requireChanges(t, s, mb, m) // failures write nothing

		// UIDs are never reused: the next delivery gets 3, not 1 or 2
		c, err := s.Deliver(ctx, u.Address, msg("c"))
		require.NoError(t, err)
		assert.Equal(t, uint32(3), c.UID)
		// nor after moving back in
		back, err := s.MoveItem(ctx, a.ID, inbox.ID)
		require.NoError(t, err)
		assert.Equal(t, uint32(4), back.UID)

		// the full log has one row per modseq value, no gaps
		all, err := s.ChangesSince(ctx, mb, 0)
		require.NoError(t, err)
		cur, err := s.ModSeq(ctx, mb)
		require.NoError(t, err)
		require.Len(t, all, int(cur))
		for i, ch := range all {
			assert.Equal(t, int64(i+1), ch.ModSeq)
		}
		require.NoError(t, s.Check(ctx))
	})
}

func TestMoveAcrossMailboxes(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		bob := newUser(t, s, "bob@example.org")
		carol := newUser(t, s, "carol@example.org")
		it, err := s.Deliver(ctx, bob.Address, msg("x"))
		require.NoError(t, err)
		carolInbox, err := s.FolderByType(ctx, carol.Mailbox, store.FolderInbox)
		require.NoError(t, err)
		before, err := s.ModSeq(ctx, bob.Mailbox)
		require.NoError(t, err)
		_, err = s.MoveItem(ctx, it.ID, carolInbox.ID)
		assert.ErrorIs(t, err, store.ErrConflict)
		after, err := s.ModSeq(ctx, bob.Mailbox)
		require.NoError(t, err)
		assert.Equal(t, before, after, "rolled back")
	})
}

func TestChangesArePerMailbox(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		bob := newUser(t, s, "bob@example.org")
		carol := newUser(t, s, "carol@example.org")
		b0, err := s.ModSeq(ctx, bob.Mailbox)
		require.NoError(t, err)
		c0, err := s.ModSeq(ctx, carol.Mailbox)
		require.NoError(t, err)
		_, err = s.Deliver(ctx, carol.Address, msg("for carol"))
		require.NoError(t, err)
		b1, err := s.ModSeq(ctx, bob.Mailbox)
		require.NoError(t, err)
		assert.Equal(t, b0, b1)
		ch, err := s.ChangesSince(ctx, bob.Mailbox, b0)
		require.NoError(t, err)
		assert.Empty(t, ch)
		ch, err = s.ChangesSince(ctx, carol.Mailbox, c0)
		require.NoError(t, err)
		assert.Len(t, ch, 1)
		_, err = s.ModSeq(ctx, 999999)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

// TestConcurrentDeliveries delivers from several goroutines into one
// mailbox: every delivery gets its own modseq and UID, the change log has
// no gaps, and no item is lost.
func TestConcurrentDeliveries(t *testing.T) {
	t.Parallel()
	const workers, each = 6, 10
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "bob@example.org")
		inbox, err := s.FolderByType(ctx, u.Mailbox, store.FolderInbox)
		require.NoError(t, err)
		m0, err := s.ModSeq(ctx, u.Mailbox)
		require.NoError(t, err)

		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			items []store.Item
		)
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					it, err := s.Deliver(ctx, u.Address, msg(fmt.Sprintf("w%d-%d", w, i)))
					if err != nil {
						errs <- err
						continue
					}
					mu.Lock()
					items = append(items, it)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		const n = workers * each
		require.Len(t, items, n)

		var modseqs []int64
		var uids []uint32
		for _, it := range items {
			modseqs = append(modseqs, it.ModSeq)
			uids = append(uids, it.UID)
		}
		slices.Sort(modseqs)
		slices.Sort(uids)
		for i := range n {
			assert.Equal(t, m0+int64(i)+1, modseqs[i], "distinct modseqs without gaps")
			assert.Equal(t, uint32(i+1), uids[i], "distinct UIDs without gaps")
		}

		ch, err := s.ChangesSince(ctx, u.Mailbox, m0)
		require.NoError(t, err)
		require.Len(t, ch, n)
		for i, c := range ch {
			assert.Equal(t, m0+int64(i)+1, c.ModSeq)
			assert.Equal(t, store.OpAdd, c.Op)
		}
		stored, err := s.Items(ctx, inbox.ID)
		require.NoError(t, err)
		assert.Len(t, stored, n, "no item lost")
		f, err := s.Folder(ctx, inbox.ID)
		require.NoError(t, err)
		assert.Equal(t, uint32(n+1), f.UIDNext)
		assert.Equal(t, m0+n, f.ModSeq)
		require.NoError(t, s.Check(ctx))
	})
}

// TestConcurrentMixedWrites races flag changes, moves and deliveries in one
// mailbox and checks the log stays gapless and consistent with the items.
func TestConcurrentMixedWrites(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "bob@example.org")
		trash, err := s.FolderByType(ctx, u.Mailbox, store.FolderDeleted)
		require.NoError(t, err)
		var seed []store.Item
		for i := range 10 {
			it, err := s.Deliver(ctx, u.Address, msg(fmt.Sprint("seed", i)))
			require.NoError(t, err)
			seed = append(seed, it)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i, it := range seed {
			wg.Go(func() {
				if _, err := s.SetFlags(ctx, it.ID, store.FlagsUpdate{Flagged: ptr(true)}); err != nil {
					errs <- err
				}
				if i%2 == 0 {
					if _, err := s.MoveItem(ctx, it.ID, trash.ID); err != nil {
						errs <- err
					}
				}
				if _, err := s.Deliver(ctx, u.Address, msg(fmt.Sprint("new", i))); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		all, err := s.ChangesSince(ctx, u.Mailbox, 0)
		require.NoError(t, err)
		cur, err := s.ModSeq(ctx, u.Mailbox)
		require.NoError(t, err)
		require.Len(t, all, int(cur))
		for i, c := range all {
			require.Equal(t, int64(i+1), c.ModSeq)
		}
		for _, it := range seed {
			got, err := s.Item(ctx, it.ID)
			require.NoError(t, err)
			assert.True(t, got.Flagged)
		}
		trashItems, err := s.Items(ctx, trash.ID)
		require.NoError(t, err)
		assert.Len(t, trashItems, 5)
		require.NoError(t, s.Check(ctx))
	})
}

func TestCopyItem(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "bob@example.org")
		inbox, err := s.FolderByType(ctx, u.Mailbox, store.FolderInbox)
		require.NoError(t, err)
		archive, err := s.CreateFolder(ctx, u.Mailbox, 0, "Archive", store.FolderUserMail)
		require.NoError(t, err)
		raw := readTestdata(t, "alternative.eml")
		orig, err := s.Deliver(ctx, u.Address, raw)
		require.NoError(t, err)
		orig, err = s.SetFlags(ctx, orig.ID, store.FlagsUpdate{Seen: ptr(true), Categories: &[]string{"Blue"}})
		require.NoError(t, err)
		m, err := s.ModSeq(ctx, u.Mailbox)
		require.NoError(t, err)

		cp, err := s.CopyItem(ctx, orig.ID, archive.ID)
		require.NoError(t, err)
		assert.NotEqual(t, orig.ID, cp.ID)
		assert.Equal(t, archive.ID, cp.Folder)
		assert.Equal(t, uint32(1), cp.UID)
		assert.Equal(t, m+1, cp.ModSeq)
		got, err := s.Item(ctx, cp.ID)
		require.NoError(t, err)
		assert.Equal(t, cp, got)
		want := orig
		want.ID, want.Folder, want.UID, want.ModSeq = cp.ID, cp.Folder, cp.UID, cp.ModSeq
		assert.Equal(t, want, got, "everything else is copied")
		m = requireChanges(t, s, u.Mailbox, m,
			store.Change{Kind: store.KindItem, Op: store.OpAdd, Folder: archive.ID, Item: cp.ID, UID: 1})

		// A copy into the same folder gets the next UID there.
		again, err := s.CopyItem(ctx, orig.ID, inbox.ID)
		require.NoError(t, err)
		assert.Equal(t, orig.UID+1, again.UID)
		m++
		assert.Equal(t, int64(1), countRows(t, s, "blobs"), "content shared, not duplicated")

		// The blob survives deleting the original.
		require.NoError(t, s.DeleteItem(ctx, orig.ID))
		body, err := s.ItemBody(ctx, cp.ID)
		require.NoError(t, err)
		assert.Equal(t, raw, body)
		m++

		other := newUser(t, s, "carol@example.org")
		carolInbox, err := s.FolderByType(ctx, other.Mailbox, store.FolderInbox)
		require.NoError(t, err)
		_, err = s.CopyItem(ctx, cp.ID, carolInbox.ID)
		assert.ErrorIs(t, err, store.ErrConflict)
		_, err = s.CopyItem(ctx, orig.ID, archive.ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
		requireChanges(t, s, u.Mailbox, m)
		require.NoError(t, s.Check(ctx))
	})
}
