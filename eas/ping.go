package eas

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// Ping statuses (MS-ASCMD 2.2.3.177.11 Status (Ping)).
const (
	StatusPingExpired         Status = 1 // the heartbeat interval expired without changes
	StatusPingChanges         Status = 2 // changes in at least one folder; Folders lists them
	StatusPingMissingParams   Status = 3 // empty Ping, or a parameter missing, and nothing cached
	StatusPingSyntaxError     Status = 4 // the request does not follow the schema
	StatusPingHeartbeatRange  Status = 5 // HeartbeatInterval out of range; the limit is sent
	StatusPingTooManyFolders  Status = 6 // more folders than MaxFolders
	StatusPingFolderHierarchy Status = 7 // the hierarchy changed: FolderSync first
	StatusPingServerError     Status = 8 // retry later
)

// Defaults of PingOptions.
const (
	// DefaultMinHeartbeat and DefaultMaxHeartbeat are Exchange's bounds (MS-ASCMD 2.2.3.88.1,
	// <6>: 60 to 3540 seconds).
	DefaultMinHeartbeat = 60 * time.Second
	DefaultMaxHeartbeat = 3540 * time.Second
	// DefaultPingMaxFolders is how many folders one Ping may watch; Exchange's limit is
	// configurable too (MS-ASCMD 2.2.3.102 MaxFolders names no value).
	DefaultPingMaxFolders = 300
)

// PingStore is what Ping needs of the store.
type PingStore interface {
	Subscribe(mb store.MailboxID, fn func(store.Event)) (cancel func())
	FolderMarks(ctx context.Context, mb store.MailboxID) ([]store.FolderMark, error)
	FolderSyncState(ctx context.Context, user store.UserID, deviceID string) (store.FolderSyncState, error)
	PingState(ctx context.Context, user store.UserID, deviceID string) (store.PingState, error)
	SetPingState(ctx context.Context, user store.UserID, deviceID string, st store.PingState) error
}

var _ PingStore = (*store.Store)(nil)

// PingBaseline returns, for the folders a Ping watches, the modseq up to which the device
// already holds each folder (from its Sync state): a folder whose store modseq is higher has
// changes for the device. Folders it does not know are left out of the map.
type PingBaseline func(ctx context.Context, r *Request, folders []store.FolderID) (map[store.FolderID]int64, error)

// PingOptions configures NewPing. Store is required.
type PingOptions struct {
	Store PingStore
	// MinHeartbeat and MaxHeartbeat bound HeartbeatInterval; zero: DefaultMinHeartbeat and
	// DefaultMaxHeartbeat.
	MinHeartbeat, MaxHeartbeat time.Duration
	// MaxFolders bounds the Folders of one Ping; zero: DefaultPingMaxFolders.
	MaxFolders int
	// Hierarchy, when set, decides which folders the device is shown (its client quirks), so
	// that a hidden folder does not count as a hierarchy change. Nil: every folder.
	Hierarchy *Hierarchy
	// Baseline gives the device's Sync position per folder. Nil: SyncBaseline when Store
	// also has SyncState (as *store.Store does). A folder it leaves out (never synced): the
	// folder's modseq when the Ping started, so only changes during the Ping count.
	Baseline PingBaseline
	// SupersedeGrace: a device's newer Ping on another node ends its Ping here only if this
	// one has waited at least this long (a younger one is taken to be the newer; the signal
	// between nodes takes a moment). Zero: DefaultSupersedeGrace.
	SupersedeGrace time.Duration
}

// DefaultSupersedeGrace is PingOptions.SupersedeGrace's default.
const DefaultSupersedeGrace = 2 * time.Second

// SyncStateReader reads a device's Sync state of one collection (*store.Store).
type SyncStateReader interface {
	SyncState(ctx context.Context, user store.UserID, deviceID, collection string) (store.SyncState, error)
}

