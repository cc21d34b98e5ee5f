package devices_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// countStatements counts the statements run through s from now on (every gorm processor).
func countStatements(tb testing.TB, s *store.Store) *atomic.Int64 {
	tb.Helper()
	var n atomic.Int64
	count := func(*gorm.DB) { n.Add(1) }
	cb := s.DB().Callback()
	name := fmt.Sprintf("devices_test:count:%p", &n)
	for _, p := range []interface {
		Register(string, func(*gorm.DB)) error
	}{cb.Create(), cb.Query(), cb.Update(), cb.Delete(), cb.Row(), cb.Raw()} {
		require.NoError(tb, p.Register(name, count))
	}
	return &n
}

// touchAll makes the first contact of n devices of u at the clock's time and returns their keys.
func touchAll(t *testing.T, reg *devices.Registry, u store.User, n int) []devices.Key {
	t.Helper()
	var keys []devices.Key
	for i := range n {
		k := devices.Key{User: u.ID, DeviceID: fmt.Sprintf("Dev%03d", i)}
		_, err := reg.Touch(t.Context(), k, devices.Contact{DeviceType: "iPhone", ProtocolVersion: "16.1"})
		require.NoError(t, err)
		keys = append(keys, k)
	}
	return keys
}

var contact = devices.Contact{DeviceType: "iPhone", ProtocolVersion: "16.1"}

// A flush writes the last_seen of every device seen since the one before, each at its latest
// touch, in one statement; with nothing seen since, it runs none.
func TestFlushWritesEveryPendingDeviceOnce(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "flush@example.org")
		clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		reg := devices.New(s, devices.Options{Now: clk.now, FlushInterval: -1})
		t.Cleanup(reg.Close)
		t0 := clk.now()
		keys := touchAll(t, reg, u, 40)

		want := map[string]time.Time{}
		for round := range 3 {
			for i, k := range keys {
				if i%2 == 1 && round == 2 {
					continue // the odd ones were last seen in round 1
				}
				clk.advance(time.Millisecond)
				_, err := reg.Touch(ctx, k, contact)
				require.NoError(t, err)
				want[k.DeviceID] = clk.now()
			}
		}
		stmts := countStatements(t, s)
		require.NoError(t, reg.Flush(ctx))
		assert.Equal(t, int64(1), stmts.Load(), "one statement for all %d devices", len(keys))
		list, err := s.Devices(ctx, store.DeviceFilter{User: u.ID})
		require.NoError(t, err)
		require.Len(t, list, len(keys))
		for _, d := range list {
			assert.Equal(t, want[d.DeviceID], d.LastSeen, d.DeviceID)
			assert.Equal(t, t0, d.FirstSeen, d.DeviceID)
		}

		stmts.Store(0)
		require.NoError(t, reg.Flush(ctx))
		assert.Zero(t, stmts.Load(), "nothing pending: no statement")
	})
}

// The timer flushes by itself, once per FlushInterval, without a request to trigger it.
func TestFlushTimer(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "timer@example.org")
		clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		reg := devices.New(s, devices.Options{Now: clk.now, FlushInterval: 20 * time.Millisecond})
		t.Cleanup(reg.Close)
		k := touchAll(t, reg, u, 1)[0]
		for range 2 { // the second round arms the timer again after the first flush
			clk.advance(time.Second)
			_, err := reg.Touch(ctx, k, contact)
			require.NoError(t, err)
			want := clk.now()
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				d, err := s.DeviceOf(ctx, u.ID, k.DeviceID)
				require.NoError(c, err)
				assert.Equal(c, want, d.LastSeen)
			}, 10*time.Second, 10*time.Millisecond)
		}
	})
}

