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

// currentState loads the device's hierarchy state and checks that key is its current key:
// FolderCreate, FolderUpdate and FolderDelete carry the key of the last FolderSync
// (MS-ASCMD 2.2.3.166 SyncKey); anything else is status 9.
func (h *Hierarchy) currentState(ctx context.Context, r *Request, keyText string) (store.FolderSyncState, error) {
	key, ok := parseSyncKey(keyText)
	if !ok || key == 0 {
		return store.FolderSyncState{}, &StatusError{Status: StatusFolderSyncKey, Err: fmt.Errorf("sync key %q", keyText)}
	}
	st, err := h.st.FolderSyncState(ctx, r.Account.ID, r.DeviceID)
	if errors.Is(err, store.ErrNotFound) {
		return st, &StatusError{Status: StatusFolderSyncKey, Err: errors.New("no hierarchy state")}
	} else if err != nil {
		return st, storeFailed(ctx, r, "folder hierarchy state", err)
	}
	if key != st.Key {
		return st, &StatusError{Status: StatusFolderSyncKey, Err: fmt.Errorf("key %d, current %d", key, st.Key)}
	}
	return st, nil
}

// advance records the device's new snapshot after its own change.
func (h *Hierarchy) advance(ctx context.Context, r *Request, st store.FolderSyncState, folders []store.HierarchyFolder) (string, error) {
	k, err := h.st.AdvanceFolderSync(ctx, r.Account.ID, r.DeviceID, st.Key, folders)
	if errors.Is(err, store.ErrConflict) {
		return "", &StatusError{Status: StatusFolderSyncKey, Err: err}
	} else if err != nil {
		return "", storeFailed(ctx, r, "folder hierarchy state", err)
	}
	return strconv.FormatUint(k, 10), nil
}

// ownFolder returns the user's folder id, or false when there is none (another user's
// folders do not exist for this one).
// targetFolder is the folder of the user's mailbox that serverID names, for FolderUpdate and
// FolderDelete; a ServerId that names none is StatusFolderNotFound.
func (h *Hierarchy) targetFolder(ctx context.Context, r *Request, serverID, what string) (store.Folder, error) {
	id, ok := parseFolderID(serverID)
	if ok && id != 0 {
		cur, found, err := h.ownFolder(ctx, r, id)
		if err != nil {
			return store.Folder{}, storeFailed(ctx, r, what, err)
		}
		if found {
			return cur, nil
		}
	}
	return store.Folder{}, &StatusError{Status: StatusFolderNotFound, Err: fmt.Errorf("folder %q", serverID)}
}

// readRequired reads a folder command's fields (readFields) and requires every one of them:
// a request without one is malformed.
func readRequired(dec *wbxml.Decoder, root wbxml.Tag, tags ...wbxml.Tag) (map[wbxml.Tag]string, error) {
	f, err := readFields(dec, root, tags...)
	if err != nil {
		return nil, malformed(err)
	}
	for _, t := range tags {
		if _, ok := f[t]; !ok {
			return nil, malformed(fmt.Errorf("%s without %s", root, t))
		}
	}
	return f, nil
}

func (h *Hierarchy) ownFolder(ctx context.Context, r *Request, id store.FolderID) (store.Folder, bool, error) {
	fs, err := h.st.Folders(ctx, r.Account.Mailbox)
	if err != nil {
		return store.Folder{}, false, err
	}
	for _, f := range fs {
		if f.ID == id {
			return f, true, nil
		}
	}
	return store.Folder{}, false, nil
}

