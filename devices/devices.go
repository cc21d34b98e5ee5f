package devices

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/easd/easd/store"
)

// Key names a partnership: a DeviceId of a user.
type Key struct {
	User     store.UserID
	DeviceID string
}

// Info is what a device says about itself (MS-ASCMD 2.2.3.45
// DeviceInformation).
type Info = store.DeviceInfo

// Device is a partnership as the store holds it.
type Device = store.Device

// Contact is what a request says about its device.
type Contact struct {
	DeviceType      string
	UserAgent       string
	ProtocolVersion string // "16.1"
}

// ErrWrongPolicyKey: an acknowledgement presented a key that is not the
// device's pending temporary key (MS-ASPROV 2.2.2.54.1 Status 5).
var ErrWrongPolicyKey = errors.New("devices: not the pending policy key")

// DefaultTouchInterval is Options.TouchInterval's default.
const DefaultTouchInterval = time.Minute

// DefaultFlushInterval is Options.FlushInterval's default.
const DefaultFlushInterval = 5 * time.Second

// flushTimeout bounds one batched last_seen write made by the timer or Close.
const flushTimeout = 30 * time.Second

// Options configures New. Every field is optional.
type Options struct {
	Logger *slog.Logger // nil: discard
	// TouchInterval is how long a device's row, once read or written, answers
	// its requests from memory, and the longest its last_seen may lag behind
	// in the database. Zero: DefaultTouchInterval; negative: write the row on
	// every request.
	TouchInterval time.Duration
	// FlushInterval is how often the last_seen of the devices seen since
	// are written, all in one statement. Zero: DefaultFlushInterval, or
	// TouchInterval if that is shorter; negative: only by Flush and Close.
	FlushInterval time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// MaxCached bounds the in-memory entries; when exceeded, entries not
	// written for a TouchInterval are dropped. Zero: 100000.
	MaxCached int
	// MaxDevices is the most partnerships one mailbox may have; the next
	// new device is refused (ErrDeviceLimit) and nothing is created for
	// it. Zero: DefaultMaxDevices; negative: no limit.
	MaxDevices int
	// DefaultAccess is the organisation's default access level for a
	// device that no list or rule decides: store.AccessAllowed (the zero
	// value), store.AccessQuarantined or store.AccessBlocked.
	DefaultAccess string
	// AdminRecipients get a message when a device is quarantined and the
	// confirmation of wipes that an actor without an address requested.
	AdminRecipients []string
	// From is the sender of the system messages. Zero: "postmaster".
	From string
}

// DefaultMaxDevices is Options.MaxDevices' default, Exchange Online's limit.
const DefaultMaxDevices = 100

// ErrDeviceLimit: the user has Options.MaxDevices partnerships already; the
// device was not created (MS-ASCMD 2.2.2 MaximumDevicesReached 177).
var ErrDeviceLimit = store.ErrDeviceLimit

// Registry is the device registry. It is safe for concurrent use.
type Registry struct {
	st         *store.Store
	log        *slog.Logger
	interval   time.Duration
	now        func() time.Time
	max        int
	maxDevices int
	defAccess  string
	admins     []string
	from       string

	rulesMu     sync.Mutex
	rules       []store.DeviceRule
	rulesLoaded time.Time
	rulesGen    uint64 // counts rule signals: rules read before one are not kept

	mu    sync.Mutex
	cache map[Key]*entry
	gen   uint64 // counts admin change signals: rows read before one are not trusted
	// pending holds the last_seen of touches answered from memory since the
	// last flush, by partnership; spare is the emptied map of the flush
	// before, reused. flushArmed: the timer will flush them. closed: Close
	// ran, so touches write at once.
	pending    map[store.PartnershipID]time.Time
	spare      map[store.PartnershipID]time.Time
	flushEvery time.Duration
	flushTimer *time.Timer
	flushArmed bool
	closed     bool

	flushMu     sync.Mutex // one batched write at a time, so Close waits for the timer's
	unsubscribe func()
}

type entry struct {
	dev     store.Device
	written time.Time // when the row was last written or read
}

