package eas

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// Statuses of the folder hierarchy commands. Each command numbers its own (MS-ASCMD
// 2.2.3.177.3 FolderCreate, 2.2.3.177.4 FolderDelete, 2.2.3.177.5 FolderSync, 2.2.3.177.6
// FolderUpdate); the values below mean the same in every one that has them.
const (
	// StatusFolderExists: FolderCreate, a folder of that name exists under the parent;
	// FolderUpdate, the same or the folder is a special (default) folder.
	StatusFolderExists Status = 2 // MS-ASCMD 2.2.3.177.3, 2.2.3.177.6
	// StatusFolderSpecial: FolderCreate, the parent is the recipient information folder;
	// FolderDelete, the folder is a special (default) folder; FolderUpdate, the folder is the
	// recipient information folder.
	StatusFolderSpecial Status = 3 // MS-ASCMD 2.2.3.177.3, 2.2.3.177.4, 2.2.3.177.6
	// StatusFolderNotFound: FolderDelete and FolderUpdate, the folder does not exist.
	StatusFolderNotFound Status = 4 // MS-ASCMD 2.2.3.177.4, 2.2.3.177.6
	// StatusFolderParentNotFound: FolderCreate and FolderUpdate, the parent does not exist.
	StatusFolderParentNotFound Status = 5 // MS-ASCMD 2.2.3.177.3, 2.2.3.177.6
	// StatusFolderServerError: an error on the server; the client retries.
	StatusFolderServerError Status = 6 // MS-ASCMD 2.2.3.177.3-6
	// StatusFolderSyncKey: synchronization key mismatch or invalid; the client starts over
	// with FolderSync 0.
	StatusFolderSyncKey Status = 9 // MS-ASCMD 2.2.3.177.3-6
	// StatusFolderMalformed: incorrectly formatted request.
	StatusFolderMalformed Status = 10 // MS-ASCMD 2.2.3.177.3-6
	// StatusFolderUnknown: an unknown error occurred.
	StatusFolderUnknown Status = 11 // MS-ASCMD 2.2.3.177.3-6
	// StatusFolderCodeUnknown: FolderSync, code unknown (an unusual back-end issue).
	StatusFolderCodeUnknown Status = 12 // MS-ASCMD 2.2.3.177.5
)

// HierarchyStore is what the folder hierarchy commands need of the store.
type HierarchyStore interface {
	Folders(ctx context.Context, mb store.MailboxID) ([]store.Folder, error)
	HierarchyFolders(ctx context.Context, mb store.MailboxID) ([]store.HierarchyFolder, error)
	CreateFolder(ctx context.Context, mb store.MailboxID, parent store.FolderID, name string, t store.FolderType) (store.Folder, error)
	RenameFolder(ctx context.Context, id, parent store.FolderID, name string) (store.Folder, error)
	DeleteFolder(ctx context.Context, id store.FolderID) error
	FolderSyncState(ctx context.Context, user store.UserID, deviceID string) (store.FolderSyncState, error)
	AdvanceFolderSync(ctx context.Context, user store.UserID, deviceID string, from uint64, folders []store.HierarchyFolder) (uint64, error)
}

var _ HierarchyStore = (*store.Store)(nil)

// HierarchyOptions configures NewHierarchy. Store is required.
type HierarchyOptions struct {
	Store HierarchyStore
	// Quirks decides which folders each client sees. Nil: DefaultQuirks().
	Quirks *Quirks
}

// Hierarchy serves the folder hierarchy commands: FolderSync, FolderCreate, FolderUpdate and
// FolderDelete (MS-ASCMD 2.2.1.5, 2.2.1.3, 2.2.1.6, 2.2.1.4).
//
// Each device has a hierarchy sync state in the store (store.FolderSyncState): the key it
// was last given names the snapshot of the folders it holds (ServerId, ParentId,
// DisplayName, Type), and the previous key and snapshot are kept. A FolderSync with key 0
// answers every visible folder as an Add and starts a new state; with the current key it
// answers the difference between the snapshot and the user's folders now, seen through the
// client's quirks (Quirks), under a new key when there is one and under the same key with
// Count 0 when there is none; with the previous key it answers again what the current key
// was given for (the response was lost); any other key gets status 9 and the client starts
// over. FolderCreate, FolderUpdate and FolderDelete require the current key, change the
// store (so other devices see the change on their next FolderSync) and record the change in
// this device's snapshot under a new key, so that its next FolderSync does not echo it.
//
// ServerIds are store folder IDs in decimal; ParentId "0" is the top level.
type Hierarchy struct {
	st     HierarchyStore
	quirks *Quirks
}

