package easclient_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/wbxml"
)

func TestBinaryQueryEncode(t *testing.T) {
	t.Parallel()
	// MS-ASHTTP 2.2.1.1.1.1: the spec's example URI for
	// Cmd=Sync&DeviceId=v140Device&DeviceType=SmartPhone at 14.0, locale 0x0409.
	s, err := easclient.BinaryQuery{
		Version: eas.Version140, Cmd: eas.CmdSync, Locale: 0x0409,
		DeviceID: []byte("v140Device"), DeviceType: "SmartPhone",
	}.Encode()
	require.NoError(t, err)
	assert.Equal(t, "jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l", s)

	key := uint32(0x01020304)
	b, err := easclient.BinaryQuery{
		Version: eas.Version161, Cmd: eas.CmdSmartReply, Locale: 0x0407, DeviceID: []byte{0xff}, PolicyKey: &key,
		DeviceType: "T", User: "u", CollectionID: "c", ItemID: "i", LongID: "l", Occurrence: "o",
		AttachmentName: "a", SaveInSent: true,
	}.Bytes()
	require.NoError(t, err)
	assert.Equal(t, []byte{0xa1, 3, 0x07, 0x04, 1, 0xff, 4, 4, 3, 2, 1, 1, 'T',
		0, 1, 'a', 1, 1, 'c', 3, 1, 'i', 4, 1, 'l', 6, 1, 'o', 7, 1, 1, 8, 1, 'u'}, b)

	_, err = easclient.BinaryQuery{Cmd: eas.CmdSync, DeviceType: strings.Repeat("x", 256)}.Bytes()
	require.Error(t, err)
	_, err = easclient.BinaryQuery{Cmd: eas.CommandCode(7), DeviceType: "T"}.Bytes()
	require.Error(t, err)
}

func TestPlainQuery(t *testing.T) {
	t.Parallel()
	c := &easclient.Client{User: "t1@dev.fd", DeviceID: "Nine45069EA34A52", DeviceType: "Android"}
	q, err := c.Query(&easclient.Request{Cmd: eas.CmdSmartForward, CollectionID: "5", ItemID: "5:1", SaveInSent: true})
	require.NoError(t, err)
	assert.Equal(t, "Cmd=SmartForward&User=t1%40dev.fd&DeviceId=Nine45069EA34A52&DeviceType=Android&CollectionId=5&ItemId=5%3A1&SaveInSent=T", q)
}

func TestResponseHelpers(t *testing.T) {
	t.Parallel()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.FolderHierarchyFolderSync)
	enc.Int(wbxml.FolderHierarchyStatus, 142)
	enc.End()
	r := &easclient.Response{StatusCode: 200, Body: enc.Bytes()}
	st, err := r.Status(wbxml.FolderHierarchyStatus)
	require.NoError(t, err)
	assert.Equal(t, 142, st)
	x, err := r.XML()
	require.NoError(t, err)
	assert.Contains(t, x, "<Status>142</Status>")
	toks, err := r.Tokens()
	require.NoError(t, err)
	assert.Len(t, toks, 5) // FolderSync, Status, "142", /Status, /FolderSync
	_, err = r.Status(wbxml.FolderHierarchySyncKey)
	require.Error(t, err)

	empty := &easclient.Response{StatusCode: 200}
	x, err = empty.XML()
	require.NoError(t, err)
	assert.Empty(t, x)
	_, err = (&easclient.Response{Body: []byte{3, 1}}).Tokens()
	require.Error(t, err)
}