// New returns a Registry over st.
func New(st *store.Store, opts Options) *Registry {
	r := &Registry{st: st, log: opts.Logger, interval: opts.TouchInterval, now: opts.Now, max: opts.MaxCached,
		cache: make(map[Key]*entry), pending: make(map[store.PartnershipID]time.Time)}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("pkg", "devices")
	if r.interval == 0 {
		r.interval = DefaultTouchInterval
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.flushEvery = opts.FlushInterval
	if r.flushEvery == 0 {
		r.flushEvery = min(DefaultFlushInterval, max(r.interval, time.Millisecond))
	}
	if r.max <= 0 {
		r.max = 100000
	}
	r.maxDevices = opts.MaxDevices
	if r.maxDevices == 0 {
		r.maxDevices = DefaultMaxDevices
	}
	r.defAccess = opts.DefaultAccess
	if r.defAccess == "" {
		r.defAccess = store.AccessAllowed
	}
	r.admins = opts.AdminRecipients
	r.from = opts.From
	if r.from == "" {
		r.from = "postmaster"
	}
	r.unsubscribe = st.SubscribeAdminChanges(r.adminChanged)
	return r
}

// Close stops listening for admin changes and writes the last_seen values
// not yet written (Flush), after a flush under way; call it once the requests
// are done, before closing the store. The Registry keeps working, but changes
// made elsewhere are seen only as its entries expire (TouchInterval), and
// touches write their last_seen at once.
func (r *Registry) Close() {
	r.unsubscribe()
	r.mu.Lock()
	r.closed = true
	if r.flushTimer != nil {
		r.flushTimer.Stop()
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := r.Flush(ctx); err != nil {
		r.log.Error("write last seen at close", "err", err)
	}
}

// Touch records a request of the device k and returns its partnership,
// creating it on first contact. See the package doc for how writes are
// coalesced.
func (r *Registry) Touch(ctx context.Context, k Key, c Contact) (Device, error) {
	t := r.now().UTC()
	if r.interval < 0 {
		return r.touchWrite(ctx, k, c, t, r.generation())
	}
	r.mu.Lock()
	if e, ok := r.cache[k]; ok && t.Sub(e.written) < r.interval && sameContact(e.dev, c) {
		if t.After(e.dev.LastSeen) {
			e.dev.LastSeen = t
		}
		d := e.dev
		later := r.seenLocked(d.ID, t)
		r.mu.Unlock()
		if !later {
			return d, r.writeSeen(ctx, d.ID, t)
		}
		return d, nil
	}
	gen := r.gen
	r.mu.Unlock()
	// Not cached, or cached for a TouchInterval: read the row again, so an admin change whose
	// signal was lost counts within TouchInterval. Writing it is needed only for a new device
	// or a changed contact; last_seen waits for the next flush.
	d, err := r.st.DeviceOf(ctx, k.User, k.DeviceID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !sameContact(d, c) {
		return r.touchWrite(ctx, k, c, t, gen)
	} else if err != nil {
		return Device{}, fmt.Errorf("devices: %w", err)
	}
	if d, err = r.evaluate(ctx, d); err != nil {
		return Device{}, err
	}
	if t.After(d.LastSeen) {
		d.LastSeen = t
	}
	r.mu.Lock()
	later := r.seenLocked(d.ID, t)
	r.mu.Unlock()
	if !later {
		if err := r.writeSeen(ctx, d.ID, t); err != nil {
			return Device{}, err
		}
	}
	r.putRead(k, d, t, gen)
	return d, nil
}

// sameContact reports whether the request says about its device what the row d holds, so
// that writing the row would change only last_seen.
func sameContact(d Device, c Contact) bool {
	return d.DeviceType == c.DeviceType && (c.UserAgent == "" || d.UserAgent == c.UserAgent) &&
		d.ProtocolVersion == c.ProtocolVersion
}

func (r *Registry) generation() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen
}

// touchWrite writes the device's row at once (store.TouchDevice: first contact, a changed
// contact, or every request when TouchInterval is negative) and caches it as read after the
// signal count gen.
func (r *Registry) touchWrite(ctx context.Context, k Key, c Contact, t time.Time, gen uint64) (Device, error) {
	d, err := r.st.TouchDevice(ctx, store.DeviceContact{User: k.User, DeviceID: k.DeviceID, DeviceType: c.DeviceType,
		UserAgent: c.UserAgent, ProtocolVersion: c.ProtocolVersion, At: t, Max: r.maxDevices})
	if err != nil {
		return Device{}, fmt.Errorf("devices: %w", err)
	}
	if d, err = r.evaluate(ctx, d); err != nil {
		return Device{}, err
	}
	r.putRead(k, d, t, gen)
	return d, nil
}

// seenLocked records that partnership id was seen at t, to be written by the next flush, and
// arms the flush timer. It reports false after Close: the caller writes at once.
func (r *Registry) seenLocked(id store.PartnershipID, t time.Time) bool {
	if r.closed {
		return false
	}
	r.pendLocked(id, t)
	return true
}

func (r *Registry) pendLocked(id store.PartnershipID, t time.Time) {
	if cur, ok := r.pending[id]; !ok || t.After(cur) {
		r.pending[id] = t
	}
	if r.flushArmed || r.closed || r.flushEvery < 0 {
		return
	}
	r.flushArmed = true
	if r.flushTimer == nil {
		r.flushTimer = time.AfterFunc(r.flushEvery, r.flushLater)
	} else {
		r.flushTimer.Reset(r.flushEvery)
	}
}

// writeSeen writes one device's last_seen at once (after Close).
func (r *Registry) writeSeen(ctx context.Context, id store.PartnershipID, t time.Time) error {
	if _, err := r.st.SetDevicesLastSeen(ctx, map[store.PartnershipID]time.Time{id: t}); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	return nil
}

func (r *Registry) flushLater() {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := r.Flush(ctx); err != nil {
		r.log.Warn("write last seen", "err", err)
	}
}

// Flush writes the last_seen of every device seen since the last flush, in one statement
// (store.SetDevicesLastSeen). A partnership removed meanwhile is skipped, never created
// again. Should the write fail, the values are kept for the next flush (at the next
// FlushInterval) and the error returned. The Registry flushes by itself every
// FlushInterval and on Close.
func (r *Registry) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	r.flushArmed = false
	p := r.pending
	if len(p) == 0 {
		r.mu.Unlock()
		return nil
	}
	r.pending = r.spare
	if r.pending == nil {
		r.pending = make(map[store.PartnershipID]time.Time, len(p))
	}
	r.spare = nil
	r.mu.Unlock()
	n, err := r.st.SetDevicesLastSeen(ctx, p)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		for id, t := range p {
			r.pendLocked(id, t)
		}
		return fmt.Errorf("devices: write last seen of %d devices: %w", len(p), err)
	}
	r.log.Debug("wrote last seen", "devices", len(p), "moved", n)
	clear(p)
	r.spare = p
	return nil
}

