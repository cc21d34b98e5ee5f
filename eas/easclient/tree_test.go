package easclient_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/wbxml"
)

func TestParse(t *testing.T) {
	t.Parallel()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.FolderHierarchyFolderSync)
	enc.Int(wbxml.FolderHierarchyStatus, 1)
	enc.String(wbxml.FolderHierarchySyncKey, "k1")
	enc.Start(wbxml.FolderHierarchyChanges)
	for _, name := range []string{"Inbox", "Sent"} {
		enc.Start(wbxml.FolderHierarchyAdd)
		enc.String(wbxml.FolderHierarchyDisplayName, name)
		enc.End()
	}
	enc.Empty(wbxml.FolderHierarchyCount)
	enc.End()
	enc.Start(wbxml.AirSyncBaseData)
	enc.Opaque(wbxml.AirSyncBaseData, []byte("op"))
	enc.End()
	enc.End()
	require.NoError(t, enc.Err())

	doc, err := easclient.Parse(enc.Bytes())
	require.NoError(t, err)
	assert.Equal(t, wbxml.FolderHierarchyFolderSync, doc.Tag)
	assert.Equal(t, "1", doc.Get(wbxml.FolderHierarchyStatus))
	assert.Equal(t, "k1", doc.Child(wbxml.FolderHierarchySyncKey).Text)
	adds := doc.Child(wbxml.FolderHierarchyChanges).All(wbxml.FolderHierarchyAdd)
	require.Len(t, adds, 2)
	assert.Equal(t, "Sent", adds[1].Get(wbxml.FolderHierarchyDisplayName))
	assert.Equal(t, "Inbox", doc.Get(wbxml.FolderHierarchyChanges, wbxml.FolderHierarchyAdd, wbxml.FolderHierarchyDisplayName),
		"a path takes the first match at each step")
	assert.True(t, doc.Has(wbxml.FolderHierarchyChanges, wbxml.FolderHierarchyCount), "an empty element is there")
	assert.Empty(t, doc.Get(wbxml.FolderHierarchyChanges, wbxml.FolderHierarchyCount))
	assert.Equal(t, "op", doc.Get(wbxml.AirSyncBaseData, wbxml.AirSyncBaseData), "opaque content is text")
	assert.Same(t, doc, doc.Child())

	// Missing steps give nil, "", false: no panic along a chain.
	assert.Nil(t, doc.Child(wbxml.FolderHierarchyServerId, wbxml.FolderHierarchyType))
	assert.Empty(t, doc.Child(wbxml.FolderHierarchyServerId).Get(wbxml.FolderHierarchyType))
	assert.Nil(t, doc.Child(wbxml.FolderHierarchyServerId).All(wbxml.FolderHierarchyAdd))
	assert.False(t, doc.Has(wbxml.FolderHierarchyUpdate))
	var none *easclient.Node
	assert.Equal(t, "<nil>", none.String())

	assert.Equal(t, "<FolderHierarchy:Changes><FolderHierarchy:Add><FolderHierarchy:DisplayName>Inbox</FolderHierarchy:DisplayName>"+
		"</FolderHierarchy:Add><FolderHierarchy:Add><FolderHierarchy:DisplayName>Sent</FolderHierarchy:DisplayName></FolderHierarchy:Add>"+
		"<FolderHierarchy:Count/></FolderHierarchy:Changes>", doc.Child(wbxml.FolderHierarchyChanges).String())

	r := &easclient.Response{StatusCode: 200, Body: enc.Bytes()}
	tree, err := r.Tree()
	require.NoError(t, err)
	assert.Equal(t, doc, tree)
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	_, err := (&easclient.Response{StatusCode: 200}).Tree()
	require.ErrorContains(t, err, "empty response body")

	_, err = easclient.Parse([]byte{3, 1})
	require.Error(t, err, "truncated header")

	enc := wbxml.NewEncoder(nil)
	enc.Empty(wbxml.AirSyncSync)
	require.NoError(t, enc.Err())
	_, err = easclient.Parse(enc.Bytes()[:len(enc.Bytes())-1])
	require.Error(t, err, "no root element")
}

func TestRewrite(t *testing.T) {
	t.Parallel()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.AirSyncSync)
	enc.Start(wbxml.AirSyncCollections)
	for _, key := range []string{"0", "41"} {
		enc.Start(wbxml.AirSyncCollection)
		enc.String(wbxml.AirSyncSyncKey, key)
		enc.String(wbxml.AirSyncCollectionId, "theirs")
		enc.Empty(wbxml.AirSyncGetChanges)
		enc.Opaque(wbxml.AirSyncBaseData, []byte{0, 1, 2})
		enc.End()
	}
	enc.End()
	enc.End()
	require.NoError(t, enc.Err())
	orig := enc.Bytes()

	asked := map[wbxml.Tag]int{}
	out, err := easclient.Rewrite(orig, func(tag wbxml.Tag) func(string) string {
		asked[tag]++
		switch tag {
		case wbxml.AirSyncSyncKey:
			return func(old string) string {
				if old == "0" {
					return old
				}
				return "K" + old
			}
		case wbxml.AirSyncCollectionId:
			return func(string) string { return "7" }
		}
		return nil
	})
	require.NoError(t, err)
	assert.Zero(t, asked[wbxml.AirSyncGetChanges], "not asked about an empty element")
	assert.Equal(t, 2, asked[wbxml.AirSyncSyncKey])

	doc, err := easclient.Parse(out)
	require.NoError(t, err)
	colls := doc.Child(wbxml.AirSyncCollections).All(wbxml.AirSyncCollection)
	require.Len(t, colls, 2)
	assert.Equal(t, "0", colls[0].Get(wbxml.AirSyncSyncKey))
	assert.Equal(t, "K41", colls[1].Get(wbxml.AirSyncSyncKey))
	assert.Equal(t, "7", colls[1].Get(wbxml.AirSyncCollectionId))
	assert.True(t, colls[1].Has(wbxml.AirSyncGetChanges))
	toks, err := (&easclient.Response{Body: out}).Tokens()
	require.NoError(t, err)
	var opaque int
	for _, tok := range toks {
		if tok.Kind == wbxml.KindOpaque {
			opaque++
			assert.Equal(t, []byte{0, 1, 2}, tok.Data)
		}
	}
	assert.Equal(t, 2, opaque, "opaque data stays opaque")

	same, err := easclient.Rewrite(orig, func(wbxml.Tag) func(string) string { return nil })
	require.NoError(t, err)
	assert.Equal(t, orig, same, "nothing to rewrite: the same bytes")

	_, err = easclient.Rewrite(orig, func(tag wbxml.Tag) func(string) string {
		if tag == wbxml.AirSyncCollection {
			return func(s string) string { return s }
		}
		return nil
	})
	require.Error(t, err, "an element with children has no text to rewrite")
	_, err = easclient.Rewrite(orig[:len(orig)-2], func(wbxml.Tag) func(string) string { return nil })
	require.Error(t, err, "truncated")
}
