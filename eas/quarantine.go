package eas

import (
	"context"

	"github.com/easd/easd/store"
)

// collectionAllowed reports whether the device of r may see folder: always, except that a
// quarantined device sees only its Inbox (issue 6; Exchange's quarantine shows the Inbox
// with the message that explains the wait). Sync calls it for every collection of a
// request and answers a refused one with the collection status for an unknown folder, as
// if the folder did not exist for this device; FolderSync hides the rest (visibleFolders).
func collectionAllowed(r *Request, folder store.Folder) bool {
	return r.Access != store.AccessQuarantined || folder.Type == store.FolderInbox
}

// quarantineView keeps of fs only what a quarantined device may see: the Inbox. When the
// device is approved, the next FolderSync diffs the snapshot (Inbox only) against all
// folders, so the others come as Adds.
func quarantineView(r *Request, fs []store.HierarchyFolder) []store.HierarchyFolder {
	if r.Access != store.AccessQuarantined {
		return fs
	}
	out := make([]store.HierarchyFolder, 0, 1)
	for _, f := range fs {
		if f.Type == store.FolderInbox {
			f.Parent = 0
			out = append(out, f)
		}
	}
	return out
}

// noticeStore is the optional capability of a store (*store.Store has it) that tells which
// items are easd's own notices (store.DeliverNotice).
type noticeStore interface {
	NoticeItems(ctx context.Context, folder store.FolderID) (map[store.ItemID]bool, error)
}

// visibleItems returns the items of folder a quarantined device may see: only the notices,
// the message that explains the wait among them (Exchange shows a quarantined device
// nothing else; the rest of the Inbox is what the quarantine protects). Nil, for any other
// device: every item. A store that cannot tell notices apart shows a quarantined device
// nothing. Approval drops the device's content sync states (store.SetDeviceAccess), so its
// next Sync starts again and gets every item.
func visibleItems(ctx context.Context, st any, r *Request, folder store.Folder) (map[store.ItemID]bool, error) {
	if r.Access != store.AccessQuarantined {
		return nil, nil
	}
	ns, ok := st.(noticeStore)
	if !ok {
		return map[store.ItemID]bool{}, nil
	}
	return ns.NoticeItems(ctx, folder.ID)
}
