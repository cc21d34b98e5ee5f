package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
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
	// With no watcher the poller stops (an idle server runs no query at all)...
	require.Eventually(t, func() bool { return !store.PollRunning(a) }, 5*time.Second, 5*time.Millisecond)

	// ...and a new watcher starts it again.
	w2 := a.Watch(t.Context(), u.Mailbox)
	defer w2.Close()
	require.True(t, store.PollRunning(a))
	_, err = b.Deliver(t.Context(), u.Address, msg)
	require.NoError(t, err)
	select {
	case <-w2.C:
	case <-time.After(5 * time.Second):
		t.Fatal("the restarted poller did not wake the watcher")
	}
}

// BenchmarkPollIdle is one tick of the SQLite poller while a Ping waits and nothing changed:
// what an idle server spends every DefaultPollInterval. cpu-%/tick is the share of one core
// that costs at that interval.
func BenchmarkPollIdle(b *testing.B) {
	s := storetest.Open(b, storetest.SQLiteURL(b))
	require.NoError(b, s.Migrate(b.Context()))
	s.PollOtherWriters(time.Hour) // its own loop does not tick during the benchmark
	u := newUser(b, s, "alice@example.com")
	for range 100 {
		_, err := s.Deliver(b.Context(), u.Address, []byte("From: x@y.z\r\nSubject: s\r\n\r\nbody\r\n"))
		require.NoError(b, err)
	}
	w := s.Watch(b.Context(), u.Mailbox)
	defer w.Close()
	store.PollOnce(s)
	b.ReportAllocs()
	for b.Loop() {
		store.PollOnce(s)
	}
	perTick := float64(b.Elapsed()) / float64(b.N)
	b.ReportMetric(100*perTick/float64(store.DefaultPollInterval), "cpu-%/tick")
}
