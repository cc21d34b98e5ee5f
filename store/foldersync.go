package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gorm.io/gorm"
)

// HierarchyFolder is one folder as a device holds it after a FolderSync:
// the fields MS-ASCMD 2.2.1.5 FolderSync sends (ServerId, ParentId,
// DisplayName, Type).
type HierarchyFolder struct {
	ID     FolderID   `json:"i"`
	Parent FolderID   `json:"p"`
	Name   string     `json:"n"`
	Type   FolderType `json:"t"`
}

// HierarchyOf returns the hierarchy view of folders, sorted by ID.
func HierarchyOf(folders []Folder) []HierarchyFolder {
	out := make([]HierarchyFolder, len(folders))
	for i, f := range folders {
		out[i] = HierarchyFolder{ID: f.ID, Parent: f.Parent, Name: f.Name, Type: f.Type}
	}
	slices.SortFunc(out, func(a, b HierarchyFolder) int { return int(a.ID - b.ID) })
	return out
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

func encodeHierarchy(fs []HierarchyFolder) (string, error) {
	if fs == nil {
		fs = []HierarchyFolder{}
	}
	b, err := json.Marshal(fs)
	if err != nil {
		return "", fmt.Errorf("encode hierarchy: %w", err)
	}
	return string(b), nil
}

func decodeHierarchy(s string) ([]HierarchyFolder, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var fs []HierarchyFolder
	if err := json.Unmarshal([]byte(s), &fs); err != nil {
		return nil, fmt.Errorf("decode hierarchy snapshot: %w", err)
	}
	return fs, nil
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
	slices.SortFunc(folders, func(a, b HierarchyFolder) int { return int(a.ID - b.ID) })
	snap, err := encodeHierarchy(folders)
	if err != nil {
		return 0, err
	}
	var key uint64
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cur, err := folderSyncState(tx, user, deviceID)
		if errors.Is(err, ErrNotFound) {
			if from != 0 {
				return err
			}
			key = 1
			return tx.Exec(`INSERT INTO folder_sync_states (user_id, device_id, sync_key, folders, prev_key, prev_folders, updated_at)
				VALUES (?, ?, ?, ?, 0, '', ?)`, int64(user), deviceID, int64(key), snap, timestamp(now())).Error
		} else if err != nil {
			return err
		}
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
