package wbxml

import (
	"errors"
	"strconv"
)

// Sentinel errors. The decoder wraps each in a *SyntaxError that carries the byte offset;
// test with errors.Is.
var (
	ErrTruncated   = errors.New("unexpected end of input")
	ErrHeader      = errors.New("unsupported header")
	ErrMBUint32    = errors.New("malformed mb_u_int32")
	ErrUnknownPage = errors.New("unknown code page")
	ErrUnknownTag  = errors.New("unknown tag")
	ErrUnsupported = errors.New("unsupported token")
	ErrStructure   = errors.New("misplaced token")
	ErrTooDeep     = errors.New("nesting too deep")
	ErrTooLarge    = errors.New("document too large")
	ErrContent     = errors.New("unexpected content")
)

// SyntaxError describes malformed WBXML (or a document that does not have the shape a
// Decoder helper expected) and where it was found.
type SyntaxError struct {
	Offset int    // byte offset in the input of the offending token or field
	Msg    string // what is wrong, without the "wbxml: " prefix
	Err    error  // one of the sentinel errors above
}

// Error returns "wbxml: <msg> at offset N".
func (e *SyntaxError) Error() string {
	return "wbxml: " + e.Msg + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns the sentinel error, for errors.Is.
func (e *SyntaxError) Unwrap() error { return e.Err }
