package wbxml

import (
	"errors"
	"io"
)

// ToXML writes doc as indented XML (see the package documentation for the format).
func ToXML(w io.Writer, doc []byte) error {
	return errors.New("wbxml: ToXML not implemented yet")
}

// FromXML parses XML in the package's format from r and appends its WBXML encoding to dst[:0].
func FromXML(dst []byte, r io.Reader) ([]byte, error) {
	return dst, errors.New("wbxml: FromXML not implemented yet")
}
