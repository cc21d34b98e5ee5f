package eas_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// spyPingStore counts the reads Ping makes, and can hold the first FolderMarks read after it
// read, until hold is closed (to let a change land between a Ping's read and its arming).
type spyPingStore struct {
	*store.Store
	folders, hierarchy atomic.Int64

	hold, held chan struct{}
	once       sync.Once
}

func (s *spyPingStore) FolderMarks(ctx context.Context, mb store.MailboxID) ([]store.FolderMark, error) {
	fs, err := s.Store.FolderMarks(ctx, mb)
	s.folders.Add(1)
	if s.hold != nil {
		s.once.Do(func() {
			close(s.held)
			<-s.hold
		})
	}
	return fs, err
}

func (s *spyPingStore) FolderSyncState(ctx context.Context, user store.UserID, deviceID string) (store.FolderSyncState, error) {
	s.hierarchy.Add(1)
	return s.Store.FolderSyncState(ctx, user, deviceID)
}

// TestPingFanOut: one delivery wakes every waiting Ping of the mailbox, each once with the
// Inbox, for one read of the mailbox's folders per change event, not one per Ping, and no
// per-device read while the hierarchy is unchanged. A Ping in another mailbox stays.
func TestPingFanOut(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		spy := &spyPingStore{Store: st}
		env := newMailEnv(t, st, func(o *eas.PingOptions) { o.Store = spy })
		inbox := env.folderID(t, store.FolderInbox)
		bob, err := st.CreateUser(t.Context(), store.NewUser{Address: "bob@example.com", Password: "secret"})
		require.NoError(t, err)
		bobc := env.client("bobdev")
		bobc.Username, bobc.User = bob.Address, bob.Address
		doFolderSync(t, bobc, "0")
		bobInbox, err := st.FolderByType(t.Context(), bob.Mailbox, store.FolderInbox)
		require.NoError(t, err)
		bobCh := asyncPing(t, env, bobc, pingBody(t, 90, bobInbox.ID))

		const n = 20
		chs := make([]<-chan pingResult, n)
		for i := range n {
			c := env.client(fmt.Sprintf("dev%02d", i))
			doFolderSync(t, c, "0")
			chs[i] = asyncPing(t, env, c, pingBody(t, 90, inbox))
		}
		// Every Ping has compared its device's hierarchy (it counts as waiting from the moment
		// it arrives, before its reads).
		require.Eventually(t, func() bool { return spy.hierarchy.Load() == n+1 }, wakeWait, time.Millisecond)
		spy.folders.Store(0)
		spy.hierarchy.Store(0)
		_, err = st.Deliver(t.Context(), env.user.Address, testMessage)
		require.NoError(t, err)
		for i, ch := range chs {
			assert.Equal(t, pingResult{Status: 2, Folders: []string{fmt.Sprint(inbox)}}, waitPing(t, ch, wakeWait), "device %d", i)
		}
		assert.LessOrEqual(t, spy.folders.Load(), int64(2), "folder reads for %d woken Pings", n)
		assert.Zero(t, spy.hierarchy.Load(), "per-device hierarchy reads with the hierarchy unchanged")
		assert.Equal(t, 1, env.ping.Waiting(), "bob's Ping still waits")
		select {
		case r := <-bobCh:
			t.Fatalf("bob's Ping answered %+v to alice's mail", r)
		default:
		}
	})
}

// TestPingChangeWhileArming: a change committed after a Ping read the folders but before it
// started listening for its own answers still answers it (the change event was counted while
// it joined its mailbox).
func TestPingChangeWhileArming(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		spy := &spyPingStore{Store: st}
		env := newMailEnv(t, st, func(o *eas.PingOptions) { o.Store = spy })
		c := env.client("dev1")
		doFolderSync(t, c, "0")
		inbox := env.folderID(t, store.FolderInbox)
		spy.hold, spy.held = make(chan struct{}), make(chan struct{})
		ch := startPing(c, pingBody(t, 90, inbox))
		<-spy.held // the Ping has read the folders and not yet armed
		_, err := st.Deliver(t.Context(), env.user.Address, testMessage)
		require.NoError(t, err)
		close(spy.hold)
		assert.Equal(t, pingResult{Status: 2, Folders: []string{fmt.Sprint(inbox)}}, waitPing(t, ch, wakeWait))
	})
}

// TestPingHierarchyChangeThenMail: a folder created while a Ping waits answers it with 7 (its
// mailbox's hierarchy changed, so the device's is compared again); after FolderSync the next
// Ping, which joins the same mailbox's waiters afresh, wakes on mail.
func TestPingHierarchyChangeThenMail(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	spy := &spyPingStore{Store: st}
	env := newMailEnv(t, st, func(o *eas.PingOptions) { o.Store = spy })
	c := env.client("dev1")
	doFolderSync(t, c, "0")
	inbox := env.folderID(t, store.FolderInbox)
	ch := asyncPing(t, env, c, pingBody(t, 90, inbox))
	// A new folder is a hierarchy change the device sees: 7.
	_, err := st.CreateFolder(t.Context(), env.user.Mailbox, 0, "Projects", store.FolderUserMail)
	require.NoError(t, err)
	assert.Equal(t, pingResult{Status: 7}, waitPing(t, ch, wakeWait))
	// After FolderSync, mail answers 2 again.
	doFolderSync(t, c, "0")
	ch = asyncPing(t, env, c, pingBody(t, 90, inbox))
	_, err = st.Deliver(t.Context(), env.user.Address, testMessage)
	require.NoError(t, err)
	assert.Equal(t, pingResult{Status: 2, Folders: []string{fmt.Sprint(inbox)}}, waitPing(t, ch, wakeWait))
}
