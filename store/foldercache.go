package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// FolderCacheTTL bounds how long MailboxFolder trusts a folder it holds in memory when no
// change event arrived: a backstop for a notifier that lost an event without noticing (a
// PostgreSQL notification sent by a node that died between its commit and pg_notify).
const FolderCacheTTL = 10 * time.Second

// maxCachedMailboxes bounds the mailboxes MailboxFolder keeps folders (and a subscription) for.
const maxCachedMailboxes = 20_000

// LiveNotifier is an optional capability of a Notifier: Live reports whether it currently
// delivers every committed change (a PostgreSQL listener whose connection dropped does not).
// MailboxFolder trusts its memory only while the notifier is live; a Notifier without the
// method is taken to be live (the in-process Hub always is).
type LiveNotifier interface {
	Live() bool
}

// folderCache keeps the folders MailboxFolder read, per mailbox, and forgets a mailbox's
// folders on every change event of it (Event is published after commit). So a no-change
// Sync, which needs only the folder's modseq, reads no database row while the notifier is
// live.
//
// A fill must not store what was read before an event that invalidated it: each mailbox
// entry counts its events (gen), and a value read from the database is kept only if no
// event arrived between the start of the read and its end. The subscription is made before
// the first read, so no committed change can slip between them (the SQLite poller reads its
// baseline inside Subscribe).
type folderCache struct {
	s   *Store
	now func() time.Time

	mu  sync.Mutex
	mbs map[MailboxID]*mbFolders
}

type mbFolders struct {
	gen        uint64 // events seen
	subscribed bool
	cancel     func()
	used       time.Time
	folders    map[FolderID]cachedFolder
}

type cachedFolder struct {
	f  Folder
	at time.Time // when it was read
}

func (s *Store) folders() *folderCache {
	s.fcOnce.Do(func() {
		s.fc = &folderCache{s: s, now: time.Now, mbs: make(map[MailboxID]*mbFolders)}
	})
	return s.fc
}

// MailboxFolder returns folder id if it belongs to mailbox mb, or ErrNotFound. It answers
// from memory while the store's change notifications for mb are live (an in-process write,
// another process's write seen by the SQLite poller, another node's through PostgreSQL
// LISTEN/NOTIFY, each drops what is held for the mailbox) and reads the database otherwise
// or after FolderCacheTTL. A write by another process is therefore seen once the notifier
// delivered its event; until then the folder may be that much older, never wrong in any
// other way. Use Folder where the answer must be read fresh.
func (s *Store) MailboxFolder(ctx context.Context, mb MailboxID, id FolderID) (Folder, error) {
	fc := s.folders()
	live := s.notifierLive()
	now := fc.now()
	fc.mu.Lock()
	e := fc.mbs[mb]
	if e != nil && live && e.subscribed {
		e.used = now
		if cf, ok := e.folders[id]; ok && now.Sub(cf.at) < FolderCacheTTL {
			fc.mu.Unlock()
			return cf.f, nil
		}
	}
	if e == nil {
		evicted := fc.evictLocked()
		e = &mbFolders{used: now, folders: make(map[FolderID]cachedFolder)}
		fc.mbs[mb] = e
		fc.mu.Unlock()
		for _, cancel := range evicted {
			cancel()
		}
		// Outside fc.mu: the Hub calls the callback under its own lock.
		cancel := s.notifier.Subscribe(mb, func(Event) { fc.invalidate(mb, e) })
		fc.mu.Lock()
		if fc.mbs[mb] == e {
			e.cancel, e.subscribed = cancel, true
		} else {
			defer cancel() // evicted meanwhile
		}
	}
	gen, keep := e.gen, e.subscribed && live
	fc.mu.Unlock()

	f, err := folderByID(s.db.WithContext(ctx), id)
	if err != nil {
		return Folder{}, fmt.Errorf("folder %d: %w", id, err)
	}
	if f.Mailbox != mb {
		return Folder{}, fmt.Errorf("folder %d of mailbox %d: %w", id, mb, ErrNotFound)
	}
	if keep {
		fc.mu.Lock()
		if e.gen == gen && fc.mbs[mb] == e {
			e.folders[id] = cachedFolder{f: f, at: now}
		}
		fc.mu.Unlock()
	}
	return f, nil
}

// invalidate forgets what is held for mailbox mb after one of its change events.
func (fc *folderCache) invalidate(mb MailboxID, e *mbFolders) {
	fc.mu.Lock()
	e.gen++
	clear(e.folders)
	fc.mu.Unlock()
}

// evictLocked makes room for one more mailbox, dropping the least recently used tenth of the
// entries when the cache is full; it returns their cancel functions, to be called without
// fc.mu held.
func (fc *folderCache) evictLocked() []func() {
	if len(fc.mbs) < maxCachedMailboxes {
		return nil
	}
	var oldest time.Time
	for _, e := range fc.mbs {
		if oldest.IsZero() || e.used.Before(oldest) {
			oldest = e.used
		}
	}
	// Everything used within the oldest tenth of the span since the oldest use goes.
	cut := oldest.Add(fc.now().Sub(oldest) / 10)
	var out []func()
	for mb, e := range fc.mbs {
		if !e.used.After(cut) {
			if e.cancel != nil {
				out = append(out, e.cancel)
			}
			delete(fc.mbs, mb)
		}
	}
	return out
}

// notifierLive reports whether the notifier currently delivers every committed change, other
// processes' included.
func (s *Store) notifierLive() bool {
	switch n := s.notifier.(type) {
	case *pollNotifier:
		// Our subscription keeps the poller running until the store closes.
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.stop != nil
	case LiveNotifier:
		return n.Live()
	}
	// The Hub Open made for SQLite sees only this process's writes until PollOtherWriters.
	return !s.localNotifier
}

// closeFolderCache drops the subscriptions of the folder cache.
func (s *Store) closeFolderCache() {
	fc := s.fc
	if fc == nil {
		return
	}
	fc.mu.Lock()
	var cancels []func()
	for mb, e := range fc.mbs {
		if e.cancel != nil {
			cancels = append(cancels, e.cancel)
		}
		delete(fc.mbs, mb)
	}
	fc.mu.Unlock()
	for _, c := range cancels {
		c()
	}
}
