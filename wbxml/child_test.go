package wbxml

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Child walks the children of an element, stepping over text between them, and reports the
// element's End.
func TestChild(t *testing.T) {
	in := corpusDoc(t, func(e *Encoder) {
		e.Start(AirSyncSync)
		e.Text([]byte("stray text"))
		e.String(AirSyncSyncKey, "1")
		e.Empty(AirSyncGetChanges)
		e.RawOpaque([]byte{1, 2})
		e.End()
	})
	d := NewDecoder(in)
	_, err := d.Expect(AirSyncSync)
	require.NoError(t, err)

	var tags []Tag
	for {
		tok, more, err := d.Child()
		require.NoError(t, err)
		if !more {
			assert.Equal(t, KindEnd, tok.Kind)
			assert.Equal(t, AirSyncSync, tok.Tag)
			break
		}
		tags = append(tags, tok.Tag)
		require.NoError(t, d.Skip())
	}
	assert.Equal(t, []Tag{AirSyncSyncKey, AirSyncGetChanges}, tags)
	_, _, err = d.Child()
	assert.ErrorIs(t, err, io.EOF)

	if testing.CoverMode() == "" {
		allocs := testing.AllocsPerRun(100, func() {
			d.Reset(in)
			_, _ = d.Next()
			for {
				_, more, err := d.Child()
				if err != nil || !more {
					return
				}
				_ = d.Skip()
			}
		})
		assert.Zero(t, allocs)
	}
}
