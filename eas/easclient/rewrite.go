package easclient

import (
	"errors"
	"fmt"
	"io"

	"github.com/easd/easd/wbxml"
)

// Rewrite returns a copy of the WBXML document doc in which the text of an element with
// content is replaced, for replaying a captured request with this server's keys and ids:
// with(tag) returns nil to keep the element, or a function from its text to the new text.
// Everything else is copied token by token: empty elements stay empty (with is not asked about
// them), opaque data stays opaque. An element to rewrite must hold a single string or opaque
// token, not child elements.
func Rewrite(doc []byte, with func(tag wbxml.Tag) func(text string) string) ([]byte, error) {
	dec := wbxml.NewDecoder(doc)
	enc := wbxml.NewEncoder(nil)
	for {
		tok, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("easclient: rewrite: %w", err)
		}
		switch tok.Kind {
		case wbxml.KindStart:
			if !tok.Content {
				enc.Empty(tok.Tag)
				continue
			}
			f := with(tok.Tag)
			if f == nil {
				enc.Start(tok.Tag)
				continue
			}
			old, err := dec.String()
			if err != nil {
				return nil, fmt.Errorf("easclient: rewrite %s: %w", tok.Tag, err)
			}
			enc.String(tok.Tag, f(old))
		case wbxml.KindEnd:
			enc.End()
		case wbxml.KindString:
			enc.Text(tok.Data)
		case wbxml.KindOpaque:
			enc.RawOpaque(tok.Data)
		}
	}
	if err := enc.Err(); err != nil {
		return nil, fmt.Errorf("easclient: rewrite: %w", err)
	}
	return enc.Bytes(), nil
}
