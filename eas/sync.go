package eas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// Sync statuses (MS-ASCMD 2.2.3.177.17 Status (Sync)).
const (
	SyncStatusInvalidKey       Status = 3  // invalid or mismatched synchronization key: start over with 0
	SyncStatusProtocolError    Status = 4  // protocol error (malformed or contradictory request)
	SyncStatusServerError      Status = 5  // server error: retry
	SyncStatusConversion       Status = 6  // error in client/server conversion (an item the server cannot take)
	SyncStatusConflict         Status = 7  // conflict: the server's change wins
	SyncStatusObjectNotFound   Status = 8  // object not found
	SyncStatusNoSpace          Status = 9  // the command could not be completed (out of space)
	SyncStatusHierarchyChanged Status = 12 // folder hierarchy changed: the collection does not exist, FolderSync first
	SyncStatusIncomplete       Status = 13 // empty or partial request without a cached request to complete it
	SyncStatusInvalidInterval  Status = 14 // Wait or HeartbeatInterval out of range; Limit says the bound
	SyncStatusTooManyFolders   Status = 15 // too many collections
	SyncStatusRetry            Status = 16 // retry: a concurrent request changed the state
)

// Sync limits.
const (
	DefaultWindowSize = 100  // MS-ASCMD 2.2.3.199: WindowSize when the request has none
	MaxWindowSize     = 512  // MS-ASCMD 2.2.3.199: the largest WindowSize
	MinWait           = 1    // minutes, MS-ASCMD 2.2.3.198
	MaxWait           = 59   // minutes
	MinHeartbeat      = 60   // seconds, MS-ASCMD 2.2.3.88.2 (Exchange's range)
	MaxHeartbeat      = 3540 // seconds
	// MaxSyncCollections bounds the collections of one request (status 15 beyond).
	MaxSyncCollections = 1000
	// DefaultSyncBudget is how long a Sync may spend collecting changes before it answers with
	// what it has and MoreAvailable.
	DefaultSyncBudget = 20 * time.Second
	// windowRecheck is how often a collection with a FilterType re-reads which held items have
	// aged out of the window.
	windowRecheck = time.Hour
)

// SyncStore is what Sync and GetItemEstimate need of the store.
type SyncStore interface {
	Folder(ctx context.Context, id store.FolderID) (store.Folder, error)
	MailboxFolder(ctx context.Context, mb store.MailboxID, id store.FolderID) (store.Folder, error)
	FolderByType(ctx context.Context, mb store.MailboxID, t store.FolderType) (store.Folder, error)
	ModSeq(ctx context.Context, mb store.MailboxID) (int64, error)
	ChangesSince(ctx context.Context, mb store.MailboxID, modseq int64) ([]store.Change, error)
	ItemsByID(ctx context.Context, ids []store.ItemID) ([]store.Item, error)
	ItemsWindow(ctx context.Context, folder store.FolderID, afterUID, beforeUID uint32, since time.Time, limit int) ([]store.Item, error)
	CountItemsWindow(ctx context.Context, folder store.FolderID, afterUID, beforeUID uint32, since time.Time) (int, error)
	ItemIDsReceivedBefore(ctx context.Context, folder store.FolderID, t time.Time) ([]store.ItemID, error)
	Item(ctx context.Context, id store.ItemID) (store.Item, error)
	ItemBody(ctx context.Context, id store.ItemID) ([]byte, error)
	ItemBodies(ctx context.Context, ids []store.ItemID) (map[store.ItemID][]byte, error)
	SetFlags(ctx context.Context, id store.ItemID, f store.FlagsUpdate) (store.Item, error)
	MoveItem(ctx context.Context, id store.ItemID, to store.FolderID) (store.Item, error)
	DeleteItem(ctx context.Context, id store.ItemID) error
	AppendMessage(ctx context.Context, folder store.FolderID, raw []byte, opts store.AppendOptions) (store.Item, error)
	SyncState(ctx context.Context, user store.UserID, deviceID, collection string) (store.SyncState, error)
	PutSyncState(ctx context.Context, user store.UserID, deviceID, collection string, st store.SyncState) (store.SyncState, error)
	Watch(ctx context.Context, mb store.MailboxID) *store.Watcher
}

var (
	_ SyncStore    = (*store.Store)(nil)
	_ adminChanges = (*store.Store)(nil)
)

// SyncOptions configures NewSync. Store is required.
type SyncOptions struct {
	Store SyncStore
	// Clock is the time source for filter windows; nil: time.Now.
	Clock func() time.Time
	// Budget bounds the time spent collecting changes for one response (wall-clock time,
	// not Clock); a round always sends at least one command when it has any. Zero:
	// DefaultSyncBudget.
	Budget time.Duration
	// Limits gives the policy limits the server enforces (PolicyLimits); nil: none.
	Limits LimitsSource
}

