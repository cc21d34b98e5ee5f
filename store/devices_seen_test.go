package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// One batch moves every listed partnership's last_seen forward, never back, skips removed
// partnerships without failing and creates nothing.
func TestSetDevicesLastSeen(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u, err := s.CreateUser(ctx, store.NewUser{Address: "seen@example.com", Password: "pw"})
		require.NoError(t, err)
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		var ids []store.PartnershipID
		for i := range 50 {
			d, err := s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: fmt.Sprintf("D%02d", i),
				DeviceType: "iPhone", At: t0})
			require.NoError(t, err)
			ids = append(ids, d.ID)
		}
		gone := ids[0]
		require.NoError(t, s.RemoveDevice(ctx, gone))

		seen := map[store.PartnershipID]time.Time{}
		for i, id := range ids {
			seen[id] = t0.Add(time.Duration(i)*time.Second + 123456*time.Microsecond)
		}
		seen[ids[1]] = t0.Add(-time.Hour) // older than the row: kept as it is
		// Many partnerships that never existed: one parameter, whatever the count.
		for i := range 40000 {
			seen[store.PartnershipID(1<<40+i)] = t0.Add(time.Hour)
		}
		n, err := s.SetDevicesLastSeen(ctx, seen)
		require.NoError(t, err)
		assert.Equal(t, len(ids)-2, n, "every listed row moved once, the removed and the older one not")

		list, err := s.Devices(ctx, store.DeviceFilter{User: u.ID})
		require.NoError(t, err)
		require.Len(t, list, len(ids)-1, "the removed partnership stays removed, nothing created")
		for _, d := range list {
			if d.ID == ids[1] {
				assert.Equal(t, t0, d.LastSeen, "never moved back")
				continue
			}
			assert.Equal(t, seen[d.ID], d.LastSeen, "%s", d.DeviceID)
			assert.Equal(t, t0, d.FirstSeen, "%s: only last_seen changes", d.DeviceID)
		}

		// The same batch again changes nothing; an empty one is no statement at all.
		n, err = s.SetDevicesLastSeen(ctx, seen)
		require.NoError(t, err)
		assert.Zero(t, n)
		n, err = s.SetDevicesLastSeen(ctx, nil)
		require.NoError(t, err)
		assert.Zero(t, n)

		// The seen filter reads the new times.
		before, err := s.Devices(ctx, store.DeviceFilter{User: u.ID, SeenBefore: t0.Add(10 * time.Second)})
		require.NoError(t, err)
		assert.Len(t, before, 9, "D01 (kept at t0) and D02..D09")
	})
}
