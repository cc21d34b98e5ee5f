package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AdminChange says that administrative state changed: a partnership's access state, its wipe
// state or its removal, a per-user device list, the device access rules, a policy or a policy
// assignment. Like Event it is a hint to read again, not the change itself: caches of that
// state (the device registry, a policy cache) drop the entries it names, and the next request
// reads them from the database.
//
// Every process sharing the database sees it: PublishAdminChange calls this process's
// subscribers at once and then tells the others, through pg_notify on PostgreSQL (the
// PGNotifier's listener hands them on) and through a row of admin_changes on SQLite (read by
// the poller PollOtherWriters starts, every poll interval). When signals may have been lost
// (the PostgreSQL listener reconnected, a poll failed) subscribers get AdminChangeAll.
type AdminChange struct {
	Kind AdminChangeKind
	// User is the user concerned; 0: every user.
	User UserID
	// DeviceID is the partnership concerned (ChangeDevice, ChangeUserList); "": every device
	// of User.
	DeviceID string
}

// AdminChangeKind says what an AdminChange changed.
type AdminChangeKind uint8

// The kinds of AdminChange.
const (
	AdminChangeAll      AdminChangeKind = iota // anything may have changed: drop every cache
	AdminChangeDevice                          // a partnership: access state, wipe state, removal
	AdminChangeUserList                        // a per-user allow or block list entry
	AdminChangeRules                           // the device access rules
	AdminChangePolicy                          // a policy's settings (User 0) or a user's assignment
	AdminChangeUser                            // an account: password, disabled, protocols
	// AdminChangePingStarted: a device started a Ping on another node (PublishPingStarted),
	// which ends that device's older Ping here. It changes no state; caches ignore it.
	AdminChangePingStarted
)

func (k AdminChangeKind) String() string {
	switch k {
	case AdminChangeAll:
		return "all"
	case AdminChangeDevice:
		return "device"
	case AdminChangeUserList:
		return "user-list"
	case AdminChangeRules:
		return "rules"
	case AdminChangePolicy:
		return "policy"
	case AdminChangeUser:
		return "user"
	case AdminChangePingStarted:
		return "ping-started"
	}
	return "kind " + strconv.Itoa(int(k))
}

// adminBus fans AdminChanges out to this process's subscribers.
type adminBus struct {
	node string // tags this Store's signals so that its own are not delivered twice

	mu   sync.RWMutex
	subs []*adminSub
}

type adminSub struct{ fn func(AdminChange) }

func newAdminBus() *adminBus {
	var id [8]byte
	_, _ = rand.Read(id[:])
	return &adminBus{node: hex.EncodeToString(id[:])}
}

// deliver calls every subscriber, in subscription order, before it returns.
func (b *adminBus) deliver(ch AdminChange) {
	b.mu.RLock()
	defer b.mu.RUnlock() // held while calling fn, so cancel waits for a running fn
	for _, s := range b.subs {
		s.fn(ch)
	}
}

func (b *adminBus) subscribe(fn func(AdminChange)) func() {
	s := &adminSub{fn: fn}
	b.mu.Lock()
	b.subs = append(b.subs, s)
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			for i, x := range b.subs {
				if x == s {
					b.subs = append(b.subs[:i:i], b.subs[i+1:]...)
					break
				}
			}
		})
	}
}

// SubscribeAdminChanges calls fn for every AdminChange published by this process (before
// PublishAdminChange returns) or by another one sharing the database (as soon as it is
// observed), until the returned cancel function is called. fn must not block; subscribers
// are called one after the other, in the order they subscribed. cancel is idempotent; once it
// returns, fn is not called again.
func (s *Store) SubscribeAdminChanges(fn func(AdminChange)) (cancel func()) {
	return s.admin.subscribe(fn)
}

