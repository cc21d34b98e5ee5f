package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The hottest reads (the account and policy of every EAS request) skip gorm (its statement
// building, callbacks and reflection-based scanning) and run a database/sql statement
// prepared once per Store, scanned into the caller's variables. database/sql prepares it
// again on each pooled connection that runs it. (The pure-Go SQLite driver still compiles
// the SQL on every run; pgx keeps it prepared per connection.)

// prepared returns q (written with ? placeholders) as a prepared statement of the Store's
// pool.
func (s *Store) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	if v, ok := s.stmts.Load(q); ok {
		return v.(*sql.Stmt), nil
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	st, err := sqlDB.PrepareContext(ctx, s.rebind(q))
	if err != nil {
		return nil, err
	}
	if v, loaded := s.stmts.LoadOrStore(q, st); loaded {
		_ = st.Close()
		return v.(*sql.Stmt), nil
	}
	return st, nil
}

// queryRow runs the prepared q and scans its first row into dest; no row is ErrNotFound.
func (s *Store) queryRow(ctx context.Context, q string, args []any, dest ...any) error {
	st, err := s.prepared(ctx, q)
	if err != nil {
		return err
	}
	err = st.QueryRowContext(ctx, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// rebind turns ? placeholders into PostgreSQL's $n (the queries here have no ? in literals).
func (s *Store) rebind(q string) string {
	if s.dialect != dialectPostgres {
		return q
	}
	var b strings.Builder
	n := 0
	for {
		i := strings.IndexByte(q, '?')
		if i < 0 {
			b.WriteString(q)
			return b.String()
		}
		n++
		b.WriteString(q[:i])
		b.WriteString("$" + strconv.Itoa(n))
		q = q[i+1:]
	}
}

// closePrepared closes the prepared statements.
func (s *Store) closePrepared() error {
	var errs []error
	s.stmts.Range(func(k, v any) bool {
		if err := v.(*sql.Stmt).Close(); err != nil {
			errs = append(errs, fmt.Errorf("close statement: %w", err))
		}
		s.stmts.Delete(k)
		return true
	})
	return errors.Join(errs...)
}