// SyncBaseline is the PingBaseline of the Sync command's state: for each folder the device
// synchronised, the mailbox modseq its current snapshot reflects (MS-ASCMD 3.1.5.8: the
// server uses the last SyncKey it returned to decide what is new), so that mail that arrived
// between the device's last Sync and its Ping answers the Ping at once. Only the small header
// of each snapshot is decoded, not its item list. A folder without state, or one whose initial
// load is still under way, is left out. The device's own writes may sit above that modseq and
// answer one Ping with 2; the Sync that follows moves the snapshot past them.
func SyncBaseline(st SyncStateReader) PingBaseline {
	return func(ctx context.Context, r *Request, folders []store.FolderID) (map[store.FolderID]int64, error) {
		out := make(map[store.FolderID]int64, len(folders))
		for _, f := range folders {
			ss, err := st.SyncState(ctx, r.Account.ID, r.DeviceID, serverID(f))
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return nil, err
			}
			if m, ok := snapshotModSeq(ss.State); ok {
				out[f] = m
			}
		}
		return out, nil
	}
}

// snapshotModSeq reads the modseq from the header of an encoded Sync snapshot (see
// snapshot.encode) without decoding its item list; false when the snapshot is still loading
// or unreadable.
func snapshotModSeq(b []byte) (int64, bool) {
	if len(b) < 2 || b[0] != snapshotFormat {
		return 0, false
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || uint64(len(b)-1-k) < n {
		return 0, false
	}
	var meta snapshot
	if err := json.Unmarshal(b[1+k:1+k+int(n)], &meta); err != nil || meta.loading() {
		return 0, false
	}
	return meta.ModSeq, true
}

// Ping serves the Ping command (MS-ASCMD 2.2.1.13): the long poll that pushes mail.
//
// A Ping reads the folders once when it starts (their modseqs are the baseline, unless
// Baseline knows the device's Sync position, and the hierarchy is compared with the device's
// last FolderSync), then sleeps until a change in the mailbox decides it, the heartbeat
// expires, a newer Ping of the same device supersedes it, Close is called or the request's
// context ends; it never rescans folders on a timer.
//
// While it waits a Ping holds the request's goroutine, parked in a shallow frame, and a
// pingWaiter: its folder ids and baselines, a timer and a done channel, nothing of the
// request's parsing or store reads. The waiting Pings of one mailbox form a pingBox with one
// subscription to the store's change events. On an event one goroutine reads the mailbox's
// folders once and compares their modseqs with every waiting Ping's baselines (integers; no
// item is read), so a delivery to a user with many devices costs one read, not one per
// device. A device's FolderSync state is read again only when the mailbox's hierarchy
// changed (its hash differs from the one the device was checked against).
//
// The parameters (HeartbeatInterval, Folders) of the last Ping of each device are stored
// (store.PingState), not kept in memory, so an empty Ping works after a restart and on
// another node behind the same database; each Ping that changes them writes them, one
// that does not reads them (one primary-key read).
//
// Statuses: 1 heartbeat expired (also when superseded, shut down or cancelled: the device
// simply pings again), 2 with the changed folders, 3 empty or partial Ping with nothing
// cached, 4 malformed, 5 with the HeartbeatInterval limit, 6 with MaxFolders, 7 when the
// device's folder hierarchy is out of date (it changed since the device's last FolderSync,
// the device never ran one, or a watched folder no longer exists), 8 on a store failure.
type Ping struct {
	st         PingStore
	minHB      time.Duration
	maxHB      time.Duration
	maxFolders int
	hierarchy  *Hierarchy
	baseline   PingBaseline

	seed maphash.Seed // of hierarchySum

	signals     pingSignals // nil: this node alone
	unsubscribe func()
	grace       time.Duration // SupersedeGrace

	mu      sync.Mutex
	waiting map[pingDevice]*pingWaiter
	boxes   map[store.MailboxID]*pingBox
	closed  bool
}

type pingDevice struct {
	user   store.UserID
	device string
}

// NewPing returns the Ping command over opts.Store.
func NewPing(opts PingOptions) *Ping {
	p := &Ping{st: opts.Store, minHB: opts.MinHeartbeat, maxHB: opts.MaxHeartbeat, maxFolders: opts.MaxFolders,
		hierarchy: opts.Hierarchy, baseline: opts.Baseline, seed: maphash.MakeSeed(),
		waiting: make(map[pingDevice]*pingWaiter), boxes: make(map[store.MailboxID]*pingBox)}
	if sr, ok := opts.Store.(SyncStateReader); ok && p.baseline == nil {
		p.baseline = SyncBaseline(sr)
	}
	if p.grace = opts.SupersedeGrace; p.grace <= 0 {
		p.grace = DefaultSupersedeGrace
	}
	if sig, ok := opts.Store.(pingSignals); ok {
		p.signals = sig
		p.unsubscribe = sig.SubscribeAdminChanges(p.startedElsewhere)
	}
	if p.minHB <= 0 {
		p.minHB = DefaultMinHeartbeat
	}
	if p.maxHB <= 0 {
		p.maxHB = DefaultMaxHeartbeat
	}
	if p.maxFolders <= 0 {
		p.maxFolders = DefaultPingMaxFolders
	}
	return p
}

// pingSignals is the optional capability of a PingStore (*store.Store has it) that tells the
// other nodes sharing the database about a device's new Ping and hears about theirs.
type pingSignals interface {
	PublishPingStarted(ctx context.Context, user store.UserID, deviceID string)
	SubscribeAdminChanges(fn func(store.AdminChange)) (cancel func())
}

// startedElsewhere ends the device's waiting Ping when the device started a newer one on
// another node (store.AdminChangePingStarted), as register does for one on this node: the
// older answers 1. A Ping here younger than the grace is kept: the signal may be an older
// Ping's, sent before the device came (back) here.
func (p *Ping) startedElsewhere(ch store.AdminChange) {
	if ch.Kind != store.AdminChangePingStarted {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.waiting[pingDevice{ch.User, ch.DeviceID}]; w != nil && time.Since(w.since) >= p.grace {
		w.finish(StatusPingExpired, nil, nil)
	}
}

// Command returns the Ping command for Server.Handle.
func (p *Ping) Command() Command {
	return Command{Code: CmdPing, Handler: p.ping, EmptyBody: true,
		Status: TopLevelStatus(wbxml.PingPing, wbxml.PingStatus)}
}

// Close releases every waiting Ping with status 1, and answers 1 at once to every Ping that
// arrives later, so that devices reconnect (to another node) while the server shuts down.
// Call it before http.Server.Shutdown, which waits for running requests.
func (p *Ping) Close() {
	if p.unsubscribe != nil {
		p.unsubscribe() // before taking mu: a running startedElsewhere holds the subscription
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for k, w := range p.waiting {
		w.finish(StatusPingExpired, nil, nil)
		delete(p.waiting, k)
	}
}

// Parked reports whether the device's Ping is armed: its baselines are read, so any change
// committed from now on answers it (for tests and tools that must not race its start).
func (p *Ping) Parked(user store.UserID, deviceID string) bool {
	p.mu.Lock()
	w := p.waiting[pingDevice{user, deviceID}]
	p.mu.Unlock()
	return w != nil && w.parked.Load()
}

// Waiting returns the number of Pings waiting now (for metrics and tests).
func (p *Ping) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiting)
}

// pingRequest is a parsed Ping body; zero fields were absent.
type pingRequest struct {
	heartbeat    int64
	hasHeartbeat bool
	folders      []store.PingFolder
	hasFolders   bool
	badFolder    bool // an Id that is not one of our folder ids
}

func pingSyntax(err error) error { return &StatusError{Status: StatusPingSyntaxError, Err: err} }

// readPingFolder reads the children of a <Folder> whose start tag was read: Id and Class.
func readPingFolder(dec *wbxml.Decoder, content bool) (map[wbxml.Tag]string, error) {
	out := make(map[wbxml.Tag]string, 2)
	if !content {
		return out, nil
	}
	for {
		tok, err := dec.Next()
		if err != nil {
			return nil, err
		}
		switch {
		case tok.Kind == wbxml.KindEnd:
			return out, nil
		case tok.Kind == wbxml.KindStart && (tok.Tag == wbxml.PingId || tok.Tag == wbxml.PingClass):
			v, err := dec.String()
			if err != nil {
				return nil, err
			}
			out[tok.Tag] = v
		case tok.Kind == wbxml.KindStart:
			if err := dec.Skip(); err != nil {
				return nil, err
			}
		default:
			return nil, errors.New("text directly in Folder")
		}
	}
}

// readPing reads <Ping>[<HeartbeatInterval>][<Folders><Folder><Id/><Class/></Folder>…</Folders>]
// (MS-ASCMD 2.2.1.13); an empty body is an empty request.
func readPing(dec *wbxml.Decoder, body []byte, maxFolders int) (pingRequest, error) {
	var pr pingRequest
	if len(body) == 0 {
		return pr, nil
	}
	tok, err := dec.Expect(wbxml.PingPing)
	if err != nil {
		return pr, pingSyntax(err)
	}
	if !tok.Content {
		return pr, nil
	}
	for {
		tok, err := dec.Next()
		if err != nil {
			return pr, pingSyntax(err)
		}
		if tok.Kind == wbxml.KindEnd {
			return pr, nil
		}
		if tok.Kind != wbxml.KindStart {
			return pr, pingSyntax(errors.New("text in Ping"))
		}
		switch tok.Tag {
		case wbxml.PingHeartbeatInterval:
			if pr.heartbeat, err = dec.Int(); err != nil {
				return pr, pingSyntax(err)
			}
			pr.hasHeartbeat = true
		case wbxml.PingFolders:
			pr.hasFolders = true
			if !tok.Content {
				continue
			}
			if err := readPingFolders(dec, &pr, maxFolders); err != nil {
				return pr, err
			}
		default:
			if err := dec.Skip(); err != nil {
				return pr, pingSyntax(err)
			}
		}
	}
}

func readPingFolders(dec *wbxml.Decoder, pr *pingRequest, maxFolders int) error {
	n := 0
	for {
		tok, err := dec.Next()
		if err != nil {
			return pingSyntax(err)
		}
		if tok.Kind == wbxml.KindEnd {
			return nil
		}
		if tok.Kind != wbxml.KindStart || tok.Tag != wbxml.PingFolder {
			return pingSyntax(fmt.Errorf("unexpected %s in Folders", tok.Tag))
		}
		n++
		if n > maxFolders {
			// Count the rest without keeping them.
			if err := dec.Skip(); err != nil {
				return pingSyntax(err)
			}
			pr.folders = append(pr.folders, store.PingFolder{})
			continue
		}
		f, err := readPingFolder(dec, tok.Content)
		if err != nil {
			return pingSyntax(err)
		}
		id, ok := parseFolderID(f[wbxml.PingId])
		if !ok || id == 0 {
			pr.badFolder = true
		}
		pr.folders = append(pr.folders, store.PingFolder{ID: id, Class: f[wbxml.PingClass]})
	}
}

// ping is the handler. The request's goroutine waits in this small frame: everything with
// a big frame (parsing, store reads) runs in start and has returned by then, so the parked
// goroutine's stack is shallow enough for the runtime to shrink it.
func (p *Ping) ping(ctx context.Context, r *Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
	w, err := p.start(ctx, r, dec, enc)
	if w == nil || err != nil {
		return err
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		w.finish(0, nil, ctx.Err())
	}
	p.end(ctx, r, w, enc)
	return nil
}

// start reads the request and answers it at once (with w nil) or returns the armed waiter.
func (p *Ping) start(ctx context.Context, r *Request, dec *wbxml.Decoder, enc *wbxml.Encoder) (*pingWaiter, error) {
	pr, err := readPing(dec, r.Body, p.maxFolders)
	if err != nil {
		return nil, err
	}
	if len(pr.folders) > p.maxFolders {
		// MS-ASCMD 2.2.3.102: MaxFolders comes with status 6.
		enc.Start(wbxml.PingPing)
		enc.Int(wbxml.PingStatus, int64(StatusPingTooManyFolders))
		enc.Int(wbxml.PingMaxFolders, int64(p.maxFolders))
		enc.End()
		return nil, nil
	}
	if pr.hasHeartbeat {
		hb := time.Duration(pr.heartbeat) * time.Second
		if pr.heartbeat > int64(p.maxHB/time.Second) {
			hb = p.maxHB + time.Second // no overflow for absurd values
		}
		if hb < p.minHB || hb > p.maxHB {
			// MS-ASCMD 2.2.3.88.1: with status 5 the server returns the minimum or maximum
			// interval allowed.
			limit := p.maxHB
			if hb < p.minHB {
				limit = p.minHB
			}
			enc.Start(wbxml.PingPing)
			enc.Int(wbxml.PingStatus, int64(StatusPingHeartbeatRange))
			enc.Int(wbxml.PingHeartbeatInterval, int64(limit/time.Second))
			enc.End()
			return nil, nil
		}
	}
	if pr.hasFolders && len(pr.folders) == 0 {
		return nil, pingSyntax(errors.New("empty Folders"))
	}
	params, err := p.params(ctx, r, pr)
	if err != nil {
		return nil, err
	}
	w := &pingWaiter{key: pingDevice{r.Account.ID, r.DeviceID}, done: make(chan struct{}), since: time.Now()}
	if !p.register(w.key, w) {
		writePingStatus(enc, StatusPingExpired, nil)
		return nil, nil
	}
	if p.signals != nil {
		p.signals.PublishPingStarted(ctx, r.Account.ID, r.DeviceID) // other nodes end this device's older Ping
	}
	// Join the mailbox before reading, so that a change committed after the read signals.
	w.box = p.join(r.Account.Mailbox, w)
	if st, changed, err := p.prepare(ctx, r, params, w); st != 0 || err != nil {
		w.finish(st, changed, err)
		p.end(ctx, r, w, enc)
		return nil, nil
	}
	w.timer = time.AfterFunc(time.Duration(params.Heartbeat)*time.Second, func() { w.finish(StatusPingExpired, nil, nil) })
	// Nothing is written yet, and the answer is a few bytes: let go of the server's pooled
	// buffer (4 kB) instead of pinning it for the whole wait.
	enc.Reset(nil)
	return w, nil
}

// end releases w and writes how the Ping ended. The first decision wins: a superseded Ping
// answers 1 even if it found changes on its way.
func (p *Ping) end(ctx context.Context, r *Request, w *pingWaiter, enc *wbxml.Encoder) {
	if w.timer != nil {
		w.timer.Stop()
	}
	p.leave(w.box, w)
	p.unregister(w.key, w)
	<-w.done
	switch res := w.res; {
	case res.err != nil && ctx.Err() != nil:
		writePingStatus(enc, StatusPingExpired, nil)
	case res.err != nil:
		r.Log.Error("ping", "err", res.err)
		writePingStatus(enc, StatusPingServerError, nil)
	default:
		writePingStatus(enc, res.status, res.changed)
	}
}

// params merges the request with the cached parameters (MS-ASCMD 3.1.5.8) and stores them
// when they changed. The cached row is read for every Ping, also one that brings both: most
// devices repeat their parameters Ping after Ping, and a read is what lets such a Ping write
// nothing (on SQLite a write waits for the one writer: 15,000 devices re-Pinging after a
// wake-up queued 15,000 write transactions).
func (p *Ping) params(ctx context.Context, r *Request, pr pingRequest) (store.PingState, error) {
	var cached store.PingState
	have := false
	c, err := p.st.PingState(ctx, r.Account.ID, r.DeviceID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return store.PingState{}, &StatusError{Status: StatusPingServerError, Err: err}
	default:
		cached, have = c, true
	}
	if !have && (!pr.hasHeartbeat || !pr.hasFolders) {
		return store.PingState{}, &StatusError{Status: StatusPingMissingParams, Err: errors.New("no cached ping parameters")}
	}
	next := cached
	if pr.hasHeartbeat {
		next.Heartbeat = int(pr.heartbeat)
	}
	if pr.hasFolders {
		next.Folders = pr.folders
	}
	// Cached values may predate a change of the bounds.
	next.Heartbeat = int(min(max(time.Duration(next.Heartbeat)*time.Second, p.minHB), p.maxHB) / time.Second)
	if pr.badFolder {
		return next, nil // answered 7 by wait; not worth caching
	}
	if !have || next.Heartbeat != cached.Heartbeat || !slices.Equal(next.Folders, cached.Folders) {
		if err := p.st.SetPingState(ctx, r.Account.ID, r.DeviceID, next); err != nil {
			return store.PingState{}, &StatusError{Status: StatusPingServerError, Err: err}
		}
	}
	return next, nil
}

// register makes w the device's waiting Ping, releasing the one before it. It reports false
// after Close.
func (p *Ping) register(k pingDevice, w *pingWaiter) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if old := p.waiting[k]; old != nil {
		old.finish(StatusPingExpired, nil, nil) // MS-ASCMD 2.2.1.13: the newer Ping replaces it; the older answers 1
	}
	p.waiting[k] = w
	return true
}

