package store

import (
	"context"
	"fmt"
)

// SyncState is the content sync state of one collection (folder) for one
// device, as EAS Sync keeps it: the current snapshot and the previous one,
// with what the last round did, so that a resent previous key can be
// answered again. The store does not look inside the snapshots: their
// encoding belongs to the eas package, which packs the item-ID sets as
// sorted deltas (one row per collection, never one per item).
//
// Counter is the number of the current key and PrevCounter that of the
// previous one (0: none); Generation changes whenever the device starts
// over with key 0, so keys of an earlier generation never match.
type SyncState struct {
	Generation  string
	Counter     uint64
	State       []byte // snapshot named by Counter
	PrevCounter uint64
	PrevState   []byte // snapshot named by PrevCounter
	Round       []byte // what the round PrevCounter → Counter did (client adds, statuses)
	// Version is set by SyncState and PutSyncState; PutSyncState writes only
	// over the version it was given (optimistic concurrency).
	Version int64
}

// SyncState returns the device's state for collection, or ErrNotFound.
// Empty snapshots and rounds read back as nil on both databases.
// collection is the device's name for it (the CollectionId); the empty
// name is free for per-device data such as a cached Sync request.
func (s *Store) SyncState(ctx context.Context, user UserID, deviceID, collection string) (SyncState, error) {
	var rows []struct {
		Generation  string
		Counter     int64
		State       []byte
		PrevCounter int64
		PrevState   []byte
		Round       []byte
		Version     int64
	}
	err := s.db.WithContext(ctx).Raw(`SELECT generation, counter, state, prev_counter, prev_state, round, version
		FROM sync_states WHERE user_id = ? AND device_id = ? AND collection = ?`, int64(user), deviceID, collection).Scan(&rows).Error
	if err != nil {
		return SyncState{}, fmt.Errorf("sync state of user %d device %q collection %q: %w", user, deviceID, collection, err)
	}
	if len(rows) == 0 {
		return SyncState{}, fmt.Errorf("sync state of user %d device %q collection %q: %w", user, deviceID, collection, ErrNotFound)
	}
	r := rows[0]
	nilIfEmpty := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		return b
	}
	r.State, r.PrevState, r.Round = nilIfEmpty(r.State), nilIfEmpty(r.PrevState), nilIfEmpty(r.Round)
	return SyncState{Generation: r.Generation, Counter: uint64(r.Counter), State: r.State, PrevCounter: uint64(r.PrevCounter),
		PrevState: r.PrevState, Round: r.Round, Version: r.Version}, nil
}

// PutSyncState writes st. With st.Version 0 it creates the state or
// replaces whatever is there (a device starting over with key 0);
// otherwise it writes only if the stored version is still st.Version and
// fails with ErrConflict when another request wrote in between (or the
// state was deleted). It returns st with its new Version.
func (s *Store) PutSyncState(ctx context.Context, user UserID, deviceID, collection string, st SyncState) (SyncState, error) {
	if err := validDeviceID(deviceID); err != nil {
		return st, fmt.Errorf("put sync state: %w", err)
	}
	nz := func(b []byte) []byte {
		if b == nil {
			return []byte{}
		}
		return b
	}
	db := s.db.WithContext(ctx)
	t := timestamp(now())
	if st.Version == 0 {
		var v []int64
		err := db.Raw(`INSERT INTO sync_states (user_id, device_id, collection, generation, counter, state, prev_counter, prev_state, round, version, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)
			ON CONFLICT (user_id, device_id, collection) DO UPDATE SET generation = excluded.generation, counter = excluded.counter,
			state = excluded.state, prev_counter = excluded.prev_counter, prev_state = excluded.prev_state, round = excluded.round,
			version = sync_states.version + 1, updated_at = excluded.updated_at
			RETURNING version`,
			int64(user), deviceID, collection, st.Generation, int64(st.Counter), nz(st.State), int64(st.PrevCounter), nz(st.PrevState), nz(st.Round), t).
			Scan(&v).Error
		if err != nil {
			return st, fmt.Errorf("put sync state of user %d device %q collection %q: %w", user, deviceID, collection, err)
		}
		if len(v) == 1 {
			st.Version = v[0]
		}
		return st, nil
	}
	res := db.Exec(`UPDATE sync_states SET generation = ?, counter = ?, state = ?, prev_counter = ?, prev_state = ?, round = ?,
		version = version + 1, updated_at = ? WHERE user_id = ? AND device_id = ? AND collection = ? AND version = ?`,
		st.Generation, int64(st.Counter), nz(st.State), int64(st.PrevCounter), nz(st.PrevState), nz(st.Round), t,
		int64(user), deviceID, collection, st.Version)
	if res.Error != nil {
		return st, fmt.Errorf("put sync state of user %d device %q collection %q: %w", user, deviceID, collection, res.Error)
	}
	if res.RowsAffected == 0 {
		return st, fmt.Errorf("put sync state of user %d device %q collection %q: %w: version %d is stale", user, deviceID, collection, ErrConflict, st.Version)
	}
	st.Version++
	return st, nil
}

// DeleteSyncStates removes every content sync state of a device (the
// device was removed or wiped, or its hierarchy started over).
func (s *Store) DeleteSyncStates(ctx context.Context, user UserID, deviceID string) error {
	if err := s.db.WithContext(ctx).Exec(`DELETE FROM sync_states WHERE user_id = ? AND device_id = ?`, int64(user), deviceID).Error; err != nil {
		return fmt.Errorf("delete sync states of user %d device %q: %w", user, deviceID, err)
	}
	return nil
}
