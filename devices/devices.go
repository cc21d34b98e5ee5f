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

// Options configures New. Every field is optional.
type Options struct {
	Logger *slog.Logger // nil: discard
	// TouchInterval is the longest a device's last_seen may lag behind in
	// the database. Zero: DefaultTouchInterval; negative: write on every
	// request.
	TouchInterval time.Duration
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

	unsubscribe func()
}

type entry struct {
	dev     store.Device
	written time.Time // when the row was last written or read
}

// New returns a Registry over st.
func New(st *store.Store, opts Options) *Registry {
	r := &Registry{st: st, log: opts.Logger, interval: opts.TouchInterval, now: opts.Now, max: opts.MaxCached,
		cache: make(map[Key]*entry)}
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

// Close stops listening for admin changes. The Registry keeps working, but changes made
// elsewhere are seen only as its entries expire (TouchInterval).
func (r *Registry) Close() { r.unsubscribe() }

// Touch records a request of the device k and returns its partnership,
// creating it on first contact. See the package doc for how writes are
// coalesced.
func (r *Registry) Touch(ctx context.Context, k Key, c Contact) (Device, error) {
	t := r.now().UTC()
	r.mu.Lock()
	if e, ok := r.cache[k]; ok && t.Sub(e.written) < r.interval && e.dev.DeviceType == c.DeviceType &&
		(c.UserAgent == "" || e.dev.UserAgent == c.UserAgent) && e.dev.ProtocolVersion == c.ProtocolVersion {
		if t.After(e.dev.LastSeen) {
			e.dev.LastSeen = t
		}
		d := e.dev
		r.mu.Unlock()
		return d, nil
	}
	gen := r.gen
	r.mu.Unlock()
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