func (p *Ping) unregister(k pingDevice, w *pingWaiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiting[k] == w {
		delete(p.waiting, k)
	}
}

// prepare reads what the Ping compares against and arms w in b; a non-zero status (or an
// error) answers the Ping at once.
//
// The store work (the folders, the device's hierarchy and Sync positions) is done here and
// not while waiting: what stays behind while the Ping waits is the pingWaiter, its folders
// with their baselines, a timer, and a place in its mailbox's pingBox.
func (p *Ping) prepare(ctx context.Context, r *Request, params store.PingState, w *pingWaiter) (Status, []store.FolderID, error) {
	ids := make([]store.FolderID, len(params.Folders))
	for i, f := range params.Folders {
		ids[i] = f.ID
	}
	var quirks *ClientQuirks
	if p.hierarchy != nil {
		q := p.hierarchy.clientQuirks(r)
		quirks = &q
	}
	folders, err := p.st.FolderMarks(ctx, r.Account.Mailbox)
	if err != nil {
		return 0, nil, err
	}
	if stale, err := p.hierarchyStale(ctx, w.key, quirks, folders, ids); err != nil {
		return 0, nil, err
	} else if stale {
		return StatusPingFolderHierarchy, nil, nil
	}
	base := make([]int64, len(ids))
	for i, id := range ids {
		base[i] = folderModSeq(folders, id)
	}
	if p.baseline != nil {
		known, err := p.baseline(ctx, r, ids)
		if err != nil {
			return 0, nil, err
		}
		for i, id := range ids {
			if m, ok := known[id]; ok {
				base[i] = m
			}
		}
	}
	if ch := changedFolders(folders, ids, base); len(ch) > 0 {
		return StatusPingChanges, ch, nil
	}
	w.ids, w.base, w.quirks, w.hierSum = ids, base, quirks, p.hierarchySum(folders)
	p.arm(w.box, w)
	return 0, nil, nil
}