// Close writes what is pending; touches after it write at once.
func TestCloseFlushes(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "close@example.org")
		clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		reg := devices.New(s, devices.Options{Now: clk.now}) // the default interval: only Close flushes here
		keys := touchAll(t, reg, u, 5)
		clk.advance(time.Second)
		for _, k := range keys {
			_, err := reg.Touch(ctx, k, contact)
			require.NoError(t, err)
		}
		reg.Close()
		list, err := s.Devices(ctx, store.DeviceFilter{User: u.ID})
		require.NoError(t, err)
		require.Len(t, list, len(keys))
		for _, d := range list {
			assert.Equal(t, clk.now(), d.LastSeen, d.DeviceID)
		}

		clk.advance(time.Second)
		_, err = reg.Touch(ctx, keys[0], contact)
		require.NoError(t, err)
		d, err := s.DeviceOf(ctx, u.ID, keys[0].DeviceID)
		require.NoError(t, err)
		assert.Equal(t, clk.now(), d.LastSeen, "after Close: written at once")
	})
}

// A device removed while its touch waits for the flush stays removed, whether the removal
// came through this registry or from elsewhere unseen, and the others' touches are written.
func TestFlushSkipsRemovedDevices(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "removed@example.org")
		clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		reg := devices.New(s, devices.Options{Now: clk.now, FlushInterval: -1})
		t.Cleanup(reg.Close)
		keys := touchAll(t, reg, u, 3)
		clk.advance(time.Second)
		var ids []store.PartnershipID
		for _, k := range keys {
			d, err := reg.Touch(ctx, k, contact)
			require.NoError(t, err)
			ids = append(ids, d.ID)
		}
		require.NoError(t, reg.Remove(ctx, ids[0]))     // through the registry
		require.NoError(t, s.RemoveDevice(ctx, ids[1])) // behind its back (another process)

		require.NoError(t, reg.Flush(ctx))
		list, err := s.Devices(ctx, store.DeviceFilter{User: u.ID})
		require.NoError(t, err)
		require.Len(t, list, 1, "neither removed partnership came back")
		assert.Equal(t, keys[2].DeviceID, list[0].DeviceID)
		assert.Equal(t, clk.now(), list[0].LastSeen)
	})
}

// A flush that fails keeps its values for the next one: nothing is lost.
func TestFailedFlushIsRetried(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "retry@example.org")
		clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		reg := devices.New(s, devices.Options{Now: clk.now, FlushInterval: -1})
		t.Cleanup(reg.Close)
		k := touchAll(t, reg, u, 1)[0]
		clk.advance(time.Second)
		_, err := reg.Touch(ctx, k, contact)
		require.NoError(t, err)

		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		require.Error(t, reg.Flush(cancelled))
		clk.advance(time.Second)
		_, err = reg.Touch(ctx, k, contact) // a later touch of the same device: the newer time wins
		require.NoError(t, err)
		require.NoError(t, reg.Flush(ctx))
		d, err := s.DeviceOf(ctx, u.ID, k.DeviceID)
		require.NoError(t, err)
		assert.Equal(t, clk.now(), d.LastSeen)
	})
}

// BenchmarkFlush: the batched write of 1,000 devices' last_seen, each touched once since the
// flush before (ns/op is one flush).
func BenchmarkFlush(b *testing.B) {
	storetest.ForEachBench(b, func(b *testing.B, s *store.Store) {
		ctx := b.Context()
		u, err := s.CreateUser(ctx, store.NewUser{Address: "bench@example.org", Password: "pw"})
		require.NoError(b, err)
		clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		reg := devices.New(s, devices.Options{Now: clk.now, FlushInterval: -1, TouchInterval: 1 << 62, MaxDevices: -1})
		defer reg.Close()
		var keys []devices.Key
		for i := range 1000 {
			k := devices.Key{User: u.ID, DeviceID: fmt.Sprintf("Dev%04d", i)}
			_, err := reg.Touch(ctx, k, contact)
			require.NoError(b, err)
			keys = append(keys, k)
		}
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			clk.advance(time.Second)
			for _, k := range keys {
				if _, err := reg.Touch(ctx, k, contact); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			if err := reg.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
