// Package libwbxml is a test-only cgo wrapper around Debian's libwbxml2 (0.11.8), an
// independent C implementation of WBXML with an ActiveSync language table. The conformance
// tests compare package wbxml with it token by token; bench/wbxml measures both.
//
// The wrapper is built only with the build tag libwbxml and needs libwbxml2-dev
// (apt-get install -y libwbxml2-dev libwbxml2-utils):
//
//	go test -tags libwbxml ./wbxml/...
//
// Decode parses a document with libwbxml's tree API (wbxml_tree_from_wbxml with
// WBXML_LANG_ACTIVESYNC) and returns the tree as a token stream: element starts and ends
// with the code page and token of libwbxml's WBXMLTagEntry, and text. What libwbxml cannot
// tell apart, the stream does not either:
//
//   - inline strings and OPAQUE both become text (the tree keeps no kind), and consecutive
//     content of one element may be split or merged differently than on the wire;
//   - the content bit is lost: <X/> and <X></X> are both a start followed by an end;
//   - a token missing from libwbxml's table decodes (best effort) as a literal "unknown"
//     element without page or token, reported as Token.Unknown.
//
// Encode goes the other way for benchmarks and round trips: it parses with libwbxml and
// writes the tree again with wbxml_tree_to_wbxml (WBXML 1.3, anonymous public id, no string
// table), which is what `xml2wbxml -a -n -v 1.3` produces.
//
// # Differences found by FuzzDifferential
//
// Package wbxml is strict (its doc.go, "Rejected"); libwbxml is a general best-effort WBXML
// parser. The differential fuzz target accepts a disagreement only when it is one of these
// (differences_test.go checks each precisely; testdata/fuzz/FuzzDifferential keeps the
// inputs that found them):
//
//   - D1 libwbxml reads WBXML 1.0-1.2 and any charset; EAS sends 1.3 and UTF-8.
//   - D2 libwbxml decodes an undefined tag, or a tag on an undefined page, as <unknown>.
//   - D3 libwbxml accepts attributes, ENTITY, PI, LITERAL and EXT tokens, which EAS never uses.
//   - D4 libwbxml nests without limit; package wbxml stops at wbxml.MaxDepth.
//   - D5 libwbxml ignores bytes after the root element.
//   - D6 libwbxml reads whatever byte stands where the root tag must start as a tag (after at
//     most one SWITCH_PAGE), so END, STR_I or a second SWITCH_PAGE there become an <unknown>
//     root; package wbxml rejects the first three and accepts repeated SWITCH_PAGE.
//   - D7 libwbxml does not notice that a 5-byte mb_u_int32 overflows 32 bits.
//   - D8 libwbxml resolves a STR_T index outside the string table to some other string.
//
// No input was found that package wbxml accepts and libwbxml rejects, nor one both accept
// with different tokens apart from D6 and L3.
//
// Defects of libwbxml 0.11.8 met on the way:
//
//   - L1 an ENTITY whose code is 0x80000000 or more fails an assert() and aborts the
//     process; Decode and Encode refuse such input with ErrWouldAbort.
//   - L2 wbxml_tree_to_wbxml writes every text node as an inline string, so binary OPAQUE
//     data holding 0x00 is truncated at the first NUL (TestLibwbxmlEncodingDecodesAlike).
//   - L3 the tree builder applies a SyncML hack in every language: the content of an element
//     named Data whose grandparent is named Add or Replace goes into a CDATA node, and
//     if it arrives as two or more strings the following elements end up inside Data. No EAS
//     document puts Data there, so real traffic is not affected.
//
// Debian's libwbxml2-dev installs no headers for the tree and parser APIs; shim.h declares
// the few structures and functions used, matching libwbxml 0.11.8's ABI.
package libwbxml