// pingResult is how a Ping ends.
type pingResult struct {
	status  Status
	changed []store.FolderID
	err     error
}

// pingWaiter is one waiting Ping. Until it is armed only key and done are set; the fields
// after them are written once, before arming, and then read by its box's check.
type pingWaiter struct {
	key   pingDevice
	since time.Time // registered
	box   *pingBox
	timer *time.Timer   // the heartbeat, once armed
	done  chan struct{} // closed by finish
	fin   atomic.Bool
	res   pingResult // set by the finish that closed done

	ids     []store.FolderID // watched folders, in the device's order
	base    []int64          // per id: the modseq up to which the device has it
	quirks  *ClientQuirks    // nil without Options.Hierarchy
	hierSum uint64           // hierarchySum of the folders its hierarchy was checked against

	armed     bool        // guarded by the box's mu
	parked    atomic.Bool // armed, readable without the box's mu (Parked)
	armEvents uint64      // the box's events when w joined; guarded by the box's mu
}

// finish decides how the Ping ends; the first call wins and the others do nothing.
func (w *pingWaiter) finish(st Status, changed []store.FolderID, err error) {
	if w.fin.CompareAndSwap(false, true) {
		w.res = pingResult{st, changed, err}
		close(w.done)
	}
}

// pingBox is the Pings waiting on one mailbox. They share one notifier subscription, and a
// change costs one read of the mailbox's folders for all of them, not one per Ping: a
// delivery to a user with a hundred devices wakes a hundred Pings for the price of one.
type pingBox struct {
	p      *Ping
	mb     store.MailboxID
	refs   int // Pings joined; guarded by Ping.mu
	sub    sync.Once
	cancel func() // the subscription, set inside sub

	mu       sync.Mutex
	waiters  map[*pingWaiter]struct{}
	events   uint64 // change events seen
	checking bool   // a check goroutine is running
	again    bool   // an event arrived while it ran
}

