//go:build libwbxml

package libwbxml_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/wbxml"
	"github.com/easd/easd/wbxml/internal/libwbxml"
)

// corpusDir is ../shared/corpus relative to the repository root, seen from this package.
var corpusDir = filepath.Join("..", "..", "..", "..", "shared", "corpus")

// docsDir holds package wbxml's conformance documents and their golden encodings.
var docsDir = filepath.Join("..", "..", "testdata", "docs")

// item is one element of the stream both decoders are reduced to: what libwbxml's tree can
// represent (see the package documentation).
type item struct {
	kind    libwbxml.Kind
	tag     wbxml.Tag // KindStart, KindEnd
	unknown bool      // libwbxml has no entry for the tag
	text    string    // KindText: all content between two element boundaries, concatenated
}

func (it item) String() string {
	switch {
	case it.kind == libwbxml.KindText:
		s := it.text
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return fmt.Sprintf("text %q", s)
	case it.unknown:
		return it.kind.String() + " <unknown>"
	}
	return it.kind.String() + " " + it.tag.String()
}

// ourStream decodes doc with package wbxml: a start without content bit is a start and an
// end, strings and opaque data are text.
func ourStream(doc []byte) ([]item, error) {
	d := wbxml.NewDecoder(doc)
	var items []item
	for {
		tok, err := d.Next()
		if errors.Is(err, io.EOF) {
			return mergeText(items), nil
		}
		if err != nil {
			return nil, err
		}
		switch tok.Kind {
		case wbxml.KindStart:
			items = append(items, item{kind: libwbxml.KindStart, tag: tok.Tag})
			if !tok.Content {
				items = append(items, item{kind: libwbxml.KindEnd, tag: tok.Tag})
			}
		case wbxml.KindEnd:
			items = append(items, item{kind: libwbxml.KindEnd, tag: tok.Tag})
		case wbxml.KindString, wbxml.KindOpaque:
			items = append(items, item{kind: libwbxml.KindText, text: string(tok.Data)})
		}
	}
}

// libStream decodes doc with libwbxml.
func libStream(doc []byte) ([]item, error) {
	toks, err := libwbxml.Decode(doc)
	if err != nil {
		return nil, err
	}
	items := make([]item, 0, len(toks))
	for _, tok := range toks {
		items = append(items, item{
			kind:    tok.Kind,
			tag:     wbxml.Tag(uint16(tok.Page)<<8 | uint16(tok.Token)),
			unknown: tok.Unknown,
			text:    string(tok.Data),
		})
	}
	return mergeText(items), nil
}

// mergeText joins adjacent text items and drops empty ones: an empty inline string is no
// text node in libwbxml's tree.
func mergeText(items []item) []item {
	out := items[:0]
	for _, it := range items {
		if it.kind == libwbxml.KindText {
			if it.text == "" {
				continue
			}
			if n := len(out); n > 0 && out[n-1].kind == libwbxml.KindText {
				out[n-1].text += it.text
				continue
			}
		}
		out = append(out, it)
	}
	return out
}

// libwbxmlLacks reports whether libwbxml 0.11.8 has no entry for t (codec-table-diff.txt in
// the shared corpus): code page 25 (Find), MeetingResponse ProposedStartTime and
// ProposedEndTime (8:0x10, 8:0x11) and Provision AccountOnlyRemoteWipe (14:0x3B). It shows
// these as <unknown>; every other tag must decode to the same page and token.
func libwbxmlLacks(t wbxml.Tag) bool {
	switch {
	case t.Page() == 25:
		return true
	case t.Page() == 8 && (t.Token() == 0x10 || t.Token() == 0x11):
		return true
	case t.Page() == 14 && t.Token() == 0x3B:
		return true
	}
	return false
}

