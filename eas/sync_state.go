package eas

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/easd/easd/store"
)

// Sync keys are "{generation}counter": generation is 16 random hex digits chosen when the
// device starts a collection over with key 0, counter counts the snapshots of that
// generation from 1. A key from before a reset, from another device or made up never names a
// stored snapshot (MS-ASCMD 2.2.3.181.4: the key is opaque to the client, up to 64
// characters).

// errBadKey is a sync key this server did not make.
var errBadKey = errors.New("eas: malformed sync key")

func newGeneration() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func formatKey(gen string, counter uint64) string {
	return "{" + gen + "}" + strconv.FormatUint(counter, 10)
}

func parseKey(key string) (gen string, counter uint64, err error) {
	rest, ok := strings.CutPrefix(key, "{")
	if !ok {
		return "", 0, errBadKey
	}
	gen, num, ok := strings.Cut(rest, "}")
	if !ok || gen == "" {
		return "", 0, errBadKey
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 {
		return "", 0, errBadKey
	}
	return gen, n, nil
}

// collOptions are the per-collection options a Sync request may set; they are kept with the
// snapshot, so a request without Options (or an empty or Partial one) reuses them
// (MS-ASCMD 2.2.3.115.5: the server caches the options).
type collOptions struct {
	FilterType int         `json:"f,omitempty"`
	Body       bodyOptions `json:"b"`
	Conflict   int         `json:"c"` // 0 client wins, 1 server wins (the default)
}

// snapshot is what one sync key names: the items the device holds of the collection and how
// far the server's change log has been read for it.
//
// Invariants: Held is sorted and holds every item sent as Add (or added by the client) and
// not since sent as Delete or SoftDelete. Every change of the mailbox with a modseq up to
// ModSeq is reflected in Held; items with a UID in (Cursor, LoadEnd) were in the folder when
// the device started (key 0) and are sent by the initial load unless Held has them already.
type snapshot struct {
	ModSeq  int64          `json:"m"`
	Held    []store.ItemID `json:"-"`
	Cursor  uint32         `json:"u,omitempty"`
	LoadEnd uint32         `json:"e,omitempty"`
	Filter  int            `json:"f,omitempty"` // the FilterType Held obeys
	Cutoff  int64          `json:"t,omitempty"` // unix seconds of the window start last applied
	// Own are the device's own writes (item → modseq), not to be echoed back as changes.
	Own  map[store.ItemID]int64 `json:"o,omitempty"`
	Opts collOptions            `json:"p"`

	// heldRaw is Held still encoded (decodeSnapshotMeta): a no-change round never needs the
	// item list, so it is decoded only by decodeHeld. Nil once decoded.
	heldRaw []byte
}

func (s *snapshot) loading() bool { return s.Cursor+1 < s.LoadEnd }

func (s *snapshot) holds(id store.ItemID) bool {
	_, ok := slices.BinarySearch(s.Held, id)
	return ok
}

func (s *snapshot) hold(id store.ItemID) {
	if i, ok := slices.BinarySearch(s.Held, id); !ok {
		s.Held = slices.Insert(s.Held, i, id)
	}
}

func (s *snapshot) drop(id store.ItemID) {
	if i, ok := slices.BinarySearch(s.Held, id); ok {
		s.Held = slices.Delete(s.Held, i, i+1)
	}
}

func (s *snapshot) own(id store.ItemID, modseq int64) {
	if s.Own == nil {
		s.Own = make(map[store.ItemID]int64)
	}
	s.Own[id] = modseq
}

// clone returns a deep copy.
func (s *snapshot) clone() *snapshot {
	c := *s
	c.Held = slices.Clone(s.Held)
	if s.Own != nil {
		c.Own = make(map[store.ItemID]int64, len(s.Own))
		for k, v := range s.Own {
			c.Own[k] = v
		}
	}
	c.Opts.Body.Prefs = slices.Clone(s.Opts.Body.Prefs)
	return &c
}

// snapshotFormat is the first byte of an encoded snapshot.
const snapshotFormat = 1

// encode packs s: the format byte, the length of the JSON of the small fields, that JSON,
// then Held as unsigned varint deltas (IDs of one folder are close together, so most take
// one or two bytes: 100,000 held items fit in about 200 KB).
func (s *snapshot) encode() []byte {
	meta, _ := json.Marshal(s) // plain data, always marshals
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(meta)+2*len(s.Held)+len(s.heldRaw))
	b = append(b, snapshotFormat)
	b = binary.AppendUvarint(b, uint64(len(meta)))
	b = append(b, meta...)
	if s.heldRaw != nil {
		return append(b, s.heldRaw...) // still as decodeSnapshotMeta found it
	}
	prev := store.ItemID(0)
	for _, id := range s.Held {
		b = binary.AppendUvarint(b, uint64(id-prev))
		prev = id
	}
	return b
}

