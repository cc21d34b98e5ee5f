package store

import (
	"context"
	"encoding/json"
	"fmt"

	"gorm.io/gorm/clause"
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

// PingState returns the device's cached Ping parameters, or ErrNotFound.
func (s *Store) PingState(ctx context.Context, user UserID, deviceID string) (PingState, error) {
	var rows []struct {
		Heartbeat int
		Folders   string
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT heartbeat, folders FROM ping_states WHERE user_id = ? AND device_id = ?`,
		int64(user), deviceID).Scan(&rows).Error; err != nil {
		return PingState{}, fmt.Errorf("ping state of user %d device %q: %w", user, deviceID, err)
	}
	if len(rows) == 0 {
		return PingState{}, fmt.Errorf("ping state of user %d device %q: %w", user, deviceID, ErrNotFound)
	}
	st := PingState{Heartbeat: rows[0].Heartbeat}
	if err := json.Unmarshal([]byte(rows[0].Folders), &st.Folders); err != nil {
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
	row := map[string]any{"user_id": int64(user), "device_id": deviceID, "heartbeat": st.Heartbeat,
		"folders": string(folders), "updated_at": timestamp(now())}
	if err := s.db.WithContext(ctx).Table("ping_states").Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "user_id"}, {Name: "device_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"heartbeat", "folders", "updated_at"}),
	}).Create(row).Error; err != nil {
		return fmt.Errorf("set ping state of user %d device %q: %w", user, deviceID, err)
	}
	return nil
}
