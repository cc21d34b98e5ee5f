package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// DeviceAccess is an access decision to store on a partnership.
type DeviceAccess struct {
	State  string // AccessAllowed, AccessBlocked, AccessQuarantined
	Reason string // ReasonDefault, ReasonRule, ...
	By     string // who decided: "cli:alice", "admin:bob", "rule 3", "default"
	At     time.Time
}

// SetDeviceAccess stores an access decision. With keepIndividual, a
// partnership whose state an administrator set individually (or a wiped
// one) keeps it, so computed decisions (rules, lists, default) never
// override a person. It reports whether the stored state changed, which a
// caller uses to notify exactly once per transition, and returns the row.
func (s *Store) SetDeviceAccess(ctx context.Context, id PartnershipID, a DeviceAccess, keepIndividual bool) (bool, Device, error) {
	if a.At.IsZero() {
		a.At = now()
	}
	switch a.State {
	case AccessAllowed, AccessBlocked, AccessQuarantined:
	default:
		return false, Device{}, fmt.Errorf("set access of device %d: %w: state %q", id, ErrInvalidArgument, a.State)
	}
	cond := ``
	if keepIndividual {
		cond = ` AND access_reason NOT IN ('` + ReasonIndividual + `', '` + ReasonWipe + `')`
	}
	lock := ""
	if s.dialect == dialectPostgres {
		lock = " FOR UPDATE"
	}
	// Only a change is written: the RETURNING row says whether one was.
	var rows []deviceRow
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var was []string
		if err := tx.Raw(`SELECT access_state FROM devices WHERE id = ?`+lock, int64(id)).Scan(&was).Error; err != nil {
			return err
		}
		if err := tx.Raw(`UPDATE devices SET access_state = ?, access_reason = ?, access_set_by = ?, access_set_at = ?
		WHERE id = ? AND (access_state <> ? OR access_reason <> ?)`+cond+` RETURNING `+deviceCols,
			a.State, a.Reason, a.By, timestamp(a.At), int64(id), a.State, a.Reason).Scan(&rows).Error; err != nil {
			return err
		}
		// A quarantined device saw only the system notices of its Inbox
		// (ItemVisibleInQuarantine): its content sync states hold that view.
		// Leaving quarantine drops them, so the device's next Sync is told to
		// start again (status 3) and then gets every item, in the same
		// transaction as the decision so no Sync runs in between.
		if len(rows) > 0 && len(was) > 0 && was[0] == AccessQuarantined && a.State != AccessQuarantined {
			d := rows[0]
			return tx.Exec(`DELETE FROM sync_states WHERE user_id = ? AND device_id = ?`, d.UserID, d.DeviceID).Error
		}
		return nil
	})
	if err != nil {
		return false, Device{}, fmt.Errorf("set access of device %d: %w", id, err)
	}
	if len(rows) > 0 {
		return true, rows[0].device(), nil
	}
	d, err := s.DeviceByID(ctx, id)
	if err != nil {
		return false, Device{}, fmt.Errorf("set access: %w", err)
	}
	return false, d, nil
}

// RequestDeviceWipe records a wipe request (full, or account-only) by whom
// at at. A wipe already pending or done is ErrConflict.
func (s *Store) RequestDeviceWipe(ctx context.Context, id PartnershipID, accountOnly bool, by string, at time.Time) (Device, error) {
	return s.wipeStep(ctx, id, "request wipe", `wipe_state = ?, wipe_account_only = ?, wipe_requested_by = ?,
		wipe_requested_at = ?, wipe_sent_at = NULL, wipe_acked_at = NULL, wipe_ack_status = 0`,
		`wipe_state IN ('', ?)`, []any{WipeRequested, accountOnly, by, timestamp(at)}, WipeCancelled)
}

// CancelDeviceWipe cancels a requested wipe that was not yet sent;
// otherwise ErrConflict.
func (s *Store) CancelDeviceWipe(ctx context.Context, id PartnershipID) (Device, error) {
	return s.wipeStep(ctx, id, "cancel wipe", `wipe_state = ?`, `wipe_state = ?`,
		[]any{WipeCancelled}, WipeRequested)
}

// MarkDeviceWipeSent records that Provision sent the wipe directive; it
// changes a requested wipe to sent and leaves a sent one as it was (a
// device may ask again). Otherwise ErrConflict.
func (s *Store) MarkDeviceWipeSent(ctx context.Context, id PartnershipID, at time.Time) (Device, error) {
	return s.wipeStep(ctx, id, "mark wipe sent",
		`wipe_state = ?, wipe_sent_at = CASE WHEN wipe_state = ? THEN ? ELSE wipe_sent_at END`,
		`wipe_state IN (?, ?)`, []any{WipeSent, WipeRequested, timestamp(at)}, WipeRequested, WipeSent)
}

// AckDeviceWipe records the device's acknowledgement of a sent wipe with
// its status (1 wiped, 2 failed) and blocks the partnership (reason
// ReasonWipe) until it is removed. Otherwise ErrConflict.
func (s *Store) AckDeviceWipe(ctx context.Context, id PartnershipID, status int, at time.Time) (Device, error) {
	return s.wipeStep(ctx, id, "acknowledge wipe", `wipe_state = ?, wipe_acked_at = ?, wipe_ack_status = ?,
		access_state = ?, access_reason = ?, access_set_by = ?, access_set_at = ?`,
		`wipe_state IN (?, ?)`, []any{WipeAcknowledged, timestamp(at), status, AccessBlocked, ReasonWipe, "wipe",
			timestamp(at)}, WipeRequested, WipeSent)
}

func (s *Store) wipeStep(ctx context.Context, id PartnershipID, what, set, cond string, setArgs []any, condArgs ...any) (Device, error) {
	args := append(setArgs, int64(id))
	args = append(args, condArgs...)
	var rows []deviceRow
	if err := s.db.WithContext(ctx).Raw(`UPDATE devices SET `+set+` WHERE id = ? AND `+cond+` RETURNING `+deviceCols,
		args...).Scan(&rows).Error; err != nil {
		return Device{}, fmt.Errorf("%s of device %d: %w", what, id, err)
	}
	if len(rows) == 0 {
		d, err := s.DeviceByID(ctx, id)
		if err != nil {
			return Device{}, fmt.Errorf("%s: %w", what, err)
		}
		return Device{}, fmt.Errorf("%s of device %d: %w: wipe state %q", what, id, ErrConflict, d.WipeState)
	}
	return rows[0].device(), nil
}
