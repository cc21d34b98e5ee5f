package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/easd/easd/store"
)

// openStore opens the database named by the global flags, creating the
// directory of a SQLite file on first use. It does not migrate.
func openStore(ctx context.Context, g *globals, log *slog.Logger) (*store.Store, error) {
	u := g.dbURL()
	if path, ok := strings.CutPrefix(u, "sqlite://"); ok {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	st, err := store.Open(ctx, u, store.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", redactURL(u), err)
	}
	return st, nil
}

// openMigrated opens the store and applies pending migrations, which every
// command does so that a fresh data directory just works.
func openMigrated(ctx context.Context, g *globals, log *slog.Logger) (*store.Store, error) {
	st, err := openStore(ctx, g, log)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	return st, nil
}

// redactURL hides a password in a database URL for logs and errors.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

func logClose(log *slog.Logger, st *store.Store) {
	if err := st.Close(); err != nil {
		log.Warn("close store", "err", err)
	}
}