func decodeSnapshot(b []byte) (*snapshot, error) {
	s, err := decodeSnapshotMeta(b)
	if err != nil {
		return nil, err
	}
	if err := s.decodeHeld(); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeSnapshotMeta decodes everything but Held, which stays encoded until decodeHeld. The
// snapshot keeps a reference to b.
func decodeSnapshotMeta(b []byte) (*snapshot, error) {
	if len(b) < 2 || b[0] != snapshotFormat {
		return nil, errors.New("eas: sync snapshot: unknown format")
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || uint64(len(b)-1-k) < n {
		return nil, errors.New("eas: sync snapshot: truncated")
	}
	s := new(snapshot)
	off := 1 + k
	if err := json.Unmarshal(b[off:off+int(n)], s); err != nil {
		return nil, fmt.Errorf("eas: sync snapshot: %w", err)
	}
	s.heldRaw = b[off+int(n):]
	return s, nil
}

// decodeHeld decodes Held if decodeSnapshotMeta left it encoded.
func (s *snapshot) decodeHeld() error {
	rest := s.heldRaw
	if rest == nil {
		return nil
	}
	var held []store.ItemID
	if len(rest) > 0 {
		held = make([]store.ItemID, 0, len(rest)/2)
	}
	prev := store.ItemID(0)
	for len(rest) > 0 {
		d, k := binary.Uvarint(rest)
		if k <= 0 {
			return errors.New("eas: sync snapshot: bad item list")
		}
		prev += store.ItemID(d)
		held = append(held, prev)
		rest = rest[k:]
	}
	s.Held, s.heldRaw = held, nil
	return nil
}

// sameStored reports whether o and p are the same options as a snapshot stores them (the
// per-request attachment limits aside).
func (o collOptions) sameStored(p collOptions) bool {
	return o.FilterType == p.FilterType && o.Conflict == p.Conflict && o.Body.MIMESupport == p.Body.MIMESupport &&
		o.Body.MIMETruncation == p.Body.MIMETruncation && slices.Equal(o.Body.Prefs, p.Body.Prefs)
}

// roundRecord is what the client's commands did in the round from the previous key to the
// current one, so that a resent previous key replays them instead of applying them twice:
// resent Adds get the ServerId they got the first time, Changes and Deletes are not applied
// again and answer the status they answered.
type roundRecord struct {
	Adds map[string]store.ItemID `json:"a,omitempty"` // ClientId → ServerId
	Done map[string]doneCmd      `json:"d,omitempty"` // "c<id>#n" nth change, "d<id>#n" delete, "a<id>" add
}

type doneCmd struct {
	Status Status `json:"s"`
	ModSeq int64  `json:"m,omitempty"` // the write's modseq when it was applied
}

func (r *roundRecord) encode() []byte {
	if len(r.Adds) == 0 && len(r.Done) == 0 {
		return nil
	}
	b, _ := json.Marshal(r)
	return b
}

func decodeRound(b []byte) (*roundRecord, error) {
	r := new(roundRecord)
	if len(b) == 0 {
		return r, nil
	}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("eas: sync round: %w", err)
	}
	return r, nil
}

func (r *roundRecord) add(clientID string, id store.ItemID) {
	if r.Adds == nil {
		r.Adds = make(map[string]store.ItemID)
	}
	r.Adds[clientID] = id
}

func (r *roundRecord) done(key string, d doneCmd) {
	if r.Done == nil {
		r.Done = make(map[string]doneCmd)
	}
	r.Done[key] = d
}

// maxCachedStateBytes bounds the memory of a Syncer's stateCache (encoded snapshots).
const maxCachedStateBytes = 64 << 20

// stateKey names one sync state: a collection of a device of a user ("" is the cached
// request).
type stateKey struct {
	user   store.UserID
	device string
	coll   string
}

// stateCache keeps the current sync state of the collections this node served, so that a
// no-change Sync, which presents the current key, needs no database read for it. Only the
// current snapshot is kept (PrevState and Round are dropped): a round from any other key
// reads the state from the database, and so does every round that writes (Syncer.run
// re-reads under the collection lock), so a stale entry (another node moved the state on)
// can only make a round answer "nothing new" with the key the device sent, which it may
// safely do: the device keeps its key and its next round with changes sees the database.
// An empty or Partial request, whose answer names the current key, reads it from the
// database. The cached request (collection "") is read from memory for a full request, which
// is then saved only if it differs from what memory holds. A removed partnership
// (store.AdminChangeDevice) drops the device's entries. Safe for concurrent use.
type stateCache struct {
	mu    sync.Mutex
	m     map[stateKey]stateEntry
	bytes int
}

type stateEntry struct {
	store.SyncState
	// dec is State decoded (*snapshot without Held, or *cachedRequest), shared and never
	// changed by its users; nil until setDecoded.
	dec any
}

func (c *stateCache) get(k stateKey) (store.SyncState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	return e.SyncState, ok
}

// decoded returns what setDecoded kept for k while it still holds st.
func (c *stateCache) decoded(k stateKey, st store.SyncState) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok && sameState(e.SyncState, st) {
		return e.dec
	}
	return nil
}

