package eas_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// twoAttachments has a 40-byte attachment (part 2) and a 3000-byte one (part 3).
var (
	smallAttachment = []byte(strings.Repeat("small-att-", 4))
	bigAttachment   = []byte(strings.Repeat("BIG-ATTACHMENT-", 200))
	twoAttachments  = "From: bob@example.org\r\nTo: alice@example.com\r\nSubject: two files\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"See the files.\r\n--b1\r\nContent-Type: text/plain; name=small.txt\r\nContent-Disposition: attachment; filename=small.txt\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(smallAttachment) + "\r\n--b1\r\n" +
		"Content-Type: application/octet-stream; name=big.bin\r\nContent-Disposition: attachment; filename=big.bin\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(bigAttachment) + "\r\n--b1--\r\n"
)

// The policy's MaxAttachmentSize (MS-ASPROV 2.2.2.30) and AttachmentsEnabled (2.2.2.23) are
// enforced over HTTPS whatever the device asks for: Sync lists every attachment (as Exchange
// does) but its MIME body carries a note in place of a blocked one; ItemOperations refuses
// to fetch a blocked attachment (status 11 too large, 16 disabled) and strips it from a
// fetched MIME body; GetAttachment refuses it (HTTP 413, 403). An allowed attachment is
// served unchanged.
func TestAttachmentPolicyEnforced(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		set       func(p *policy.Policy)
		smallOK   bool
		ioStatus  int // ItemOperations Fetch status of the blocked attachment
		httpCode  int // GetAttachment of the blocked attachment
		noteMatch string
	}{
		{"MaxAttachmentSize", func(p *policy.Policy) { n := uint32(1000); p.MaxAttachmentSize = &n }, true,
			int(eas.StatusIOTooLarge), http.StatusRequestEntityTooLarge, "at most 1000 bytes"},
		{"AttachmentsEnabled false", func(p *policy.Policy) { p.AttachmentsEnabled = false }, false,
			int(eas.StatusIOAccessDenied), http.StatusForbidden, "does not allow attachments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.ForEach(t, func(t *testing.T, st *store.Store) {
				ctx := context.Background()
				m := policy.NewManager(st)
				p, err := m.Default(ctx)
				require.NoError(t, err)
				tc.set(&p)
				_, err = m.Update(ctx, p)
				require.NoError(t, err)

				se := newSyncEnv(t, st, func(o *eas.SyncOptions) { o.Limits = eas.PolicyLimits(st) })
				for _, c := range eas.NewMail(eas.MailOptions{Store: st, Limits: eas.PolicyLimits(st)}).Commands() {
					se.env.srv.Handle(c)
				}
				it, err := st.Deliver(ctx, "alice@example.com", []byte(twoAttachments))
				require.NoError(t, err)
				smallRef, bigRef := fmt.Sprintf("%d:2", it.ID), fmt.Sprintf("%d:3", it.ID)
				c := se.client()

				// Sync with plain text bodies: both attachments listed, with their sizes.
				first := se.sync(c, collReq{key: "0", id: folderIDString(se.inbox)})
				require.Equal(t, "1", first.Get(wbxml.AirSyncStatus))
				coll := se.sync(c, collReq{key: first.Get(wbxml.AirSyncSyncKey), id: folderIDString(se.inbox), window: 10,
					options: func(enc *wbxml.Encoder) { bodyPref(enc, 1, 0, false, 0) }})
				adds := coll.Child(wbxml.AirSyncCommands).All(wbxml.AirSyncAdd)
				require.Len(t, adds, 1)
				atts := adds[0].Child(wbxml.AirSyncApplicationData).Child(wbxml.AirSyncBaseAttachments).All(wbxml.AirSyncBaseAttachment)
				require.Len(t, atts, 2, "blocked attachments are listed, as Exchange lists them")
				assert.Equal(t, smallRef, atts[0].Get(wbxml.AirSyncBaseFileReference))
				assert.Equal(t, strconv.Itoa(len(smallAttachment)), atts[0].Get(wbxml.AirSyncBaseEstimatedDataSize))
				assert.Equal(t, bigRef, atts[1].Get(wbxml.AirSyncBaseFileReference))
				assert.Equal(t, strconv.Itoa(len(bigAttachment)), atts[1].Get(wbxml.AirSyncBaseEstimatedDataSize))

				// Sync with MIME bodies (a new device, MIMESupport 2, BodyPreference Type 4).
				c2 := se.env.client("alice@example.com")
				c2.DeviceID = "mimedevice"
				first = se.sync(c2, collReq{key: "0", id: folderIDString(se.inbox)})
				coll = se.sync(c2, collReq{key: first.Get(wbxml.AirSyncSyncKey), id: folderIDString(se.inbox), window: 10,
					options: func(enc *wbxml.Encoder) {
						enc.Int(wbxml.AirSyncMIMESupport, 2)
						bodyPref(enc, 4, 0, false, 0)
					}})
				adds = coll.Child(wbxml.AirSyncCommands).All(wbxml.AirSyncAdd)
				require.Len(t, adds, 1)
				body := adds[0].Child(wbxml.AirSyncApplicationData).Child(wbxml.AirSyncBaseBody)
				require.Equal(t, "4", body.Get(wbxml.AirSyncBaseType))
				assertStripped(t, body.Get(wbxml.AirSyncBaseData), tc.smallOK, tc.noteMatch)

				// ItemOperations: each attachment by FileReference, and the message as MIME.
				_, top, f, _ := itemOps(t, c, fmt.Sprintf(`<ItemOperations xmlns="ItemOperations" xmlns:as="AirSync" xmlns:asb="AirSyncBase">
					<Fetch><Store>Mailbox</Store><asb:FileReference>%s</asb:FileReference></Fetch>
					<Fetch><Store>Mailbox</Store><asb:FileReference>%s</asb:FileReference>
					<Options><Range>0-9</Range></Options></Fetch>
					<Fetch><Store>Mailbox</Store><as:CollectionId>%s</as:CollectionId><as:ServerId>%d</as:ServerId>
					<Options><as:MIMESupport>2</as:MIMESupport><asb:BodyPreference><asb:Type>4</asb:Type></asb:BodyPreference></Options></Fetch>
					</ItemOperations>`, smallRef, bigRef, folderIDString(se.inbox), it.ID), false)
				require.Equal(t, 1, top)
				require.Len(t, f, 3)
				if tc.smallOK {
					assert.Equal(t, 1, f[0].Status)
					assert.Equal(t, base64.StdEncoding.EncodeToString(smallAttachment), f[0].Data)
				} else {
					assert.Equal(t, tc.ioStatus, f[0].Status)
					assert.Empty(t, f[0].Data)
				}
				assert.Equal(t, tc.ioStatus, f[1].Status, "a Range does not get round the policy")
				assert.Equal(t, bigRef, f[1].FileRef)
				assert.Empty(t, f[1].Data)
				assert.Equal(t, 1, f[2].Status)
				assertStripped(t, f[2].Body, tc.smallOK, tc.noteMatch)

				// GetAttachment (14.1).
				c.Version = eas.Version141
				get := func(ref string) *easclient.Response {
					resp, err := c.Do(ctx, &easclient.Request{Cmd: eas.CmdGetAttachment, AttachmentName: ref})
					require.NoError(t, err)
					return resp
				}
				resp := get(bigRef)
				assert.Equal(t, tc.httpCode, resp.StatusCode)
				assert.NotContains(t, string(resp.Body), string(bigAttachment[:30]))
				resp = get(smallRef)
				if tc.smallOK {
					assert.Equal(t, http.StatusOK, resp.StatusCode)
					assert.Equal(t, smallAttachment, resp.Body)
				} else {
					assert.Equal(t, tc.httpCode, resp.StatusCode)
				}
			})
		})
	}
}

// assertStripped checks a MIME body sent under a policy: the big attachment is gone in any
// encoding, a note names it, the text body is there and the small attachment is there when
// the policy allows it.
func assertStripped(t *testing.T, mime string, smallOK bool, note string) {
	t.Helper()
	require.NotEmpty(t, mime)
	bigB64 := base64.StdEncoding.EncodeToString(bigAttachment)
	assert.NotContains(t, mime, bigB64[:40], "the blocked attachment is not smuggled in the MIME")
	assert.NotContains(t, mime, string(bigAttachment[:30]))
	assert.Contains(t, mime, "See the files.")
	assert.Contains(t, mime, `"big.bin" (3000 bytes) was removed`)
	assert.Contains(t, mime, note)
	smallB64 := base64.StdEncoding.EncodeToString(smallAttachment)
	if smallOK {
		assert.Contains(t, mime, smallB64)
		assert.NotContains(t, mime, `"small.txt"`)
	} else {
		assert.NotContains(t, mime, smallB64)
		assert.Contains(t, mime, `"small.txt" (40 bytes) was removed`)
	}
	assert.Contains(t, mime, "--b1--", "the MIME structure is kept")
}
