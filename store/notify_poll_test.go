package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store/storetest"
)

// TestPollOtherWriters opens two stores on one SQLite file, as `easd serve` and `easd deliver`
// do: a delivery through the second wakes a watcher of the first.
func TestPollOtherWriters(t *testing.T) {
	t.Parallel()
	dsn := storetest.SQLiteURL(t)
	a := storetest.Open(t, dsn)
	require.NoError(t, a.Migrate(t.Context()))
	a.PollOtherWriters(20 * time.Millisecond)
	b := storetest.Open(t, dsn)
	u := newUser(t, b, "alice@example.com")
	other := newUser(t, b, "bob@example.com")
	msg := []byte("From: x@y.z\r\nSubject: s\r\n\r\nbody\r\n")

	w := a.Watch(t.Context(), u.Mailbox)
	defer w.Close()
	// A change in another mailbox does not wake alice's watcher.
	_, err := b.Deliver(t.Context(), other.Address, msg)
	require.NoError(t, err)
	select {
	case <-w.C:
		t.Fatal("woken by another mailbox's change")
	case <-time.After(200 * time.Millisecond):
	}
	_, err = b.Deliver(t.Context(), u.Address, msg)
	require.NoError(t, err)
	select {
	case <-w.C:
	case <-time.After(5 * time.Second):
		t.Fatal("the other process's delivery did not wake the watcher")
	}
	w.Close()

	// With no watcher the poller stops; a new watcher starts it again.
	w2 := a.Watch(t.Context(), u.Mailbox)
	defer w2.Close()
	_, err = b.Deliver(t.Context(), u.Address, msg)
	require.NoError(t, err)
	select {
	case <-w2.C:
	case <-time.After(5 * time.Second):
		t.Fatal("the restarted poller did not wake the watcher")
	}
}
