//go:build libwbxml

package libwbxml_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/wbxml"
	"github.com/easd/easd/wbxml/internal/libwbxml"
)

// Documented differences between package wbxml and libwbxml 0.11.8, found by
// FuzzDifferential. Package wbxml is strict by design (doc.go, "Rejected"): EAS uses a small
// subset of WBXML 1.3 and anything else is a hostile or broken client. libwbxml is a
// general, best-effort WBXML parser. Each function names the difference an input hits, or
// returns "" if none applies; the fuzz target fails on an unexplained disagreement.

// onlyLibwbxmlAccepts explains an input libwbxml decodes and package wbxml rejects with ours.
func onlyLibwbxmlAccepts(doc []byte, ours error, lib []item) string {
	var se *wbxml.SyntaxError
	if !errors.As(ours, &se) {
		return ""
	}
	switch {
	case errors.Is(ours, wbxml.ErrHeader):
		// D1: libwbxml reads WBXML 1.0-1.2 and any charset; EAS sends 1.3 and UTF-8
		// (MS-ASWBXML 2.1.1).
		return "D1 header version or charset"
	case errors.Is(ours, wbxml.ErrUnknownTag), errors.Is(ours, wbxml.ErrUnknownPage):
		// D2: libwbxml decodes an undefined tag (or a tag on an undefined page) as
		// <unknown> in best-effort mode; package wbxml rejects it.
		return "D2 undefined tag or code page"
	case errors.Is(ours, wbxml.ErrUnsupported):
		// D3: attributes, ENTITY, PI, LITERAL and EXT tokens are WBXML but not EAS.
		return "D3 token EAS does not use"
	case errors.Is(ours, wbxml.ErrStructure) && rootClosedBefore(doc, se.Offset):
		// D5: libwbxml stops after the root element and ignores trailing bytes; package
		// wbxml requires the input to end there.
		return "D5 bytes after the root element"
	case len(lib) > 0 && lib[0].unknown:
		// D6: where the root element must start, libwbxml reads any byte as a tag (after
		// at most one SWITCH_PAGE), so a global token there (END, STR_I, OPAQUE, a second
		// SWITCH_PAGE ...) becomes an <unknown> root and the rest is ignored (D5).
		return "D6 global token read as the root tag"
	case errors.Is(ours, wbxml.ErrMBUint32) && fiveByteMBUint32(doc, se.Offset):
		// D7: libwbxml reads up to 5 bytes of an mb_u_int32 but does not notice that a
		// 5-byte value overflows 32 bits (WAP-192-WBXML 5.1); it keeps the low 32 bits.
		return "D7 mb_u_int32 overflowing 32 bits"
	case se.Offset < len(doc) && doc[se.Offset] == 0x83 && !errors.Is(ours, wbxml.ErrTruncated) && !errors.Is(ours, wbxml.ErrMBUint32):
		// D8: libwbxml resolves a STR_T index outside the document's string table (even an
		// empty one) to some other string instead of failing; package wbxml rejects it.
		return "D8 STR_T index outside the string table"
	case errors.Is(ours, wbxml.ErrTooDeep):
		// D4: package wbxml limits nesting to wbxml.MaxDepth; libwbxml recurses without limit.
		return "D4 nesting deeper than MaxDepth"
	}
	return ""
}

// fiveByteMBUint32 reports whether doc holds a complete 5-byte mb_u_int32 at off.
func fiveByteMBUint32(doc []byte, off int) bool {
	if off < 0 || off+5 > len(doc) {
		return false
	}
	for _, b := range doc[off : off+4] {
		if b&0x80 == 0 {
			return false
		}
	}
	return doc[off+4]&0x80 == 0
}

// rootClosedBefore reports whether package wbxml had read a complete root element when it
// stopped at offset off.
func rootClosedBefore(doc []byte, off int) bool {
	d := wbxml.NewDecoder(doc)
	n := 0
	for {
		_, err := d.Next()
		if err != nil {
			return n > 0 && d.Depth() == 0 && d.InputOffset() <= off
		}
		n++
	}
}

// onlyWeAccept explains an input package wbxml decodes and libwbxml rejects.
func onlyWeAccept(doc []byte, ours []item, lib error) string {
	return ""
}

// bothAcceptDiffer explains inputs both decode to different streams.
func bothAcceptDiffer(doc []byte, ours, lib []item) string {
	if len(lib) > 0 && lib[0].unknown && switchPagesBeforeRoot(doc) >= 2 {
		// D6 again: package wbxml takes any number of SWITCH_PAGE tokens before the root;
		// libwbxml reads the second one's 0x00 as the root tag.
		return "D6 several SWITCH_PAGE before the root"
	}
	if splitDataUnderAdd(doc) {
		// L3: libwbxml's tree builder applies a SyncML hack in every language: content of an
		// element named Data whose grandparent is named Add or Replace goes into a CDATA
		// node, and when it arrives as two or more strings the elements after it end up
		// inside Data. (No EAS document has Data there: its grandparents are ApplicationData,
		// Fetch, Policies, Recipient, Properties.)
		return "L3 tree builder's SyncML hack on Data under Add"
	}
	return ""
}

