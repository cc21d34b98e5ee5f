package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// ErrCorruptState: a stored sync state does not decode. The device should
// start over (FolderSync 0), which replaces it.
var ErrCorruptState = errors.New("store: corrupt sync state")

// HierarchyFolder is one folder as a device holds it after a FolderSync:
// the fields MS-ASCMD 2.2.1.5 FolderSync sends (ServerId, ParentId,
// DisplayName, Type).
type HierarchyFolder struct {
	ID     FolderID
	Parent FolderID
	Name   string
	Type   FolderType
}

// HierarchyOf returns the hierarchy view of folders, sorted by ID.
func HierarchyOf(folders []Folder) []HierarchyFolder {
	out := make([]HierarchyFolder, len(folders))
	for i, f := range folders {
		out[i] = HierarchyFolder{ID: f.ID, Parent: f.Parent, Name: f.Name, Type: f.Type}
	}
	slices.SortFunc(out, byID)
	return out
}

// HierarchyFolders returns the mailbox's folders as a device sees them in a
// FolderSync, sorted by ID: Folders without the IMAP columns, read without
// gorm's reflection, which dominates the cost of an unchanged FolderSync.
func (s *Store) HierarchyFolders(ctx context.Context, mb MailboxID) ([]HierarchyFolder, error) {
	rows, err := s.db.WithContext(ctx).Raw(`SELECT id, parent_id, name, type FROM folders WHERE mailbox_id = ? ORDER BY id`, int64(mb)).Rows()
	if err != nil {
		return nil, fmt.Errorf("hierarchy of mailbox %d: %w", mb, err)
	}
	defer rows.Close()
	var out []HierarchyFolder
	for rows.Next() {
		var (
			f       HierarchyFolder
			id, par int64
			typ     int64
		)
		if err := rows.Scan(&id, &par, &f.Name, &typ); err != nil {
			return nil, fmt.Errorf("hierarchy of mailbox %d: %w", mb, err)
		}
		f.ID, f.Parent, f.Type = FolderID(id), FolderID(par), FolderType(typ)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hierarchy of mailbox %d: %w", mb, err)
	}
	return out, nil
}

// FolderSyncState is the folder hierarchy sync state of one device of one
// user. A FolderSync key names an immutable snapshot of what the device
// holds: Key names Folders. PrevKey names PrevFolders, the snapshot before
// the last change, kept so that a device that resends PrevKey (the
// response was lost) gets the same answer again; PrevKey 0 means there is
// none. Keys only grow, across resets too, so a key of an earlier
// generation never names a later snapshot.
type FolderSyncState struct {
	Key         uint64
	Folders     []HierarchyFolder // sorted by ID
	PrevKey     uint64
	PrevFolders []HierarchyFolder // sorted by ID
}

type folderSyncRow struct {
	SyncKey     int64
	Folders     string
	PrevKey     int64
	PrevFolders string
}

func validDeviceID(deviceID string) error {
	if deviceID == "" || len(deviceID) > 128 {
		return fmt.Errorf("%w: device id %q", ErrInvalidArgument, deviceID)
	}
	return nil
}

// FolderSyncState returns the device's hierarchy sync state, or ErrNotFound
// when the device has never synchronised its hierarchy.
func (s *Store) FolderSyncState(ctx context.Context, user UserID, deviceID string) (FolderSyncState, error) {
	st, err := folderSyncState(s.db.WithContext(ctx), user, deviceID)
	if err != nil {
		return FolderSyncState{}, fmt.Errorf("folder sync state of user %d device %q: %w", user, deviceID, err)
	}
	return st, nil
}

func folderSyncState(tx *gorm.DB, user UserID, deviceID string) (FolderSyncState, error) {
	var rows []folderSyncRow
	if err := tx.Raw(`SELECT sync_key, folders, prev_key, prev_folders FROM folder_sync_states
		WHERE user_id = ? AND device_id = ?`, int64(user), deviceID).Scan(&rows).Error; err != nil {
		return FolderSyncState{}, err
	}
	if len(rows) == 0 {
		return FolderSyncState{}, ErrNotFound
	}
	r := rows[0]
	st := FolderSyncState{Key: uint64(r.SyncKey), PrevKey: uint64(r.PrevKey)}
	var err error
	if st.Folders, err = decodeHierarchy(r.Folders); err != nil {
		return FolderSyncState{}, err
	}
	if st.PrevFolders, err = decodeHierarchy(r.PrevFolders); err != nil {
		return FolderSyncState{}, err
	}
	return st, nil
}

// encodeHierarchy writes a snapshot as one line per folder,
// "id<TAB>parent<TAB>type<TAB>name<LF>": folder names never hold CR, LF or
// NUL (validFolderName), and the name comes last so a TAB in it is kept.
func encodeHierarchy(fs []HierarchyFolder) (string, error) {
	b := make([]byte, 0, len(fs)*24)
	for _, f := range fs {
		if strings.ContainsAny(f.Name, "\r\n") {
			return "", fmt.Errorf("encode hierarchy: %w: folder name %q", ErrInvalidArgument, f.Name)
		}
		b = strconv.AppendInt(b, int64(f.ID), 10)
		b = append(b, '\t')
		b = strconv.AppendInt(b, int64(f.Parent), 10)
		b = append(b, '\t')
		b = strconv.AppendInt(b, int64(f.Type), 10)
		b = append(b, '\t')
		b = append(b, f.Name...)
		b = append(b, '\n')
	}
	return string(b), nil
}

