package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Reads for EAS Sync and GetItemEstimate: the current state of the items a
// round of changes touched, and the filter window (FilterType) over a
// folder.

// maxInList bounds the IDs of one IN (...) list.
const maxInList = 500

// ItemsByID returns the items among ids that still exist, in no particular
// order; missing IDs are left out (deleted meanwhile), not an error.
func (s *Store) ItemsByID(ctx context.Context, ids []ItemID) ([]Item, error) {
	out := make([]Item, 0, len(ids))
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxInList)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = int64(id)
		}
		var rows []itemRow
		q := `SELECT ` + itemCols + ` FROM items WHERE id IN (?` + strings.Repeat(",?", len(chunk)-1) + `)`
		if err := s.db.WithContext(ctx).Raw(q, args...).Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("items by id: %w", err)
		}
		for _, r := range rows {
			out = append(out, r.item())
		}
	}
	return out, nil
}

// ItemsWindow returns up to limit items of folder with afterUID < UID <
// beforeUID that were received at or after since (zero: any time),
// ordered by UID: a page of a Sync's initial load within its filter
// window.
func (s *Store) ItemsWindow(ctx context.Context, folder FolderID, afterUID, beforeUID uint32, since time.Time, limit int) ([]Item, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("items window of folder %d: %w: limit %d", folder, ErrInvalidArgument, limit)
	}
	var rows []itemRow
	err := s.db.WithContext(ctx).Raw(`SELECT `+itemCols+` FROM items WHERE folder_id = ? AND uid > ? AND uid < ? AND received >= ?
		ORDER BY uid LIMIT ?`, int64(folder), int64(afterUID), int64(beforeUID), timestamp(since), limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("items window of folder %d: %w", folder, err)
	}
	out := make([]Item, len(rows))
	for i, r := range rows {
		out[i] = r.item()
	}
	return out, nil
}

// CountItemsWindow counts the items ItemsWindow would return without a
// limit.
func (s *Store) CountItemsWindow(ctx context.Context, folder FolderID, afterUID, beforeUID uint32, since time.Time) (int, error) {
	var n []int64
	err := s.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM items WHERE folder_id = ? AND uid > ? AND uid < ? AND received >= ?`,
		int64(folder), int64(afterUID), int64(beforeUID), timestamp(since)).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count items of folder %d: %w", folder, err)
	}
	if len(n) == 0 {
		return 0, nil
	}
	return int(n[0]), nil
}

// ItemIDsReceivedBefore returns the IDs of the items of folder received
// before t, ordered by ID: what leaves a Sync filter window.
func (s *Store) ItemIDsReceivedBefore(ctx context.Context, folder FolderID, t time.Time) ([]ItemID, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`SELECT id FROM items WHERE folder_id = ? AND received < ? ORDER BY id`,
		int64(folder), timestamp(t)).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("items of folder %d received before %s: %w", folder, t, err)
	}
	out := make([]ItemID, len(ids))
	for i, id := range ids {
		out[i] = ItemID(id)
	}
	return out, nil
}

// ItemBodies returns the stored bytes of the items among ids that still
// exist, by ID: ItemBody for a whole Sync window in one query per 500.
func (s *Store) ItemBodies(ctx context.Context, ids []ItemID) (map[ItemID][]byte, error) {
	out := make(map[ItemID][]byte, len(ids))
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxInList)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = int64(id)
		}
		var rows []struct {
			ID   int64
			Data []byte
		}
		q := `SELECT i.id, b.data FROM items i JOIN blobs b ON b.hash = i.blob_hash WHERE i.id IN (?` + strings.Repeat(",?", len(chunk)-1) + `)`
		if err := s.db.WithContext(ctx).Raw(q, args...).Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("item bodies: %w", err)
		}
		for _, r := range rows {
			if r.Data == nil {
				r.Data = []byte{}
			}
			out[ItemID(r.ID)] = r.Data
		}
	}
	return out, nil
}
