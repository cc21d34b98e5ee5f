package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// PGNotifier is the Notifier for several easd processes sharing one
// PostgreSQL database; Open uses it for postgres:// URLs unless
// Options.Notifier is set. Publish delivers to this process's watchers at
// once, through an embedded Hub, and sends the event to the other processes
// with pg_notify on a channel named after the schema
// ("easd_changes.<schema>"). One goroutine holds a dedicated connection
// that LISTENs on that channel and hands other processes' events to the
// Hub. If that connection drops, it reconnects with backoff and then wakes
// every local watcher once, since events may have been missed meanwhile
// (watchers re-read the change log, so a spurious wake-up is harmless).
type PGNotifier struct {
	hub     *Hub
	db      *gorm.DB
	channel string
	node    string // tags our own notifications so the listener skips them
	log     *slog.Logger
	admin   *pgAdmin    // admin changes on a second channel (adminchange.go)
	down    atomic.Bool // the listener is lost: events of other processes may be missed

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

var _ Notifier = (*PGNotifier)(nil)

// NewPGNotifier starts listening on dsn's database and schema. db is used
// to send notifications; log (nil: discard) gets connection trouble. Close
// stops it.
func NewPGNotifier(ctx context.Context, dsn string, db *gorm.DB, log *slog.Logger) (*PGNotifier, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var schema string
	if err := db.WithContext(ctx).Raw(`SELECT current_schema()`).Scan(&schema).Error; err != nil {
		return nil, fmt.Errorf("store: notifier: current schema: %w", err)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n := &PGNotifier{
		hub:     NewHub(),
		db:      db,
		channel: "easd_changes." + schema,
		node:    hex.EncodeToString(id[:]),
		log:     log,
		admin:   newPGAdmin(schema),
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	conn, err := n.listen(ctx, dsn)
	if err != nil {
		cancel()
		return nil, err
	}
	go n.run(lctx, dsn, conn)
	return n, nil
}

func (n *PGNotifier) listen(ctx context.Context, dsn string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: notifier: connect: %w", err)
	}
	// The admin channel first: the change channel's LISTEN stays the connection's last query,
	// which is how pg_stat_activity shows the listener.
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{n.admin.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("store: notifier: listen: %w", err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{n.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("store: notifier: listen: %w", err)
	}
	return conn, nil
}

func (n *PGNotifier) run(ctx context.Context, dsn string, conn *pgx.Conn) {
	defer close(n.done)
	backoff := 100 * time.Millisecond
	for {
		for conn != nil {
			msg, err := conn.WaitForNotification(ctx)
			if err != nil {
				_ = conn.Close(context.Background())
				conn = nil
				if ctx.Err() != nil {
					return
				}
				n.down.Store(true)
				n.log.Warn("change notifications: listener lost, reconnecting", "err", err)
				break
			}
			backoff = 100 * time.Millisecond
			if msg.Channel == n.admin.channel {
				n.admin.received(msg.Payload, n.log)
				continue
			}
			ev, node, ok := decodeEvent(msg.Payload)
			if !ok {
				n.log.Warn("change notifications: bad payload", "payload", msg.Payload)
				continue
			}
			if node != n.node {
				_ = n.hub.Publish(ctx, ev)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
		c, err := n.listen(ctx, dsn)
		if err != nil {
			n.log.Warn("change notifications: reconnect failed", "err", err, "retry_in", backoff)
			continue
		}
		conn = c
		n.log.Info("change notifications: listener reconnected")
		n.hub.broadcast() // events may have been missed
		n.admin.lost()
		n.down.Store(false) // after the broadcast: caches dropped what they held
	}
}

// Live reports whether the listener is connected, so that every other process's event
// arrives (LiveNotifier): caches of the store trust their memory only then.
func (n *PGNotifier) Live() bool { return !n.down.Load() }

// Publish signals local watchers and notifies the other processes.
func (n *PGNotifier) Publish(ctx context.Context, ev Event) error {
	_ = n.hub.Publish(ctx, ev)
	if err := n.db.WithContext(ctx).Exec(`SELECT pg_notify(?, ?)`, n.channel, encodeEvent(n.node, ev)).Error; err != nil {
		return fmt.Errorf("store: notify: %w", err)
	}
	return nil
}

// Subscribe registers fn for events of mailbox mb, from this process or
// another.
func (n *PGNotifier) Subscribe(mb MailboxID, fn func(Event)) func() {
	return n.hub.Subscribe(mb, fn)
}

// Subscribers returns how many local subscriptions mailbox mb has.
func (n *PGNotifier) Subscribers(mb MailboxID) int { return n.hub.Subscribers(mb) }

// Close stops listening. It is idempotent.
func (n *PGNotifier) Close() error {
	n.once.Do(func() {
		n.cancel()
		<-n.done
	})
	return nil
}

// encodeEvent writes "node mailbox modseq folder,folder,…". NOTIFY payloads
// must stay under 8000 bytes; folder lists beyond that are dropped, which
// only makes the event less specific.
func encodeEvent(node string, ev Event) string {
	var b strings.Builder
	b.WriteString(node)
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(int64(ev.Mailbox), 10))
	b.WriteByte(' ')
	b.WriteString(strconv.FormatInt(ev.ModSeq, 10))
	b.WriteByte(' ')
	for i, f := range ev.Folders {
		if b.Len() > 7000 {
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(int64(f), 10))
	}
	return b.String()
}

func decodeEvent(s string) (Event, string, bool) {
	f := strings.Split(s, " ")
	if len(f) != 4 {
		return Event{}, "", false
	}
	mb, err1 := strconv.ParseInt(f[1], 10, 64)
	ms, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return Event{}, "", false
	}
	ev := Event{Mailbox: MailboxID(mb), ModSeq: ms}
	if f[3] != "" {
		for x := range strings.SplitSeq(f[3], ",") {
			id, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return Event{}, "", false
			}
			ev.Folders = append(ev.Folders, FolderID(id))
		}
	}
	return ev, f[0], true
}
