package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// DefaultPollInterval is how often PollOtherWriters looks for other processes' writes when no
// interval is given: short enough that a Ping woken by `easd deliver` answers well within
// 250 ms, and cheap because one tick is one read of the last entry of the changes table's
// rowid b-tree, made only while someone waits (BenchmarkPollIdle: about 25 µs, 0.05 % of one
// core at this interval).
const DefaultPollInterval = 50 * time.Millisecond

// pollNotifier wraps the store's notifier on SQLite so that writes committed by another
// process on the same database file (`easd deliver`, an admin command) wake this process's
// watchers too. While at least one watcher is subscribed, one goroutine reads the highest
// rowid of the changes table every interval (the last entry of its rowid b-tree: no scan);
// when it grew, one range read over the new rows names the mailboxes that changed, and each
// watched one gets an Event through the wrapped Hub. With no watcher the goroutine stops.
//
// The poller also sees this process's own writes, which the Hub has already delivered: a
// watcher may get a second, spurious signal, which watchers tolerate (events are hints).
type pollNotifier struct {
	inner    Notifier
	s        *Store
	db       *sql.DB // the store's pool, without gorm: a tick allocates almost nothing
	interval time.Duration

	mu      sync.Mutex
	watched map[MailboxID]int // subscriptions per mailbox
	running bool
	stop    chan struct{}
	lastRow int64
}

// PollOtherWriters makes the watchers of an SQLite store see writes of other processes within
// about interval (zero: DefaultPollInterval), at the cost of one cheap query per interval
// while anyone is watching. Call it once, right after Open and before Watch is used; it is a
// no-op on PostgreSQL, whose LISTEN/NOTIFY notifier already carries other processes' events.
// Close stops the poller.
func (s *Store) PollOtherWriters(interval time.Duration) {
	if s.dialect != dialectSQLite {
		return
	}
	if _, ok := s.notifier.(*pollNotifier); ok {
		return
	}
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	s.pollAdminChanges(interval) // admin changes of other processes (adminchange.go)
	db, err := s.db.DB()
	if err != nil {
		s.log.Warn("poll other writers: no database handle", "err", err)
		return
	}
	p := &pollNotifier{inner: s.notifier, s: s, db: db, interval: interval, watched: make(map[MailboxID]int), stop: make(chan struct{})}
	s.notifier = p
	prev := s.closeNotifier
	s.closeNotifier = func() error {
		p.close()
		if prev != nil {
			return prev()
		}
		return nil
	}
}

func (p *pollNotifier) Publish(ctx context.Context, ev Event) error { return p.inner.Publish(ctx, ev) }

func (p *pollNotifier) Subscribe(mb MailboxID, fn func(Event)) func() {
	cancel := p.inner.Subscribe(mb, fn)
	p.mu.Lock()
	p.watched[mb]++
	if !p.running && p.stop != nil {
		p.running = true
		// The baseline is read before returning, so a write committed after Subscribe
		// returns is seen by the next poll.
		p.lastRow = p.maxRow(context.Background())
		go p.loop()
	}
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			p.mu.Lock()
			if p.watched[mb]--; p.watched[mb] <= 0 {
				delete(p.watched, mb)
			}
			p.mu.Unlock()
		})
	}
}

func (p *pollNotifier) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stop != nil {
		close(p.stop)
		p.stop = nil
	}
}

func (p *pollNotifier) maxRow(ctx context.Context) int64 {
	var v int64
	if err := p.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(rowid), 0) FROM changes`).Scan(&v); err != nil {
		return -1 // unknown: the next successful read wakes everyone
	}
	return v
}

func (p *pollNotifier) loop() {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.mu.Lock()
		stop := p.stop
		if len(p.watched) == 0 || stop == nil {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		select {
		case <-stop:
			p.mu.Lock()
			p.running = false
			p.mu.Unlock()
			return
		case <-t.C:
		}
		p.poll()
	}
}

// poll publishes an event for every watched mailbox with changes after lastRow.
func (p *pollNotifier) poll() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	row := p.maxRow(ctx)
	p.mu.Lock()
	last := p.lastRow
	p.mu.Unlock()
	if row < 0 || row == last {
		return
	}
	var (
		mbs []int64
		err error
	)
	if last < 0 || row < last {
		// We lost track (a failed read, rows removed): wake every watcher once.
		p.mu.Lock()
		for mb := range p.watched {
			mbs = append(mbs, int64(mb))
		}
		p.mu.Unlock()
	} else if mbs, err = p.changedMailboxes(ctx, last, row); err != nil {
		p.s.log.Warn("poll changes of other processes", "err", err)
		return
	}
	p.mu.Lock()
	p.lastRow = row
	var wake []MailboxID
	for _, mb := range mbs {
		if p.watched[MailboxID(mb)] > 0 {
			wake = append(wake, MailboxID(mb))
		}
	}
	p.mu.Unlock()
	for _, mb := range wake {
		_ = p.inner.Publish(ctx, Event{Mailbox: mb})
	}
}

// changedMailboxes returns the mailboxes of the change rows after rowid from up to to.
func (p *pollNotifier) changedMailboxes(ctx context.Context, from, to int64) ([]int64, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT DISTINCT mailbox_id FROM changes WHERE rowid > ? AND rowid <= ?`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var mbs []int64
	for rows.Next() {
		var mb int64
		if err := rows.Scan(&mb); err != nil {
			return nil, err
		}
		mbs = append(mbs, mb)
	}
	return mbs, rows.Err()
}
