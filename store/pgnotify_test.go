package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// TestPGNotifierAcrossProcesses stands two stores (two easd nodes) on one
// PostgreSQL schema: a delivery through one wakes a watcher of the other.
func TestPGNotifierAcrossProcesses(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresURL(t) // skips without EASD_TEST_DATABASE_URL
	a := storetest.Open(t, dsn)
	b := storetest.Open(t, dsn)
	require.NoError(t, a.Migrate(t.Context()))
	u := newUser(t, a, "bob@example.org")
	other := newUser(t, a, "carol@example.org")

	wa := a.Watch(t.Context(), u.Mailbox)
	defer wa.Close()
	wb := b.Watch(t.Context(), u.Mailbox)
	defer wb.Close()

	_, err := b.Deliver(t.Context(), other.Address, msg("for carol"))
	require.NoError(t, err)
	it, err := b.Deliver(t.Context(), u.Address, msg("via node b"))
	require.NoError(t, err)

	select {
	case <-wb.C: // local: immediate
	default:
		t.Fatal("local watcher not signalled at once")
	}
	select {
	case <-wa.C:
	case <-time.After(10 * time.Second):
		t.Fatal("watcher on the other node not signalled")
	}
	ms, err := a.ModSeq(t.Context(), u.Mailbox)
	require.NoError(t, err)
	assert.Equal(t, it.ModSeq, ms, "the other node sees the change when woken")

	// Carol's delivery must not have woken Bob's watchers (nor our own
	// notification come back as a second signal for b).
	time.Sleep(200 * time.Millisecond)
	select {
	case <-wa.C:
		t.Fatal("spurious signal on node a")
	case <-wb.C:
		t.Fatal("own notification echoed on node b")
	default:
	}
}

func TestPGNotifierClose(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresURL(t)
	s := storetest.Open(t, dsn)
	n, err := store.NewPGNotifier(t.Context(), dsn, s.DB(), nil)
	require.NoError(t, err)
	got := make(chan store.Event, 1)
	cancel := n.Subscribe(7, func(ev store.Event) { got <- ev })
	require.NoError(t, n.Publish(context.Background(), store.Event{Mailbox: 7, ModSeq: 3, Folders: []store.FolderID{1, 2}}))
	assert.Equal(t, store.Event{Mailbox: 7, ModSeq: 3, Folders: []store.FolderID{1, 2}}, <-got)
	cancel()
	assert.Zero(t, n.Subscribers(7))
	require.NoError(t, n.Close())
	require.NoError(t, n.Close(), "idempotent")
}

// TestPGNotifierReconnects kills the listening connection on the server
// side; the notifier reconnects and events from another node arrive again.
func TestPGNotifierReconnects(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresURL(t)
	a := storetest.Open(t, dsn)
	b := storetest.Open(t, dsn)
	require.NoError(t, a.Migrate(t.Context()))
	u := newUser(t, a, "bob@example.org")
	var schema string
	require.NoError(t, a.DB().Raw(`SELECT current_schema()`).Scan(&schema).Error)
	listeners := func() []int64 {
		var pids []int64
		require.NoError(t, a.DB().Raw(`SELECT pid FROM pg_stat_activity WHERE query = ?`,
			`LISTEN "easd_changes.`+schema+`"`).Scan(&pids).Error)
		return pids
	}
	require.Len(t, listeners(), 2, "one listener per node")

	w := a.Watch(t.Context(), u.Mailbox)
	defer w.Close()
	for _, pid := range listeners() {
		require.NoError(t, a.DB().Exec(`SELECT pg_terminate_backend(?)`, pid).Error)
	}
	require.Eventually(t, func() bool { return len(listeners()) == 2 }, 20*time.Second, 50*time.Millisecond, "listeners reconnect")
	// Drain the wake-up the reconnect itself may have caused.
	select {
	case <-w.C:
	case <-time.After(500 * time.Millisecond):
	}

	_, err := b.Deliver(t.Context(), u.Address, msg("after reconnect"))
	require.NoError(t, err)
	select {
	case <-w.C:
	case <-time.After(10 * time.Second):
		t.Fatal("no signal after the listener reconnected")
	}
}
