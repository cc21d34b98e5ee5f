package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// committedCheck is a Notifier that, when the store publishes, reads the
// mailbox's modseq through the store's connection pool: if the store
// published before committing, that read would not see the change yet.
type committedCheck struct {
	*store.Hub
	s *store.Store

	mu   sync.Mutex
	seen []int64 // ModSeq(ev.Mailbox) at publish time
	evs  []store.Event
}

func (c *committedCheck) Publish(ctx context.Context, ev store.Event) error {
	ms, err := c.s.ModSeq(ctx, ev.Mailbox)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.seen = append(c.seen, ms)
	c.evs = append(c.evs, ev)
	c.mu.Unlock()
	return c.Hub.Publish(ctx, ev)
}

func TestWatchSignalledAfterCommit(t *testing.T) {
	t.Parallel()
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		n := &committedCheck{Hub: store.NewHub()}
		opts := storetest.Options()
		opts.Notifier = n
		s, err := store.Open(ctx, dsn, opts)
		require.NoError(t, err)
		defer func() { require.NoError(t, s.Close()) }()
		n.s = s
		require.NoError(t, s.Migrate(ctx))

		u := newUser(t, s, "bob@example.org")
		other := newUser(t, s, "carol@example.org")
		w := s.Watch(ctx, u.Mailbox)
		defer w.Close()
		select {
		case <-w.C:
			t.Fatal("signalled before any change")
		default:
		}

		_, err = s.Deliver(ctx, other.Address, msg("not for bob"))
		require.NoError(t, err)
		select {
		case <-w.C:
			t.Fatal("signalled for another mailbox")
		default:
		}

		it, err := s.Deliver(ctx, u.Address, msg("hello"))
		require.NoError(t, err)
		select {
		case <-w.C:
		case <-time.After(5 * time.Second):
			t.Fatal("no signal after delivery")
		}
		n.mu.Lock()
		last := n.evs[len(n.evs)-1]
		seen := n.seen[len(n.seen)-1]
		n.mu.Unlock()
		assert.Equal(t, store.Event{Mailbox: u.Mailbox, ModSeq: it.ModSeq, Folders: []store.FolderID{it.Folder}}, last)
		assert.Equal(t, it.ModSeq, seen, "the change was committed when the event was published")

		// Signals coalesce: three changes, one pending signal.
		for range 3 {
			_, err := s.SetFlags(ctx, it.ID, store.FlagsUpdate{Seen: ptr(true)})
			require.NoError(t, err)
			_, err = s.SetFlags(ctx, it.ID, store.FlagsUpdate{Seen: ptr(false)})
			require.NoError(t, err)
		}
		<-w.C
		select {
		case <-w.C:
			t.Fatal("signals did not coalesce")
		default:
		}
		n.mu.Lock()
		for i := range n.evs {
			assert.Equal(t, n.evs[i].ModSeq, n.seen[i], "event %d published after commit", i)
		}
		n.mu.Unlock()
	})
}

func TestWatcherClose(t *testing.T) {
	t.Parallel()
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		hub := store.NewHub()
		opts := storetest.Options()
		opts.Notifier = hub
		s, err := store.Open(t.Context(), dsn, opts)
		require.NoError(t, err)
		defer func() { require.NoError(t, s.Close()) }()
		require.NoError(t, s.Migrate(t.Context()))
		u := newUser(t, s, "bob@example.org")

		w1 := s.Watch(t.Context(), u.Mailbox)
		ctx, cancel := context.WithCancel(t.Context())
		w2 := s.Watch(ctx, u.Mailbox)
		assert.Equal(t, 2, hub.Subscribers(u.Mailbox))

		w1.Close()
		w1.Close() // idempotent
		assert.Equal(t, 1, hub.Subscribers(u.Mailbox))

		cancel() // the context's end releases w2 too
		assert.Eventually(t, func() bool { return hub.Subscribers(u.Mailbox) == 0 }, 5*time.Second, time.Millisecond)
		w2.Close()

		_, err = s.Deliver(t.Context(), u.Address, msg("after close"))
		require.NoError(t, err)
		select {
		case <-w1.C:
			t.Fatal("closed watcher signalled")
		case <-w2.C:
			t.Fatal("released watcher signalled")
		default:
		}
	})
}

func TestHubConcurrentPublishSubscribe(t *testing.T) {
	t.Parallel()
	hub := store.NewHub()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				got := make(chan struct{}, 1)
				cancel := hub.Subscribe(store.MailboxID(i%2), func(store.Event) {
					select {
					case got <- struct{}{}:
					default:
					}
				})
				require.NoError(t, hub.Publish(t.Context(), store.Event{Mailbox: store.MailboxID(i % 2)}))
				<-got // our own publish reached us
				cancel()
			}
		})
	}
	wg.Wait()
	assert.Zero(t, hub.Subscribers(0))
	assert.Zero(t, hub.Subscribers(1))
}
