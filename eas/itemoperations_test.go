package eas_test

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// attachmentData is the attachment of withAttachment, 300 bytes.
var attachmentData = []byte(strings.Repeat("0123456789", 30))

var withAttachment = "From: bob@example.org\r\nTo: alice@example.com\r\nSubject: report\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
	"The report is attached. " + strings.Repeat("Long text. ", 50) + "\r\n--XX\r\n" +
	"Content-Type: application/octet-stream; name=report.bin\r\nContent-Disposition: attachment; filename=report.bin\r\n" +
	"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(attachmentData) + "\r\n--XX--\r\n"

// ioFetch is one Fetch of an ItemOperations response.
type ioFetch struct {
	Status                         int
	ServerID, FileRef, ContentType string
	Range                          string
	Total, Part                    int
	Data                           string
	Body                           string // AirSyncBase Data
	Truncated                      string
	Subject                        string
}

func itemOps(t *testing.T, c *easclient.Client, x string, multipart bool) (*easclient.Response, int, []ioFetch, [][]byte) {
	t.Helper()
	req := &easclient.Request{Cmd: eas.CmdItemOperations, Body: xmlBody(t, x), AcceptMultiPart: multipart}
	resp, err := c.Do(t.Context(), req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body := resp.Body
	var parts [][]byte
	if multipart {
		require.Equal(t, eas.ContentTypeMultiPart, resp.Header.Get("Content-Type"))
		n := int(binary.LittleEndian.Uint32(body))
		for i := range n {
			off := binary.LittleEndian.Uint32(body[4+8*i:])
			l := binary.LittleEndian.Uint32(body[8+8*i:])
			parts = append(parts, body[off:off+l])
		}
		body = parts[0]
	}
	r := &easclient.Response{Body: body}
	toks, err := r.Tokens()
	require.NoError(t, err)
	var (
		top     int
		fetches []ioFetch
	)
	for i := 0; i+1 < len(toks); i++ {
		tok := toks[i]
		if tok.Kind != wbxml.KindStart {
			continue
		}
		if tok.Tag == wbxml.ItemOperationsFetch || tok.Tag == wbxml.ItemOperationsEmptyFolderContents || tok.Tag == wbxml.ItemOperationsMove {
			fetches = append(fetches, ioFetch{})
			continue
		}
		v := string(toks[i+1].Data)
		var f *ioFetch
		if len(fetches) > 0 {
			f = &fetches[len(fetches)-1]
		}
		switch tok.Tag {
		case wbxml.ItemOperationsStatus:
			if f == nil {
				top = mustAtoi(t, v)
			} else {
				f.Status = mustAtoi(t, v)
			}
		case wbxml.AirSyncServerId:
			f.ServerID = v
		case wbxml.AirSyncBaseFileReference:
			if f.FileRef == "" {
				f.FileRef = v
			}
		case wbxml.AirSyncBaseContentType:
			f.ContentType = v
		case wbxml.ItemOperationsRange:
			f.Range = v
		case wbxml.ItemOperationsTotal:
			f.Total = mustAtoi(t, v)
		case wbxml.ItemOperationsPart:
			f.Part = mustAtoi(t, v)
		case wbxml.ItemOperationsData:
			f.Data = v
		case wbxml.AirSyncBaseData:
			f.Body = v
		case wbxml.AirSyncBaseTruncated:
			f.Truncated = v
		case wbxml.EmailSubject:
			f.Subject = v
		}
	}
	return resp, top, fetches, parts
}

func TestItemOperationsFetch(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newMailEnv(t, st)
		c := env.client("dev")
		it, err := st.Deliver(t.Context(), env.user.Address, []byte(withAttachment))
		require.NoError(t, err)
		inbox := fmt.Sprint(it.Folder)
		ref := fmt.Sprintf("%d:2", it.ID)

		// An email with a truncated plain-text body.
		_, top, f, _ := itemOps(t, c, fmt.Sprintf(`<ItemOperations xmlns="ItemOperations" xmlns:as="AirSync" xmlns:asb="AirSyncBase">
			<Fetch><Store>Mailbox</Store><as:CollectionId>%s</as:CollectionId><as:ServerId>%d</as:ServerId>
			<Options><asb:BodyPreference><asb:Type>1</asb:Type><asb:TruncationSize>20</asb:TruncationSize></asb:BodyPreference></Options>
			</Fetch></ItemOperations>`, inbox, it.ID), false)
		assert.Equal(t, 1, top)
		require.Len(t, f, 1)
		assert.Equal(t, 1, f[0].Status)
		assert.Equal(t, fmt.Sprint(it.ID), f[0].ServerID)
		assert.Equal(t, "report", f[0].Subject)
		assert.Equal(t, "The report is attach", f[0].Body)
		assert.Equal(t, "1", f[0].Truncated)
		assert.Equal(t, ref, f[0].FileRef, "the attachment is listed with its FileReference")

		// The attachment, whole and by Range, inline (base64) and multipart.
		fetchRef := func(rng string) string {
			opt := ""
			if rng != "" {
				opt = "<Options><Range>" + rng + "</Range></Options>"
			}
			return fmt.Sprintf(`<ItemOperations xmlns="ItemOperations" xmlns:asb="AirSyncBase"><Fetch><Store>Mailbox</Store>
				<asb:FileReference>%s</asb:FileReference>%s</Fetch></ItemOperations>`, ref, opt)
		}
		_, _, f, _ = itemOps(t, c, fetchRef(""), false)
		require.Len(t, f, 1)
		assert.Equal(t, ioFetch{Status: 1, FileRef: ref, ContentType: "application/octet-stream; name=report.bin", Total: 300,
			Data: base64.StdEncoding.EncodeToString(attachmentData)}, f[0])
		_, _, f, _ = itemOps(t, c, fetchRef("10-19"), false)
		assert.Equal(t, "10-19", f[0].Range)
		assert.Equal(t, 300, f[0].Total)
		assert.Equal(t, base64.StdEncoding.EncodeToString(attachmentData[10:20]), f[0].Data)
		_, _, f, _ = itemOps(t, c, fetchRef("290-999"), false)
		assert.Equal(t, "290-299", f[0].Range, "a range past the end is cut")
		_, _, f, _ = itemOps(t, c, fetchRef("300-400"), false)
		assert.Equal(t, int(eas.StatusIOByteRange), f[0].Status)
		_, _, f, _ = itemOps(t, c, fetchRef("9-1"), false)
		assert.Equal(t, int(eas.StatusIOProtocolError), f[0].Status)

		_, _, f, parts := itemOps(t, c, fetchRef("0-99"), true)
		require.Len(t, parts, 2)
		assert.Equal(t, 1, f[0].Part)
		assert.Empty(t, f[0].Data)
		assert.Equal(t, attachmentData[:100], parts[1])

		// Errors each get their own status; the others still succeed.
		_, top, f, _ = itemOps(t, c, fmt.Sprintf(`<ItemOperations xmlns="ItemOperations" xmlns:as="AirSync" xmlns:asb="AirSyncBase" xmlns:s="Search">
			<Fetch><Store>Mailbox</Store><as:CollectionId>%s</as:CollectionId><as:ServerId>999999</as:ServerId></Fetch>
			<Fetch><Store>Mailbox</Store><asb:FileReference>%d:9</asb:FileReference></Fetch>
			<Fetch><Store>Mailbox</Store><asb:FileReference>garbage</asb:FileReference></Fetch>
			<Fetch><Store>Mailbox</Store><s:LongId>RgAAAA</s:LongId></Fetch>
			<Fetch><Store>DocumentLibrary</Store><asb:FileReference>%s</asb:FileReference></Fetch>
			<Fetch><Store>Mailbox</Store><as:CollectionId>%s</as:CollectionId><as:ServerId>%d</as:ServerId>
			<Options><asb:BodyPreference><asb:Type>9</asb:Type></asb:BodyPreference></Options></Fetch>
			<Fetch><Store>Mailbox</Store><asb:FileReference>%s</asb:FileReference></Fetch>
			</ItemOperations>`, inbox, it.ID, ref, inbox, it.ID, ref), false)
		assert.Equal(t, 1, top)
		var got []int
		for _, x := range f {
			got = append(got, x.Status)
		}
		assert.Equal(t, []int{6, 15, 15, 6, 9, 2, 1}, got)

		// Another user's item is not found.
		eve, err := st.CreateUser(t.Context(), store.NewUser{Address: "eve@example.com", Password: "pw"})
		require.NoError(t, err)
		foreign, err := st.Deliver(t.Context(), eve.Address, []byte(withAttachment))
		require.NoError(t, err)
		_, _, f, _ = itemOps(t, c, fmt.Sprintf(`<ItemOperations xmlns="ItemOperations" xmlns:as="AirSync" xmlns:asb="AirSyncBase">
			<Fetch><Store>Mailbox</Store><as:CollectionId>%d</as:CollectionId><as:ServerId>%d</as:ServerId></Fetch>
			<Fetch><Store>Mailbox</Store><asb:FileReference>%d:2</asb:FileReference></Fetch></ItemOperations>`,
			foreign.Folder, foreign.ID, foreign.ID), false)
		assert.Equal(t, []int{6, 15}, []int{f[0].Status, f[1].Status})

		// A request that is not ItemOperations: status 2 at the top.
		resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdItemOperations, Body: xmlBody(t, `<ItemOperations xmlns="ItemOperations"/>`)})
		require.NoError(t, err)
		n, err := resp.Status(wbxml.ItemOperationsStatus)
		require.NoError(t, err)
		assert.Equal(t, 2, n)
	})
}

