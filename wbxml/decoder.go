package wbxml

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"
)

const (
	// MaxDepth is the deepest element nesting the Decoder accepts and the Encoder writes.
	// MS-ASCMD documents nest at most about a dozen levels.
	MaxDepth = 64

	// DefaultMaxSize is the largest document a Decoder accepts unless SetMaxSize says
	// otherwise: 32 MiB, above the largest SendMail or ItemOperations body a server should
	// take in one request.
	DefaultMaxSize = 32 << 20
)

// WAP-192-WBXML 7.1: global tokens, the same in every code page.
const (
	tokSwitchPage = 0x00
	tokEnd        = 0x01
	tokEntity     = 0x02
	tokStrI       = 0x03
	tokLiteral    = 0x04
	tokExtI0      = 0x40
	tokExtI1      = 0x41
	tokExtI2      = 0x42
	tokPI         = 0x43
	tokLiteralC   = 0x44
	tokExtT0      = 0x80
	tokExtT1      = 0x81
	tokExtT2      = 0x82
	tokStrT       = 0x83
	tokLiteralA   = 0x84
	tokExt0       = 0xC0
	tokExt1       = 0xC1
	tokExt2       = 0xC2
	tokOpaque     = 0xC3
	tokLiteralAC  = 0xC4

	tagContentBit = 0x40 // WAP-192-WBXML 5.8.2: the element has content
	tagAttrBit    = 0x80 // WAP-192-WBXML 5.8.2: the element has attributes
)

// Byte classes of the first byte of a token, looked up in byteClass.
const (
	clsUnsupported uint8 = iota // ENTITY, LITERAL*, EXT*, PI
	clsTag                      // 0x05-0x3F: tag without content
	clsTagContent               // 0x45-0x7F: tag with content
	clsAttr                     // 0x85-0xBF, 0xC5-0xFF: tag with attributes
	clsSwitchPage
	clsEnd
	clsStrI
	clsStrT
	clsOpaque
)

var byteClass = makeByteClass()

func makeByteClass() (c [256]uint8) {
	for b := 0; b < 256; b++ {
		switch {
		case b&0x3F >= 0x05 && b&tagAttrBit != 0:
			c[b] = clsAttr
		case b&0x3F >= 0x05 && b&tagContentBit != 0:
			c[b] = clsTagContent
		case b&0x3F >= 0x05:
			c[b] = clsTag
		}
	}
	c[tokSwitchPage] = clsSwitchPage
	c[tokEnd] = clsEnd
	c[tokStrI] = clsStrI
	c[tokStrT] = clsStrT
	c[tokOpaque] = clsOpaque
	return c
}

// globalName names the global tokens the decoder rejects.
func globalName(b byte) string {
	switch b {
	case tokEntity:
		return "ENTITY"
	case tokLiteral, tokLiteralC, tokLiteralA, tokLiteralAC:
		return "LITERAL"
	case tokExtI0, tokExtI1, tokExtI2:
		return "EXT_I"
	case tokPI:
		return "PI"
	case tokExtT0, tokExtT1, tokExtT2:
		return "EXT_T"
	default:
		return "EXT"
	}
}

// Kind is the kind of a Token.
type Kind uint8

// Token kinds.
const (
	KindStart  Kind = iota + 1 // start tag; Token.Content says whether content (and an End) follows
	KindEnd                    // end of the element opened by the matching KindStart with Content
	KindString                 // inline string (STR_I, or STR_T from the string table); Data is the text without NUL
	KindOpaque                 // OPAQUE; Data is the bytes
)

