package wbxml

import (
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncoder(t *testing.T) {
	tests := []struct {
		name  string
		write func(e *Encoder)
		want  []byte
	}{
		{
			name:  "empty root",
			write: func(e *Encoder) { e.Empty(AirSyncSync) },
			want:  doc(0x05),
		},
		{
			name: "page switch only when the page changes",
			write: func(e *Encoder) {
				e.Start(FolderHierarchyFolderSync)
				e.String(FolderHierarchySyncKey, "0")
				e.Start(AirSyncBaseBody)
				e.Int(AirSyncBaseType, 2)
				e.Empty(AirSyncBaseTruncated)
				e.End()
				e.Int(FolderHierarchyStatus, -12)
				e.End()
			},
			want: doc(0x00, 0x07, 0x56, 0x52, 0x03, '0', 0x00, 0x01,
				0x00, 0x11, 0x4A, 0x46, 0x03, '2', 0x00, 0x01, 0x0D, 0x01,
				0x00, 0x07, 0x4C, 0x03, '-', '1', '2', 0x00, 0x01, 0x01),
		},
		{
			name: "opaque, text and raw opaque",
			write: func(e *Encoder) {
				e.Start(ComposeMailSendMail)
				e.Opaque(ComposeMailMime, []byte("MIME"))
				e.StringBytes(ComposeMailClientId, []byte("c1"))
				e.Start(ComposeMailSaveInSentItems)
				e.Text([]byte("a"))
				e.RawOpaque(nil)
				e.End()
				e.End()
			},
			want: doc(0x00, 0x15, 0x45, 0x50, 0xC3, 0x04, 'M', 'I', 'M', 'E', 0x01,
				0x51, 0x03, 'c', '1', 0x00, 0x01, 0x48, 0x03, 'a', 0x00, 0xC3, 0x00, 0x01, 0x01),
		},
		{
			name: "empty string is STR_I with only the terminator",
			write: func(e *Encoder) {
				e.String(AirSyncSyncKey, "")
			},
			want: doc(0x4B, 0x03, 0x00, 0x01),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEncoder(nil)
			tc.write(e)
			got := e.Bytes()
			require.NoError(t, e.Err())
			assert.Equal(t, tc.want, got)
			// What the encoder writes, the decoder reads.
			tokens(t, got)
		})
	}
}

func TestEncoderMisuse(t *testing.T) {
	tests := []struct {
		name  string
		write func(e *Encoder)
		want  string
	}{
		{"no root", func(e *Encoder) {}, "no root element"},
		{"End without Start", func(e *Encoder) { e.End() }, "End without Start"},
		{"unclosed", func(e *Encoder) { e.Start(AirSyncSync); e.Start(AirSyncCollections) }, "2 element(s) not closed"},
		{"second root", func(e *Encoder) { e.Empty(AirSyncSync); e.Empty(PingPing) }, "second root element Ping:Ping"},
		{"second root after End", func(e *Encoder) { e.Start(AirSyncSync); e.End(); e.Start(AirSyncSync) }, "second root element"},
		{"undefined tag", func(e *Encoder) { e.Start(Tag(0x0011)) }, "undefined tag 0x00:0x11"},
		{"global token as tag", func(e *Encoder) { e.Start(Tag(0x0003)) }, "undefined tag"},
		{"code page 26", func(e *Encoder) { e.Empty(Tag(0x1A05)) }, "undefined tag"},
		{"NUL in String", func(e *Encoder) { e.String(AirSyncSyncKey, "a\x00b") }, "NUL in the string of AirSync:SyncKey"},
		{"NUL in Text", func(e *Encoder) { e.Start(AirSyncSyncKey); e.Text([]byte{0}) }, "NUL in a string"},
		{"text outside", func(e *Encoder) { e.Text([]byte("a")) }, "text outside an element"},
		{"opaque outside", func(e *Encoder) { e.RawOpaque([]byte("a")) }, "opaque data outside an element"},
		{"too deep", func(e *Encoder) {
			for range MaxDepth + 1 {
				e.Start(AirSyncSync)
			}
		}, "more than 64 open elements"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEncoder(nil)
			tc.write(e)
			e.Bytes()
			require.ErrorIs(t, e.Err(), ErrInvalidUse)
			assert.Contains(t, e.Err().Error(), tc.want)
			// The first error stays; later calls write nothing.
			n := len(e.Bytes())
			e.End()
			e.String(AirSyncSyncKey, "x")
			assert.Len(t, e.Bytes(), n)
		})
	}
}