// join adds w to the box of mailbox mb, subscribing to the mailbox's changes if it is the
// first, and returns once the subscription is active.
func (p *Ping) join(mb store.MailboxID, w *pingWaiter) *pingBox {
	p.mu.Lock()
	b := p.boxes[mb]
	if b == nil {
		b = &pingBox{p: p, mb: mb, waiters: make(map[*pingWaiter]struct{})}
		p.boxes[mb] = b
	}
	b.refs++
	p.mu.Unlock()
	// Outside Ping.mu: the notifier calls b.event with its own lock held.
	b.sub.Do(func() { b.cancel = p.st.Subscribe(mb, b.event) })
	b.mu.Lock()
	b.waiters[w] = struct{}{}
	w.armEvents = b.events
	b.mu.Unlock()
	return b
}

// arm makes b's checks look at w. A change that arrived after w joined (and that w's own
// reads may have missed) gets a check of its own.
func (p *Ping) arm(b *pingBox, w *pingWaiter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w.armed = true
	w.parked.Store(true)
	if b.events != w.armEvents {
		b.schedule()
	}
}

// leave removes w from b, and the box with its subscription after the last Ping.
func (p *Ping) leave(b *pingBox, w *pingWaiter) {
	b.mu.Lock()
	delete(b.waiters, w)
	b.mu.Unlock()
	p.mu.Lock()
	b.refs--
	last := b.refs == 0
	if last {
		delete(p.boxes, b.mb)
	}
	p.mu.Unlock()
	if last {
		b.cancel()
	}
}

