package store_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestSQLitePragmas(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, storetest.SQLiteURL(t))
	assert.Equal(t, "sqlite", s.Dialect())
	// Check on several pooled connections: pragmas are per connection.
	for range 3 {
		conn, err := s.DB().DB()
		require.NoError(t, err)
		c, err := conn.Conn(t.Context())
		require.NoError(t, err)
		var mode string
		var fk, busy int
		require.NoError(t, c.QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode))
		require.NoError(t, c.QueryRowContext(t.Context(), `PRAGMA foreign_keys`).Scan(&fk))
		require.NoError(t, c.QueryRowContext(t.Context(), `PRAGMA busy_timeout`).Scan(&busy))
		assert.Equal(t, "wal", mode)
		assert.Equal(t, 1, fk)
		assert.Equal(t, 30000, busy)
		defer c.Close()
	}
}

// TestNoGoroutineLeak opens a store, watches, delivers and closes
// everything: the goroutine count returns to where it was. A first round
// warms up process-wide goroutines that start once (the runtime's
// finalizer goroutine, driver globals); the second round is measured. It
// does not run in parallel, so other tests do not disturb the count.
func TestNoGoroutineLeak(t *testing.T) {
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		round := func(addr string) {
			s, err := store.Open(t.Context(), dsn, storetest.Options())
			require.NoError(t, err)
			require.NoError(t, s.Migrate(t.Context()))
			u := newUser(t, s, addr)
			ctx, cancel := context.WithCancel(t.Context())
			w1 := s.Watch(ctx, u.Mailbox)
			w2 := s.Watch(t.Context(), u.Mailbox)
			_, err = s.Deliver(t.Context(), u.Address, msg("x"))
			require.NoError(t, err)
			<-w1.C
			<-w2.C
			cancel()
			w2.Close()
			require.NoError(t, s.Close())
		}
		round("warmup@example.org")
		time.Sleep(100 * time.Millisecond)
		before, _ := userGoroutines()
		round("bob@example.org")
		// Poll by hand: assert.Eventually runs its condition on a goroutine
		// of its own, which would be counted.
		deadline := time.Now().Add(10 * time.Second)
		n, stacks := userGoroutines()
		for n > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			n, stacks = userGoroutines()
		}
		assert.LessOrEqual(t, n, before, "goroutines left behind:\n%s", stacks)
	})
}

// userGoroutines counts the goroutines runtime.Stack reports, which leaves
// out the runtime's own (runtime.NumGoroutine counts the finalizer
// goroutine while it runs a finalizer, which made the count flicker).
func userGoroutines() (int, string) {
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	return strings.Count(stacks, "\ngoroutine ") + 1, stacks
}