// Syncer serves Sync (MS-ASCMD 2.2.1.21) and GetItemEstimate (MS-ASCMD 2.2.1.9).
//
// # Sync state
//
// Each (user, device, collection) has a store.SyncState. A sync key "{gen}N" names snapshot
// N: the set of item IDs the device holds of the collection (sorted, stored as varint
// deltas), the modseq up to which the mailbox's change log has been applied to that set,
// the progress of the initial load (a UID cursor below the folder's UIDNEXT at key 0) and
// the collection's options. The state keeps the current snapshot, the previous one and a
// record of what the client's commands did in the round between them.
//
//   - Key 0: a new generation, snapshot 1 with nothing held, no items in the answer
//     (MS-ASCMD 2.2.3.181.4).
//   - The current key: the round runs from the current snapshot.
//   - The previous key (the client lost our answer, MS-ASCMD 3.1.5.3 asks the server to
//     accept it): the round runs again from the previous snapshot. The client's commands
//     are looked up in the round record first: a resent Add gets the ServerId it got the
//     first time and is not added again, a resent Change or Delete is not applied twice and
//     answers what it answered. Server changes are computed afresh from the previous
//     snapshot, so nothing the lost answer carried is lost.
//   - Any other key: status 3 and the client starts over with 0.
//
// A round that sends or applies nothing keeps the key (the snapshot is the same); otherwise
// the answer carries key N+1 and snapshot N (or, for a replay, the previous one again)
// becomes the previous.
//
// # Server changes
//
// A no-change Sync compares the folder's modseq with the snapshot's and writes nothing; it
// reads neither from the database while the store's change notifications are live: the
// folder comes from store.MailboxFolder (dropped on every change event of the mailbox, this
// process's or another's), the current state from the Syncer's memory (stateCache). A round
// that writes reads both from the database first, under the collection's lock, and any key
// but the current one is looked up there too; so memory can only delay what a device sees by
// the time a change event takes to arrive, never lose or repeat anything. Otherwise the change log since the snapshot's modseq
// (store.ChangesSince) is reduced to the items of this folder, each item once, ordered by its
// latest change; each is then an Add (in the folder, in the filter window, not held), a
// Change (held and still there), a Delete (held, gone) or a SoftDelete (held, now outside
// the window). Writes the device made itself are not echoed back. WindowSize (default 100,
// at most 512; the request-level WindowSize caps the sum) bounds the commands of one answer
// and MoreAvailable says there are more; the snapshot's modseq then stops at the last item
// sent, so the next round continues from there. The initial load pages the folder by UID
// within the filter window after the change log is drained.
//
// # Content classes
//
// Email is the only content class so far. Collections of the other classes (calendar,
// contacts, tasks, notes) hold no items in the store: they sync as empty collections (a
// key, status 1, no commands) and a client Add to them gets status 6.
//
// ServerIds are store item IDs in decimal; CollectionIds are store folder IDs.
type Syncer struct {
	st     SyncStore
	now    func() time.Time
	budget time.Duration
	limits LimitsSource
	seed   maphash.Seed
	locks  [64]sync.Mutex
	states stateCache
}

// NewSync returns the Sync and GetItemEstimate commands over opts.Store.
func NewSync(opts SyncOptions) *Syncer {
	s := &Syncer{st: opts.Store, now: opts.Clock, budget: opts.Budget, limits: opts.Limits, seed: maphash.MakeSeed()}
	if s.now == nil {
		s.now = time.Now
	}
	if s.budget <= 0 {
		s.budget = DefaultSyncBudget
	}
	// A removed partnership's sync states are gone from the database (store.RemoveDevice):
	// forget them here too, so that a stale key is refused at once.
	if a, ok := opts.Store.(adminChanges); ok {
		a.SubscribeAdminChanges(func(ch store.AdminChange) {
			switch ch.Kind {
			case store.AdminChangeAll:
				s.states.dropAll(0, "")
			case store.AdminChangeDevice:
				s.states.dropAll(ch.User, ch.DeviceID)
			}
		})
	}
	return s
}

// adminChanges is the optional capability of a SyncStore (*store.Store has it) that tells
// about partnerships removed, by this process or another.
type adminChanges interface {
	SubscribeAdminChanges(fn func(store.AdminChange)) (cancel func())
}

// Commands returns Sync and GetItemEstimate for Server.Handle.
func (s *Syncer) Commands() []Command {
	return []Command{
		{Code: CmdSync, Handler: s.sync, EmptyBody: true,
			Status: TopLevelStatus(wbxml.AirSyncSync, wbxml.AirSyncStatus)},
		{Code: CmdGetItemEstimate, Handler: s.getItemEstimate, Status: estimateStatus},
	}
}

// lock serialises rounds of one collection of one device on this node (several nodes are
// kept apart by the state's version check).
func (s *Syncer) lock(user store.UserID, deviceID, coll string) *sync.Mutex {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(strconv.FormatInt(int64(user), 10))
	h.WriteString(deviceID)
	h.WriteString(coll)
	return &s.locks[h.Sum64()%uint64(len(s.locks))]
}

// syncRequest is a decoded Sync request.
type syncRequest struct {
	colls      []*reqColl
	wait       time.Duration // 0: answer at once
	windowSize int           // request-level WindowSize, 0: none
	partial    bool
	hasWait    bool
	hasHB      bool
	waitVal    int64
	hbVal      int64
}

