package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestOof(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "oof@example.org")
		got, err := s.Oof(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, store.Oof{}, got, "never set: disabled")

		start := time.Date(2026, 7, 1, 8, 0, 0, 123456000, time.UTC)
		want := store.Oof{
			State: store.OofScheduled, Start: start, End: start.Add(72 * time.Hour),
			Internal:        store.OofMessage{Enabled: true, Message: "Away", BodyType: "Text"},
			ExternalKnown:   store.OofMessage{Enabled: true, Message: "<p>Away</p>", BodyType: "HTML"},
			ExternalUnknown: store.OofMessage{Message: "unused", BodyType: "Text"},
		}
		require.NoError(t, s.SetOof(ctx, u.ID, want))
		got, err = s.Oof(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, want, got)

		off := store.Oof{State: store.OofDisabled}
		require.NoError(t, s.SetOof(ctx, u.ID, off))
		got, err = s.Oof(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, off, got, "a second Set replaces the first")

		for name, bad := range map[string]store.Oof{
			"state 3":          {State: 3},
			"negative state":   {State: -1},
			"no window":        {State: store.OofScheduled},
			"end before start": {State: store.OofScheduled, Start: start, End: start.Add(-time.Hour)},
		} {
			require.ErrorIs(t, s.SetOof(ctx, u.ID, bad), store.ErrInvalidArgument, name)
		}
		require.ErrorIs(t, s.SetOof(ctx, u.ID+1000, off), store.ErrNotFound)
	})
}