// put caches d as read or written at t.
func (r *Registry) put(k Key, d Device, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.putLocked(k, d, t)
}

// putRead caches d, read from the store at t after the signal count was gen. Should an admin
// change have been signalled since, d may predate it: it is cached as expired, so the next
// request reads the row again.
func (r *Registry) putRead(k Key, d Device, t time.Time, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen != gen {
		t = time.Time{}
	}
	r.putLocked(k, d, t)
}

func (r *Registry) putLocked(k Key, d Device, t time.Time) {
	if len(r.cache) >= r.max {
		for ck, e := range r.cache {
			if t.Sub(e.written) >= r.interval {
				delete(r.cache, ck)
			}
		}
	}
	r.cache[k] = &entry{dev: d, written: t}
}

func (r *Registry) forget(k Key) {
	r.mu.Lock()
	delete(r.cache, k)
	r.mu.Unlock()
}

// Get reads the partnership from the store (not the cache) and refreshes
// the cache. Errors wrap store.ErrNotFound.
func (r *Registry) Get(ctx context.Context, k Key) (Device, error) {
	r.mu.Lock()
	gen := r.gen
	r.mu.Unlock()
	d, err := r.st.DeviceOf(ctx, k.User, k.DeviceID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			r.forget(k)
		}
		return Device{}, fmt.Errorf("devices: %w", err)
	}
	r.putRead(k, d, r.now().UTC(), gen)
	return d, nil
}

