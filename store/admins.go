package store

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"gorm.io/gorm"
)

type adminRow struct {
	ID           int64
	Name         string
	Role         string
	PasswordHash string
	CreatedAt    timestamp
}

func (r adminRow) admin() Admin {
	return Admin{ID: r.ID, Name: r.Name, Role: r.Role, CreatedAt: timeOf(r.CreatedAt)}
}

func validAdminName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("._-@", r) {
			return false
		}
	}
	return true
}

// CreateAdmin creates a dashboard account. name is 1–64 letters, digits,
// ".", "_", "-" or "@"; role is RoleAdmin or RoleHelpdesk. Errors:
// ErrInvalidArgument, ErrEmptyPassword, ErrExists.
func (s *Store) CreateAdmin(ctx context.Context, name, role, password string) (Admin, error) {
	if !validAdminName(name) {
		return Admin{}, fmt.Errorf("create admin %q: %w: bad name", name, ErrInvalidArgument)
	}
	if role != RoleAdmin && role != RoleHelpdesk {
		return Admin{}, fmt.Errorf("create admin %s: %w: unknown role %q", name, ErrInvalidArgument, role)
	}
	if password == "" {
		return Admin{}, fmt.Errorf("create admin %s: %w", name, ErrEmptyPassword)
	}
	hash, err := hashPassword(password, s.kdf)
	if err != nil {
		return Admin{}, fmt.Errorf("create admin %s: %w", name, err)
	}
	r := adminRow{Name: name, Role: role, PasswordHash: hash, CreatedAt: timestamp(now())}
	err = s.db.WithContext(ctx).Raw(`INSERT INTO admins (name, role, password_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
		r.Name, r.Role, r.PasswordHash, r.CreatedAt).Scan(&r.ID).Error
	if isDuplicate(err) {
		return Admin{}, fmt.Errorf("create admin %s: %w", name, ErrExists)
	} else if err != nil {
		return Admin{}, fmt.Errorf("create admin %s: %w", name, err)
	}
	return r.admin(), nil
}

// Admins returns every dashboard account ordered by name.
func (s *Store) Admins(ctx context.Context) ([]Admin, error) {
	var rows []adminRow
	if err := s.db.WithContext(ctx).Raw(`SELECT id, name, role, password_hash, created_at FROM admins ORDER BY name`).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list admins: %w", err)
	}
	out := make([]Admin, len(rows))
	for i, r := range rows {
		out[i] = r.admin()
	}
	return out, nil
}

// AuthenticateAdmin checks a dashboard password; ErrBadCredentials for an
// unknown name or a wrong password, in about the same time.
func (s *Store) AuthenticateAdmin(ctx context.Context, name, password string) (Admin, error) {
	var rows []adminRow
	if err := s.db.WithContext(ctx).Raw(`SELECT id, name, role, password_hash, created_at FROM admins WHERE name = ?`, name).Scan(&rows).Error; err != nil {
		return Admin{}, fmt.Errorf("authenticate admin %s: %w", name, err)
	}
	if len(rows) == 0 {
		_, _ = verifyPassword(s.dummyHash, password)
		return Admin{}, fmt.Errorf("authenticate admin %s: %w", name, ErrBadCredentials)
	}
	ok, err := verifyPassword(rows[0].PasswordHash, password)
	if err != nil {
		return Admin{}, fmt.Errorf("authenticate admin %s: %w", name, err)
	}
	if !ok || password == "" {
		return Admin{}, fmt.Errorf("authenticate admin %s: %w", name, ErrBadCredentials)
	}
	return rows[0].admin(), nil
}

// SetAdminPassword replaces a dashboard account's password.
func (s *Store) SetAdminPassword(ctx context.Context, name, password string) error {
	if password == "" {
		return fmt.Errorf("set admin password of %s: %w", name, ErrEmptyPassword)
	}
	hash, err := hashPassword(password, s.kdf)
	if err != nil {
		return fmt.Errorf("set admin password of %s: %w", name, err)
	}
	res := s.db.WithContext(ctx).Exec(`UPDATE admins SET password_hash = ? WHERE name = ?`, hash, name)
	if res.Error != nil {
		return fmt.Errorf("set admin password of %s: %w", name, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("set admin password of %s: %w", name, ErrNotFound)
	}
	return nil
}

// RemoveAdmin deletes a dashboard account: ErrNotFound if there is none,
// ErrConflict if it is the last account with RoleAdmin (nobody could
// manage the server any more).
func (s *Store) RemoveAdmin(ctx context.Context, name string) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []adminRow
		if err := tx.Raw(`SELECT id, name, role FROM admins WHERE name = ?`, name).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return ErrNotFound
		}
		if rows[0].Role == RoleAdmin {
			// On PostgreSQL two removals could each see the other admin;
			// lock the admin rows so they queue (SQLite already does).
			lock := ""
			if s.dialect == dialectPostgres {
				lock = " FOR UPDATE"
			}
			var ids []int64
			if err := tx.Raw(`SELECT id FROM admins WHERE role = ?`+lock, RoleAdmin).Scan(&ids).Error; err != nil {
				return err
			}
			if len(ids) <= 1 {
				return fmt.Errorf("%w: the last admin cannot be removed", ErrConflict)
			}
		}
		return tx.Exec(`DELETE FROM admins WHERE id = ?`, rows[0].ID).Error
	})
	if err != nil {
		return fmt.Errorf("remove admin %s: %w", name, err)
	}
	return nil
}
