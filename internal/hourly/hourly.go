// Package hourly counts events per hour in memory: a ring of the last
// Hours hourly buckets, each with one counter per kind.
//
// Add is lock-free and allocation-free, cheap enough for every request. Each
// cell packs the hour it belongs to (hours since the Unix epoch, high 32
// bits) with its count (low 32 bits) in one atomic word, so a cell left over
// from an hour 24 hours ago is recognised and restarted by the first Add of
// the new hour without a lock, and Series never reports a stale count. The
// counts live in the process: they start at zero when it starts.
package hourly

import (
	"sync/atomic"
	"time"
)

// Hours is how many hourly buckets a Counter keeps: the current hour and the
// 23 before it.
const Hours = 24

// Counter counts events of a fixed number of kinds per hour. It is safe for
// concurrent use.
type Counter struct {
	kinds int
	now   func() time.Time
	cells []atomic.Uint64 // Hours*kinds, bucket-major
}

// New returns a Counter for kinds kinds of event (at least 1). now is the
// clock; nil: time.Now.
func New(kinds int, now func() time.Time) *Counter {
	if kinds < 1 {
		panic("hourly: kinds must be at least 1")
	}
	if now == nil {
		now = time.Now
	}
	return &Counter{kinds: kinds, now: now, cells: make([]atomic.Uint64, Hours*kinds)}
}

func hourOf(t time.Time) uint64 { return uint64(t.Unix() / 3600) }

// Add counts one event of kind (0 ≤ kind < the Counter's kinds; other
// values are ignored) in the current hour. An Add racing with the turn of
// the hour may land in either hour.
func (c *Counter) Add(kind int) {
	if kind < 0 || kind >= c.kinds {
		return
	}
	h := hourOf(c.now())
	cell := &c.cells[int(h%Hours)*c.kinds+kind]
	for {
		old := cell.Load()
		if old>>32 == h&0xffffffff {
			if uint32(old) == 0xffffffff {
				return // saturated: 4 billion events in one hour
			}
			cell.Add(1)
			return
		}
		// The cell holds an older hour: restart it at 1.
		if cell.CompareAndSwap(old, (h&0xffffffff)<<32|1) {
			return
		}
	}
}

// Bucket is one hour of counts.
type Bucket struct {
	Start  time.Time // the start of the hour, UTC
	Counts []uint64  // one per kind
}

// Series returns the last Hours buckets, oldest first, ending with the
// current hour; hours without events have zero counts.
func (c *Counter) Series() []Bucket {
	cur := hourOf(c.now())
	out := make([]Bucket, Hours)
	for i := range out {
		h := cur - uint64(Hours-1-i)
		b := Bucket{Start: time.Unix(int64(h)*3600, 0).UTC(), Counts: make([]uint64, c.kinds)}
		base := int(h%Hours) * c.kinds
		for k := range c.kinds {
			v := c.cells[base+k].Load()
			if v>>32 == h&0xffffffff {
				b.Counts[k] = v & 0xffffffff
			}
		}
		out[i] = b
	}
	return out
}
