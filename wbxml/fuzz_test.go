package wbxml

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// addSeeds adds every .wbxml under testdata (the benchmark corpora and the conformance
// documents) and a few malformed documents to f's seed corpus.
func addSeeds(f *testing.F) {
	for _, pattern := range []string{"testdata/bench/*.wbxml", "testdata/docs/*.wbxml"} {
		names, _ := filepath.Glob(pattern)
		for _, name := range names {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add(doc(0x45, 0xC3, 0x90, 0x80, 0x80, 0x80, 0x00))
	f.Add([]byte{0x03, 0x01, 0x6A, 0x05, 'x', 0, 'y', 'z', 0, 0x45, 0x83, 0x02, 0x01})
	f.Add(doc(0x45, 0x03, 'a', 0x00, 0x4B, 0x01, 0xC3, 0x01, 0x00, 0x01))
}

// FuzzDecode: the decoder never panics, ends in io.EOF or a *SyntaxError, and its tokens
// stay within the input.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(in)
		last := -1
		for {
			tok, err := d.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
				}
				if se.Offset < 0 || se.Offset > len(in) {
					t.Fatalf("error offset %d outside the input of %d bytes", se.Offset, len(in))
				}
				return
			}
			if tok.Offset <= last || tok.Offset >= len(in) {
				t.Fatalf("token offset %d after %d, input %d bytes", tok.Offset, last, len(in))
			}
			last = tok.Offset
			if d.Depth() < 0 || d.Depth() > MaxDepth {
				t.Fatalf("depth %d", d.Depth())
			}
		}
	})
}

// FuzzRoundTrip: a document that decodes re-encodes, token by token, to a document with the
// same tokens; and its XML rendering reads back to the same bytes whenever the documented
// round-trip conditions hold.
func FuzzRoundTrip(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		var toks []Token
		d := NewDecoder(in)
		for {
			tok, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			toks = append(toks, tok)
		}
		e := NewEncoder(nil)
		replay(e, toks)
		enc := e.Bytes()
		if err := e.Err(); err != nil {
			t.Fatalf("re-encoding a valid document: %v", err)
		}
		d.Reset(enc)
		for i, want := range toks {
			got, err := d.Next()
			if err != nil {
				t.Fatalf("token %d of the re-encoded document: %v", i, err)
			}
			if got.Kind != want.Kind || got.Tag != want.Tag || got.Content != want.Content || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("token %d: got %+v, want %+v", i, got, want)
			}
		}
		if _, err := d.Next(); err != io.EOF {
			t.Fatalf("after the last token: %v", err)
		}

		var x bytes.Buffer
		if err := ToXML(&x, in); err != nil {
			t.Fatalf("ToXML of a valid document: %v", err)
		}
		back, err := FromXML(nil, bytes.NewReader(x.Bytes()))
		if !simpleContent(toks) {
			return // mixed content: documented as lossy
		}
		if err != nil {
			t.Fatalf("FromXML(ToXML(doc)): %v\n%s", err, x.Bytes())
		}
		if !bytes.Equal(back, enc) {
			t.Fatalf("XML round trip differs:\n got %x\nwant %x\n%s", back, enc, x.Bytes())
		}
	})
}

// simpleContent reports whether every element holds either child elements or at most one
// content token, the condition under which the XML round trip is exact.
func simpleContent(toks []Token) bool {
	type state struct{ children, texts int }
	var stack []state
	for _, tok := range toks {
		switch tok.Kind {
		case KindStart:
			if len(stack) > 0 {
				stack[len(stack)-1].children++
			}
			if tok.Content {
				stack = append(stack, state{})
			}
		case KindEnd:
			s := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if s.texts > 1 || s.texts > 0 && s.children > 0 {
				return false
			}
		default:
			stack[len(stack)-1].texts++
		}
	}
	return true
}
