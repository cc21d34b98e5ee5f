package wbxml

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// doc returns the EAS header followed by body.
func doc(body ...byte) []byte { return append([]byte{0x03, 0x01, 0x6A, 0x00}, body...) }

// tokens decodes all of in, failing the test on an error.
func tokens(t *testing.T, in []byte) []Token {
	t.Helper()
	var out []Token
	d := NewDecoder(in)
	for {
		tok, err := d.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		out = append(out, tok)
	}
}

func TestNext(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []Token
	}{
		{
			name: "empty root",
			in:   doc(0x05),
			want: []Token{{Kind: KindStart, Tag: AirSyncSync, Offset: 4}},
		},
		{
			name: "root with content bit and no content",
			in:   doc(0x45, 0x01),
			want: []Token{
				{Kind: KindStart, Tag: AirSyncSync, Content: true, Offset: 4},
				{Kind: KindEnd, Tag: AirSyncSync, Offset: 5},
			},
		},
		{
			name: "FolderSync request with page switch",
			// <FolderSync><SyncKey>0</SyncKey></FolderSync>
			in: doc(0x00, 0x07, 0x56, 0x52, 0x03, '0', 0x00, 0x01, 0x01),
			want: []Token{
				{Kind: KindStart, Tag: FolderHierarchyFolderSync, Content: true, Offset: 6},
				{Kind: KindStart, Tag: FolderHierarchySyncKey, Content: true, Offset: 7},
				{Kind: KindString, Data: []byte("0"), Offset: 8},
				{Kind: KindEnd, Tag: FolderHierarchySyncKey, Offset: 11},
				{Kind: KindEnd, Tag: FolderHierarchyFolderSync, Offset: 12},
			},
		},
		{
			name: "opaque and empty string",
			in:   doc(0x45, 0x4B, 0xC3, 0x02, 0xFF, 0x00, 0x03, 0x00, 0x01, 0x01),
			want: []Token{
				{Kind: KindStart, Tag: AirSyncSync, Content: true, Offset: 4},
				{Kind: KindStart, Tag: AirSyncSyncKey, Content: true, Offset: 5},
				{Kind: KindOpaque, Data: []byte{0xFF, 0x00}, Offset: 6},
				{Kind: KindString, Data: []byte{}, Offset: 10},
				{Kind: KindEnd, Tag: AirSyncSyncKey, Offset: 12},
				{Kind: KindEnd, Tag: AirSyncSync, Offset: 13},
			},
		},
		{
			name: "string table and STR_T",
			// header with a 4-byte string table "ab\0c\0" is 5 bytes: use "x\0yz\0"
			in: []byte{0x03, 0x01, 0x6A, 0x05, 'x', 0, 'y', 'z', 0, 0x45, 0x83, 0x02, 0x01},
			want: []Token{
				{Kind: KindStart, Tag: AirSyncSync, Content: true, Offset: 9},
				{Kind: KindString, Data: []byte("yz"), Offset: 10},
				{Kind: KindEnd, Tag: AirSyncSync, Offset: 12},
			},
		},
		{
			name: "public id as string table reference",
			in:   []byte{0x03, 0x00, 0x00, 0x6A, 0x02, 'p', 0, 0x05},
			want: []Token{{Kind: KindStart, Tag: AirSyncSync, Offset: 7}},
		},
		{
			name: "multi-byte opaque length",
			in:   append(doc(0x45, 0xC3, 0x81, 0x00), append(bytes.Repeat([]byte{'m'}, 128), 0x01)...),
			want: []Token{
				{Kind: KindStart, Tag: AirSyncSync, Content: true, Offset: 4},
				{Kind: KindOpaque, Data: bytes.Repeat([]byte{'m'}, 128), Offset: 5},
				{Kind: KindEnd, Tag: AirSyncSync, Offset: 136},
			},
		},
		{
			name: "Find page 25",
			in:   doc(0x00, 0x19, 0x45, 0x01),
			want: []Token{
				{Kind: KindStart, Tag: FindFind, Content: true, Offset: 6},
				{Kind: KindEnd, Tag: FindFind, Offset: 7},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tokens(t, tc.in)
			require.Len(t, got, len(tc.want))
			for i := range got {
				assert.Equal(t, tc.want[i].Kind, got[i].Kind, "token %d", i)
				assert.Equal(t, tc.want[i].Tag, got[i].Tag, "token %d", i)
				assert.Equal(t, tc.want[i].Content, got[i].Content, "token %d", i)
				assert.Equal(t, tc.want[i].Offset, got[i].Offset, "token %d", i)
				assert.Equal(t, string(tc.want[i].Data), string(got[i].Data), "token %d", i)
			}
		})
	}
}

