package store_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

type migrationRow struct {
	Version int
	Name    string
}

func appliedMigrations(t *testing.T, s *store.Store) []migrationRow {
	t.Helper()
	var rows []migrationRow
	require.NoError(t, s.DB().Raw(`SELECT version, name FROM schema_migrations ORDER BY version`).Scan(&rows).Error)
	return rows
}

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		s := storetest.Open(t, dsn)
		v, err := s.SchemaVersion(t.Context())
		require.NoError(t, err)
		assert.Zero(t, v, "Open does not migrate")

		require.NoError(t, s.Migrate(t.Context()))
		first := appliedMigrations(t, s)
		require.Len(t, first, store.LatestSchemaVersion())
		_, err = s.CreateUser(t.Context(), store.NewUser{Address: "bob@example.org", Password: "pw"})
		require.NoError(t, err)

		require.NoError(t, s.Migrate(t.Context()))
		assert.Equal(t, first, appliedMigrations(t, s), "a second run applies nothing")
		v, err = s.SchemaVersion(t.Context())
		require.NoError(t, err)
		assert.Equal(t, store.LatestSchemaVersion(), v)
		_, err = s.UserByAddress(t.Context(), "bob@example.org")
		assert.NoError(t, err, "data survives")

		var at []string
		require.NoError(t, s.DB().Raw(`SELECT applied_at FROM schema_migrations`).Scan(&at).Error)
		for _, a := range at {
			assert.NotEmpty(t, a, "applied time recorded")
		}
	})
}

// TestMigrateConcurrent runs Migrate from several stores (standing in for
// several processes) on one empty database at once.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		const n = 4
		stores := make([]*store.Store, n)
		for i := range stores {
			stores[i] = storetest.Open(t, dsn)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, s := range stores {
			wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		rows := appliedMigrations(t, stores[0])
		require.Len(t, rows, store.LatestSchemaVersion(), "each step recorded once")
		for i, r := range rows {
			assert.Equal(t, i+1, r.Version)
		}
		_, err := stores[1].CreateUser(t.Context(), store.NewUser{Address: "bob@example.org", Password: "pw"})
		require.NoError(t, err)
	})
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		require.NoError(t, s.DB().Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from the future', '2030-01-01T00:00:00.000000Z')`,
			store.LatestSchemaVersion()+1).Error)
		assert.ErrorIs(t, s.Migrate(t.Context()), store.ErrSchemaTooNew)
	})
}

func TestOpenBadURL(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"", "mysql://localhost/easd", "sqlite://", "./easd.db", "sqlite://x.db?_time_format=sqlite"} {
		t.Run(dsn, func(t *testing.T) {
			_, err := store.Open(t.Context(), dsn, storetest.Options())
			assert.ErrorIs(t, err, store.ErrInvalidArgument)
		})
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	t.Parallel()
	_, err := store.Open(t.Context(), "sqlite://"+t.TempDir()+"/missing/dir/easd.db", storetest.Options())
	assert.Error(t, err, "Open does not create directories")
}

func TestPing(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		assert.NoError(t, s.Ping(t.Context()))
	})
}