// PublishAdminChange signals ch to every process sharing the database, this one first. Call
// it after the change committed. A failure to tell the other processes is logged, not
// returned: the change is made, and their caches still expire on their own (the device
// registry's TouchInterval).
func (s *Store) PublishAdminChange(ctx context.Context, ch AdminChange) {
	s.admin.deliver(ch)
	ctx = context.WithoutCancel(ctx)
	var err error
	switch {
	case s.dialect == dialectPostgres:
		if pn, ok := s.notifier.(*PGNotifier); ok {
			err = pn.publishAdmin(ctx, s.admin.node, ch)
		}
	default:
		err = s.insertAdminChange(ctx, ch)
	}
	if err != nil {
		s.log.Warn("publish admin change", "kind", ch.Kind, "user", ch.User, "device_id", ch.DeviceID, "err", err)
	}
}

// PublishPingStarted tells the other nodes sharing a PostgreSQL database that the device
// (user, deviceID) started a Ping here: each ends that device's older Ping, as a newer Ping
// on the same node does (MS-ASCMD 2.2.1.13), so a device that moved to another node behind a
// load balancer does not leave a Ping waiting on the old one. Subscribers of this process are
// not called. On SQLite it does nothing: one server process serves a database file. A failure
// is logged: the older Ping then ends at its heartbeat.
func (s *Store) PublishPingStarted(ctx context.Context, user UserID, deviceID string) {
	pn, ok := s.notifier.(*PGNotifier)
	if s.dialect != dialectPostgres || !ok {
		return
	}
	ch := AdminChange{Kind: AdminChangePingStarted, User: user, DeviceID: deviceID}
	if err := pn.publishAdmin(context.WithoutCancel(ctx), s.admin.node, ch); err != nil {
		s.log.Warn("publish ping start", "user", user, "device_id", deviceID, "err", err)
	}
}

// adminChangeKeep is how long SQLite keeps admin_changes rows: far longer than any poll
// interval, so a poller never misses one.
const adminChangeKeep = time.Hour

func (s *Store) insertAdminChange(ctx context.Context, ch AdminChange) error {
	t := now()
	if err := s.db.WithContext(ctx).Exec(`INSERT INTO admin_changes (node, kind, user_id, device_id, created_at) VALUES (?, ?, ?, ?, ?)`,
		s.admin.node, int(ch.Kind), int64(ch.User), ch.DeviceID, timestamp(t)).Error; err != nil {
		return fmt.Errorf("insert admin change: %w", err)
	}
	if err := s.db.WithContext(ctx).Exec(`DELETE FROM admin_changes WHERE created_at < ?`, timestamp(t.Add(-adminChangeKeep))).Error; err != nil {
		return fmt.Errorf("prune admin changes: %w", err)
	}
	return nil
}

// pollAdminChanges starts the SQLite poller of other processes' admin changes: every
// interval one read of the highest admin_changes id (the last entry of its b-tree), and when
// it grew one range read of the new rows. Close stops it.
func (s *Store) pollAdminChanges(interval time.Duration) {
	stop := make(chan struct{})
	done := make(chan struct{})
	last := s.maxAdminChange(context.Background())
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			last = s.pollAdminOnce(last)
		}
	}()
	prev := s.closeNotifier
	var once sync.Once
	s.closeNotifier = func() error {
		once.Do(func() {
			close(stop)
			<-done
		})
		if prev != nil {
			return prev()
		}
		return nil
	}
}

func (s *Store) maxAdminChange(ctx context.Context) int64 {
	var v []int64
	if err := s.db.WithContext(ctx).Raw(`SELECT COALESCE(MAX(id), 0) FROM admin_changes`).Scan(&v).Error; err != nil || len(v) == 0 {
		return -1 // unknown: the next successful read signals AdminChangeAll
	}
	return v[0]
}

type adminChangeRow struct {
	ID       int64
	Node     string
	Kind     int
	UserID   int64
	DeviceID string
}

