package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// PingFolder is one folder a device asked Ping to watch (MS-ASCMD 2.2.3.71.2 Folder (Ping):
// Id and Class).
type PingFolder struct {
	ID    FolderID `json:"i"`
	Class string   `json:"c"`
}

// PingState is what a device's last Ping asked for, kept so that a later Ping without a
// HeartbeatInterval, without Folders, or without a body at all reuses it (MS-ASCMD 3.1.5.8:
// the server MUST cache both). It survives restarts and moves between nodes with the device.
type PingState struct {
	Heartbeat int // seconds
	Folders   []PingFolder
}

// PingState returns the device's cached Ping parameters, or ErrNotFound. It reads one row
// without gorm's reflection: every Ping that repeats its parameters makes this read.
func (s *Store) PingState(ctx context.Context, user UserID, deviceID string) (PingState, error) {
	var (
		st      PingState
		folders string
	)
	err := s.db.WithContext(ctx).Raw(`SELECT heartbeat, folders FROM ping_states WHERE user_id = ? AND device_id = ?`,
		int64(user), deviceID).Row().Scan(&st.Heartbeat, &folders)
	if errors.Is(err, sql.ErrNoRows) {
		return PingState{}, fmt.Errorf("ping state of user %d device %q: %w", user, deviceID, ErrNotFound)
	} else if err != nil {
		return PingState{}, fmt.Errorf("ping state of user %d device %q: %w", user, deviceID, err)
	}
	if err := json.Unmarshal([]byte(folders), &st.Folders); err != nil {
		return PingState{}, fmt.Errorf("ping state of user %d device %q: %w", user, deviceID, err)
	}
	return st, nil
}

// SetPingState stores the device's Ping parameters, replacing earlier ones.
func (s *Store) SetPingState(ctx context.Context, user UserID, deviceID string, st PingState) error {
	if err := validDeviceID(deviceID); err != nil {
		return fmt.Errorf("set ping state: %w", err)
	}
	folders, err := json.Marshal(st.Folders)
	if err != nil {
		return fmt.Errorf("set ping state: %w", err)
	}
	if err := s.db.WithContext(ctx).Exec(`INSERT INTO ping_states (user_id, device_id, heartbeat, folders, updated_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (user_id, device_id) DO UPDATE SET heartbeat = excluded.heartbeat, folders = excluded.folders, updated_at = excluded.updated_at`,
		int64(user), deviceID, st.Heartbeat, string(folders), timestamp(now())).Error; err != nil {
		return fmt.Errorf("set ping state of user %d device %q: %w", user, deviceID, err)
	}
	return nil
}

// FolderMark is a folder as Ping compares it: its place in the hierarchy and the modseq of
// its last change.
type FolderMark struct {
	HierarchyFolder
	ModSeq int64
}

// FolderMarks returns the mailbox's folders sorted by ID with their modseqs, read without
// gorm's reflection: what a Ping reads when it starts and, once for all the Pings waiting on
// the mailbox, after each change.
func (s *Store) FolderMarks(ctx context.Context, mb MailboxID) ([]FolderMark, error) {
	rows, err := s.db.WithContext(ctx).Raw(`SELECT id, parent_id, name, type, modseq FROM folders WHERE mailbox_id = ? ORDER BY id`, int64(mb)).Rows()
	if err != nil {
		return nil, fmt.Errorf("folder marks of mailbox %d: %w", mb, err)
	}
	defer rows.Close()
	out := make([]FolderMark, 0, 16)
	for rows.Next() {
		var (
			f            FolderMark
			id, par, typ int64
		)
		if err := rows.Scan(&id, &par, &f.Name, &typ, &f.ModSeq); err != nil {
			return nil, fmt.Errorf("folder marks of mailbox %d: %w", mb, err)
		}
		f.ID, f.Parent, f.Type = FolderID(id), FolderID(par), FolderType(typ)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("folder marks of mailbox %d: %w", mb, err)
	}
	return out, nil
}
