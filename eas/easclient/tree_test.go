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