// splitDataUnderAdd reports whether doc, which package wbxml accepts, has an element named
// Data holding two or more content tokens (possibly with elements between them) whose
// grandparent is named Add or Replace.
func splitDataUnderAdd(doc []byte) bool {
	d := wbxml.NewDecoder(doc)
	var names []string
	var pieces []int // content tokens seen directly inside each open element
	for {
		tok, err := d.Next()
		if err != nil {
			return false
		}
		switch tok.Kind {
		case wbxml.KindStart:
			if tok.Content {
				names = append(names, tok.Tag.Name())
				pieces = append(pieces, 0)
			}
		case wbxml.KindString, wbxml.KindOpaque:
			n := len(names)
			pieces[n-1]++
			if pieces[n-1] >= 2 && n >= 3 && names[n-1] == "Data" && isAddOrReplace(names[n-3]) {
				return true
			}
		case wbxml.KindEnd:
			names = names[:len(names)-1]
			pieces = pieces[:len(pieces)-1]
		}
	}
}

func isAddOrReplace(name string) bool { return name == "Add" || name == "Replace" }

// switchPagesBeforeRoot counts the SWITCH_PAGE tokens between the header and the root tag
// of a document package wbxml accepts.
func switchPagesBeforeRoot(doc []byte) int {
	tok, err := wbxml.NewDecoder(doc).Next()
	if err != nil {
		return 0
	}
	n := 0
	for off := tok.Offset; off >= 2 && doc[off-2] == 0x00; off -= 2 {
		n++
	}
	return n
}

// TestDocumentedDifferences pins each documented difference with a hand-made input: package
// wbxml rejects it with the expected sentinel (or, for D6 with repeated SWITCH_PAGE, decodes
// it), libwbxml accepts it, and the fuzz target's classifier names the difference.
func TestDocumentedDifferences(t *testing.T) {
	hdr := []byte{0x03, 0x01, 0x6A, 0x00}
	doc := func(body ...byte) []byte { return append(append([]byte(nil), hdr...), body...) }
	deep := doc()
	for range wbxml.MaxDepth + 1 {
		deep = append(deep, 0x45) // AirSync:Sync with content
	}
	for range wbxml.MaxDepth + 1 {
		deep = append(deep, 0x01)
	}
	tests := []struct {
		name string
		doc  []byte
		ours error // nil: package wbxml accepts
		want string
	}{
		{"WBXML 1.2", []byte{0x02, 0x01, 0x6A, 0x00, 0x45, 0x01}, wbxml.ErrHeader, "D1"},
		{"ISO-8859-1", []byte{0x03, 0x01, 0x04, 0x00, 0x45, 0x01}, wbxml.ErrHeader, "D1"},
		{"undefined tag", doc(0x45, 0x7F, 0x01, 0x01), wbxml.ErrUnknownTag, "D2"},
		{"undefined page", doc(0x45, 0x00, 0x1E, 0x05, 0x01), wbxml.ErrUnknownPage, "D2"},
		{"ENTITY", doc(0x45, 0x02, 0x41, 0x01), wbxml.ErrUnsupported, "D3"},
		{"too deep", deep, wbxml.ErrTooDeep, "D4"},
		{"bytes after the root", doc(0x05, 0x30), wbxml.ErrStructure, "D5"},
		{"END as root", doc(0x01, 0x30), wbxml.ErrStructure, "D6"},
		{"two SWITCH_PAGE before the root", doc(0x00, 0x00, 0x00, 0x00, 0x20), nil, "D6"},
		// Sync > AirSyncBase Add > Preview > Data holding "a", "b", then a second Preview:
		// libwbxml puts that Preview inside Data.
		{"split Data under Add", doc(0x45, 0x00, 0x11, 0x5C, 0x58, 0x4B, 0x03, 'a', 0x00, 0x03, 'b', 0x00, 0x01, 0x58, 0x01, 0x01, 0x01, 0x01), nil, "L3"},
		{"mb_u_int32 overflow", []byte{0x03, 0x90, 0x80, 0x80, 0x80, 0x01, 0x6A, 0x00, 0x05}, wbxml.ErrMBUint32, "D7"},
		{"STR_T past an empty string table", doc(0x58, 0x83, 0x00, 0x01), wbxml.ErrStructure, "D8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ours, oerr := ourStream(tc.doc)
			lib, lerr := libStream(tc.doc)
			require.NoError(t, lerr, "libwbxml accepts it")
			var got string
			if tc.ours == nil {
				require.NoError(t, oerr)
				require.NotEmpty(t, diff(ours, lib), "the streams differ")
				got = bothAcceptDiffer(tc.doc, ours, lib)
			} else {
				require.ErrorIs(t, oerr, tc.ours)
				got = onlyLibwbxmlAccepts(tc.doc, oerr, lib)
			}
			assert.True(t, strings.HasPrefix(got, tc.want+" "), "classified as %q, want %s", got, tc.want)
		})
	}

	t.Run("L1 ENTITY code that aborts libwbxml", func(t *testing.T) {
		in := doc(0x45, 0x02, 0x88, 0x80, 0x80, 0x80, 0x00, 0x01)
		_, err := libwbxml.Decode(in)
		require.ErrorIs(t, err, libwbxml.ErrWouldAbort)
		_, err = libwbxml.Encode(in)
		require.ErrorIs(t, err, libwbxml.ErrWouldAbort)
		_, err = ourStream(in)
		require.ErrorIs(t, err, wbxml.ErrUnsupported)
	})
}