// NewHierarchy returns the folder hierarchy commands over opts.Store.
func NewHierarchy(opts HierarchyOptions) *Hierarchy {
	q := opts.Quirks
	if q == nil {
		q = DefaultQuirks()
	}
	return &Hierarchy{st: opts.Store, quirks: q}
}

// Commands returns the four commands for Server.Handle.
func (h *Hierarchy) Commands() []Command {
	return []Command{
		{Code: CmdFolderSync, Handler: h.folderSync,
			Status: TopLevelStatus(wbxml.FolderHierarchyFolderSync, wbxml.FolderHierarchyStatus)},
		{Code: CmdFolderCreate, Handler: h.folderCreate,
			Status: TopLevelStatus(wbxml.FolderHierarchyFolderCreate, wbxml.FolderHierarchyStatus)},
		{Code: CmdFolderUpdate, Handler: h.folderUpdate,
			Status: TopLevelStatus(wbxml.FolderHierarchyFolderUpdate, wbxml.FolderHierarchyStatus)},
		{Code: CmdFolderDelete, Handler: h.folderDelete,
			Status: TopLevelStatus(wbxml.FolderHierarchyFolderDelete, wbxml.FolderHierarchyStatus)},
	}
}

// Changed reports whether the device's folder hierarchy is out of date: it has no hierarchy
// state yet, or the user's folders as this client sees them differ from the snapshot of its
// current key. Ping (status 7) and Sync (status 12) use it to tell the device to FolderSync
// (MS-ASCMD 2.2.3.177.11, 2.2.3.177.17).
func (h *Hierarchy) Changed(ctx context.Context, r *Request) (bool, error) {
	st, err := h.st.FolderSyncState(ctx, r.Account.ID, r.DeviceID)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrCorruptState) {
		return true, nil
	} else if err != nil {
		return false, fmt.Errorf("eas: hierarchy changed: %w", err)
	}
	cur, err := h.visibleFolders(ctx, r)
	if err != nil {
		return false, fmt.Errorf("eas: hierarchy changed: %w", err)
	}
	return diffHierarchy(st.Folders, cur).count() > 0, nil
}

// malformed is the FolderHierarchy answer to a request that does not have the shape of its
// command.
func malformed(err error) error {
	return &StatusError{Status: StatusFolderMalformed, Err: err}
}

// readFields reads <root> and the text of its children tagged with one of tags (the last
// occurrence wins); other children are skipped. A missing root or a nested element where
// text is expected fails.
func readFields(dec *wbxml.Decoder, root wbxml.Tag, tags ...wbxml.Tag) (map[wbxml.Tag]string, error) {
	tok, err := dec.Expect(root)
	if err != nil {
		return nil, err
	}
	out := make(map[wbxml.Tag]string, len(tags))
	if !tok.Content {
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
		case tok.Kind == wbxml.KindStart && slices.Contains(tags, tok.Tag):
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
			return nil, fmt.Errorf("eas: text directly in %s", root)
		}
	}
}

// storeFailed answers a store failure: status 6 (MS-ASCMD 2.2.3.177.3-6: a server error,
// the client retries), logged here because the dispatcher logs statuses only at Debug; a
// snapshot that no longer decodes answers 9, so the client starts over and replaces it.
// A cancelled request passes through for the dispatcher.
func storeFailed(ctx context.Context, r *Request, what string, err error) error {
	if ctx.Err() != nil {
		return err
	}
	if errors.Is(err, store.ErrCorruptState) {
		r.Log.Warn(what+": hierarchy state corrupt, client must resync", "err", err)
		return &StatusError{Status: StatusFolderSyncKey, Err: err}
	}
	r.Log.Error(what+": store", "err", err)
	return &StatusError{Status: StatusFolderServerError, Err: err}
}