// diff returns a description of the first difference between our stream and libwbxml's,
// or "" if they agree.
func diff(ours, lib []item) string {
	for i := 0; i < len(ours) || i < len(lib); i++ {
		if i >= len(ours) {
			return fmt.Sprintf("item %d: ours ended, libwbxml has %v", i, lib[i])
		}
		if i >= len(lib) {
			return fmt.Sprintf("item %d: libwbxml ended, ours has %v", i, ours[i])
		}
		o, l := ours[i], lib[i]
		if o.kind != l.kind {
			return fmt.Sprintf("item %d: ours %v, libwbxml %v", i, o, l)
		}
		switch {
		case o.kind == libwbxml.KindText:
			if o.text != l.text {
				return fmt.Sprintf("item %d: ours %v, libwbxml %v", i, o, l)
			}
		case l.unknown:
			if !libwbxmlLacks(o.tag) {
				return fmt.Sprintf("item %d: libwbxml shows <unknown> for %v, which its table has", i, o.tag)
			}
		case o.tag != l.tag:
			return fmt.Sprintf("item %d: ours %v, libwbxml %v", i, o, l)
		}
	}
	return ""
}

// fixtures returns the WBXML documents to compare: every capture under ../shared/corpus/eas
// (if the corpus is there) and every golden file of testdata/docs, by display name.
func fixtures(t testing.TB) map[string][]byte {
	t.Helper()
	docs := map[string][]byte{}
	paths, err := filepath.Glob(filepath.Join(docsDir, "*.wbxml"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no golden files in %s", docsDir)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		docs["docs/"+filepath.Base(p)] = b
	}
	root := filepath.Join(corpusDir, "eas")
	if _, err := os.Stat(root); err != nil {
		t.Logf("shared corpus not available at %s (%v): comparing testdata/docs only", root, err)
		return docs
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".wbxml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		docs["corpus/"+filepath.ToSlash(rel)] = b
		return nil
	})
	require.NoError(t, err)
	return docs
}

// TestTokenStreamsAgree decodes every capture of the shared corpus and every golden document
// with both decoders: the streams must be equal by kind, code page, token and data, except
// that libwbxml shows the tokens it lacks as <unknown>.
func TestTokenStreamsAgree(t *testing.T) {
	docs := fixtures(t)
	unknownSeen := 0
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			ours, err := ourStream(doc)
			require.NoError(t, err)
			lib, err := libStream(doc)
			require.NoError(t, err)
			assert.Empty(t, diff(ours, lib))
			for _, it := range lib {
				if it.unknown && it.kind == libwbxml.KindStart {
					unknownSeen++
				}
			}
		})
	}
	// The allow-list is exercised: the Find, 16.1 MeetingResponse and account-only wipe
	// documents contain tags libwbxml lacks.
	assert.Positive(t, unknownSeen)
}

// TestLibwbxmlEncodingDecodesAlike has libwbxml re-encode every golden document
// (wbxml_tree_to_wbxml) and checks that package wbxml reads the result as the same stream:
// libwbxml's encoder output is valid input for us.
func TestLibwbxmlEncodingDecodesAlike(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(docsDir, "*.wbxml"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			doc, err := os.ReadFile(p)
			require.NoError(t, err)
			want, err := ourStream(doc)
			require.NoError(t, err)
			if hasLacking(want) {
				// libwbxml re-encodes <unknown> as a literal tag, which EAS does not use.
				t.Skip("uses tags libwbxml lacks; compared in TestTokenStreamsAgree instead")
			}
			out, err := libwbxml.Encode(doc)
			require.NoError(t, err)
			got, err := ourStream(out)
			require.NoError(t, err)
			if hasNUL(want) {
				// Known libwbxml defect: wbxml_tree_to_wbxml writes every text node as an
				// inline string, so opaque data holding 0x00 (binary attachments) is cut at
				// the first NUL by any reader. Package wbxml keeps it OPAQUE.
				assert.NotEmpty(t, diff(got, want), "libwbxml now encodes binary data losslessly; drop this expectation")
				return
			}
			assert.Empty(t, diff(got, want))
		})
	}
}

func hasNUL(items []item) bool {
	for _, it := range items {
		if it.kind == libwbxml.KindText && strings.IndexByte(it.text, 0) >= 0 {
			return true
		}
	}
	return false
}

func hasLacking(items []item) bool {
	for _, it := range items {
		if it.kind == libwbxml.KindStart && libwbxmlLacks(it.tag) {
			return true
		}
	}
	return false
}
