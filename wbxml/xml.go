package wbxml

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// XML attribute values of the wbxml attribute (see the package documentation).
const (
	attrOpaque       = "opaque"
	attrOpaqueBase64 = "opaque-base64"
	attrStringBase64 = "string-base64"
)

// pagePrefixes[page] is the XML prefix of a code page: its namespace lowercased.
var pagePrefixes = func() (p [numPages]string) {
	for i, ns := range pageNamespaces {
		p[i] = strings.ToLower(ns)
	}
	return p
}()

// pagesByPrefix lists the code pages in the order of their prefixes, the order in which
// AppendXML declares them on the root element.
var pagesByPrefix = func() (p [numPages]uint8) {
	for i := range p {
		p[i] = uint8(i)
	}
	sort.Slice(p[:], func(i, j int) bool { return pagePrefixes[p[i]] < pagePrefixes[p[j]] })
	return p
}()

var xmlBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// maxPooledXMLBuf is the largest buffer ToXML returns to its pool; larger ones are dropped
// so that one huge document does not pin its memory.
const maxPooledXMLBuf = 1 << 20

// ToXML writes doc as indented XML in the package's format. It renders the whole document
// into a buffer first and writes nothing if doc is malformed; the error is then a
// *SyntaxError. Documents above DefaultMaxSize are refused with ErrTooLarge.
func ToXML(w io.Writer, doc []byte) error {
	bp := xmlBufPool.Get().(*[]byte)
	out, err := AppendXML((*bp)[:0], doc)
	if err == nil {
		_, err = w.Write(out)
	}
	if cap(out) <= maxPooledXMLBuf {
		*bp = out[:0]
		xmlBufPool.Put(bp)
	}
	return err
}

// xmlElem is the state of one open element while writing XML.
type xmlElem struct {
	name    string // qualified name as written
	pending bool   // "<name" written, the content decides what follows
	inline  bool   // text was written inside: no indentation until it closes
	flat    bool   // inside an inline element: no indentation at all
}

// AppendXML appends doc as indented XML in the package's format to dst. On a malformed
// document it returns dst unchanged and a *SyntaxError.
func AppendXML(dst, doc []byte) ([]byte, error) {
	var d Decoder
	d.Reset(doc)
	var used uint32 // code pages seen
	var rootPage uint8
	declAt := -1 // where the root's prefixed namespace declarations go, once all pages are known
	b := append(dst, `<?xml version="1.0" encoding="utf-8"?>`+"\n"...)
	var stack [MaxDepth]xmlElem
	depth := 0
	for {
		tok, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst, err
		}
		if tok.Kind == KindStart {
			if declAt < 0 {
				rootPage = tok.Tag.Page()
			}
			used |= 1 << tok.Tag.Page()
		}
		var parent *xmlElem
		if depth > 0 {
			parent = &stack[depth-1]
		}
		switch tok.Kind {
		case KindStart:
			flat := false
			if parent != nil {
				if parent.pending {
					b = append(b, '>')
					parent.pending = false
					if !parent.inline && !parent.flat {
						b = append(b, '\n')
					}
				}
				flat = parent.inline || parent.flat
			}
			if !flat {
				b = appendIndent(b, depth)
			}
			name := qualifiedName(tok.Tag, rootPage)
			b = append(b, '<')
			b = append(b, name...)
			if parent == nil { // root: its namespace now, the others at the end
				b = append(b, ` xmlns="`...)
				b = append(b, pageNamespaces[rootPage]...)
				b = append(b, '"')
				declAt = len(b)
			}
			if !tok.Content {
				b = append(b, "/>"...)
				if !flat {
					b = append(b, '\n')
				}
				continue
			}
			stack[depth] = xmlElem{name: name, pending: true, flat: flat}
			depth++
		case KindString, KindOpaque:
			e := parent
			if e.pending {
				e.pending = false
				mark := len(b)
				ok := false
				if tok.Kind == KindString {
					if len(tok.Data) > 0 {
						b = append(b, '>')
						b, ok = appendText(b, tok.Data)
					}
					if !ok {
						b = append(b[:mark], ` wbxml="`+attrStringBase64+`">`...)
						b = base64.StdEncoding.AppendEncode(b, tok.Data)
					}
				} else {
					b = append(b, ` wbxml="`+attrOpaque+`">`...)
					if b, ok = appendText(b, tok.Data); !ok {
						b = append(b[:mark], ` wbxml="`+attrOpaqueBase64+`">`...)
						b = base64.StdEncoding.AppendEncode(b, tok.Data)
					}
				}
			} else {
				// Mixed content or a second content token: not representable exactly
				// (see the package documentation); written as text.
				mark := len(b)
				ok := false
				if b, ok = appendText(b, tok.Data); !ok {
					b = base64.StdEncoding.AppendEncode(b[:mark], tok.Data)
				}
			}
			e.inline = true
		case KindEnd:
			depth--
			e := &stack[depth]
			switch {
			case e.pending:
				b = append(b, "></"...)
			case e.inline || e.flat:
				b = append(b, "</"...)
			default:
				b = appendIndent(b, depth)
				b = append(b, "</"...)
			}
			b = append(b, e.name...)
			b = append(b, '>')
			if !e.flat {
				b = append(b, '\n')
			}
		}
	}
	return insertDecls(b, declAt, used&^(1<<rootPage)), nil
}