// reqColl is one Collection of a Sync request.
type reqColl struct {
	key            string
	id             string
	getChanges     bool
	windowSize     int
	deletesAsMoves bool
	opts           *collOptions // nil: not sent
	cmds           []clientCmd
}

// Client command kinds.
const (
	cmdAdd = iota + 1
	cmdChange
	cmdDelete
	cmdFetch
)

// clientCmd is one command of a collection's Commands.
type clientCmd struct {
	kind     int
	clientID string
	serverID string
	change   emailChange
	draft    *draftEmail
}

// cachedRequest is what a Sync request leaves for an empty or Partial one that follows
// (MS-ASCMD 2.2.1.21.1 Empty Sync request, 2.2.3.128 Partial).
type cachedRequest struct {
	Colls      []cachedColl `json:"c"`
	Wait       int64        `json:"w,omitempty"` // seconds
	WindowSize int          `json:"s,omitempty"`
}

type cachedColl struct {
	ID             string `json:"i"`
	WindowSize     int    `json:"s"`
	NoChanges      bool   `json:"g,omitempty"`
	NoDeletesMoves bool   `json:"d,omitempty"`
}

// requestCache is the collection name of the per-device cached request in the sync states.
const requestCache = ""

func (s *Syncer) sync(ctx context.Context, r *Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
	var req *syncRequest
	if len(r.Body) > 0 {
		var err error
		if req, err = readSyncRequest(dec); err != nil {
			if errors.Is(err, errBadOption) {
				return &StatusError{Status: SyncStatusProtocolError, Err: err}
			}
			return err
		}
		if len(req.colls) > MaxSyncCollections {
			return &StatusError{Status: SyncStatusTooManyFolders, Err: fmt.Errorf("%d collections", len(req.colls))}
		}
		// MS-ASCMD 2.2.3.198 Wait, 2.2.3.88.2 HeartbeatInterval: not both (4); in range or 14
		// with the bound in Limit.
		if req.hasWait && req.hasHB {
			return &StatusError{Status: SyncStatusProtocolError, Err: errors.New("wait and heartbeat interval")}
		}
		if req.hasWait && (req.waitVal < MinWait || req.waitVal > MaxWait) {
			writeLimit(enc, req.waitVal, MinWait, MaxWait)
			return nil
		}
		if req.hasHB && (req.hbVal < MinHeartbeat || req.hbVal > MaxHeartbeat) {
			writeLimit(enc, req.hbVal, MinHeartbeat, MaxHeartbeat)
			return nil
		}
	}
	// An empty or Partial request takes its collections from the cached request: read it
	// from the database, where another node may have put a newer one.
	cached, err := s.loadCachedRequest(ctx, r, req == nil || req.partial)
	if err != nil {
		return err
	}
	switch {
	case req == nil:
		// MS-ASCMD 2.2.1.21.1: an empty request repeats the cached one.
		if cached == nil {
			return &StatusError{Status: SyncStatusIncomplete, Err: errors.New("empty sync without a cached request")}
		}
		req = &syncRequest{wait: time.Duration(cached.Wait) * time.Second, windowSize: cached.WindowSize}
		for _, c := range cached.Colls {
			req.colls = append(req.colls, &reqColl{id: c.ID, windowSize: c.WindowSize, getChanges: !c.NoChanges, deletesAsMoves: !c.NoDeletesMoves})
		}
	case req.partial:
		// MS-ASCMD 2.2.3.128 Partial: the collections not sent come from the cache.
		if cached == nil {
			return &StatusError{Status: SyncStatusIncomplete, Err: errors.New("partial sync without a cached request")}
		}
		for _, c := range cached.Colls {
			if !slices.ContainsFunc(req.colls, func(rc *reqColl) bool { return rc.id == c.ID }) {
				req.colls = append(req.colls, &reqColl{id: c.ID, windowSize: c.WindowSize, getChanges: !c.NoChanges, deletesAsMoves: !c.NoDeletesMoves})
			}
		}
		if !req.hasWait && !req.hasHB {
			req.wait = time.Duration(cached.Wait) * time.Second
		}
	}
	if len(req.colls) == 0 {
		return &StatusError{Status: SyncStatusIncomplete, Err: errors.New("sync without collections")}
	}
	if err := s.saveCachedRequest(ctx, r, cached, req); err != nil {
		return err
	}

	rounds := make([]*round, len(req.colls))
	for i, c := range req.colls {
		rd, err := s.prepare(ctx, r, c)
		if err != nil {
			return err
		}
		rounds[i] = rd
	}
	if req.wait > 0 {
		quiet, err := s.waitForChanges(ctx, r, rounds, req.wait)
		if err != nil {
			return err
		}
		if quiet {
			// MS-ASCMD 2.2.1.21.2: nothing to report, an empty response.
			return nil
		}
	}

	deadline := time.Now().Add(s.budget)
	remaining := MaxWindowSize * len(rounds)
	if req.windowSize > 0 {
		remaining = req.windowSize
	}
	enc.Start(wbxml.AirSyncSync)
	enc.Start(wbxml.AirSyncCollections)
	for _, rd := range rounds {
		if err := s.run(ctx, r, rd, &remaining, deadline, enc); err != nil {
			return err
		}
	}
	enc.End()
	enc.End()
	return enc.Err()
}

