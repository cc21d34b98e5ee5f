package eas

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
)

func TestSyncKeyFormat(t *testing.T) {
	t.Parallel()
	gen := newGeneration()
	key := formatKey(gen, 42)
	g, n, err := parseKey(key)
	require.NoError(t, err)
	assert.Equal(t, gen, g)
	assert.Equal(t, uint64(42), n)
	assert.LessOrEqual(t, len(key), 64, "MS-ASCMD 2.2.3.181.4: at most 64 characters")
	for _, bad := range []string{"", "0", "1", "{abc}", "{abc}x", "{}1", "abc}1", "{abc}0", "{abc}-1"} {
		_, _, err := parseKey(bad)
		assert.ErrorIs(t, err, errBadKey, bad)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	s := &snapshot{ModSeq: 77, Held: []store.ItemID{3, 4, 900, 1 << 40}, Cursor: 5, LoadEnd: 9, Filter: 3, Cutoff: 1234,
		Own: map[store.ItemID]int64{4: 70}, Opts: collOptions{FilterType: 3, Conflict: 1,
			Body: bodyOptions{Prefs: []BodyPreference{{Type: BodyHTML, TruncationSize: 500, Preview: 100}}, MIMESupport: 2}}}
	got, err := decodeSnapshot(s.encode())
	require.NoError(t, err)
	assert.Equal(t, s, got)
	c := s.clone()
	c.hold(5)
	c.drop(900)
	c.Own[9] = 1
	assert.Equal(t, []store.ItemID{3, 4, 900, 1 << 40}, s.Held, "clone is deep")
	assert.Equal(t, []store.ItemID{3, 4, 5, 1 << 40}, c.Held)
	assert.Len(t, s.Own, 1)
	for _, bad := range [][]byte{nil, {2, 0}, {1, 50, '{'}, append((&snapshot{}).encode(), 0x80)} {
		_, err := decodeSnapshot(bad)
		assert.Error(t, err)
	}
}

// BenchmarkSnapshot100k encodes and decodes the snapshot of a device holding 100,000 items
// whose IDs are interleaved with other mailboxes' (a gap of 1 to 8), and reports its size.
func BenchmarkSnapshot100k(b *testing.B) {
	s := &snapshot{ModSeq: 1 << 20}
	id := store.ItemID(1000)
	for i := range 100000 {
		id += store.ItemID(1 + i%8)
		s.Held = append(s.Held, id)
	}
	enc := s.encode()
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := decodeSnapshot(s.encode()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc)), "bytes/snapshot")
}