// pollAdminOnce delivers the admin changes of other processes after last and returns the new
// high-water mark.
func (s *Store) pollAdminOnce(last int64) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	top := s.maxAdminChange(ctx)
	switch {
	case top < 0 || top == last:
		return last
	case last < 0 || top < last:
		s.admin.deliver(AdminChange{Kind: AdminChangeAll})
		return top
	}
	var rows []adminChangeRow
	if err := s.db.WithContext(ctx).Raw(`SELECT id, node, kind, user_id, device_id FROM admin_changes WHERE id > ? AND id <= ? ORDER BY id`,
		last, top).Scan(&rows).Error; err != nil {
		s.log.Warn("poll admin changes of other processes", "err", err)
		s.admin.deliver(AdminChange{Kind: AdminChangeAll})
		return top
	}
	for _, r := range rows {
		if r.Node != s.admin.node {
			s.admin.deliver(AdminChange{Kind: AdminChangeKind(r.Kind), User: UserID(r.UserID), DeviceID: r.DeviceID})
		}
	}
	return top
}

// pgAdmin is the admin-change half of a PGNotifier: a second NOTIFY channel
// ("easd_admin.<schema>") on the same listening connection.
type pgAdmin struct {
	channel string

	mu   sync.RWMutex
	subs []*pgAdminSub
}

type pgAdminSub struct {
	fn func(node string, ch AdminChange)
}

func newPGAdmin(schema string) *pgAdmin { return &pgAdmin{channel: "easd_admin." + schema} }

// received hands a notification's payload to the subscribers.
func (a *pgAdmin) received(payload string, log interface{ Warn(string, ...any) }) {
	ch, node, ok := decodeAdminChange(payload)
	if !ok {
		log.Warn("admin change notifications: bad payload", "payload", payload)
		return
	}
	a.deliver(node, ch)
}

// lost tells the subscribers that notifications may have been missed.
func (a *pgAdmin) lost() { a.deliver("", AdminChange{Kind: AdminChangeAll}) }

func (a *pgAdmin) deliver(node string, ch AdminChange) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, s := range a.subs {
		s.fn(node, ch)
	}
}

func (a *pgAdmin) subscribe(fn func(node string, ch AdminChange)) func() {
	s := &pgAdminSub{fn: fn}
	a.mu.Lock()
	a.subs = append(a.subs, s)
	a.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			for i, x := range a.subs {
				if x == s {
					a.subs = append(a.subs[:i:i], a.subs[i+1:]...)
					break
				}
			}
		})
	}
}

// publishAdmin sends ch to the other processes as "node kind user deviceid".
func (n *PGNotifier) publishAdmin(ctx context.Context, node string, ch AdminChange) error {
	payload := node + " " + strconv.Itoa(int(ch.Kind)) + " " + strconv.FormatInt(int64(ch.User), 10) + " " + ch.DeviceID
	if err := n.db.WithContext(ctx).Exec(`SELECT pg_notify(?, ?)`, n.admin.channel, payload).Error; err != nil {
		return fmt.Errorf("store: notify admin change: %w", err)
	}
	return nil
}

// listenAdmin makes the Store s deliver the admin changes that other processes (other
// Stores: node differs) publish through n, and AdminChangeAll when n's listener reconnected.
func (s *Store) listenAdmin(n *PGNotifier) {
	cancel := n.admin.subscribe(func(node string, ch AdminChange) {
		if node != s.admin.node {
			s.admin.deliver(ch)
		}
	})
	prev := s.closeNotifier
	s.closeNotifier = func() error {
		cancel()
		if prev != nil {
			return prev()
		}
		return nil
	}
}

func decodeAdminChange(s string) (AdminChange, string, bool) {
	f := strings.SplitN(s, " ", 4)
	if len(f) != 4 {
		return AdminChange{}, "", false
	}
	k, err1 := strconv.Atoi(f[1])
	u, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || k < 0 || k > 255 {
		return AdminChange{}, "", false
	}
	return AdminChange{Kind: AdminChangeKind(k), User: UserID(u), DeviceID: f[3]}, f[0], true
}
