package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// PolicyID is the database key of a mobile device mailbox policy.
type PolicyID int64

// PolicyRecord is a stored mobile device mailbox policy. The store keeps
// the settings as opaque JSON text; package policy gives them meaning.
// Version starts at 1 and grows by one on every change of the settings, so
// a device that acknowledged an older version must provision again.
type PolicyRecord struct {
	ID        PolicyID
	Name      string
	Version   int64
	Settings  string // JSON object; "{}" means every default
	IsDefault bool   // the policy of users without an assignment; exactly one
	CreatedAt time.Time
	UpdatedAt time.Time
}

type policyRow struct {
	ID        int64
	Name      string
	Version   int64
	Settings  string
	IsDefault bool
	CreatedAt timestamp
	UpdatedAt timestamp
}

func (r policyRow) record() PolicyRecord {
	return PolicyRecord{ID: PolicyID(r.ID), Name: r.Name, Version: r.Version, Settings: r.Settings,
		IsDefault: r.IsDefault, CreatedAt: timeOf(r.CreatedAt), UpdatedAt: timeOf(r.UpdatedAt)}
}

const policyCols = `p.id, p.name, p.version, p.settings, p.is_default, p.created_at, p.updated_at`

func policyName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if n == "" || len(n) > 256 || strings.ContainsAny(n, "\x00\r\n") {
		return "", fmt.Errorf("%w: policy name %q", ErrInvalidArgument, name)
	}
	return n, nil
}

func (s *Store) policyWhere(ctx context.Context, what, where string, args ...any) (PolicyRecord, error) {
	var rows []policyRow
	if err := s.db.WithContext(ctx).Raw(`SELECT `+policyCols+` FROM policies p WHERE `+where, args...).Scan(&rows).Error; err != nil {
		return PolicyRecord{}, fmt.Errorf("policy %s: %w", what, err)
	}
	if len(rows) == 0 {
		return PolicyRecord{}, fmt.Errorf("policy %s: %w", what, ErrNotFound)
	}
	return rows[0].record(), nil
}

// CreatePolicy stores a new, non-default policy at version 1. Errors:
// ErrInvalidArgument (empty name), ErrExists (name taken).
func (s *Store) CreatePolicy(ctx context.Context, name, settings string) (PolicyRecord, error) {
	n, err := policyName(name)
	if err != nil {
		return PolicyRecord{}, fmt.Errorf("create policy: %w", err)
	}
	if settings == "" {
		settings = "{}"
	}
	t := timestamp(now())
	var id int64
	err = s.db.WithContext(ctx).Raw(`INSERT INTO policies (name, version, settings, is_default, created_at, updated_at)
		VALUES (?, 1, ?, FALSE, ?, ?) RETURNING id`, n, settings, t, t).Scan(&id).Error
	if isDuplicate(err) {
		return PolicyRecord{}, fmt.Errorf("create policy %q: %w", n, ErrExists)
	} else if err != nil {
		return PolicyRecord{}, fmt.Errorf("create policy %q: %w", n, err)
	}
	return s.PolicyByID(ctx, PolicyID(id))
}