// parseSyncKey parses a FolderSync key as this server writes it: "0" or a decimal number.
func parseSyncKey(s string) (uint64, bool) {
	if s == "" || len(s) > 20 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	k, err := strconv.ParseUint(s, 10, 64)
	return k, err == nil
}

func serverID(id store.FolderID) string { return strconv.FormatInt(int64(id), 10) }

// parseFolderID parses a ServerId or ParentId: "0" (top level, only where allowed) or a
// positive decimal number.
func parseFolderID(s string) (store.FolderID, bool) {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return store.FolderID(n), true
}

// visibleFolders returns the user's folders as this client is shown them, sorted by ID.
func (h *Hierarchy) visibleFolders(ctx context.Context, r *Request) ([]store.HierarchyFolder, error) {
	fs, err := h.st.HierarchyFolders(ctx, r.Account.Mailbox)
	if err != nil {
		return nil, err
	}
	return quarantineView(r, h.clientQuirks(r).Visible(fs)), nil
}

func (h *Hierarchy) clientQuirks(r *Request) ClientQuirks {
	return h.quirks.For(r.DeviceType, r.UserAgent)
}

// hierarchyDiff is what a device must do to go from one snapshot to another.
type hierarchyDiff struct {
	adds, updates, deletes []store.HierarchyFolder
}

func (d hierarchyDiff) count() int { return len(d.adds) + len(d.updates) + len(d.deletes) }

// diffHierarchy compares two snapshots sorted by ID. Adds come parents first; deletes
// children first, so a client deletes a subtree bottom-up whether or not it cascades.
func diffHierarchy(from, to []store.HierarchyFolder) hierarchyDiff {
	var d hierarchyDiff
	i, j := 0, 0
	for i < len(from) || j < len(to) {
		switch {
		case j == len(to) || (i < len(from) && from[i].ID < to[j].ID):
			d.deletes = append(d.deletes, from[i])
			i++
		case i == len(from) || to[j].ID < from[i].ID:
			d.adds = append(d.adds, to[j])
			j++
		default:
			if from[i] != to[j] {
				d.updates = append(d.updates, to[j])
			}
			i++
			j++
		}
	}
	d.adds = parentsFirst(d.adds)
	d.deletes = parentsFirst(d.deletes)
	slices.Reverse(d.deletes)
	return d
}

// parentsFirst orders folders so that every folder comes after its parent when the parent
// is in the list too; otherwise it keeps the order (by ID).
func parentsFirst(fs []store.HierarchyFolder) []store.HierarchyFolder {
	if len(fs) < 2 {
		return fs
	}
	in := make(map[store.FolderID]bool, len(fs))
	children := make(map[store.FolderID][]store.HierarchyFolder)
	for _, f := range fs {
		in[f.ID] = true
	}
	var roots []store.HierarchyFolder
	for _, f := range fs {
		if in[f.Parent] && f.Parent != f.ID {
			children[f.Parent] = append(children[f.Parent], f)
		} else {
			roots = append(roots, f)
		}
	}
	out := make([]store.HierarchyFolder, 0, len(fs))
	var walk func(f store.HierarchyFolder)
	walk = func(f store.HierarchyFolder) {
		out = append(out, f)
		for _, c := range children[f.ID] {
			walk(c)
		}
	}
	for _, f := range roots {
		walk(f)
	}
	return out
}