// event is the notifier's callback: it must not block, so the check runs on a goroutine.
func (b *pingBox) event(store.Event) {
	b.mu.Lock()
	b.events++
	b.schedule()
	b.mu.Unlock()
}

// schedule starts a check, or asks the running one to go again. b.mu is held.
func (b *pingBox) schedule() {
	if b.checking {
		b.again = true
		return
	}
	b.checking = true
	go b.check()
}

// pingCheckTimeout bounds the store reads of one check.
const pingCheckTimeout = 30 * time.Second

// check reads the mailbox's folders once and answers every armed Ping they decide; it goes
// again while events arrived during a round, so none is missed.
func (b *pingBox) check() {
	for {
		b.mu.Lock()
		b.again = false
		ws := make([]*pingWaiter, 0, len(b.waiters))
		for w := range b.waiters {
			if w.armed && !w.fin.Load() {
				ws = append(ws, w)
			}
		}
		b.mu.Unlock()
		if len(ws) > 0 {
			b.decide(ws)
		}
		b.mu.Lock()
		if !b.again {
			b.checking = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
	}
}

// decide answers those of ws whose hierarchy or watched folders changed. The hierarchy is
// compared per device (a store read) only when the mailbox's hierarchy differs from the one
// the device's was checked against.
func (b *pingBox) decide(ws []*pingWaiter) {
	ctx, cancel := context.WithTimeout(context.Background(), pingCheckTimeout)
	defer cancel()
	p := b.p
	folders, err := p.st.FolderMarks(ctx, b.mb)
	if err != nil {
		for _, w := range ws {
			w.finish(0, nil, err)
		}
		return
	}
	sum := p.hierarchySum(folders)
	for _, w := range ws {
		if w.hierSum != sum {
			stale, err := p.hierarchyStale(ctx, w.key, w.quirks, folders, w.ids)
			switch {
			case err != nil:
				w.finish(0, nil, err)
				continue
			case stale:
				w.finish(StatusPingFolderHierarchy, nil, nil)
				continue
			}
			w.hierSum = sum // a change the device does not see (a hidden folder)
		}
		if ch := changedFolders(folders, w.ids, w.base); len(ch) > 0 {
			w.finish(StatusPingChanges, ch, nil)
		}
	}
}

// hierarchySum is a hash of the folder hierarchy (ids, parents, names, types): equal sums
// mean the hierarchy a device was found up to date with has not changed.
func (p *Ping) hierarchySum(folders []store.FolderMark) uint64 {
	var h maphash.Hash
	h.SetSeed(p.seed)
	var buf [8]byte
	num := func(v int64) {
		binary.LittleEndian.PutUint64(buf[:], uint64(v))
		_, _ = h.Write(buf[:])
	}
	for _, f := range folders {
		num(int64(f.ID))
		num(int64(f.Parent))
		num(int64(f.Type))
		num(int64(len(f.Name)))
		_, _ = h.WriteString(f.Name)
	}
	return h.Sum64()
}

// folderModSeq returns the modseq of folder id in folders, 0 if it is not there.
func folderModSeq(folders []store.FolderMark, id store.FolderID) int64 {
	for _, f := range folders {
		if f.ID == id {
			return f.ModSeq
		}
	}
	return 0
}

// changedFolders returns the watched folders whose modseq passed their baseline (base[i] for
// ids[i]), in the order the device listed them.
func changedFolders(folders []store.FolderMark, ids []store.FolderID, base []int64) []store.FolderID {
	var out []store.FolderID
	for i, id := range ids {
		if folderModSeq(folders, id) > base[i] && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// hierarchyStale reports whether the device must run FolderSync before pinging: a watched
// folder is gone, the device never synchronised its hierarchy, or its last snapshot differs
// from the folders it would be shown now (MS-ASCMD 2.2.3.177.11 status 7).
func (p *Ping) hierarchyStale(ctx context.Context, k pingDevice, quirks *ClientQuirks, folders []store.FolderMark, ids []store.FolderID) (bool, error) {
	for _, id := range ids {
		if !slices.ContainsFunc(folders, func(f store.FolderMark) bool { return f.ID == id }) {
			return true, nil
		}
	}
	st, err := p.st.FolderSyncState(ctx, k.user, k.device)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrCorruptState) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	cur := make([]store.HierarchyFolder, len(folders)) // sorted by ID, as FolderMarks returns them
	for i, f := range folders {
		cur[i] = f.HierarchyFolder
	}
	if quirks != nil {
		cur = quirks.Visible(cur)
	}
	return !slices.Equal(cur, st.Folders), nil
}

// writePingStatus writes <Ping><Status/>[<Folders><Folder/>…</Folders>]</Ping>.
func writePingStatus(enc *wbxml.Encoder, st Status, changed []store.FolderID) {
	enc.Start(wbxml.PingPing)
	enc.Int(wbxml.PingStatus, int64(st))
	if len(changed) > 0 {
		enc.Start(wbxml.PingFolders)
		for _, id := range changed {
			enc.String(wbxml.PingFolder, serverID(id))
		}
		enc.End()
	}
	enc.End()
}
