package wbxml

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
)

// ErrInvalidUse is wrapped by the error an Encoder reports for a call sequence that cannot
// produce a valid document.
var ErrInvalidUse = errors.New("wbxml: invalid encoder use")

// header is the WBXML header EAS sends (MS-ASWBXML 2.1.1): version 1.3, public id 1
// (unknown), charset UTF-8 (MIBenum 106), empty string table.
var header = [4]byte{0x03, 0x01, 0x6A, 0x00}

// Encoder appends one WBXML document to a caller-owned buffer. It writes the header itself and
// SWITCH_PAGE only when a tag's code page differs from the current one. Methods do not
// allocate once the buffer has grown to the document size. An Encoder is reusable through
// Reset and not safe for concurrent use.
//
// Misuse (an undefined tag, NUL inside a string, End without Start, more than MaxDepth open
// elements, a second root element, unclosed elements or no root at Bytes) is recorded as the
// first error, reported by Err; calls after it write nothing.
type Encoder struct {
	buf   []byte
	depth int
	err   error
	page  uint8
	state uint8 // stHeader: no root yet, stBody: root open, stDone: root closed
}

// NewEncoder returns an Encoder appending to buf[:0], with the header already written.
func NewEncoder(buf []byte) *Encoder {
	e := new(Encoder)
	e.Reset(buf)
	return e
}

// Reset starts a new document in buf[:0].
func (e *Encoder) Reset(buf []byte) {
	*e = Encoder{buf: append(buf[:0], header[:]...)}
}

func (e *Encoder) misuse(msg string) {
	if e.err == nil {
		e.err = &encodeError{msg: msg}
	}
}

type encodeError struct{ msg string }

func (e *encodeError) Error() string { return ErrInvalidUse.Error() + ": " + e.msg }
func (e *encodeError) Unwrap() error { return ErrInvalidUse }

// ok reports whether a tag with the given content bit may be written now; when not, it
// records why (unless an error is already recorded).
func (e *Encoder) ok(t Tag, content bool) bool {
	p, tok := t.Page(), t.Token()
	if e.err == nil && tok < 64 && knownTokens[p]&(1<<tok) != 0 && e.state != stDone &&
		(!content || e.depth < MaxDepth) {
		return true
	}
	e.tagMisuse(t, content)
	return false
}

//go:noinline
func (e *Encoder) tagMisuse(t Tag, content bool) {
	switch {
	case e.err != nil:
	case !t.known():
		e.misuse("undefined tag " + t.String())
	case e.state == stDone:
		e.misuse("second root element " + t.String())
	case content:
		e.misuse("more than " + strconv.Itoa(MaxDepth) + " open elements")
	}
}

// Start opens element t (a tag with the content bit); End closes it.
func (e *Encoder) Start(t Tag) {
	if !e.ok(t, true) {
		return
	}
	if p := t.Page(); p != e.page {
		e.buf = append(e.buf, tokSwitchPage, p, t.Token()|tagContentBit)
		e.page = p
	} else {
		e.buf = append(e.buf, t.Token()|tagContentBit)
	}
	e.depth++
	e.state = stBody
}

// Empty writes element t without content (the tag without the content bit, <t/>).
func (e *Encoder) Empty(t Tag) {
	if !e.ok(t, false) {
		return
	}
	if p := t.Page(); p != e.page {
		e.buf = append(e.buf, tokSwitchPage, p, t.Token())
		e.page = p
	} else {
		e.buf = append(e.buf, t.Token())
	}
	if e.depth == 0 {
		e.state = stDone
	}
}

// End closes the innermost open element.
func (e *Encoder) End() {
	if e.err != nil {
		return
	}
	if e.depth == 0 {
		e.misuse("End without Start")
		return
	}
	e.buf = append(e.buf, tokEnd)
	e.depth--
	if e.depth == 0 {
		e.state = stDone
	}
}