func TestNextAfterEOF(t *testing.T) {
	d := NewDecoder(doc(0x05))
	_, err := d.Next()
	require.NoError(t, err)
	for range 2 {
		_, err = d.Next()
		require.ErrorIs(t, err, io.EOF)
	}
}

func TestDepth(t *testing.T) {
	d := NewDecoder(doc(0x45, 0x4F, 0x0B, 0x01, 0x01))
	var depths []int
	for {
		_, err := d.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		depths = append(depths, d.Depth())
	}
	assert.Equal(t, []int{1, 2, 2, 1, 0}, depths)
}

// TestHostileInput: every way a document can be malformed is an error at a known offset,
// wrapping a known sentinel.
func TestHostileInput(t *testing.T) {
	deep := doc(bytes.Repeat([]byte{0x45}, MaxDepth+1)...)
	tests := []struct {
		name    string
		in      []byte
		maxSize int
		want    error
		offset  int
	}{
		{"empty input", nil, 0, ErrTruncated, 0},
		{"version 1.2", []byte{0x02, 0x01, 0x6A, 0x00, 0x05}, 0, ErrHeader, 0},
		{"version only", []byte{0x03}, 0, ErrTruncated, 1},
		{"no charset", []byte{0x03, 0x01}, 0, ErrTruncated, 2},
		{"charset latin1", []byte{0x03, 0x01, 0x04, 0x00, 0x05}, 0, ErrHeader, 2},
		{"no string table length", []byte{0x03, 0x01, 0x6A}, 0, ErrTruncated, 3},
		{"string table past end", []byte{0x03, 0x01, 0x6A, 0x05, 'a'}, 0, ErrTruncated, 3},
		{"public id index past table", []byte{0x03, 0x00, 0x07, 0x6A, 0x00, 0x05}, 0, ErrHeader, 1},
		{"header only", doc(), 0, ErrTruncated, 4},
		{"mb_u_int32 of 6 bytes", doc(0x45, 0xC3, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), 0, ErrMBUint32, 6},
		{"mb_u_int32 over 32 bits", doc(0x45, 0xC3, 0x90, 0x80, 0x80, 0x80, 0x00), 0, ErrMBUint32, 6},
		{"mb_u_int32 truncated", doc(0x45, 0xC3, 0x81), 0, ErrTruncated, 6},
		{"string without terminator", doc(0x45, 0x03, 'a', 'b'), 0, ErrTruncated, 5},
		{"opaque length past end", doc(0x45, 0xC3, 0x05, 'a', 0x01), 0, ErrTruncated, 5},
		{"opaque length 4 GiB", doc(0x45, 0xC3, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F), 0, ErrTruncated, 5},
		{"unknown code page", doc(0x00, 0x1A, 0x45, 0x01), 0, ErrUnknownPage, 4},
		{"code page 255", doc(0x45, 0x00, 0xFF, 0x05, 0x01), 0, ErrUnknownPage, 5},
		{"switch page truncated", doc(0x45, 0x00), 0, ErrTruncated, 5},
		{"unknown tag", doc(0x51, 0x01), 0, ErrUnknownTag, 4},
		{"tag on page 3 AirNotify", doc(0x00, 0x03, 0x45, 0x01), 0, ErrUnknownTag, 6},
		{"2.5-only Email Body", doc(0x00, 0x02, 0x4C, 0x01), 0, ErrUnknownTag, 6},
		{"attributes bit", doc(0xC5, 0x01, 0x01), 0, ErrUnsupported, 4},
		{"attributes without content", doc(0x85, 0x01), 0, ErrUnsupported, 4},
		{"ENTITY", doc(0x45, 0x02, 0x41, 0x01), 0, ErrUnsupported, 5},
		{"LITERAL", doc(0x45, 0x04, 0x00, 0x01), 0, ErrUnsupported, 5},
		{"PI", doc(0x45, 0x43, 0x01), 0, ErrUnsupported, 5},
		{"EXT_I_0", doc(0x45, 0x40, 'a', 0x00, 0x01), 0, ErrUnsupported, 5},
		{"EXT_T_0", doc(0x45, 0x80, 0x00, 0x01), 0, ErrUnsupported, 5},
		{"EXT_0", doc(0x45, 0xC0, 0x01), 0, ErrUnsupported, 5},
		{"LITERAL_AC", doc(0x45, 0xC4, 0x00, 0x01), 0, ErrUnsupported, 5},
		{"END with nothing open", doc(0x01), 0, ErrStructure, 4},
		{"string before the root", doc(0x03, 'a', 0x00, 0x05), 0, ErrStructure, 4},
		{"opaque before the root", doc(0xC3, 0x00, 0x05), 0, ErrStructure, 4},
		{"STR_T before the root", doc(0x83, 0x00, 0x05), 0, ErrStructure, 4},
		{"STR_T index out of range", doc(0x45, 0x83, 0x00, 0x01), 0, ErrStructure, 5},
		{"unclosed root", doc(0x45, 0x4F), 0, ErrTruncated, 6},
		{"content after root", doc(0x45, 0x01, 0x45, 0x01), 0, ErrStructure, 6},
		{"second empty root", doc(0x05, 0x05), 0, ErrStructure, 5},
		{"page switch after root", doc(0x05, 0x00, 0x01), 0, ErrStructure, 5},
		{"too deep", deep, 0, ErrTooDeep, 4 + MaxDepth},
		{"too large", doc(0x45, 0x01), 5, ErrTooLarge, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(tc.in)
			d.SetMaxSize(tc.maxSize)
			var err error
			for err == nil {
				_, err = d.Next()
			}
			require.ErrorIs(t, err, tc.want)
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.offset, se.Offset, "error %v", err)
			assert.Contains(t, se.Error(), "wbxml: ")
			// Errors are sticky.
			_, again := d.Next()
			assert.Equal(t, err, again)
		})
	}
}

