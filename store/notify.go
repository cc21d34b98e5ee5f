package store

import (
	"context"
	"slices"
	"sync"
)

// Event says that committed changes exist in a mailbox. It is a hint to look
// again (ModSeq, ChangesSince), not the changes themselves: events may be
// coalesced, and a watcher that was not listening must still rely on the
// change log.
type Event struct {
	Mailbox MailboxID
	ModSeq  int64      // the mailbox's modseq after the change
	Folders []FolderID // folders whose contents or names changed
}

// Notifier carries change events from the store to the watchers of a
// mailbox. The store calls Publish only after the transaction that made the
// change has committed, so a subscriber that reads the store on an event
// sees the change.
//
// The in-process Hub serves one node (and is the default on SQLite).
// PGNotifier, the default on PostgreSQL, serves several nodes sharing one
// database: Publish calls the local subscribers through an embedded Hub and
// runs pg_notify; a goroutine holding a dedicated connection LISTENs and
// hands other nodes' events to the Hub.
type Notifier interface {
	// Publish delivers ev to the subscribers of ev.Mailbox. It must not
	// block on slow subscribers.
	Publish(ctx context.Context, ev Event) error
	// Subscribe calls fn for each event of mailbox mb until the returned
	// cancel function is called. fn must not block; it may be called from
	// any goroutine. cancel is idempotent and, once it returns, fn is not
	// called again.
	Subscribe(mb MailboxID, fn func(Event)) (cancel func())
}

// Hub is the in-process Notifier. The zero value is not usable; use NewHub.
type Hub struct {
	mu   sync.RWMutex
	subs map[MailboxID][]*hubSub
}

type hubSub struct {
	fn func(Event)
}

var _ Notifier = (*Hub)(nil)

// NewHub returns an empty in-process hub.
func NewHub() *Hub {
	return &Hub{subs: make(map[MailboxID][]*hubSub)}
}

// Publish calls every subscriber of ev.Mailbox. It never fails.
func (h *Hub) Publish(_ context.Context, ev Event) error {
	h.mu.RLock()
	defer h.mu.RUnlock() // held while calling fn, so cancel waits for a running fn
	for _, s := range h.subs[ev.Mailbox] {
		s.fn(ev)
	}
	return nil
}

// Subscribe registers fn for events of mailbox mb.
func (h *Hub) Subscribe(mb MailboxID, fn func(Event)) func() {
	s := &hubSub{fn: fn}
	h.mu.Lock()
	h.subs[mb] = append(h.subs[mb], s)
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			list := slices.DeleteFunc(h.subs[mb], func(x *hubSub) bool { return x == s })
			if len(list) == 0 {
				delete(h.subs, mb)
			} else {
				h.subs[mb] = list
			}
		})
	}
}

// broadcast wakes every subscriber of every mailbox with an event that
// names no folder, for when events may have been lost.
func (h *Hub) broadcast() {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for mb, subs := range h.subs {
		for _, s := range subs {
			s.fn(Event{Mailbox: mb})
		}
	}
}

// Subscribers returns how many subscriptions mailbox mb has (for tests and
// metrics).
func (h *Hub) Subscribers(mb MailboxID) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs[mb])
}

// Watcher signals on C after any committed change in one mailbox. Signals
// coalesce: C has a buffer of one, so a watcher that was busy sees one
// signal for many changes and must then read what changed. Close it when
// done; it is also closed when the context given to Watch is done. C is never
// closed (so a select on it cannot spin); select on your own context as
// well.
type Watcher struct {
	C <-chan struct{}

	c      chan struct{}
	cancel func()
	stop   func() bool
}

// Watch returns a watcher of mailbox mb. It holds no goroutine.
func (s *Store) Watch(ctx context.Context, mb MailboxID) *Watcher {
	c := make(chan struct{}, 1)
	w := &Watcher{C: c, c: c}
	w.cancel = s.notifier.Subscribe(mb, func(Event) {
		select {
		case c <- struct{}{}:
		default: // a signal is already pending
		}
	})
	w.stop = context.AfterFunc(ctx, w.cancel)
	return w
}

// Subscribe calls fn for each change event of mailbox mb (from this process, and from
// others through the poller or LISTEN/NOTIFY) until cancel is called; see Notifier.Subscribe
// for the rules fn must follow (it must not block, nor call Subscribe or cancel). It holds no
// goroutine and no channel: one subscription can serve many waiters, as Ping's per-mailbox
// fan-out does.
func (s *Store) Subscribe(mb MailboxID, fn func(Event)) (cancel func()) {
	return s.notifier.Subscribe(mb, fn)
}

// Close stops the watcher. It is idempotent.
func (w *Watcher) Close() {
	w.stop()
	w.cancel()
}

// publish tells watchers about a committed change. Failure to notify is
// logged, not returned: the change is committed and the change log has it.
func (s *Store) publish(ctx context.Context, ev Event) {
	if err := s.notifier.Publish(context.WithoutCancel(ctx), ev); err != nil {
		s.log.Warn("publish change event", "mailbox", ev.Mailbox, "modseq", ev.ModSeq, "err", err)
	}
}
