package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestAudit(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		entries := []store.AuditEntry{
			{At: t0, Actor: "admin", Action: "user.create", Target: "bob@example.org", RemoteAddr: "192.0.2.1"},
			{At: t0.Add(time.Hour), Actor: "helen", Action: "device.wipe", Target: "ApplABC123", Detail: "lost phone"},
			{At: t0.Add(2*time.Hour + 500*time.Microsecond), Actor: "admin", Action: "user.disable", Target: "bob@example.org"},
		}
		for _, e := range entries {
			require.NoError(t, s.AppendAudit(ctx, e))
		}
		assert.ErrorIs(t, s.AppendAudit(ctx, store.AuditEntry{Actor: "x"}), store.ErrInvalidArgument)

		all, err := s.Audit(ctx, store.AuditFilter{})
		require.NoError(t, err)
		require.Len(t, all, 3)
		for i, e := range all {
			want := entries[len(entries)-1-i] // newest first
			assert.True(t, want.At.Equal(e.At), "%v != %v", want.At, e.At)
			e.At = want.At
			assert.Equal(t, want, e)
		}

		for _, tc := range []struct {
			name string
			f    store.AuditFilter
			want []string // actions
		}{
			{"by actor", store.AuditFilter{Actor: "admin"}, []string{"user.disable", "user.create"}},
			{"by action", store.AuditFilter{Action: "device.wipe"}, []string{"device.wipe"}},
			{"by target", store.AuditFilter{Target: "bob@example.org"}, []string{"user.disable", "user.create"}},
			{"since is inclusive", store.AuditFilter{Since: t0.Add(time.Hour)}, []string{"user.disable", "device.wipe"}},
			{"until is exclusive", store.AuditFilter{Until: t0.Add(time.Hour)}, []string{"user.create"}},
			{"sub-second bounds", store.AuditFilter{Since: t0.Add(2*time.Hour + 400*time.Microsecond)}, []string{"user.disable"}},
			{"limit", store.AuditFilter{Limit: 1}, []string{"user.disable"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.Audit(ctx, tc.f)
				require.NoError(t, err)
				var actions []string
				for _, e := range got {
					actions = append(actions, e.Action)
				}
				assert.Equal(t, tc.want, actions)
			})
		}

		before := time.Now()
		require.NoError(t, s.AppendAudit(ctx, store.AuditEntry{Action: "store.test"}))
		got, err := s.Audit(ctx, store.AuditFilter{Action: "store.test"})
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.WithinDuration(t, before, got[0].At, time.Minute, "zero At means now")
	})
}

// An entry appended in a context from WithAuditRemote gets that address unless it names one.
func TestAuditRemoteFromContext(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := store.WithAuditRemote(t.Context(), "198.51.100.7")
		t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		require.NoError(t, s.AppendAudit(ctx, store.AuditEntry{At: t0, Actor: "desk", Action: "device.wipe"}))
		require.NoError(t, s.AppendAudit(ctx, store.AuditEntry{At: t0.Add(time.Second), Actor: "device", Action: "device.wipe-sent", RemoteAddr: "203.0.113.9"}))
		require.NoError(t, s.AppendAudit(t.Context(), store.AuditEntry{At: t0.Add(2 * time.Second), Actor: "cli", Action: "rule.add"}))
		rows, err := s.Audit(t.Context(), store.AuditFilter{})
		require.NoError(t, err)
		require.Len(t, rows, 3)
		assert.Equal(t, "", rows[0].RemoteAddr, "no address in the context")
		assert.Equal(t, "203.0.113.9", rows[1].RemoteAddr, "the entry's own address wins")
		assert.Equal(t, "198.51.100.7", rows[2].RemoteAddr)
	})
}