func TestMaxSizeBoundary(t *testing.T) {
	in := doc(0x45, 0x01)
	d := NewDecoder(in)
	d.SetMaxSize(len(in))
	assert.Len(t, collect(d), 2)
	d.Reset(in) // the limit survives Reset
	d.SetMaxSize(len(in) - 1)
	_, err := d.Next()
	require.ErrorIs(t, err, ErrTooLarge)
}

func collect(d *Decoder) []Token {
	var out []Token
	for {
		tok, err := d.Next()
		if err != nil {
			return out
		}
		out = append(out, tok)
	}
}

func TestSyntaxErrorMessage(t *testing.T) {
	_, err := NewDecoder(doc(0x51, 0x01)).Next()
	assert.EqualError(t, err, "wbxml: unknown tag 0x00:0x11 in code page AirSync at offset 4")
}

// TestTruncations decodes every prefix of every fixture (the benchmark corpora and the
// conformance documents): each ends in a clean *SyntaxError, never a panic and never io.EOF
// before the root closed. Decoding in[:n] from scratch reaches the same state at each token
// boundary before n as decoding in does, so each prefix resumes from a copy of the full
// decoder taken at the last boundary: linear time instead of quadratic.
func TestTruncations(t *testing.T) {
	names, err := filepath.Glob(filepath.Join("testdata", "*", "*.wbxml"))
	require.NoError(t, err)
	require.NotEmpty(t, names)
	check := func(t *testing.T, d *Decoder, n int) {
		t.Helper()
		var err error
		for err == nil {
			_, err = d.Next()
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("prefix %d: %v, want a *SyntaxError", n, err)
		}
		if se.Offset > n {
			t.Fatalf("prefix %d: offset %d past the input", n, se.Offset)
		}
	}
	for _, name := range names {
		in, err := os.ReadFile(name)
		require.NoError(t, err)
		t.Run(name, func(t *testing.T) {
			full := NewDecoder(in)
			_, err := full.Next() // header and first token
			require.NoError(t, err)
			for n := 0; n < full.pos; n++ {
				check(t, NewDecoder(in[:n]), n)
			}
			for full.pos < len(in) {
				snap := *full
				_, err := full.Next()
				require.NoError(t, err)
				for n := snap.pos; n < full.pos; n++ {
					d := snap
					d.doc = in[:n]
					check(t, &d, n)
				}
			}
		})
	}
}

