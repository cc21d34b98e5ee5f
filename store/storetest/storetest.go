// Package storetest runs tests against every database the store supports:
// SQLite always, PostgreSQL when EASD_TEST_DATABASE_URL is set. Packages
// that test against a real store (store itself, cmd/easd, the front-ends)
// use it so that the same test functions cover both.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/easd/easd/store"
)

// EnvDatabaseURL names the environment variable with the PostgreSQL URL
// for tests, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvDatabaseURL = "EASD_TEST_DATABASE_URL"

// SkipPostgresMessage is what the postgres subtests say when skipped.
const SkipPostgresMessage = EnvDatabaseURL + " not set: PostgreSQL suite skipped"

// Options are the store options tests use: cheap password hashing.
func Options() store.Options {
	return store.Options{KDF: store.TestKDF}
}

// ForEach runs fn as a "sqlite" and a "postgres" subtest, each on a fresh,
// migrated, empty store (see SQLiteURL and PostgresURL). The store is
// closed when the subtest ends.
func ForEach(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	ForEachURL(t, func(t *testing.T, dsn string) {
		s := Open(t, dsn)
		require.NoError(t, s.Migrate(t.Context()))
		fn(t, s)
	})
}

// ForEachURL is ForEach for callers that open the database themselves (a
// CLI test passes the URL to the binary): fn gets the URL of a fresh,
// empty, unmigrated database.
func ForEachURL(t testing.TB, fn func(t *testing.T, dsn string)) {
	t.Helper()
	tt, ok := t.(*testing.T)
	if !ok {
		panic("storetest: ForEachURL needs a *testing.T; benchmarks use ForEachBench")
	}
	tt.Run("sqlite", func(t *testing.T) {
		fn(t, SQLiteURL(t))
	})
	tt.Run("postgres", func(t *testing.T) {
		fn(t, PostgresURL(t))
	})
}

// ForEachBench runs fn as a "sqlite" and a "postgres" sub-benchmark on a
// fresh, migrated store each.
func ForEachBench(b *testing.B, fn func(b *testing.B, s *store.Store)) {
	b.Helper()
	b.Run("sqlite", func(b *testing.B) {
		s := Open(b, SQLiteURL(b))
		require.NoError(b, s.Migrate(context.Background()))
		fn(b, s)
	})
	b.Run("postgres", func(b *testing.B) {
		s := Open(b, PostgresURL(b))
		require.NoError(b, s.Migrate(context.Background()))
		fn(b, s)
	})
}

// Open opens dsn with Options and closes it at cleanup.
func Open(t testing.TB, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn, Options())
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// SQLiteURL returns the URL of a new SQLite database file in t.TempDir().
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "easd.db")
}

// PostgresURL creates a schema t_<random> in the database named by
// EASD_TEST_DATABASE_URL and returns that URL with search_path set to it;
// the schema is dropped at cleanup. Without the variable it skips t.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		t.Skip(SkipPostgresMessage)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	schema := "t_" + hex.EncodeToString(rnd[:])

	admin, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: logger.Discard})
	require.NoError(t, err, "connect to %s", EnvDatabaseURL)
	sqlDB, err := admin.DB()
	require.NoError(t, err)
	require.NoError(t, admin.Exec(`CREATE SCHEMA `+schema).Error)
	t.Cleanup(func() {
		err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`).Error
		_ = sqlDB.Close()
		require.NoError(t, err, "drop schema %s", schema)
	})

	u, err := url.Parse(base)
	require.NoError(t, err, "parse %s", EnvDatabaseURL)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Corpus returns the path of the shared test corpus, ../shared/corpus from
// the repository root, given the number of directories between the calling
// package and the root; it skips t when the corpus is absent.
func Corpus(t testing.TB, depth int) string {
	t.Helper()
	parts := []string{}
	for range depth {
		parts = append(parts, "..")
	}
	dir := filepath.Join(append(parts, "..", "shared", "corpus")...)
	if _, err := os.Stat(dir); err != nil {
		t.Skip(fmt.Sprintf("test corpus %s absent: skipped", dir))
	}
	return dir
}