// folderCreate serves FolderCreate (MS-ASCMD 2.2.1.3): <SyncKey>, <ParentId>, <DisplayName>,
// <Type>; the answer is Status, SyncKey and the new ServerId.
func (h *Hierarchy) folderCreate(ctx context.Context, r *Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
	f, err := readRequired(dec, wbxml.FolderHierarchyFolderCreate, wbxml.FolderHierarchySyncKey,
		wbxml.FolderHierarchyParentId, wbxml.FolderHierarchyDisplayName, wbxml.FolderHierarchyType)
	if err != nil {
		return err
	}
	typ, err := strconv.Atoi(f[wbxml.FolderHierarchyType])
	if err != nil || !store.FolderType(typ).IsUserCreatable() {
		// MS-ASCMD 2.2.3.186.2: only the user-created types 1 and 12-17 can be created.
		return malformed(fmt.Errorf("FolderCreate type %q", f[wbxml.FolderHierarchyType]))
	}
	parent, ok := parseFolderID(f[wbxml.FolderHierarchyParentId])
	if !ok {
		return &StatusError{Status: StatusFolderParentNotFound, Err: fmt.Errorf("parent %q", f[wbxml.FolderHierarchyParentId])}
	}
	st, err := h.currentState(ctx, r, f[wbxml.FolderHierarchySyncKey])
	if err != nil {
		return err
	}
	if parent != 0 {
		p, ok, err := h.ownFolder(ctx, r, parent)
		if err != nil {
			return storeFailed(ctx, r, "folder create", err)
		}
		if !ok {
			return &StatusError{Status: StatusFolderParentNotFound, Err: fmt.Errorf("parent %d", parent)}
		}
		if p.Type == store.FolderRecipientInf {
			return &StatusError{Status: StatusFolderSpecial, Err: errors.New("parent is the recipient information folder")}
		}
	}
	created, err := h.st.CreateFolder(ctx, r.Account.Mailbox, parent, f[wbxml.FolderHierarchyDisplayName], store.FolderType(typ))
	switch {
	case errors.Is(err, store.ErrExists):
		return &StatusError{Status: StatusFolderExists, Err: err}
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		return &StatusError{Status: StatusFolderParentNotFound, Err: err}
	case errors.Is(err, store.ErrInvalidArgument):
		return malformed(err)
	case err != nil:
		return storeFailed(ctx, r, "folder create", err)
	}
	// The device holds the folder it created; record it unless this client is not shown
	// folders of its kind (then the server never mentions it).
	hf := store.HierarchyFolder{ID: created.ID, Parent: created.Parent, Name: created.Name, Type: created.Type}
	snap := st.Folders
	if vis := h.clientQuirks(r).Visible(append(slices.Clone(st.Folders), hf)); len(vis) > len(st.Folders) {
		snap = vis
	}
	key, err := h.advance(ctx, r, st, snap)
	if err != nil {
		return storeFailed(ctx, r, "folder create", err)
	}
	enc.Start(wbxml.FolderHierarchyFolderCreate)
	enc.Int(wbxml.FolderHierarchyStatus, int64(StatusSuccess))
	enc.String(wbxml.FolderHierarchySyncKey, key)
	enc.String(wbxml.FolderHierarchyServerId, serverID(created.ID))
	enc.End()
	return nil
}