// insertDecls inserts at b[at:] the xmlns:prefix declarations of the code pages in used, in
// prefix order, moving the rest of b up. It does not allocate when b has room.
func insertDecls(b []byte, at int, used uint32) []byte {
	n := 0
	for p := range numPages {
		if used&(1<<p) != 0 {
			n += len(` xmlns:=""`) + len(pagePrefixes[p]) + len(pageNamespaces[p])
		}
	}
	if n == 0 {
		return b
	}
	end := len(b)
	b = slices.Grow(b, n)[:end+n]
	copy(b[at+n:], b[at:end])
	w := b[at:at]
	for _, p := range pagesByPrefix {
		if used&(1<<p) != 0 {
			w = append(w, " xmlns:"...)
			w = append(w, pagePrefixes[p]...)
			w = append(w, `="`...)
			w = append(w, pageNamespaces[p]...)
			w = append(w, '"')
		}
	}
	return b
}

// qualifiedName returns the element name of t as AppendXML writes it: the bare name on the
// root's code page, "prefix:Name" on the others. It does not allocate.
func qualifiedName(t Tag, rootPage uint8) string {
	if t.Page() == rootPage {
		return t.Name()
	}
	return qualifiedNames[t.Page()][t.Token()]
}

// qualifiedNames[page][token] is "prefix:Name".
var qualifiedNames = func() (q [numPages][64]string) {
	for p := range numPages {
		for tok := range 64 {
			if t := Tag(p<<8 | tok); t.known() {
				q[p][tok] = pagePrefixes[p] + ":" + t.Name()
			}
		}
	}
	return q
}()

func appendIndent(b []byte, depth int) []byte {
	const spaces = "                                                                " +
		"                                                                "
	n := 2 * depth
	if n > len(spaces) {
		n = len(spaces)
	}
	return append(b, spaces[:n]...)
}

// Classes of bytes in XML text, for appendText.
const (
	textPlain   = iota // written as is
	textEscape         // written as an entity
	textInvalid        // not an XML Char (XML 1.0 2.2)
	textUTF8           // starts a multi-byte sequence: decode and check
)

var textClass = func() (c [256]uint8) {
	for i := range 0x20 {
		c[i] = textInvalid
	}
	c['\t'], c['\n'] = textPlain, textPlain
	c['\r'], c['&'], c['<'], c['>'] = textEscape, textEscape, textEscape, textEscape
	for i := 0x80; i < 0x100; i++ {
		c[i] = textUTF8
	}
	return c
}()

// textEscapes holds the entity of every textEscape byte. CR is escaped so that XML's CR LF
// normalisation does not change it (XML 1.0 2.11).
var textEscapes = [256]string{'\r': "&#xD;", '&': "&amp;", '<': "&lt;", '>': "&gt;"}