// writeLimit answers status 14 with the bound the value broke (MS-ASCMD 2.2.3.97 Limit).
func writeLimit(enc *wbxml.Encoder, v, lo, hi int64) {
	limit := hi
	if v < lo {
		limit = lo
	}
	enc.Start(wbxml.AirSyncSync)
	enc.Int(wbxml.AirSyncStatus, int64(SyncStatusInvalidInterval))
	enc.Int(wbxml.AirSyncLimit, limit)
	enc.End()
}

func (s *Syncer) loadCachedRequest(ctx context.Context, r *Request, fresh bool) (*cachedRequest, error) {
	st, _, err := s.loadState(ctx, r, requestCache, fresh)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	k := stateKey{user: r.Account.ID, device: r.DeviceID, coll: requestCache}
	if c, ok := s.states.decoded(k, st).(*cachedRequest); ok {
		return c, nil // shared: read only
	}
	c := new(cachedRequest)
	if err := json.Unmarshal(st.State, c); err != nil {
		r.Log.Warn("cached sync request unreadable", "err", err)
		return nil, nil
	}
	s.states.setDecoded(k, st, c)
	return c, nil
}

// saveCachedRequest records req for later empty and Partial requests, when it differs from
// what is cached.
func (s *Syncer) saveCachedRequest(ctx context.Context, r *Request, old *cachedRequest, req *syncRequest) error {
	c := cachedRequest{Wait: int64(req.wait / time.Second), WindowSize: req.windowSize}
	for _, rc := range req.colls {
		c.Colls = append(c.Colls, cachedColl{ID: rc.id, WindowSize: rc.windowSize, NoChanges: !rc.getChanges, NoDeletesMoves: !rc.deletesAsMoves})
	}
	if old != nil && old.Wait == c.Wait && old.WindowSize == c.WindowSize && slices.Equal(old.Colls, c.Colls) {
		return nil
	}
	b, _ := json.Marshal(c)
	_, err := s.saveState(ctx, r, requestCache, store.SyncState{Generation: "request", Counter: 1, State: b})
	return err
}

// loadState returns a sync state of the device: from the Syncer's memory (cached true) unless
// fresh, otherwise or when it holds none from the database. Errors wrap store.ErrNotFound
// when there is none.
func (s *Syncer) loadState(ctx context.Context, r *Request, coll string, fresh bool) (store.SyncState, bool, error) {
	k := stateKey{user: r.Account.ID, device: r.DeviceID, coll: coll}
	if !fresh {
		if st, ok := s.states.get(k); ok {
			return st, true, nil
		}
	}
	st, err := s.st.SyncState(ctx, r.Account.ID, r.DeviceID, coll)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.states.drop(k)
	case err == nil:
		s.states.put(k, st, fresh)
	}
	return st, false, err
}

// saveState writes a sync state of the device and keeps what was written in memory.
func (s *Syncer) saveState(ctx context.Context, r *Request, coll string, st store.SyncState) (store.SyncState, error) {
	k := stateKey{user: r.Account.ID, device: r.DeviceID, coll: coll}
	saved, err := s.st.PutSyncState(ctx, r.Account.ID, r.DeviceID, coll, st)
	if err != nil {
		s.states.drop(k)
		return saved, err
	}
	s.states.put(k, saved, true)
	return saved, nil
}

// round is one collection's part of a Sync: its request, what the state says and, once run,
// its answer.
type round struct {
	req    *reqColl
	status Status
	folder store.Folder
	state  store.SyncState
	base   *snapshot   // the snapshot the round starts from
	stored collOptions // base's options as stored, before the request's and the policy's
	record *roundRecord
	replay bool
	fresh  bool // key 0
}