func TestSkip(t *testing.T) {
	in := corpusDoc(t, func(e *Encoder) {
		e.Start(AirSyncSync)
		e.Start(AirSyncCollections)
		e.Start(AirSyncCollection)
		e.String(AirSyncSyncKey, "1")
		e.Empty(AirSyncGetChanges)
		e.End()
		e.End()
		e.Empty(AirSyncPartial)
		e.Int(AirSyncWait, 5)
		e.End()
	})
	d := NewDecoder(in)
	_, err := d.Expect(AirSyncSync)
	require.NoError(t, err)
	_, err = d.Expect(AirSyncCollections)
	require.NoError(t, err)
	require.NoError(t, d.Skip())
	assert.Equal(t, 1, d.Depth())
	_, err = d.Expect(AirSyncPartial)
	require.NoError(t, err)
	require.NoError(t, d.Skip(), "Skip of an element without content")
	_, err = d.Expect(AirSyncWait)
	require.NoError(t, err)
	n, err := d.Int()
	require.NoError(t, err)
	assert.Equal(t, int64(5), n)
	tok, err := d.Next()
	require.NoError(t, err)
	assert.Equal(t, Token{Kind: KindEnd, Tag: AirSyncSync, Offset: len(in) - 1}, tok)

	d.Reset(in)
	require.ErrorIs(t, d.Skip(), ErrContent, "Skip before any token")
	_, err = d.Expect(AirSyncSync)
	require.NoError(t, err)
	_, err = d.Expect(AirSyncCollections)
	require.NoError(t, err)
	require.NoError(t, d.Skip())
	require.ErrorIs(t, d.Skip(), ErrContent, "Skip after an End")
	_, err = d.Text()
	require.ErrorIs(t, err, ErrContent, "Text after an End")
	_, err = d.Expect(AirSyncPartial)
	require.NoError(t, err)
	require.NoError(t, d.Skip())
	require.ErrorIs(t, d.Skip(), ErrContent, "second Skip of an element without content")
	_, err = d.Expect(AirSyncWait)
	require.NoError(t, err)
	_, _ = d.Next() // the string
	_, err = d.Text()
	require.ErrorIs(t, err, ErrContent, "Text after a string")
}

func corpusDoc(t *testing.T, gen func(e *Encoder)) []byte {
	t.Helper()
	e := NewEncoder(nil)
	gen(e)
	out := e.Bytes()
	require.NoError(t, e.Err())
	return out
}