func decodeHierarchy(s string) ([]HierarchyFolder, error) {
	if s == "" {
		return nil, nil
	}
	out := make([]HierarchyFolder, 0, strings.Count(s, "\n"))
	for line := range strings.SplitSeq(strings.TrimSuffix(s, "\n"), "\n") {
		id, rest, ok1 := strings.Cut(line, "\t")
		par, rest, ok2 := strings.Cut(rest, "\t")
		typ, name, ok3 := strings.Cut(rest, "\t")
		i, err1 := strconv.ParseInt(id, 10, 64)
		p, err2 := strconv.ParseInt(par, 10, 64)
		t, err3 := strconv.Atoi(typ)
		if !ok1 || !ok2 || !ok3 || err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("%w: hierarchy snapshot line %q", ErrCorruptState, line)
		}
		out = append(out, HierarchyFolder{ID: FolderID(i), Parent: FolderID(p), Type: FolderType(t), Name: name})
	}
	return out, nil
}

// AdvanceFolderSync records a new snapshot for the device and returns its
// key. from is the key the device sent: 0 starts over (the previous
// snapshot is dropped, so an old key no longer works), otherwise it must
// be the current key, whose snapshot becomes the previous one. A from that
// is not the current key (another request advanced the state meanwhile,
// or the key is unknown) fails with ErrConflict and changes nothing; with
// from != 0 and no state at all, ErrNotFound.
func (s *Store) AdvanceFolderSync(ctx context.Context, user UserID, deviceID string, from uint64, folders []HierarchyFolder) (uint64, error) {
	if err := validDeviceID(deviceID); err != nil {
		return 0, fmt.Errorf("advance folder sync: %w", err)
	}
	folders = slices.Clone(folders)
	slices.SortFunc(folders, byID)
	snap, err := encodeHierarchy(folders)
	if err != nil {
		return 0, err
	}
	var key uint64
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Only the key is read: a snapshot that no longer decodes can still be
		// replaced by starting over.
		var keys []int64
		if err := tx.Raw(`SELECT sync_key FROM folder_sync_states WHERE user_id = ? AND device_id = ?`,
			int64(user), deviceID).Scan(&keys).Error; err != nil {
			return err
		}
		if len(keys) == 0 {
			if from != 0 {
				return ErrNotFound
			}
			key = 1
			return tx.Exec(`INSERT INTO folder_sync_states (user_id, device_id, sync_key, folders, prev_key, prev_folders, updated_at)
				VALUES (?, ?, ?, ?, 0, '', ?)`, int64(user), deviceID, int64(key), snap, timestamp(now())).Error
		}
		cur := FolderSyncState{Key: uint64(keys[0])}
		key = cur.Key + 1
		if from == 0 {
			return tx.Exec(`UPDATE folder_sync_states SET sync_key = ?, folders = ?, prev_key = 0, prev_folders = '', updated_at = ?
				WHERE user_id = ? AND device_id = ?`, int64(key), snap, timestamp(now()), int64(user), deviceID).Error
		}
		if from != cur.Key {
			return fmt.Errorf("%w: key %d is not the current key", ErrConflict, from)
		}
		// The compare-and-set on sync_key keeps the check above valid on
		// PostgreSQL, where two requests of one device may race.
		res := tx.Exec(`UPDATE folder_sync_states SET sync_key = ?, folders = ?, prev_key = sync_key, prev_folders = folders, updated_at = ?
			WHERE user_id = ? AND device_id = ? AND sync_key = ?`, int64(key), snap, timestamp(now()), int64(user), deviceID, int64(from))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("%w: key %d was advanced concurrently", ErrConflict, from)
		}
		return nil
	})
	if isDuplicate(err) {
		// Two first FolderSyncs of one device raced; the other won.
		return 0, fmt.Errorf("advance folder sync of user %d device %q: %w", user, deviceID, ErrConflict)
	} else if err != nil {
		return 0, fmt.Errorf("advance folder sync of user %d device %q from %d: %w", user, deviceID, from, err)
	}
	return key, nil
}

// DeleteFolderSyncState forgets the device's hierarchy state (the device was
// removed); its next FolderSync must start at 0. Deleting a state that
// does not exist is not an error.
func (s *Store) DeleteFolderSyncState(ctx context.Context, user UserID, deviceID string) error {
	if err := s.db.WithContext(ctx).Exec(`DELETE FROM folder_sync_states WHERE user_id = ? AND device_id = ?`,
		int64(user), deviceID).Error; err != nil {
		return fmt.Errorf("delete folder sync state of user %d device %q: %w", user, deviceID, err)
	}
	return nil
}

func byID(a, b HierarchyFolder) int { return cmp.Compare(a.ID, b.ID) }