// prepare resolves the collection and checks the key; it writes nothing.
func (s *Syncer) prepare(ctx context.Context, r *Request, c *reqColl) (*round, error) {
	rd := &round{req: c, status: StatusSuccess}
	id, err := strconv.ParseInt(c.id, 10, 64)
	if err == nil {
		// From memory while the store's change notifications are live: a no-change round
		// needs only the folder's modseq. run reads it again before it writes.
		rd.folder, err = s.st.MailboxFolder(ctx, r.Account.Mailbox, store.FolderID(id))
	}
	// A quarantined device sees only its Inbox (eas/quarantine.go): any other collection is
	// unknown to it, like one of another mailbox.
	if err != nil || rd.folder.Mailbox != r.Account.Mailbox || !collectionAllowed(r, rd.folder) {
		if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, strconv.ErrSyntax) && !errors.Is(err, strconv.ErrRange) {
			return nil, err
		}
		// MS-ASCMD 2.2.3.177.17 status 12: the folder hierarchy changed, the collection is
		// unknown; the client runs FolderSync.
		rd.status = SyncStatusHierarchyChanged
		return rd, nil
	}
	if c.key == "0" {
		rd.fresh = true
		return rd, nil
	}
	st, cached, err := s.loadState(ctx, r, c.id, false)
	var (
		gen    string
		n      uint64
		keyErr error
	)
	if c.key != "" {
		gen, n, keyErr = parseKey(c.key)
	}
	if cached && (c.key == "" || keyErr != nil || gen != st.Generation || n != st.Counter) {
		// Memory holds only the current snapshot, and another node may have moved on: any
		// other key is looked up in the database, and so is the current one when the request
		// names none (an empty or Partial request), since the answer gives it to the device.
		st, _, err = s.loadState(ctx, r, c.id, true)
	}
	if errors.Is(err, store.ErrNotFound) {
		rd.status = SyncStatusInvalidKey
		return rd, nil
	} else if err != nil {
		return nil, err
	}
	rd.state = st
	if c.key == "" {
		// An empty or Partial request names no key: the current one.
		c.key = formatKey(st.Generation, st.Counter)
		gen, n, keyErr = st.Generation, st.Counter, nil
	}
	switch {
	case keyErr != nil || gen != st.Generation:
		rd.status = SyncStatusInvalidKey
		return rd, nil
	case n == st.Counter:
		rd.base, err = s.currentSnapshot(r, c.id, st)
		rd.record = new(roundRecord)
	case n == st.PrevCounter && st.PrevCounter != 0:
		rd.replay = true
		rd.base, err = decodeSnapshot(st.PrevState)
		if err == nil {
			rd.record, err = decodeRound(st.Round)
		}
	default:
		rd.status = SyncStatusInvalidKey
		return rd, nil
	}
	if err != nil {
		r.Log.Warn("sync state unreadable, the device starts over", "collection", c.id, "err", err)
		rd.status = SyncStatusInvalidKey
		return rd, nil
	}
	rd.stored = rd.base.Opts
	if c.opts != nil {
		rd.base.Opts = *c.opts
	}
	if rd.base.Opts, err = s.limit(ctx, r, rd.base.Opts); err != nil {
		return nil, err
	}
	return rd, nil
}

// currentSnapshot decodes st.State without Held (decodeSnapshotMeta), or copies what the
// state cache kept of it decoded.
func (s *Syncer) currentSnapshot(r *Request, coll string, st store.SyncState) (*snapshot, error) {
	k := stateKey{user: r.Account.ID, device: r.DeviceID, coll: coll}
	if m, ok := s.states.decoded(k, st).(*snapshot); ok {
		c := *m // the round changes its own copy; Own and Opts.Body.Prefs are only replaced
		return &c, nil
	}
	m, err := decodeSnapshotMeta(st.State)
	if err != nil {
		return nil, err
	}
	keep := *m
	s.states.setDecoded(k, st, &keep)
	return m, nil
}

// limit applies the user's policy limits to o (limitOptions).
func (s *Syncer) limit(ctx context.Context, r *Request, o collOptions) (collOptions, error) {
	if s.limits == nil {
		return o, nil
	}
	l, err := s.limits(ctx, r.Account.ID)
	if err != nil {
		return o, err
	}
	return limitOptions(o, l), nil
}

// quiet reports whether a prepared round has nothing to say: no commands, no new key, no
// replay, the folder unchanged since the snapshot, the initial load done and the filter
// window fresh.
func (s *Syncer) quiet(rd *round) bool {
	if rd.status != StatusSuccess || rd.fresh || rd.replay || len(rd.req.cmds) > 0 {
		return false
	}
	b := rd.base
	if !rd.req.getChanges {
		return true
	}
	if b.loading() || b.Filter != b.Opts.FilterType {
		return false
	}
	if b.Filter != 0 && s.now().Unix()-b.Cutoff > int64(windowRecheck/time.Second) {
		return false
	}
	return rd.folder.ModSeq <= b.ModSeq
}

// waitForChanges holds a Sync with Wait or HeartbeatInterval until one of its collections has
// something to say, the interval ends (quiet true) or ctx ends (the client went away or the
// server is stopping).
func (s *Syncer) waitForChanges(ctx context.Context, r *Request, rounds []*round, d time.Duration) (bool, error) {
	for _, rd := range rounds {
		if !s.quiet(rd) {
			return false, nil
		}
	}
	w := s.st.Watch(ctx, r.Account.Mailbox)
	defer w.Close()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-timer.C:
			return true, nil
		case <-w.C:
		}
		for _, rd := range rounds {
			f, err := s.st.Folder(ctx, rd.folder.ID)
			if err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return false, nil
				}
				return false, err
			}
			rd.folder = f
			if !s.quiet(rd) {
				return false, nil
			}
		}
	}
}

