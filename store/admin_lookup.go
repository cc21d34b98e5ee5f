package store

import (
	"context"
	"fmt"
)

// AdminByName returns the dashboard account name: ErrNotFound if there is
// none. The admin API calls it on every request, so a removed account or a
// changed role takes effect at once, whatever its token says.
func (s *Store) AdminByName(ctx context.Context, name string) (Admin, error) {
	var rows []adminRow
	if err := s.db.WithContext(ctx).Raw(`SELECT id, name, role, created_at FROM admins WHERE name = ?`, name).Scan(&rows).Error; err != nil {
		return Admin{}, fmt.Errorf("admin %s: %w", name, err)
	}
	if len(rows) == 0 {
		return Admin{}, fmt.Errorf("admin %s: %w", name, ErrNotFound)
	}
	return rows[0].admin(), nil
}