// appendText appends s as XML character data. It reports false, having appended part of s,
// when s is not valid UTF-8 made of XML Chars; the caller then truncates and writes base64.
func appendText(b, s []byte) ([]byte, bool) {
	start := 0
	for i := 0; i < len(s); {
		switch textClass[s[i]] {
		case textPlain:
			i++
		case textEscape:
			b = append(b, s[start:i]...)
			b = append(b, textEscapes[s[i]]...)
			i++
			start = i
		case textInvalid:
			return b, false
		default:
			r, n := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && n == 1 || r == 0xFFFE || r == 0xFFFF {
				return b, false
			}
			i += n
		}
	}
	return append(b, s[start:]...), true
}

// xmlFrame is one open element while reading XML.
type xmlFrame struct {
	mode     string // value of the wbxml attribute
	text     []byte // character data seen since the last child
	self     bool   // written as <x/>
	hasChild bool
}

// FromXML reads one XML document in the package's format from r and appends its WBXML
// encoding, header included, to dst[:0]. Any well-formed namespace usage is accepted; each
// element's namespace must be an EAS code page and its name a tag of that page. The error
// names the XML line.
func FromXML(dst []byte, r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return dst, fmt.Errorf("wbxml: read xml: %w", err)
	}
	xd := xml.NewDecoder(bytes.NewReader(data))
	var e Encoder
	e.Reset(dst)
	var stack []xmlFrame
	fail := func(format string, args ...any) ([]byte, error) {
		line, _ := xd.InputPos()
		return dst, fmt.Errorf("wbxml: xml line %d: %s", line, fmt.Sprintf(format, args...))
	}
	for {
		tok, err := xd.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return dst, fmt.Errorf("wbxml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			off := xd.InputOffset()
			self := off >= 2 && data[off-2] == '/' && data[off-1] == '>'
			tag, ok := LookupTag(t.Name.Space, t.Name.Local)
			if !ok {
				return fail("unknown element %s in namespace %q", t.Name.Local, t.Name.Space)
			}
			f := xmlFrame{self: self}
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns":
				case a.Name.Space == "" && a.Name.Local == "wbxml":
					switch a.Value {
					case attrOpaque, attrOpaqueBase64, attrStringBase64:
						f.mode = a.Value
					default:
						return fail("unknown wbxml=%q on %s", a.Value, t.Name.Local)
					}
				default:
					return fail("unexpected attribute %s on %s", a.Name.Local, t.Name.Local)
				}
			}
			if self && f.mode != "" {
				return fail("wbxml=%q on the empty element %s", f.mode, t.Name.Local)
			}
			if n := len(stack); n > 0 {
				p := &stack[n-1]
				if p.mode != "" {
					return fail("element %s inside an element marked wbxml=%q", t.Name.Local, p.mode)
				}
				if !isSpace(p.text) {
					e.Text(p.text)
				}
				p.text = p.text[:0]
				p.hasChild = true
			} else if e.state == stDone {
				return fail("second root element %s", t.Name.Local)
			}
			if self {
				e.Empty(tag)
			} else {
				e.Start(tag)
			}
			stack = append(stack, f)
		case xml.CharData:
			if n := len(stack); n > 0 {
				stack[n-1].text = append(stack[n-1].text, t...)
			} else if !isSpace(t) {
				return fail("text outside the root element")
			}
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if f.self {
				continue
			}
			switch {
			case f.hasChild:
				if !isSpace(f.text) {
					e.Text(f.text)
				}
			case f.mode == "":
				if len(f.text) > 0 {
					e.Text(f.text)
				}
			case f.mode == attrOpaque:
				e.RawOpaque(f.text)
			default:
				raw, err := decodeBase64(f.text)
				if err != nil {
					return fail("%s: %v", t.Name.Local, err)
				}
				if f.mode == attrStringBase64 {
					e.Text(raw)
				} else {
					e.RawOpaque(raw)
				}
			}
			e.End()
		}
		if err := e.Err(); err != nil {
			return fail("%v", err)
		}
	}
	out := e.Bytes()
	if err := e.Err(); err != nil {
		return dst, fmt.Errorf("wbxml: xml: %w", err)
	}
	return out, nil
}

func isSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// decodeBase64 decodes standard base64, ignoring whitespace.
func decodeBase64(s []byte) ([]byte, error) {
	s = bytes.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
	out, err := base64.StdEncoding.AppendDecode(nil, s)
	if err != nil {
		return nil, errors.New("invalid base64")
	}
	return out, nil
}