// run answers one collection: applies the client's commands, collects the server's changes,
// saves the new snapshot and encodes the Collection element.
func (s *Syncer) run(ctx context.Context, r *Request, rd *round, remaining *int, deadline time.Time, enc *wbxml.Encoder) error {
	c := rd.req
	if rd.status != StatusSuccess {
		writeCollStatus(enc, c, rd.status)
		return nil
	}
	if !rd.replay && s.quiet(rd) && rd.base.Opts.sameStored(rd.stored) {
		// Nothing to send, nothing to apply, nothing to store: the same key again. This
		// writes nothing, so it needs neither the lock nor a fresh state.
		writeCollection(enc, c.key, c.id)
		return nil
	}
	mu := s.lock(r.Account.ID, r.DeviceID, c.id)
	mu.Lock()
	defer mu.Unlock()
	if rd.fresh {
		return s.start(ctx, r, rd, enc)
	}
	// The folder as the database has it now (prepare may have had it from memory).
	f, err := s.st.Folder(ctx, rd.folder.ID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			writeCollStatus(enc, c, SyncStatusHierarchyChanged)
			return nil
		}
		return err
	}
	rd.folder = f
	if !rd.replay && !s.quiet(rd) {
		// Re-read under the lock: another request of this device may have moved the state
		// since prepare (a quiet round writes nothing, so it need not check).
		cur, _, err := s.loadState(ctx, r, c.id, true)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err != nil || cur.Version != rd.state.Version {
			opts := c.opts
			nrd, err := s.prepare(ctx, r, c)
			if err != nil {
				return err
			}
			c.opts = opts
			*rd = *nrd
			if rd.status != StatusSuccess {
				writeCollStatus(enc, c, rd.status)
				return nil
			}
			rd.folder = f
		}
	}
	if err := rd.base.decodeHeld(); err != nil {
		r.Log.Warn("sync state unreadable, the device starts over", "collection", c.id, "err", err)
		writeCollStatus(enc, c, SyncStatusInvalidKey)
		return nil
	}
	snap := rd.base.clone()
	before := snap.encode()
	resp := s.applyCommands(ctx, r, rd, snap)
	if hasEffect(resp) {
		// The device's own writes moved the folder's modseq: read it again, so that collect
		// takes the snapshot past them (skipping them as the device's own, snap.Own). Else
		// the saved snapshot would lag behind them and a Ping right after this Sync would
		// answer 2 for the device's own change.
		if rd.folder, err = s.st.Folder(ctx, rd.folder.ID); err != nil {
			return err
		}
	}

	limit := c.windowSize
	if limit > *remaining {
		limit = *remaining
	}
	var (
		cmds []serverCmd
		more bool
	)
	if c.getChanges {
		var err error
		only, err := visibleItems(ctx, s.st, r, rd.folder)
		if err != nil {
			return err
		}
		cmds, more, err = s.collect(ctx, r.Account.Mailbox, rd.folder, snap, only, limit, deadline)
		if err != nil {
			return err
		}
		*remaining -= len(cmds)
	}
	changed := len(cmds) > 0 || len(resp) > 0 && hasEffect(resp)
	after := snap.encode()
	key := c.key
	switch {
	case rd.replay || changed:
		st := rd.state
		st.Counter = max(st.Counter, st.PrevCounter) + 1
		if !rd.replay {
			st.PrevCounter, st.PrevState = rd.state.Counter, rd.state.State
		}
		st.State = after
		st.Round = rd.record.encode()
		saved, err := s.saveState(ctx, r, c.id, st)
		if errors.Is(err, store.ErrConflict) {
			return &StatusError{Status: SyncStatusRetry, Err: err}
		} else if err != nil {
			return err
		}
		rd.state = saved
		key = formatKey(st.Generation, st.Counter)
	case string(before) != string(after):
		// Same holdings, further along the change log or new options: the key still names
		// what the device holds, so the snapshot is updated in place.
		st := rd.state
		st.State = after
		saved, err := s.saveState(ctx, r, c.id, st)
		if errors.Is(err, store.ErrConflict) {
			return &StatusError{Status: SyncStatusRetry, Err: err}
		} else if err != nil {
			return err
		}
		rd.state = saved
	}

	r.Log.Debug("sync collection", "collection", c.id, "replay", rd.replay, "client_commands", len(resp),
		"server_commands", len(cmds), "more", more, "held", len(snap.Held))
	enc.Start(wbxml.AirSyncCollection)
	enc.String(wbxml.AirSyncSyncKey, key)
	enc.String(wbxml.AirSyncCollectionId, c.id)
	enc.Int(wbxml.AirSyncStatus, int64(StatusSuccess))
	// MS-ASCMD 2.2.3.29.2: in a response, Status, MoreAvailable, Commands, Responses.
	if more {
		enc.Empty(wbxml.AirSyncMoreAvailable)
	}
	if len(cmds) > 0 {
		if err := s.writeCommands(ctx, r, snap, cmds, enc); err != nil {
			return err
		}
	}
	if len(resp) > 0 {
		if err := s.writeResponses(ctx, r, rd, resp, enc); err != nil {
			return err
		}
	}
	enc.End()
	return nil
}