func (h *Hierarchy) folderSync(ctx context.Context, r *Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
	// MS-ASCMD 2.2.1.5: the request is <FolderSync><SyncKey>…</SyncKey></FolderSync>.
	f, err := readFields(dec, wbxml.FolderHierarchyFolderSync, wbxml.FolderHierarchySyncKey)
	if err != nil {
		return malformed(err)
	}
	keyText, ok := f[wbxml.FolderHierarchySyncKey]
	if !ok {
		return malformed(errors.New("FolderSync without SyncKey"))
	}
	key, ok := parseSyncKey(keyText)
	if !ok {
		// MS-ASCMD 2.2.3.177.5: 9, the client sent a malformed or mismatched key.
		return &StatusError{Status: StatusFolderSyncKey, Err: fmt.Errorf("foreign sync key %q", keyText)}
	}
	cur, err := h.visibleFolders(ctx, r)
	if err != nil {
		return storeFailed(ctx, r, "folder sync", err)
	}
	user, dev := r.Account.ID, r.DeviceID

	var (
		newKey uint64
		diff   hierarchyDiff
	)
	if key == 0 {
		// MS-ASCMD 2.2.3.166 SyncKey: 0 asks for the whole hierarchy.
		if newKey, err = h.st.AdvanceFolderSync(ctx, user, dev, 0, cur); err != nil {
			return storeFailed(ctx, r, "folder sync", err)
		}
		diff = diffHierarchy(nil, cur)
	} else {
		st, err := h.st.FolderSyncState(ctx, user, dev)
		if errors.Is(err, store.ErrNotFound) {
			return &StatusError{Status: StatusFolderSyncKey, Err: fmt.Errorf("no hierarchy state, key %d", key)}
		} else if err != nil {
			return storeFailed(ctx, r, "folder sync", err)
		}
		switch {
		case key == st.Key:
			diff = diffHierarchy(st.Folders, cur)
			newKey = st.Key
			if diff.count() > 0 {
				newKey, err = h.st.AdvanceFolderSync(ctx, user, dev, key, cur)
				if errors.Is(err, store.ErrConflict) {
					return &StatusError{Status: StatusFolderSyncKey, Err: err}
				} else if err != nil {
					return storeFailed(ctx, r, "folder sync", err)
				}
			}
		case st.PrevKey != 0 && key == st.PrevKey:
			// The answer to the previous key was lost: give it again, from the same two
			// snapshots, so nothing is added twice or deleted unseen.
			r.Log.Debug("folder sync: previous key resent", "key", key, "current", st.Key)
			diff = diffHierarchy(st.PrevFolders, st.Folders)
			newKey = st.Key
		default:
			return &StatusError{Status: StatusFolderSyncKey, Err: fmt.Errorf("key %d, current %d", key, st.Key)}
		}
	}
	writeFolderSync(enc, newKey, diff)
	return nil
}

// writeFolderSync writes a FolderSync response (MS-ASCMD 2.2.1.5: Status, SyncKey, then
// Changes with Count and the Update, Delete and Add elements).
func writeFolderSync(enc *wbxml.Encoder, key uint64, d hierarchyDiff) {
	enc.Start(wbxml.FolderHierarchyFolderSync)
	enc.Int(wbxml.FolderHierarchyStatus, int64(StatusSuccess))
	enc.String(wbxml.FolderHierarchySyncKey, strconv.FormatUint(key, 10))
	enc.Start(wbxml.FolderHierarchyChanges)
	enc.Int(wbxml.FolderHierarchyCount, int64(d.count()))
	// Adds first (a later Update may move a folder under a new one), then Updates, then
	// Deletes (a folder moved out of a deleted subtree has moved by then).
	for _, f := range d.adds {
		writeFolder(enc, wbxml.FolderHierarchyAdd, f)
	}
	for _, f := range d.updates {
		writeFolder(enc, wbxml.FolderHierarchyUpdate, f)
	}
	for _, f := range d.deletes {
		enc.Start(wbxml.FolderHierarchyDelete)
		enc.String(wbxml.FolderHierarchyServerId, serverID(f.ID))
		enc.End()
	}
	enc.End()
	enc.End()
}

func writeFolder(enc *wbxml.Encoder, t wbxml.Tag, f store.HierarchyFolder) {
	enc.Start(t)
	enc.String(wbxml.FolderHierarchyServerId, serverID(f.ID))
	enc.String(wbxml.FolderHierarchyParentId, serverID(f.Parent))
	enc.String(wbxml.FolderHierarchyDisplayName, f.Name)
	enc.Int(wbxml.FolderHierarchyType, int64(f.Type))
	enc.End()
}