// adminChanged drops what an admin change made stale (store.SubscribeAdminChanges): the
// partnership named, every partnership of the user named, or everything; rule changes drop
// the rules too. Policy changes concern no cached row: the gate compares the device's
// acknowledged policy with the one in force.
func (r *Registry) adminChanged(ch store.AdminChange) {
	// Logged once the entries are gone: a test (or an operator) that sees the line knows the
	// next request reads the row again.
	defer r.log.Debug("admin change", "kind", ch.Kind, "user", ch.User, "device_id", ch.DeviceID)
	switch ch.Kind {
	case store.AdminChangePolicy, store.AdminChangePingStarted:
		return
	case store.AdminChangeRules, store.AdminChangeAll:
		r.rulesChanged()
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	switch {
	case ch.User == 0:
		clear(r.cache)
	case ch.DeviceID != "":
		delete(r.cache, Key{User: ch.User, DeviceID: ch.DeviceID})
	default:
		for k := range r.cache {
			if k.User == ch.User {
				delete(r.cache, k)
			}
		}
	}
}

// changed publishes an admin change of the partnership d to every process
// (store.PublishAdminChange); this Registry's own entry is dropped at once.
func (r *Registry) changed(ctx context.Context, kind store.AdminChangeKind, d Device) {
	r.st.PublishAdminChange(ctx, store.AdminChange{Kind: kind, User: d.User, DeviceID: d.DeviceID})
}

// ByID returns the partnership with this database key.
func (r *Registry) ByID(ctx context.Context, id store.PartnershipID) (Device, error) {
	d, err := r.st.DeviceByID(ctx, id)
	if err != nil {
		return Device{}, fmt.Errorf("devices: %w", err)
	}
	return d, nil
}

// List returns the partnerships matching f.
func (r *Registry) List(ctx context.Context, f store.DeviceFilter) ([]Device, error) {
	ds, err := r.st.Devices(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	return ds, nil
}

// SetInfo stores what the device said about itself in Settings or Provision
// DeviceInformation. The partnership must exist (the gate touched it).
func (r *Registry) SetInfo(ctx context.Context, k Key, info Info) error {
	d, err := r.lookup(ctx, k)
	if err != nil {
		return err
	}
	if err := r.st.SetDeviceInfo(ctx, d.ID, info); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	if d, err = r.Get(ctx, k); err != nil {
		return err
	}
	// The model and OS are known now: rules on them apply.
	if d, err = r.evaluate(ctx, d); err != nil {
		return err
	}
	r.put(k, d, r.now().UTC())
	return nil
}

// lookup returns the cached partnership or reads it.
func (r *Registry) lookup(ctx context.Context, k Key) (Device, error) {
	r.mu.Lock()
	e, ok := r.cache[k]
	r.mu.Unlock()
	if ok {
		return e.dev, nil
	}
	return r.Get(ctx, k)
}

// Remove deletes a partnership and its traces; the device's next request
// creates a new one, which must provision again.
func (r *Registry) Remove(ctx context.Context, id store.PartnershipID) error {
	d, err := r.st.DeviceByID(ctx, id)
	if err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	if err := r.st.RemoveDevice(ctx, id); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	r.forget(Key{User: d.User, DeviceID: d.DeviceID})
	r.changed(ctx, store.AdminChangeDevice, d)
	return nil
}

// SetTrace switches the protocol trace of a partnership on or off.
func (r *Registry) SetTrace(ctx context.Context, id store.PartnershipID, on bool) error {
	if err := r.st.SetDeviceTrace(ctx, id, on); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	d, err := r.st.DeviceByID(ctx, id)
	if err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	r.changed(ctx, store.AdminChangeDevice, d) // Traced reads the cache of every process
	r.put(Key{User: d.User, DeviceID: d.DeviceID}, d, r.now().UTC())
	return nil
}

// Traces returns the stored protocol traces of a partnership, newest first, at most limit (0:
// all kept, see eas.TraceOptions.Limit).
func (r *Registry) Traces(ctx context.Context, id store.PartnershipID, limit int) ([]store.TraceRecord, error) {
	tr, err := r.st.Traces(ctx, id, limit)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	return tr, nil
}

// Traced reports from memory whether the device k is traced: cheap enough
// for every request. A device not yet touched by this Registry (the first
// request after a start) reads as not traced.
func (r *Registry) Traced(k Key) (store.PartnershipID, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.cache[k]
	if !ok || !e.dev.TraceEnabled {
		return 0, false
	}
	return e.dev.ID, true
}

// NewPolicyKey returns a random non-zero policy key (MS-ASPROV 2.2.2.42: a
// string representation of a 32-bit unsigned integer).
func NewPolicyKey() uint32 {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:])
		if k := binary.LittleEndian.Uint32(b[:]); k != 0 {
			return k
		}
	}
}

// BeginProvision hands the device a temporary policy key for policy p at
// version v (the initial Provision request, MS-ASPROV 3.2.5.1.1). A
// resent initial request gets a fresh key that replaces the previous one.
func (r *Registry) BeginProvision(ctx context.Context, k Key, p store.PolicyID, v int64) (uint32, error) {
	d, err := r.lookup(ctx, k)
	if err != nil {
		return 0, err
	}
	key := NewPolicyKey()
	if err := r.st.SetPendingPolicyKey(ctx, d.ID, key, p, v); err != nil {
		return 0, fmt.Errorf("devices: %w", err)
	}
	if _, err := r.Get(ctx, k); err != nil {
		return 0, err
	}
	return key, nil
}

// Acknowledge completes the handshake (MS-ASPROV 3.2.5.1.2): temp must be
// the pending temporary key; the device then gets a new final key, stored
// with the policy version it was sent and the client's status. Otherwise
// ErrWrongPolicyKey.
func (r *Registry) Acknowledge(ctx context.Context, k Key, temp uint32, status int) (uint32, error) {
	d, err := r.lookup(ctx, k)
	if err != nil {
		return 0, err
	}
	if temp == 0 {
		return 0, ErrWrongPolicyKey
	}
	final := NewPolicyKey()
	for final == temp {
		final = NewPolicyKey()
	}
	nd, err := r.st.ConfirmPolicyKey(ctx, d.ID, temp, final, status, r.now().UTC())
	if errors.Is(err, store.ErrConflict) {
		return 0, ErrWrongPolicyKey
	} else if err != nil {
		return 0, fmt.Errorf("devices: %w", err)
	}
	r.put(k, nd, r.now().UTC())
	return final, nil
}