func TestEncoderReset(t *testing.T) {
	buf := make([]byte, 0, 64)
	e := NewEncoder(buf)
	e.Start(PingPing)
	e.End() // page 13 is current now
	require.NoError(t, e.Err())
	e.Reset(e.Bytes())
	e.Empty(AirSyncSync)
	assert.Equal(t, doc(0x05), e.Bytes(), "Reset returns to page 0")
	assert.Equal(t, &buf[:1][0], &e.Bytes()[0], "Reset reuses the buffer")
}

func TestAppendMBUint32(t *testing.T) {
	tests := []struct {
		n    uint32
		want []byte
	}{
		{0, []byte{0x00}},
		{0x7F, []byte{0x7F}},
		{0x80, []byte{0x81, 0x00}},
		{0xA0, []byte{0x81, 0x20}},
		{0x3FFF, []byte{0xFF, 0x7F}},
		{0x4000, []byte{0x81, 0x80, 0x00}},
		{0x1FFFFF, []byte{0xFF, 0xFF, 0x7F}},
		{0x200000, []byte{0x81, 0x80, 0x80, 0x00}},
		{0xFFFFFFF, []byte{0xFF, 0xFF, 0xFF, 0x7F}},
		{0x10000000, []byte{0x81, 0x80, 0x80, 0x80, 0x00}},
		{math.MaxUint32, []byte{0x8F, 0xFF, 0xFF, 0xFF, 0x7F}},
	}
	for _, tc := range tests {
		got := AppendMBUint32([]byte{0xAA}, tc.n)
		assert.Equal(t, append([]byte{0xAA}, tc.want...), got, "%#x", tc.n)
		// The decoder reads it back.
		d := NewDecoder(append(doc(0x45, 0xC3), tc.want...))
		_, _ = d.Next()
		v, w, err := d.mbUint32(6)
		require.NoError(t, err)
		assert.Equal(t, tc.n, v)
		assert.Equal(t, len(tc.want), w)
	}
}

// TestEncodeAllocs: with a warm buffer, encoding a document allocates nothing.
func TestEncodeAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	for _, c := range benchCorpora {
		in := loadBenchCorpus(t, c.name)
		toks := tokensOf(t, in)
		e := NewEncoder(make([]byte, 0, len(in)))
		allocs := testing.AllocsPerRun(20, func() {
			e.Reset(e.Bytes())
			replay(e, toks)
		})
		assert.Zero(t, allocs, c.name)
		require.NoError(t, e.Err())
		assert.Equal(t, in, e.Bytes(), "%s: re-encoding is byte-identical", c.name)
	}
	e := NewEncoder(make([]byte, 0, 256))
	allocs := testing.AllocsPerRun(20, func() {
		e.Reset(e.Bytes())
		e.Start(PingPing)
		e.Int(PingHeartbeatInterval, 900)
		e.String(PingStatus, strings.Repeat("x", 0))
		e.End()
	})
	assert.Zero(t, allocs, "String and Int")
}

func tokensOf(tb testing.TB, in []byte) []Token {
	tb.Helper()
	var out []Token
	d := NewDecoder(in)
	for {
		tok, err := d.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				tb.Fatal(err)
			}
			return out
		}
		out = append(out, tok)
	}
}

// replay writes a decoded token stream back through e.
func replay(e *Encoder, toks []Token) {
	for i := range toks {
		tok := &toks[i]
		switch tok.Kind {
		case KindStart:
			if tok.Content {
				e.Start(tok.Tag)
			} else {
				e.Empty(tok.Tag)
			}
		case KindEnd:
			e.End()
		case KindString:
			e.Text(tok.Data)
		case KindOpaque:
			e.RawOpaque(tok.Data)
		}
	}
}