// UpdatePolicy replaces a policy's settings and increments its version.
func (s *Store) UpdatePolicy(ctx context.Context, id PolicyID, settings string) (PolicyRecord, error) {
	if settings == "" {
		settings = "{}"
	}
	res := s.db.WithContext(ctx).Exec(`UPDATE policies SET settings = ?, version = version + 1, updated_at = ? WHERE id = ?`,
		settings, timestamp(now()), int64(id))
	if res.Error != nil {
		return PolicyRecord{}, fmt.Errorf("update policy %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return PolicyRecord{}, fmt.Errorf("update policy %d: %w", id, ErrNotFound)
	}
	return s.PolicyByID(ctx, id)
}

// PolicyByID returns a policy, or ErrNotFound.
func (s *Store) PolicyByID(ctx context.Context, id PolicyID) (PolicyRecord, error) {
	return s.policyWhere(ctx, fmt.Sprint(id), `p.id = ?`, int64(id))
}

// PolicyByName returns a policy by its exact name, or ErrNotFound.
func (s *Store) PolicyByName(ctx context.Context, name string) (PolicyRecord, error) {
	return s.policyWhere(ctx, fmt.Sprintf("%q", name), `p.name = ?`, strings.TrimSpace(name))
}

// DefaultPolicy returns the default policy (migration 2 creates it as
// "Default", allowing everything).
func (s *Store) DefaultPolicy(ctx context.Context) (PolicyRecord, error) {
	return s.policyWhere(ctx, "default", `p.is_default`)
}

// Policies returns every policy by name.
func (s *Store) Policies(ctx context.Context) ([]PolicyRecord, error) {
	var rows []policyRow
	if err := s.db.WithContext(ctx).Raw(`SELECT ` + policyCols + ` FROM policies p ORDER BY p.name`).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	out := make([]PolicyRecord, len(rows))
	for i, r := range rows {
		out[i] = r.record()
	}
	return out, nil
}

// SetDefaultPolicy makes id the default policy. The version of neither
// policy changes, but every device of an unassigned user acknowledged the
// other policy's ID, so they re-provision.
func (s *Store) SetDefaultPolicy(ctx context.Context, id PolicyID) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Raw(`SELECT COUNT(*) FROM policies WHERE id = ?`, int64(id)).Scan(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if err := tx.Exec(`UPDATE policies SET is_default = FALSE WHERE is_default AND id <> ?`, int64(id)).Error; err != nil {
			return err
		}
		return tx.Exec(`UPDATE policies SET is_default = TRUE WHERE id = ?`, int64(id)).Error
	})
	if err != nil {
		return fmt.Errorf("set default policy %d: %w", id, err)
	}
	s.PublishAdminChange(ctx, AdminChange{Kind: AdminChangePolicy}) // every unassigned user's policy
	return nil
}

// DeletePolicy deletes a policy that is not the default (ErrConflict);
// its users fall back to the default policy.
func (s *Store) DeletePolicy(ctx context.Context, id PolicyID) error {
	res := s.db.WithContext(ctx).Exec(`DELETE FROM policies WHERE id = ? AND NOT is_default`, int64(id))
	if res.Error != nil {
		return fmt.Errorf("delete policy %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		if _, err := s.PolicyByID(ctx, id); err != nil {
			return fmt.Errorf("delete policy: %w", err)
		}
		return fmt.Errorf("delete policy %d: %w: it is the default policy", id, ErrConflict)
	}
	s.PublishAdminChange(ctx, AdminChange{Kind: AdminChangePolicy}) // its users fall back to the default
	return nil
}

// AssignPolicy assigns policy id to the user; 0 returns the user to the
// default policy. Errors: ErrNotFound for an unknown user or policy.
func (s *Store) AssignPolicy(ctx context.Context, user UserID, id PolicyID) error {
	var arg any
	if id != 0 {
		arg = int64(id)
	}
	res := s.db.WithContext(ctx).Exec(`UPDATE users SET policy_id = ?, updated_at = ? WHERE id = ?`, arg, timestamp(now()), int64(user))
	if isForeignKeyViolation(res.Error) {
		return fmt.Errorf("assign policy %d to user %d: %w", id, user, ErrNotFound)
	} else if res.Error != nil {
		return fmt.Errorf("assign policy %d to user %d: %w", id, user, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("assign policy %d to user %d: %w", id, user, ErrNotFound)
	}
	return nil
}

// UserPolicy returns the policy in force for the user: the assigned one, or
// the default. One indexed read; the policy-key gate runs it per request.
func (s *Store) UserPolicy(ctx context.Context, user UserID) (PolicyRecord, error) {
	// A prepared statement (prepared.go): the gate reads it on every request.
	var r policyRow
	err := s.queryRow(ctx, `SELECT `+policyCols+` FROM users u
		JOIN policies p ON p.id = COALESCE(u.policy_id, (SELECT id FROM policies WHERE is_default))
		WHERE u.id = ?`, []any{int64(user)}, &r.ID, &r.Name, &r.Version, &r.Settings, &r.IsDefault, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return PolicyRecord{}, fmt.Errorf("policy of user %d: %w", user, err)
	}
	return r.record(), nil
}
