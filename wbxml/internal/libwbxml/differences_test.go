//go:build libwbxml

package libwbxml_test

import (
	"errors"

	"github.com/easd/easd/wbxml"
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
	return ""
}

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