// start answers key 0: a new generation, nothing held, no items (MS-ASCMD 2.2.3.181.4).
func (s *Syncer) start(ctx context.Context, r *Request, rd *round, enc *wbxml.Encoder) error {
	c := rd.req
	// The modseq is read before the folder: an item appended in between is then both in the
	// change log and below LoadEnd, and the held set keeps it from being sent twice.
	ms, err := s.st.ModSeq(ctx, r.Account.Mailbox)
	if err != nil {
		return err
	}
	f, err := s.st.Folder(ctx, rd.folder.ID)
	if err != nil {
		return err
	}
	snap := &snapshot{ModSeq: ms, LoadEnd: f.UIDNext}
	if c.opts != nil {
		snap.Opts = *c.opts
	} else {
		snap.Opts.Conflict = 1
	}
	if snap.Opts, err = s.limit(ctx, r, snap.Opts); err != nil {
		return err
	}
	snap.Filter = snap.Opts.FilterType
	snap.Cutoff = s.now().Unix()
	st := store.SyncState{Generation: newGeneration(), Counter: 1, State: snap.encode()}
	if _, err := s.saveState(ctx, r, c.id, st); err != nil {
		return err
	}
	enc.Start(wbxml.AirSyncCollection)
	enc.String(wbxml.AirSyncSyncKey, formatKey(st.Generation, st.Counter))
	enc.String(wbxml.AirSyncCollectionId, c.id)
	enc.Int(wbxml.AirSyncStatus, int64(StatusSuccess))
	enc.End()
	return nil
}

// writeCollection answers a collection with nothing new: its key, status 1.
func writeCollection(enc *wbxml.Encoder, key, id string) {
	enc.Start(wbxml.AirSyncCollection)
	enc.String(wbxml.AirSyncSyncKey, key)
	enc.String(wbxml.AirSyncCollectionId, id)
	enc.Int(wbxml.AirSyncStatus, int64(StatusSuccess))
	enc.End()
}

func writeCollStatus(enc *wbxml.Encoder, c *reqColl, st Status) {
	enc.Start(wbxml.AirSyncCollection)
	key := c.key
	if st == SyncStatusInvalidKey || key == "" {
		key = "0"
	}
	enc.String(wbxml.AirSyncSyncKey, key)
	enc.String(wbxml.AirSyncCollectionId, c.id)
	enc.Int(wbxml.AirSyncStatus, int64(st))
	enc.End()
}

// filterWindow is the age limit of a FilterType (MS-ASCMD 2.2.3.68.2); 0: no limit.
func filterWindow(ft int) time.Duration {
	const day = 24 * time.Hour
	switch ft {
	case 1:
		return day
	case 2:
		return 3 * day
	case 3:
		return 7 * day
	case 4:
		return 14 * day
	case 5:
		return 30 * day
	case 6:
		return 90 * day
	case 7:
		return 180 * day
	}
	return 0
}

// wider reports whether filter a lets in more than filter b.
func wider(a, b int) bool {
	wa, wb := filterWindow(a), filterWindow(b)
	if wa == 0 {
		return wb != 0
	}
	return wb != 0 && wa > wb
}

// Server command kinds.
const (
	srvAdd = iota + 1
	srvChange
	srvDelete
	srvSoftDelete
)

type serverCmd struct {
	kind int
	id   store.ItemID
	item store.Item // srvAdd, srvChange
}

