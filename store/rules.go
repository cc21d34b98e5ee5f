package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// RuleID is the database key of a device access rule.
type RuleID int64

// Fields a device access rule can match.
const (
	RuleFieldDeviceType = "device-type"
	RuleFieldModel      = "model"
	RuleFieldOS         = "os"
	RuleFieldUserAgent  = "user-agent"
)

// How a rule's pattern matches the field.
const (
	RuleMatchExact  = "exact"
	RuleMatchPrefix = "prefix"
)

// DeviceRule is a device access rule: when Field of a device matches
// Pattern (exactly, or as a prefix), its access state is Action (one of the
// Access constants).
type DeviceRule struct {
	ID        RuleID
	Field     string
	Match     string
	Pattern   string
	Action    string
	CreatedBy string
	CreatedAt time.Time
}

// Valid checks the rule's field, match kind, pattern and action; errors wrap
// ErrInvalidArgument.
func (r DeviceRule) Valid() error {
	switch r.Field {
	case RuleFieldDeviceType, RuleFieldModel, RuleFieldOS, RuleFieldUserAgent:
	default:
		return fmt.Errorf("%w: rule field %q (want device-type, model, os or user-agent)", ErrInvalidArgument, r.Field)
	}
	switch r.Match {
	case RuleMatchExact, RuleMatchPrefix:
	default:
		return fmt.Errorf("%w: rule match %q (want exact or prefix)", ErrInvalidArgument, r.Match)
	}
	if strings.TrimSpace(r.Pattern) == "" || len(r.Pattern) > maxDeviceField {
		return fmt.Errorf("%w: rule pattern must be 1 to %d characters", ErrInvalidArgument, maxDeviceField)
	}
	switch r.Action {
	case AccessAllowed, AccessBlocked, AccessQuarantined:
	default:
		return fmt.Errorf("%w: rule action %q (want allowed, blocked or quarantined)", ErrInvalidArgument, r.Action)
	}
	return nil
}

type ruleRow struct {
	ID        int64
	Field     string
	MatchKind string
	Pattern   string
	Action    string
	CreatedBy string
	CreatedAt timestamp
}

// AddDeviceRule stores a rule; a rule with the same field, match and
// pattern is ErrConflict.
func (s *Store) AddDeviceRule(ctx context.Context, r DeviceRule) (DeviceRule, error) {
	if err := r.Valid(); err != nil {
		return DeviceRule{}, fmt.Errorf("add device rule: %w", err)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now()
	}
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`INSERT INTO device_rules (field, match_kind, pattern, action, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, r.Field, r.Match, r.Pattern, r.Action, r.CreatedBy,
		timestamp(r.CreatedAt)).Scan(&ids).Error
	if isDuplicate(err) {
		return DeviceRule{}, fmt.Errorf("add device rule: %w: %s %s %q exists", ErrConflict, r.Field, r.Match, r.Pattern)
	} else if err != nil {
		return DeviceRule{}, fmt.Errorf("add device rule: %w", err)
	}
	r.ID = RuleID(ids[0])
	return r, nil
}

// DeviceRules returns every rule, oldest first.
func (s *Store) DeviceRules(ctx context.Context) ([]DeviceRule, error) {
	var rows []ruleRow
	if err := s.db.WithContext(ctx).Raw(`SELECT id, field, match_kind, pattern, action, created_by, created_at
		FROM device_rules ORDER BY id`).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list device rules: %w", err)
	}
	out := make([]DeviceRule, len(rows))
	for i, r := range rows {
		out[i] = DeviceRule{ID: RuleID(r.ID), Field: r.Field, Match: r.MatchKind, Pattern: r.Pattern,
			Action: r.Action, CreatedBy: r.CreatedBy, CreatedAt: timeOf(r.CreatedAt)}
	}
	return out, nil
}

// RemoveDeviceRule deletes a rule, or returns ErrNotFound.
func (s *Store) RemoveDeviceRule(ctx context.Context, id RuleID) error {
	res := s.db.WithContext(ctx).Exec(`DELETE FROM device_rules WHERE id = ?`, int64(id))
	if res.Error != nil {
		return fmt.Errorf("remove device rule %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("remove device rule %d: %w", id, ErrNotFound)
	}
	return nil
}

// SetUserDeviceList puts a DeviceId on the user's allow list (action
// AccessAllowed) or block list (AccessBlocked); action "" takes it off.
func (s *Store) SetUserDeviceList(ctx context.Context, user UserID, deviceID, action, by string) error {
	var err error
	switch action {
	case "":
		err = s.db.WithContext(ctx).Exec(`DELETE FROM user_device_lists WHERE user_id = ? AND device_id = ?`,
			int64(user), deviceID).Error
	case AccessAllowed, AccessBlocked:
		err = s.db.WithContext(ctx).Exec(`INSERT INTO user_device_lists (user_id, device_id, action, created_by, created_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, device_id) DO UPDATE SET action = excluded.action,
			created_by = excluded.created_by, created_at = excluded.created_at`,
			int64(user), deviceID, action, by, timestamp(now())).Error
	default:
		return fmt.Errorf("set device list of user %d: %w: action %q", user, ErrInvalidArgument, action)
	}
	if isForeignKeyViolation(err) {
		return fmt.Errorf("set device list of user %d: %w", user, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("set device list of user %d: %w", user, err)
	}
	return nil
}

// UserDeviceList returns what the user's lists say about deviceID:
// AccessAllowed, AccessBlocked or "" (on neither).
func (s *Store) UserDeviceList(ctx context.Context, user UserID, deviceID string) (string, error) {
	var actions []string
	if err := s.db.WithContext(ctx).Raw(`SELECT action FROM user_device_lists WHERE user_id = ? AND device_id = ?`,
		int64(user), deviceID).Scan(&actions).Error; err != nil {
		return "", fmt.Errorf("device list of user %d: %w", user, err)
	}
	if len(actions) == 0 {
		return "", nil
	}
	return actions[0], nil
}