// String writes <t>s</t> with s as an inline string (STR_I). s must not contain NUL.
func (e *Encoder) String(t Tag, s string) {
	if strings.IndexByte(s, 0) >= 0 {
		e.misuse("NUL in the string of " + t.String())
		return
	}
	e.Start(t)
	if e.err != nil {
		return
	}
	e.buf = append(e.buf, tokStrI)
	e.buf = append(e.buf, s...)
	e.buf = append(e.buf, 0, tokEnd)
	e.closed()
}

// closed accounts for an END written by a method that opened the element itself.
func (e *Encoder) closed() {
	e.depth--
	if e.depth == 0 {
		e.state = stDone
	}
}

// StringBytes is String for a byte slice.
func (e *Encoder) StringBytes(t Tag, b []byte) {
	e.Start(t)
	e.Text(b)
	e.End()
}

// Opaque writes <t> holding b as OPAQUE data.
func (e *Encoder) Opaque(t Tag, b []byte) {
	e.Start(t)
	e.RawOpaque(b)
	e.End()
}

// Int writes <t> holding n in decimal as an inline string, without allocating.
func (e *Encoder) Int(t Tag, n int64) {
	e.Start(t)
	if e.err != nil {
		return
	}
	e.buf = append(e.buf, tokStrI)
	e.buf = strconv.AppendInt(e.buf, n, 10)
	e.buf = append(e.buf, 0, tokEnd)
	e.closed()
}

// Text writes b as an inline string (STR_I) inside the current element. b must not contain
// NUL.
func (e *Encoder) Text(b []byte) {
	if e.err != nil {
		return
	}
	if e.depth == 0 {
		e.misuse("text outside an element")
		return
	}
	if bytes.IndexByte(b, 0) >= 0 {
		e.misuse("NUL in a string")
		return
	}
	e.buf = append(e.buf, tokStrI)
	e.buf = append(e.buf, b...)
	e.buf = append(e.buf, 0)
}

// RawOpaque writes b as OPAQUE data inside the current element.
func (e *Encoder) RawOpaque(b []byte) {
	if e.err != nil {
		return
	}
	if e.depth == 0 {
		e.misuse("opaque data outside an element")
		return
	}
	if uint64(len(b)) > math.MaxUint32 {
		e.misuse("opaque data longer than 4 GiB")
		return
	}
	e.buf = append(e.buf, tokOpaque)
	e.buf = AppendMBUint32(e.buf, uint32(len(b)))
	e.buf = append(e.buf, b...)
}

// Bytes returns the document written so far. If elements are still open, or no root was
// written, it records that misuse first; check Err before sending the result.
func (e *Encoder) Bytes() []byte {
	switch {
	case e.err != nil:
	case e.depth > 0:
		e.misuse(strconv.Itoa(e.depth) + " element(s) not closed")
	case e.state == stHeader:
		e.misuse("no root element")
	}
	return e.buf
}

// Err returns the first misuse, or nil.
func (e *Encoder) Err() error { return e.err }

// AppendMBUint32 appends n as a WAP-192-WBXML 5.1 mb_u_int32: big-endian groups of 7 bits,
// the high bit set on all but the last byte, no leading zero groups.
func AppendMBUint32(dst []byte, n uint32) []byte {
	switch {
	case n < 1<<7:
		return append(dst, byte(n))
	case n < 1<<14:
		return append(dst, byte(n>>7)|0x80, byte(n)&0x7F)
	case n < 1<<21:
		return append(dst, byte(n>>14)|0x80, byte(n>>7)|0x80, byte(n)&0x7F)
	case n < 1<<28:
		return append(dst, byte(n>>21)|0x80, byte(n>>14)|0x80, byte(n>>7)|0x80, byte(n)&0x7F)
	}
	return append(dst, byte(n>>28)|0x80, byte(n>>21)|0x80, byte(n>>14)|0x80, byte(n>>7)|0x80, byte(n)&0x7F)
}