// String returns the name of k, for messages.
func (k Kind) String() string {
	switch k {
	case KindStart:
		return "start"
	case KindEnd:
		return "end"
	case KindString:
		return "string"
	case KindOpaque:
		return "opaque"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Token is one item of a WBXML document.
type Token struct {
	Kind    Kind
	Tag     Tag    // for KindStart and KindEnd (End carries the tag it closes)
	Content bool   // KindStart only: the element has content and will be closed by a KindEnd
	Data    []byte // KindString/KindOpaque: aliases the input until the next Reset; do not modify
	Offset  int    // byte offset of the token in the input (after any SWITCH_PAGE)
}

// Clone returns t with its own copy of Data, for keeping past the next Reset.
func (t Token) Clone() Token {
	if t.Data != nil {
		t.Data = bytes.Clone(t.Data)
	}
	return t
}

// errNoHeader is Decoder.err until the header has been read.
var errNoHeader = errors.New("wbxml: header not read")

// Decoder states.
const (
	stHeader uint8 = iota // header not read yet
	stBody                // before the root element or inside it
	stDone                // the root element is closed; only the end of input may follow
)

// Decoder reads the tokens of one WBXML document from a byte slice. Token data aliases the
// slice, so the caller must not modify it until the next Reset. A Decoder is reusable through
// Reset and not safe for concurrent use. The zero Decoder reads an empty document (Next fails
// with ErrTruncated); use NewDecoder or Reset.
type Decoder struct {
	doc     []byte
	pos     int
	strtbl  []byte
	depth   int
	maxSize int
	err     error // sticky: a *SyntaxError or io.EOF
	page    uint8
	state   uint8
	// startEnd is pos right after the last KindStart returned: the helpers know that the last
	// token was a start tag when pos still equals it. Only start tags write it.
	startEnd int
	stack    [MaxDepth]Tag
}

// NewDecoder returns a Decoder reading doc.
func NewDecoder(doc []byte) *Decoder {
	d := new(Decoder)
	d.Reset(doc)
	return d
}

// Reset makes d read doc from the start, keeping its size limit. It does not allocate.
func (d *Decoder) Reset(doc []byte) {
	d.doc = doc
	d.pos = 0
	d.strtbl = nil
	d.depth = 0
	d.err = errNoHeader // makes the first Next read the header, with a single check per call
	d.page = 0
	d.state = stHeader
	d.startEnd = -1
}

// SetMaxSize sets the largest document d accepts; n <= 0 restores DefaultMaxSize. A larger
// document fails at the first Next with ErrTooLarge. The limit survives Reset.
func (d *Decoder) SetMaxSize(n int) { d.maxSize = n }

// Depth returns the number of elements currently open: 0 before the root and after it closes.
func (d *Decoder) Depth() int { return d.depth }

// InputOffset returns the offset of the next unread byte.
func (d *Decoder) InputOffset() int { return d.pos }

// fail makes err sticky and returns it. It and the err* helpers are kept out of line so that
// Next stays small: error paths must not cost the hot path stack space.
//
//go:noinline
func (d *Decoder) fail(off int, sentinel error, msg string) error {
	d.err = &SyntaxError{Offset: off, Msg: msg, Err: sentinel}
	return d.err
}

// Next returns the next token. After the root element closes it returns io.EOF; every
// malformed input yields a *SyntaxError wrapping one of the sentinel errors. Errors are
// sticky. Next does not allocate (except to build an error).
func (d *Decoder) Next() (Token, error) {
	if d.err != nil {
		if d.err != errNoHeader {
			return Token{}, d.err
		}
		d.err = nil
		if err := d.header(); err != nil {
			return Token{}, err
		}
	}
	doc := d.doc
	pos := d.pos
	for {
		if uint(pos) >= uint(len(doc)) {
			return Token{}, d.eof(pos)
		}
		b := doc[pos]
		switch byteClass[b] {
		case clsTag, clsTagContent:
			tok := b & 0x3F
			if knownTokens[d.page]&(1<<tok) == 0 {
				return Token{}, d.unknownTag(pos, tok)
			}
			t := Tag(d.page)<<8 | Tag(tok)
			content := b&tagContentBit != 0
			if content {
				depth := d.depth
				if uint(depth) >= MaxDepth {
					return Token{}, d.fail(pos, ErrTooDeep, "elements nested deeper than 64")
				}
				d.stack[depth] = t
				d.depth = depth + 1
			} else if d.depth == 0 {
				d.closeRoot(pos + 1)
			}
			d.pos = pos + 1
			d.startEnd = pos + 1
			return Token{Kind: KindStart, Tag: t, Content: content, Offset: pos}, nil
		case clsEnd:
			depth := d.depth - 1
			if uint(depth) >= MaxDepth {
				return Token{}, d.fail(pos, ErrStructure, "END with no open element")
			}
			d.depth = depth
			if depth == 0 {
				d.closeRoot(pos + 1)
			}
			d.pos = pos + 1
			return Token{Kind: KindEnd, Tag: d.stack[depth], Offset: pos}, nil
		case clsStrI:
			if d.depth == 0 {
				return Token{}, d.fail(pos, ErrStructure, "string outside an element")
			}
			rest := doc[pos+1:]
			n := bytes.IndexByte(rest, 0)
			if n < 0 {
				return Token{}, d.fail(pos, ErrTruncated, "inline string without terminator")
			}
			d.pos = pos + 2 + n
			return Token{Kind: KindString, Data: rest[:n:n], Offset: pos}, nil
		case clsOpaque:
			if d.depth == 0 {
				return Token{}, d.fail(pos, ErrStructure, "opaque data outside an element")
			}
			n, w, err := d.mbUint32(pos + 1)
			if err != nil {
				return Token{}, err
			}
			start := pos + 1 + w
			if uint64(n) > uint64(len(doc)-start) {
				return Token{}, d.errOpaqueLength(pos, n)
			}
			end := start + int(n)
			d.pos = end
			return Token{Kind: KindOpaque, Data: doc[start:end:end], Offset: pos}, nil
		case clsSwitchPage:
			if pos+1 >= len(doc) {
				return Token{}, d.fail(pos, ErrTruncated, "unexpected end of input in SWITCH_PAGE")
			}
			p := doc[pos+1]
			if p >= numPages {
				return Token{}, d.errUnknownPage(pos, p)
			}
			d.page = p
			pos += 2
		case clsStrT:
			if d.depth == 0 {
				return Token{}, d.fail(pos, ErrStructure, "string outside an element")
			}
			idx, w, err := d.mbUint32(pos + 1)
			if err != nil {
				return Token{}, err
			}
			s, ok := d.tableString(idx)
			if !ok {
				return Token{}, d.errStringIndex(pos, idx)
			}
			d.pos = pos + 1 + w
			return Token{Kind: KindString, Data: s, Offset: pos}, nil
		case clsAttr:
			return Token{}, d.fail(pos, ErrUnsupported, "tag with attributes (EAS defines none)")
		default:
			return Token{}, d.errGlobal(pos, b)
		}
	}
}

//go:noinline
func (d *Decoder) errOpaqueLength(pos int, n uint32) error {
	return d.fail(pos, ErrTruncated, "opaque length "+strconv.FormatUint(uint64(n), 10)+" past the end of input")
}

//go:noinline
func (d *Decoder) errUnknownPage(pos int, p uint8) error {
	return d.fail(pos, ErrUnknownPage, "unknown code page "+strconv.Itoa(int(p)))
}

//go:noinline
func (d *Decoder) errStringIndex(pos int, idx uint32) error {
	return d.fail(pos, ErrStructure, "string table index "+strconv.FormatUint(uint64(idx), 10)+" out of range")
}

//go:noinline
func (d *Decoder) errGlobal(pos int, b byte) error {
	return d.fail(pos, ErrUnsupported, "unsupported global token "+globalName(b))
}

//go:noinline
func (d *Decoder) unknownTag(pos int, tok uint8) error {
	return d.fail(pos, ErrUnknownTag, "unknown tag "+Tag(uint16(d.page)<<8|uint16(tok)).String()+" in code page "+pageName(d.page))
}

// closeRoot records that the root element ended before pos: the next Next returns io.EOF if
// the input ends there, or the error for content after the root. Checking once here keeps the
// check out of the per-token path.
//
//go:noinline
func (d *Decoder) closeRoot(pos int) {
	d.state = stDone
	if pos >= len(d.doc) {
		d.err = io.EOF
		return
	}
	d.err = &SyntaxError{Offset: pos, Msg: "content after the root element", Err: ErrStructure}
}

// eof handles the end of input at pos, before the root element closed.
func (d *Decoder) eof(pos int) error {
	switch {
	case d.depth > 0:
		return d.fail(pos, ErrTruncated, "unexpected end of input in "+d.stack[d.depth-1].String())
	default:
		return d.fail(pos, ErrTruncated, "unexpected end of input before the root element")
	}
}

// mbUint32 reads a WAP-192-WBXML 5.1 mb_u_int32 at pos: at most 5 bytes, at most 32 bits.
func (d *Decoder) mbUint32(pos int) (uint32, int, error) {
	doc := d.doc
	var v uint64
	for i := 0; i < 5; i++ {
		if pos+i >= len(doc) {
			return 0, 0, d.fail(pos, ErrTruncated, "unexpected end of input in mb_u_int32")
		}
		c := doc[pos+i]
		v = v<<7 | uint64(c&0x7F)
		if c&0x80 == 0 {
			if v > math.MaxUint32 {
				return 0, 0, d.fail(pos, ErrMBUint32, "mb_u_int32 overflows 32 bits")
			}
			return uint32(v), i + 1, nil
		}
	}
	return 0, 0, d.fail(pos, ErrMBUint32, "mb_u_int32 longer than 5 bytes")
}

// tableString returns the NUL-terminated string at idx in the string table.
func (d *Decoder) tableString(idx uint32) ([]byte, bool) {
	if uint64(idx) >= uint64(len(d.strtbl)) {
		return nil, false
	}
	s := d.strtbl[idx:]
	n := bytes.IndexByte(s, 0)
	if n < 0 {
		return nil, false
	}
	return s[:n:n], true
}

// header reads the WAP-192-WBXML 5.3 header: version, public id, charset, string table.
// MS-ASWBXML 2.1.1: EAS sends version 1.3 (0x03), public id 1 (unknown), charset UTF-8 (0x6A)
// and an empty string table; other public ids and a string table are accepted, other
// versions and charsets are not.
func (d *Decoder) header() error {
	limit := d.maxSize
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	if len(d.doc) > limit {
		return d.fail(limit, ErrTooLarge, "document larger than "+strconv.Itoa(limit)+" bytes")
	}
	if len(d.doc) == 0 {
		return d.fail(0, ErrTruncated, "unexpected end of input in header")
	}
	if v := d.doc[0]; v != 0x03 {
		return d.fail(0, ErrHeader, "WBXML version 0x"+strconv.FormatUint(uint64(v), 16)+" (want 0x03)")
	}
	pos := 1
	pub, w, err := d.mbUint32(pos)
	if err != nil {
		return err
	}
	pos += w
	pubIdx := uint32(0)
	if pub == 0 { // WAP-192-WBXML 5.5: public id as a string table index
		pubIdx, w, err = d.mbUint32(pos)
		if err != nil {
			return err
		}
		pos += w
	}
	cs, w, err := d.mbUint32(pos)
	if err != nil {
		return err
	}
	if cs != 0x6A {
		return d.fail(pos, ErrHeader, "charset MIBenum "+strconv.FormatUint(uint64(cs), 10)+" (want 106, UTF-8)")
	}
	pos += w
	n, w, err := d.mbUint32(pos)
	if err != nil {
		return err
	}
	if uint64(n) > uint64(len(d.doc)-pos-w) {
		return d.fail(pos, ErrTruncated, "string table length past the end of input")
	}
	pos += w
	d.strtbl = d.doc[pos : pos+int(n) : pos+int(n)]
	if pub == 0 {
		if _, ok := d.tableString(pubIdx); !ok {
			return d.fail(1, ErrHeader, "public id string index out of range")
		}
	}
	d.pos = pos + int(n)
	d.state = stBody
	return nil
}

// Child returns the start tag of the next child of the element being read, skipping any text
// between children, or more == false with the element's End token when it has no more
// children. Handlers walk an element with it:
//
//	for {
//		t, more, err := dec.Child()
//		if err != nil {
//			return err
//		}
//		if !more {
//			break
//		}
//		switch t.Tag { … }
//	}
func (d *Decoder) Child() (tok Token, more bool, err error) {
	for {
		tok, err = d.Next()
		if err != nil {
			return Token{}, false, err
		}
		switch tok.Kind {
		case KindStart:
			return tok, true, nil
		case KindEnd:
			return tok, false, nil
		}
	}
}

// Skip skips the element whose KindStart Next just returned, up to and including its End.
// For an element without content it does nothing.
func (d *Decoder) Skip() error {
	content, ok := d.afterStart()
	if !ok {
		return d.misuse("Skip")
	}
	if !content {
		d.startEnd = -1
		return nil
	}
	target := d.depth - 1
	for {
		tok, err := d.Next()
		if err != nil {
			return err
		}
		if tok.Kind == KindEnd && d.depth == target {
			return nil
		}
	}
}

// afterStart reports whether the last token Next returned was a start tag, and whether that
// tag has content.
func (d *Decoder) afterStart() (content, ok bool) {
	if d.startEnd != d.pos || d.pos <= 0 {
		return false, false
	}
	return d.doc[d.pos-1]&tagContentBit != 0, true
}

func (d *Decoder) misuse(fn string) error {
	return &SyntaxError{Offset: d.pos, Msg: fn + " called other than right after a start tag", Err: ErrContent}
}

// Text reads the content of the element whose KindStart Next just returned: its single
// string or opaque token, nil for an element without content or with no content token.
// It consumes the element's End. An element holding child elements or two content tokens
// fails with ErrContent, having consumed the offending token. The result aliases the input
// like Token.Data.
func (d *Decoder) Text() ([]byte, error) {
	content, ok := d.afterStart()
	if !ok {
		return nil, d.misuse("Text")
	}
	if !content {
		d.startEnd = -1
		return nil, nil
	}
	tok, err := d.Next()
	if err != nil {
		return nil, err
	}
	if tok.Kind == KindEnd {
		return nil, nil
	}
	if tok.Kind == KindStart {
		return nil, &SyntaxError{Offset: tok.Offset, Msg: "element " + tok.Tag.String() + " where text was expected", Err: ErrContent}
	}
	end, err := d.Next()
	if err != nil {
		return nil, err
	}
	if end.Kind != KindEnd {
		return nil, &SyntaxError{Offset: end.Offset, Msg: "more than one content token where text was expected", Err: ErrContent}
	}
	return tok.Data, nil
}

// String is Text copied into a string.
func (d *Decoder) String() (string, error) {
	b, err := d.Text()
	return string(b), err
}

// Int is Text parsed as a decimal integer (an optional '-' then digits, as MS-ASDTYPE 2.6
// writes integers).
func (d *Decoder) Int() (int64, error) {
	off := d.pos
	b, err := d.Text()
	if err != nil {
		return 0, err
	}
	n, ok := parseInt(b)
	if !ok {
		return 0, &SyntaxError{Offset: off, Msg: "invalid integer " + strconv.Quote(string(b)), Err: ErrContent}
	}
	return n, nil
}

func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// Expect reads the next token and requires it to be a KindStart of t.
func (d *Decoder) Expect(t Tag) (Token, error) {
	tok, err := d.Next()
	if err != nil {
		if err == io.EOF {
			return tok, &SyntaxError{Offset: d.pos, Msg: "end of document where " + t.String() + " was expected", Err: ErrContent}
		}
		return tok, err
	}
	if tok.Kind != KindStart || tok.Tag != t {
		found := tok.Kind.String()
		if tok.Kind == KindStart || tok.Kind == KindEnd {
			found += " " + tok.Tag.String()
		}
		return tok, &SyntaxError{Offset: tok.Offset, Msg: "expected " + t.String() + ", found " + found, Err: ErrContent}
	}
	return tok, nil
}