// collect computes up to limit server commands from snap and advances snap past them. only,
// when not nil, are the items the device may see (visibleItems); the others are passed over.
func (s *Syncer) collect(ctx context.Context, mb store.MailboxID, f store.Folder, snap *snapshot, only map[store.ItemID]bool, limit int, deadline time.Time) ([]serverCmd, bool, error) {
	var cmds []serverCmd
	now := s.now()
	ft := snap.Opts.FilterType
	var since time.Time
	if w := filterWindow(ft); w > 0 {
		since = now.Add(-w)
	}
	inWindow := func(it store.Item) bool {
		return (only == nil || only[it.ID]) && (since.IsZero() || !it.Received.Before(since))
	}

	// The filter window: a changed FilterType, or the window moved on since it was applied.
	if snap.Filter != ft || ft != 0 && now.Unix()-snap.Cutoff > int64(windowRecheck/time.Second) {
		if wider(ft, snap.Filter) {
			snap.Cursor, snap.LoadEnd = 0, f.UIDNext
		}
		if !since.IsZero() {
			old, err := s.st.ItemIDsReceivedBefore(ctx, f.ID, since)
			if err != nil {
				return nil, false, err
			}
			for _, id := range old {
				if !snap.holds(id) {
					continue
				}
				if len(cmds) == limit {
					return cmds, true, nil // the window is applied again next round
				}
				snap.drop(id)
				cmds = append(cmds, serverCmd{kind: srvSoftDelete, id: id})
			}
		}
		snap.Filter, snap.Cutoff = ft, now.Unix()
	}

	// The change log.
	if f.ModSeq > snap.ModSeq {
		changes, err := s.st.ChangesSince(ctx, mb, snap.ModSeq)
		if err != nil {
			return nil, false, err
		}
		last := map[store.ItemID]int64{}
		for _, ch := range changes {
			if ch.Kind == store.KindItem && ch.Folder == f.ID {
				last[ch.Item] = ch.ModSeq
			}
		}
		ids := make([]store.ItemID, 0, len(last))
		for id, m := range last {
			if own, ok := snap.Own[id]; ok && own == m {
				continue // the device's own write
			}
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b store.ItemID) int { return int(last[a] - last[b]) })
		items, err := s.st.ItemsByID(ctx, ids)
		if err != nil {
			return nil, false, err
		}
		cur := make(map[store.ItemID]store.Item, len(items))
		for _, it := range items {
			cur[it.ID] = it
		}
		newModSeq := f.ModSeq
		if len(changes) > 0 {
			newModSeq = max(newModSeq, changes[len(changes)-1].ModSeq)
		}
		for i, id := range ids {
			if len(cmds) >= limit || len(cmds) > 0 && time.Now().After(deadline) {
				// Everything up to the previous item is done; the rest comes next round.
				if i > 0 {
					snap.ModSeq = last[ids[i-1]]
				}
				s.pruneOwn(snap)
				return cmds, true, nil
			}
			it, ok := cur[id]
			present := ok && it.Folder == f.ID
			held := snap.holds(id)
			switch {
			case present && held && inWindow(it):
				cmds = append(cmds, serverCmd{kind: srvChange, id: id, item: it})
			case present && held:
				snap.drop(id)
				cmds = append(cmds, serverCmd{kind: srvSoftDelete, id: id})
			case present && inWindow(it):
				snap.hold(id)
				cmds = append(cmds, serverCmd{kind: srvAdd, id: id, item: it})
			case !present && held:
				snap.drop(id)
				cmds = append(cmds, serverCmd{kind: srvDelete, id: id})
			}
		}
		snap.ModSeq = newModSeq
		s.pruneOwn(snap)
	}

	// The initial load.
	for snap.loading() && len(cmds) < limit {
		if len(cmds) > 0 && time.Now().After(deadline) {
			return cmds, true, nil
		}
		n := limit - len(cmds)
		page, err := s.st.ItemsWindow(ctx, f.ID, snap.Cursor, snap.LoadEnd, since, n)
		if err != nil {
			return nil, false, err
		}
		for _, it := range page {
			snap.Cursor = it.UID
			if snap.holds(it.ID) || only != nil && !only[it.ID] {
				continue
			}
			snap.hold(it.ID)
			cmds = append(cmds, serverCmd{kind: srvAdd, id: it.ID, item: it})
		}
		if len(page) < n {
			snap.Cursor, snap.LoadEnd = 0, 0 // done
		}
	}
	more := snap.loading()
	return cmds, more, nil
}

// pruneOwn forgets own writes the change log has been read past.
func (s *Syncer) pruneOwn(snap *snapshot) {
	for id, m := range snap.Own {
		if m <= snap.ModSeq {
			delete(snap.Own, id)
		}
	}
	if len(snap.Own) == 0 {
		snap.Own = nil
	}
}

// writeCommands encodes the server's commands: Adds carry the whole item, Changes the
// properties that change (appendEmailChange).
func (s *Syncer) writeCommands(ctx context.Context, r *Request, snap *snapshot, cmds []serverCmd, enc *wbxml.Encoder) error {
	var adds []store.ItemID
	for _, c := range cmds {
		if c.kind == srvAdd {
			adds = append(adds, c.id)
		}
	}
	bodies, err := s.st.ItemBodies(ctx, adds)
	if err != nil {
		return err
	}
	enc.Start(wbxml.AirSyncCommands)
	for _, c := range cmds {
		switch c.kind {
		case srvDelete:
			enc.Start(wbxml.AirSyncDelete)
			enc.String(wbxml.AirSyncServerId, itemServerID(c.id))
			enc.End()
		case srvSoftDelete:
			enc.Start(wbxml.AirSyncSoftDelete)
			enc.String(wbxml.AirSyncServerId, itemServerID(c.id))
			enc.End()
		case srvChange:
			enc.Start(wbxml.AirSyncChange)
			enc.String(wbxml.AirSyncServerId, itemServerID(c.id))
			enc.Start(wbxml.AirSyncApplicationData)
			if err := appendEmailChange(enc, c.item, r.Version); err != nil {
				return err
			}
			enc.End()
			enc.End()
		case srvAdd:
			raw := bodies[c.id] // nil if deleted since: its Delete comes next round
			enc.Start(wbxml.AirSyncAdd)
			enc.String(wbxml.AirSyncServerId, itemServerID(c.id))
			enc.Start(wbxml.AirSyncApplicationData)
			if err := appendEmail(enc, c.item, raw, snap.Opts.Body, r.Version); err != nil {
				return err
			}
			enc.End()
			enc.End()
		}
	}
	enc.End()
	return nil
}

func itemServerID(id store.ItemID) string { return strconv.FormatInt(int64(id), 10) }

func parseServerID(s string) (store.ItemID, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return store.ItemID(n), err == nil && n > 0
}