func TestItemOperationsEmptyFolderAndMove(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newMailEnv(t, st)
		c := env.client("dev")
		deleted := env.folderID(t, store.FolderDeleted)
		inbox := env.folderID(t, store.FolderInbox)
		for range 3 {
			it, err := st.Deliver(t.Context(), env.user.Address, testMessage)
			require.NoError(t, err)
			_, err = st.MoveItem(t.Context(), it.ID, deleted)
			require.NoError(t, err)
		}
		sub, err := st.CreateFolder(t.Context(), env.user.Mailbox, deleted, "old", store.FolderUserMail)
		require.NoError(t, err)

		x := func(opts string) string {
			return fmt.Sprintf(`<ItemOperations xmlns="ItemOperations" xmlns:as="AirSync"><EmptyFolderContents>
				<as:CollectionId>%d</as:CollectionId>%s</EmptyFolderContents></ItemOperations>`, deleted, opts)
		}
		_, _, f, _ := itemOps(t, c, x(""), false)
		require.Len(t, f, 1)
		assert.Equal(t, 1, f[0].Status)
		its, err := st.Items(t.Context(), deleted)
		require.NoError(t, err)
		assert.Empty(t, its)
		_, err = st.Folder(t.Context(), sub.ID)
		require.NoError(t, err, "subfolders stay without DeleteSubFolders")
		_, _, f, _ = itemOps(t, c, x("<Options><DeleteSubFolders/></Options>"), false)
		assert.Equal(t, 1, f[0].Status)
		_, err = st.Folder(t.Context(), sub.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, _, f, _ = itemOps(t, c, `<ItemOperations xmlns="ItemOperations" xmlns:as="AirSync"><EmptyFolderContents>
			<as:CollectionId>999999</as:CollectionId></EmptyFolderContents></ItemOperations>`, false)
		assert.Equal(t, 6, f[0].Status)

		// Move a conversation: the reply and the original go to the destination.
		orig, err := st.Deliver(t.Context(), env.user.Address, testMessage)
		require.NoError(t, err)
		reply, err := st.Deliver(t.Context(), env.user.Address, []byte("From: bob@example.org\r\nSubject: Re: hello\r\n"+
			"In-Reply-To: <m1@example.org>\r\nReferences: <m1@example.org>\r\n\r\nre\r\n"))
		require.NoError(t, err)
		lone, err := st.Deliver(t.Context(), env.user.Address, []byte("From: x@example.org\r\nSubject: other\r\nMessage-ID: <o@x>\r\n\r\nx\r\n"))
		require.NoError(t, err)
		conv := base64.StdEncoding.EncodeToString(conversationIDOf(t, st, env, orig))
		_, _, f, _ = itemOps(t, c, fmt.Sprintf(`<ItemOperations xmlns="ItemOperations"><Move><ConversationId wbxml="opaque-base64">%s</ConversationId>
			<DstFldId>%d</DstFldId></Move></ItemOperations>`, conv, deleted), false)
		require.Len(t, f, 1)
		assert.Equal(t, 1, f[0].Status)
		for _, id := range []store.ItemID{orig.ID, reply.ID} {
			it, err := st.Item(t.Context(), id)
			require.NoError(t, err)
			assert.Equal(t, deleted, it.Folder)
		}
		it, err := st.Item(t.Context(), lone.ID)
		require.NoError(t, err)
		assert.Equal(t, inbox, it.Folder, "another conversation stays")
		_, _, f, _ = itemOps(t, c, fmt.Sprintf(`<ItemOperations xmlns="ItemOperations"><Move><ConversationId wbxml="opaque-base64">%s</ConversationId>
			<DstFldId>%d</DstFldId></Move></ItemOperations>`, conv, env.folderID(t, store.FolderCalendar)), false)
		assert.Equal(t, int(eas.StatusIOActionNotAllowed), f[0].Status)
	})
}

