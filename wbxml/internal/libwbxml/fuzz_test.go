//go:build libwbxml

package libwbxml_test

import (
	"errors"
	"testing"

	"github.com/easd/easd/wbxml/internal/libwbxml"
)

// FuzzDifferential feeds the same bytes to package wbxml and to libwbxml. When both accept,
// the token streams must agree; when only one accepts, the input must hit one of the
// documented differences (differences_test.go).
func FuzzDifferential(f *testing.F) {
	for _, doc := range fixtures(f) {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		ours, oerr := ourStream(doc)
		lib, lerr := libStream(doc)
		if errors.Is(lerr, libwbxml.ErrWouldAbort) {
			// L1 (differences_test.go): libwbxml cannot be given this input. Ours must still
			// return, which it did.
			return
		}
		switch {
		case oerr == nil && lerr == nil:
			if d := diff(ours, lib); d != "" && bothAcceptDiffer(doc, ours, lib) == "" {
				t.Fatalf("both accept, streams differ: %s", d)
			}
		case oerr != nil && lerr == nil:
			if onlyLibwbxmlAccepts(doc, oerr, lib) == "" {
				t.Fatalf("only libwbxml accepts; ours: %v", oerr)
			}
		case oerr == nil && lerr != nil:
			if onlyWeAccept(doc, ours, lerr) == "" {
				t.Fatalf("only package wbxml accepts; libwbxml: %v", lerr)
			}
		}
	})
}
