package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

var cacheMsg = []byte("From: x@y.z\r\nSubject: s\r\n\r\nbody\r\n")

// TestMailboxFolderOtherWriter: a folder held in memory by one store (a server) is read again
// once a change made through a second store on the same database (easd deliver, another
// node) has been delivered by the notifier: the poller on SQLite, LISTEN/NOTIFY on PostgreSQL.
// The cache subscribed before the watcher, so by the time the watcher is signalled the cache
// has dropped the folder.
func TestMailboxFolderOtherWriter(t *testing.T) {
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		a := storetest.Open(t, dsn)
		require.NoError(t, a.Migrate(ctx))
		a.PollOtherWriters(20 * time.Millisecond) // as easd serve does; nothing on PostgreSQL
		b := storetest.Open(t, dsn)
		u := newUser(t, b, "alice@example.com")
		inbox, err := a.FolderByType(ctx, u.Mailbox, store.FolderInbox)
		require.NoError(t, err)

		f0, err := a.MailboxFolder(ctx, u.Mailbox, inbox.ID)
		require.NoError(t, err)
		assert.Equal(t, inbox, f0)
		f1, err := a.MailboxFolder(ctx, u.Mailbox, inbox.ID) // from memory now
		require.NoError(t, err)
		assert.Equal(t, f0, f1)

		w := a.Watch(ctx, u.Mailbox)
		defer w.Close()
		it, err := b.Deliver(ctx, u.Address, cacheMsg)
		require.NoError(t, err)
		select {
		case <-w.C:
		case <-time.After(10 * time.Second):
			t.Fatal("the other store's delivery was never notified")
		}
		f2, err := a.MailboxFolder(ctx, u.Mailbox, inbox.ID)
		require.NoError(t, err)
		assert.Equal(t, it.ModSeq, f2.ModSeq, "the folder after the notified delivery")
		assert.Equal(t, f0.UIDNext+1, f2.UIDNext)
	})
}

// TestMailboxFolderOwnWrite: a write through the same store is seen by the very next read, and
// a folder of another mailbox is not found.
func TestMailboxFolderOwnWrite(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		s.PollOtherWriters(0) // live on SQLite too
		u := newUser(t, s, "alice@example.com")
		bob := newUser(t, s, "bob@example.com")
		inbox, err := s.FolderByType(ctx, u.Mailbox, store.FolderInbox)
		require.NoError(t, err)
		f0, err := s.MailboxFolder(ctx, u.Mailbox, inbox.ID)
		require.NoError(t, err)
		it, err := s.Deliver(ctx, u.Address, cacheMsg)
		require.NoError(t, err)
		f1, err := s.MailboxFolder(ctx, u.Mailbox, inbox.ID)
		require.NoError(t, err)
		assert.Equal(t, it.ModSeq, f1.ModSeq)
		assert.Greater(t, f1.ModSeq, f0.ModSeq)

		_, err = s.MailboxFolder(ctx, bob.Mailbox, inbox.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.MailboxFolder(ctx, u.Mailbox, 1<<40)
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

// TestMailboxFolderNoWatcherOnSQLite: on SQLite without the other-writers poller nothing tells
// the store about another process's writes, so MailboxFolder reads the database every time.
func TestMailboxFolderNoWatcherOnSQLite(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := storetest.SQLiteURL(t)
	a := storetest.Open(t, dsn)
	require.NoError(t, a.Migrate(ctx))
	b := storetest.Open(t, dsn)
	u := newUser(t, b, "alice@example.com")
	inbox, err := a.FolderByType(ctx, u.Mailbox, store.FolderInbox)
	require.NoError(t, err)
	_, err = a.MailboxFolder(ctx, u.Mailbox, inbox.ID)
	require.NoError(t, err)
	it, err := b.Deliver(ctx, u.Address, cacheMsg)
	require.NoError(t, err)
	f, err := a.MailboxFolder(ctx, u.Mailbox, inbox.ID)
	require.NoError(t, err)
	assert.Equal(t, it.ModSeq, f.ModSeq)
}