// conversationIDOf fetches an item through Sync's codec to learn its ConversationId.
func conversationIDOf(t *testing.T, st *store.Store, env *mailEnv, it store.Item) []byte {
	t.Helper()
	resp, _, _, _ := itemOps(t, env.client("conv"), fmt.Sprintf(`<ItemOperations xmlns="ItemOperations" xmlns:as="AirSync">
		<Fetch><Store>Mailbox</Store><as:CollectionId>%d</as:CollectionId><as:ServerId>%d</as:ServerId></Fetch></ItemOperations>`,
		it.Folder, it.ID), false)
	toks, err := resp.Tokens()
	require.NoError(t, err)
	for i, tok := range toks {
		if tok.Kind == wbxml.KindStart && tok.Tag == wbxml.Email2ConversationId && i+1 < len(toks) {
			return toks[i+1].Data
		}
	}
	t.Fatal("no ConversationId")
	return nil
}

func TestGetAttachment(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	env := newMailEnv(t, st)
	it, err := st.Deliver(t.Context(), env.user.Address, []byte(withAttachment))
	require.NoError(t, err)
	ref := fmt.Sprintf("%d:2", it.ID)
	for _, tc := range []struct {
		name    string
		version eas.Version
		ref     string
		code    int
	}{
		{"12.1", eas.Version121, ref, 200},
		{"14.1", eas.Version141, ref, 200},
		{"16.1 has no GetAttachment", eas.Version161, ref, http.StatusNotImplemented},
		{"unknown part", eas.Version141, fmt.Sprintf("%d:7", it.ID), http.StatusBadRequest},
		{"malformed", eas.Version141, "nope", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := env.client("dev")
			c.Version = tc.version
			resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdGetAttachment, AttachmentName: tc.ref})
			require.NoError(t, err)
			require.Equal(t, tc.code, resp.StatusCode)
			if tc.code == 200 {
				assert.Equal(t, attachmentData, resp.Body)
				assert.Equal(t, "application/octet-stream; name=report.bin", resp.Header.Get("Content-Type"))
			}
		})
	}
}