// setDecoded keeps dec, st.State decoded, with k's entry if it still holds st.
func (c *stateCache) setDecoded(k stateKey, st store.SyncState, dec any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok && sameState(e.SyncState, st) {
		e.dec = dec
		c.m[k] = e
	}
}

func sameState(a, b store.SyncState) bool {
	return a.Version == b.Version && a.Generation == b.Generation && a.Counter == b.Counter && string(a.State) == string(b.State)
}

// put keeps st (as read from or written to the database). Unless authoritative (just written,
// or read because the held entry did not match the request), an entry with a higher version
// stays: a slow read must not replace what a later write put.
func (c *stateCache) put(k stateKey, st store.SyncState, authoritative bool) {
	st.PrevState, st.Round = nil, nil
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[stateKey]stateEntry)
	}
	old, ok := c.m[k]
	if ok {
		if !authoritative && old.Version > st.Version {
			return
		}
		c.bytes -= len(old.State) + len(k.device) + len(k.coll)
	}
	for c.bytes+len(st.State) > maxCachedStateBytes && len(c.m) > 0 {
		for ek, e := range c.m { // map order: a random victim
			c.bytes -= len(e.State) + len(ek.device) + len(ek.coll)
			delete(c.m, ek)
			break
		}
	}
	c.m[k] = stateEntry{SyncState: st}
	c.bytes += len(st.State) + len(k.device) + len(k.coll)
}

func (c *stateCache) drop(k stateKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		c.bytes -= len(old.State) + len(k.device) + len(k.coll)
		delete(c.m, k)
	}
}

// dropAll forgets the states of a device (user and device set), of every device of a user
// (device ""), or everything (user 0).
func (c *stateCache) dropAll(user store.UserID, device string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if user == 0 || k.user == user && (device == "" || k.device == device) {
			c.bytes -= len(e.State) + len(k.device) + len(k.coll)
			delete(c.m, k)
		}
	}
}