func TestText(t *testing.T) {
	in := corpusDoc(t, func(e *Encoder) {
		e.Start(ProvisionProvision)
		e.String(ProvisionPolicyKey, "3942919513")
		e.Empty(ProvisionRemoteWipe)
		e.Start(ProvisionStatus)
		e.End()
		e.Opaque(ProvisionData, []byte{1, 2})
		e.String(ProvisionPolicyType, "x")
		e.Start(ProvisionPolicies)
		e.Empty(ProvisionPolicy)
		e.End()
		e.Start(ProvisionPolicyType)
		e.Text([]byte("a"))
		e.Text([]byte("b"))
		e.End()
		e.End()
	})
	d := NewDecoder(in)
	_, err := d.Expect(ProvisionProvision)
	require.NoError(t, err)

	_, err = d.Expect(ProvisionPolicyKey)
	require.NoError(t, err)
	n, err := d.Int()
	require.NoError(t, err)
	assert.Equal(t, int64(3942919513), n)

	_, err = d.Expect(ProvisionRemoteWipe)
	require.NoError(t, err)
	b, err := d.Text()
	require.NoError(t, err)
	assert.Empty(t, b, "element without content")

	_, err = d.Expect(ProvisionStatus)
	require.NoError(t, err)
	b, err = d.Text()
	require.NoError(t, err)
	assert.Empty(t, b, "element with content bit and no content")

	_, err = d.Expect(ProvisionData)
	require.NoError(t, err)
	b, err = d.Text()
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2}, b, "opaque")

	_, err = d.Expect(ProvisionPolicyType)
	require.NoError(t, err)
	s, err := d.String()
	require.NoError(t, err)
	assert.Equal(t, "x", s)

	_, err = d.Expect(ProvisionPolicies)
	require.NoError(t, err)
	_, err = d.Text()
	require.ErrorIs(t, err, ErrContent, "child element where text was expected")
	tok, err := d.Next() // Text consumed the child, an element without content
	require.NoError(t, err)
	assert.Equal(t, KindEnd, tok.Kind)

	_, err = d.Expect(ProvisionPolicyType)
	require.NoError(t, err)
	_, err = d.Text()
	require.ErrorIs(t, err, ErrContent, "two strings")
}

func TestExpect(t *testing.T) {
	d := NewDecoder(doc(0x45, 0x01))
	_, err := d.Expect(PingPing)
	require.ErrorIs(t, err, ErrContent)
	assert.EqualError(t, err, "wbxml: expected Ping:Ping, found start AirSync:Sync at offset 4")
	_, err = d.Expect(AirSyncSync)
	require.ErrorIs(t, err, ErrContent, "found the end tag")
	_, err = d.Expect(AirSyncSync)
	require.ErrorIs(t, err, ErrContent, "end of document")
}

func TestInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"42", 42, true},
		{"-1", -1, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"-9223372036854775808", -9223372036854775808, true},
		{"9223372036854775808", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"1.5", 0, false},
		{" 1", 0, false},
		{"+1", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			in := corpusDoc(t, func(e *Encoder) { e.String(PingHeartbeatInterval, tc.in) })
			d := NewDecoder(in)
			_, err := d.Next()
			require.NoError(t, err)
			n, err := d.Int()
			if !tc.ok {
				require.ErrorIs(t, err, ErrContent)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, n)
		})
	}
}

func TestTokenClone(t *testing.T) {
	in := doc(0x45, 0x03, 'a', 0x00, 0x01)
	d := NewDecoder(in)
	_, _ = d.Next()
	tok, err := d.Next()
	require.NoError(t, err)
	c := tok.Clone()
	in[6] = 'b'
	assert.Equal(t, "b", string(tok.Data))
	assert.Equal(t, "a", string(c.Data))
}

// TestNextAllocs proves that tokenizing a realistic document allocates nothing.
func TestNextAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	for _, c := range benchCorpora {
		in := loadBenchCorpus(t, c.name)
		d := new(Decoder)
		n := 0
		allocs := testing.AllocsPerRun(20, func() {
			d.Reset(in)
			for {
				if _, err := d.Next(); err != nil {
					break
				}
				n++
			}
		})
		assert.Zero(t, allocs, "%s: allocations per document of %d tokens", c.name, n/21)
	}
}

// TestHelperAllocs: the helpers allocate only for a returned string.
func TestHelperAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	in := loadBenchCorpus(t, "provision")
	d := new(Decoder)
	allocs := testing.AllocsPerRun(20, func() {
		d.Reset(in)
		_, _ = d.Expect(ProvisionProvision)
		_, _ = d.Expect(ProvisionStatus)
		_, _ = d.Int()
		_, _ = d.Expect(ProvisionPolicies)
		_, _ = d.Expect(ProvisionPolicy)
		_, _ = d.Expect(ProvisionPolicyType)
		_, _ = d.Text()
		_, _ = d.Expect(ProvisionStatus)
		_ = d.Skip()
		_, _ = d.Expect(ProvisionPolicyKey)
		_, _ = d.Int()
		_, _ = d.Expect(ProvisionData)
		if err := d.Skip(); err != nil {
			panic(err)
		}
	})
	assert.Zero(t, allocs)
}
