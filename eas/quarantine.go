package eas

import "github.com/easd/easd/store"

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