// folderUpdate serves FolderUpdate (MS-ASCMD 2.2.1.6): rename and/or move a user folder.
// <SyncKey>, <ServerId>, <ParentId>, <DisplayName>; the answer is Status and SyncKey.
func (h *Hierarchy) folderUpdate(ctx context.Context, r *Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
	f, err := readRequired(dec, wbxml.FolderHierarchyFolderUpdate, wbxml.FolderHierarchySyncKey,
		wbxml.FolderHierarchyServerId, wbxml.FolderHierarchyParentId, wbxml.FolderHierarchyDisplayName)
	if err != nil {
		return err
	}
	st, err := h.currentState(ctx, r, f[wbxml.FolderHierarchySyncKey])
	if err != nil {
		return err
	}
	cur, err := h.targetFolder(ctx, r, f[wbxml.FolderHierarchyServerId], "folder update")
	if err != nil {
		return err
	}
	switch {
	case cur.Type == store.FolderRecipientInf:
		return &StatusError{Status: StatusFolderSpecial, Err: errors.New("recipient information folder")}
	case cur.Type.IsDefault():
		// MS-ASCMD 2.2.3.177.6: 2, special folders cannot be updated.
		return &StatusError{Status: StatusFolderExists, Err: fmt.Errorf("default folder %d", cur.ID)}
	}
	parent, ok := parseFolderID(f[wbxml.FolderHierarchyParentId])
	if ok && parent != 0 {
		_, ok, err = h.ownFolder(ctx, r, parent)
		if err != nil {
			return storeFailed(ctx, r, "folder update", err)
		}
	}
	if !ok {
		return &StatusError{Status: StatusFolderParentNotFound, Err: fmt.Errorf("parent %q", f[wbxml.FolderHierarchyParentId])}
	}
	upd, err := h.st.RenameFolder(ctx, cur.ID, parent, f[wbxml.FolderHierarchyDisplayName])
	switch {
	case errors.Is(err, store.ErrExists):
		return &StatusError{Status: StatusFolderExists, Err: err}
	case errors.Is(err, store.ErrNotFound):
		return &StatusError{Status: StatusFolderNotFound, Err: err}
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrInvalidArgument):
		// A move under itself or a descendant, or an invalid name.
		return malformed(err)
	case err != nil:
		return storeFailed(ctx, r, "folder update", err)
	}
	snap := slices.Clone(st.Folders)
	for i := range snap {
		if snap[i].ID == upd.ID {
			snap[i].Parent, snap[i].Name = upd.Parent, upd.Name
		}
	}
	key, err := h.advance(ctx, r, st, snap)
	if err != nil {
		return storeFailed(ctx, r, "folder update", err)
	}
	enc.Start(wbxml.FolderHierarchyFolderUpdate)
	enc.Int(wbxml.FolderHierarchyStatus, int64(StatusSuccess))
	enc.String(wbxml.FolderHierarchySyncKey, key)
	enc.End()
	return nil
}

// folderDelete serves FolderDelete (MS-ASCMD 2.2.1.4): delete a user folder with its
// subfolders and contents. <SyncKey>, <ServerId>; the answer is Status and SyncKey.
func (h *Hierarchy) folderDelete(ctx context.Context, r *Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
	f, err := readRequired(dec, wbxml.FolderHierarchyFolderDelete, wbxml.FolderHierarchySyncKey, wbxml.FolderHierarchyServerId)
	if err != nil {
		return err
	}
	st, err := h.currentState(ctx, r, f[wbxml.FolderHierarchySyncKey])
	if err != nil {
		return err
	}
	cur, err := h.targetFolder(ctx, r, f[wbxml.FolderHierarchyServerId], "folder delete")
	if err != nil {
		return err
	}
	if cur.Type.IsDefault() {
		// MS-ASCMD 2.2.3.177.4: 3, a special folder cannot be deleted.
		return &StatusError{Status: StatusFolderSpecial, Err: fmt.Errorf("default folder %d", cur.ID)}
	}
	err = h.st.DeleteFolder(ctx, cur.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &StatusError{Status: StatusFolderNotFound, Err: err}
	case errors.Is(err, store.ErrConflict):
		return &StatusError{Status: StatusFolderSpecial, Err: err}
	case err != nil:
		return storeFailed(ctx, r, "folder delete", err)
	}
	// The device drops the folder and everything below it.
	gone := map[store.FolderID]bool{cur.ID: true}
	for changed := true; changed; {
		changed = false
		for _, sf := range st.Folders {
			if !gone[sf.ID] && gone[sf.Parent] {
				gone[sf.ID], changed = true, true
			}
		}
	}
	snap := slices.DeleteFunc(slices.Clone(st.Folders), func(sf store.HierarchyFolder) bool { return gone[sf.ID] })
	key, err := h.advance(ctx, r, st, snap)
	if err != nil {
		return storeFailed(ctx, r, "folder delete", err)
	}
	enc.Start(wbxml.FolderHierarchyFolderDelete)
	enc.Int(wbxml.FolderHierarchyStatus, int64(StatusSuccess))
	enc.String(wbxml.FolderHierarchySyncKey, key)
	enc.End()
	return nil
}
