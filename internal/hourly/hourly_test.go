package hourly

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakeClock struct{ t atomic.Int64 }

func (f *fakeClock) now() time.Time      { return time.Unix(f.t.Load(), 0) }
func (f *fakeClock) add(d time.Duration) { f.t.Add(int64(d / time.Second)) }
func newClock(t time.Time) *fakeClock    { f := &fakeClock{}; f.t.Store(t.Unix()); return f }
func counts(b Bucket) []uint64           { return b.Counts }
func starts(bs []Bucket) (out []time.Time) {
	for _, b := range bs {
		out = append(out, b.Start)
	}
	return
}

func TestCounterBuckets(t *testing.T) {
	start := time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC)
	clk := newClock(start)
	c := New(3, clk.now)

	c.Add(0)
	c.Add(0)
	c.Add(1)
	c.Add(2)
	c.Add(3)  // out of range: ignored
	c.Add(-1) // ignored
	s := c.Series()
	require.Len(t, s, Hours)
	assert.Equal(t, time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), s[Hours-1].Start)
	assert.Equal(t, time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC), s[0].Start)
	assert.Equal(t, []uint64{2, 1, 1}, counts(s[Hours-1]))
	for _, b := range s[:Hours-1] {
		assert.Equal(t, []uint64{0, 0, 0}, counts(b), "hour %v", b.Start)
	}

	// Next hour: a fresh bucket, the previous one kept.
	clk.add(time.Hour)
	c.Add(1)
	s = c.Series()
	assert.Equal(t, []uint64{2, 1, 1}, counts(s[Hours-2]))
	assert.Equal(t, []uint64{0, 1, 0}, counts(s[Hours-1]))

	// 24 hours after the first events their cells are reused: the old counts
	// neither show nor add up.
	clk.add(23 * time.Hour)
	s = c.Series()
	assert.Equal(t, []uint64{0, 1, 0}, counts(s[0]), "the 11:00 bucket, 23 hours ago")
	assert.Equal(t, []uint64{0, 0, 0}, counts(s[Hours-1]), "10:00 a day later is not 10:00 the day before")
	c.Add(0)
	s = c.Series()
	assert.Equal(t, []uint64{1, 0, 0}, counts(s[Hours-1]))
	for i, st := range starts(s) {
		assert.Equal(t, time.Date(2026, 11, 27, 11+i, 0, 0, 0, time.UTC), st)
	}

	// After a long silence everything reads zero.
	clk.add(1000 * time.Hour)
	for _, b := range c.Series() {
		assert.Equal(t, []uint64{0, 0, 0}, counts(b))
	}
}

func TestCounterConcurrent(t *testing.T) {
	c := New(2, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 10000 {
				c.Add(g % 2)
			}
		})
	}
	wg.Wait()
	var total [2]uint64
	for _, b := range c.Series() {
		total[0] += b.Counts[0]
		total[1] += b.Counts[1]
	}
	// Across the turn of an hour both buckets are shown, so nothing is lost.
	assert.Equal(t, [2]uint64{40000, 40000}, total)
}

func TestAddAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("allocation counts differ under -cover")
	}
	c := New(3, nil)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { c.Add(1) }))
}

func BenchmarkAdd(b *testing.B) {
	c := New(3, nil)
	b.ReportAllocs()
	for b.Loop() {
		c.Add(0)
	}
}

func BenchmarkAddParallel(b *testing.B) {
	c := New(3, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Add(0)
		}
	})
}
