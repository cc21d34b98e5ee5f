package eas_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

const htmlOnly = "From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>, carol@example.com\r\nSubject: Re: Lunch\r\n" +
	"Message-ID: <h1@example.com>\r\nReferences: <root@example.com> <p@example.com>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
	"<html><head><style>p{}</style></head><body><p>Hello <b>Alice</b> &amp; all</p></body></html>\r\n"

const withAttachments = "From: bob@example.com\r\nTo: alice@example.com\r\nSubject: files\r\n" +
	"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
	"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n" +
	"--b1\r\nContent-Type: application/pdf; name=report.pdf\r\nContent-Disposition: attachment; filename=report.pdf\r\n" +
	"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n" +
	"--b1\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0K\r\n" +
	"--b1--\r\n"

// syncOne starts a collection with opts, delivers raw and returns the ApplicationData of its
// Add, for protocol v.
func syncOne(t *testing.T, v eas.Version, raw string, opts func(enc *wbxml.Encoder)) (*easclient.Node, store.Item) {
	t.Helper()
	st := openSyncStore(t)
	se := newSyncEnv(t, st)
	c := se.client()
	c.Version = v
	inbox := folderIDString(se.inbox)
	key := se.sync(c, collReq{key: "0", id: inbox, options: opts}).Get(wbxml.AirSyncSyncKey)
	it, err := st.Deliver(context.Background(), "alice@example.com", []byte(raw))
	require.NoError(t, err)
	coll := se.sync(c, collReq{key: key, id: inbox, options: opts})
	adds := coll.Child(wbxml.AirSyncCommands).All(wbxml.AirSyncAdd)
	require.Len(t, adds, 1)
	return adds[0].Child(wbxml.AirSyncApplicationData), it
}

func TestSyncBodyPreference(t *testing.T) {
	t.Parallel()
	pref := func(typ, trunc int, allOrNone bool, preview int) func(enc *wbxml.Encoder) {
		return func(enc *wbxml.Encoder) { bodyPref(enc, typ, trunc, allOrNone, preview) }
	}
	plain := "From: bob@example.com\r\nTo: alice@example.com\r\nSubject: s\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + strings.Repeat("é", 40)
	for _, tc := range []struct {
		name      string
		raw       string
		opts      func(enc *wbxml.Encoder)
		typ       string
		data      func(t *testing.T, d string)
		truncated bool
		size      string
		native    string
	}{
		{name: "plain from html-only", raw: htmlOnly, opts: pref(1, 0, false, 0), typ: "1", native: "2",
			data: func(t *testing.T, d string) {
				assert.Equal(t, "Hello Alice & all", strings.TrimSpace(d))
			}},
		{name: "html", raw: htmlOnly, opts: pref(2, 0, false, 0), typ: "2", native: "2",
			data: func(t *testing.T, d string) { assert.Contains(t, d, "<b>Alice</b>") }},
		{name: "html from plain", raw: plain, opts: pref(2, 0, false, 0), typ: "2", native: "1",
			data: func(t *testing.T, d string) { assert.Contains(t, d, "<html><body>é") }},
		{name: "mime", raw: htmlOnly, opts: func(enc *wbxml.Encoder) {
			enc.Int(wbxml.AirSyncMIMESupport, 2)
			bodyPref(enc, 4, 0, false, 0)
		}, typ: "4", native: "2",
			data: func(t *testing.T, d string) { assert.Equal(t, htmlOnly, d) }},
		{name: "truncated inside a two-byte character", raw: plain, opts: pref(1, 11, false, 0), typ: "1", truncated: true, size: "80", native: "1",
			data: func(t *testing.T, d string) {
				assert.True(t, utf8.ValidString(d))
				assert.Equal(t, strings.Repeat("é", 5), d)
			}},
		{name: "all or none", raw: plain, opts: pref(1, 11, true, 0), typ: "1", truncated: true, size: "80", native: "1",
			data: func(t *testing.T, d string) { assert.Empty(t, d) }},
		{name: "all or none fits", raw: plain, opts: pref(1, 100, true, 0), typ: "1", size: "80", native: "1",
			data: func(t *testing.T, d string) { assert.Equal(t, strings.Repeat("é", 40), d) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data, _ := syncOne(t, eas.Version161, tc.raw, tc.opts)
			body := data.Child(wbxml.AirSyncBaseBody)
			require.NotNil(t, body)
			assert.Equal(t, tc.typ, body.Get(wbxml.AirSyncBaseType))
			tc.data(t, body.Get(wbxml.AirSyncBaseData))
			assert.Equal(t, tc.truncated, body.Get(wbxml.AirSyncBaseTruncated) == "1")
			if tc.size != "" {
				assert.Equal(t, tc.size, body.Get(wbxml.AirSyncBaseEstimatedDataSize))
			}
			assert.Equal(t, tc.native, data.Get(wbxml.AirSyncBaseNativeBodyType))
		})
	}
}

func TestSyncEmailFieldsByVersion(t *testing.T) {
	t.Parallel()
	opts := func(enc *wbxml.Encoder) { bodyPref(enc, 1, 0, false, 50) }
	for _, tc := range []struct {
		v                            eas.Version
		conversation, preview, draft bool
	}{
		{eas.Version121, false, false, false},
		{eas.Version141, true, true, false},
		{eas.Version161, true, true, true},
	} {
		t.Run(tc.v.String(), func(t *testing.T) {
			t.Parallel()
			data, it := syncOne(t, tc.v, htmlOnly, opts)
			assert.Equal(t, "Re: Lunch", data.Get(wbxml.EmailSubject))
			assert.Equal(t, "Lunch", data.Get(wbxml.EmailThreadTopic))
			assert.Equal(t, "Alice; carol@example.com", data.Get(wbxml.EmailDisplayTo))
			assert.Equal(t, it.Received.UTC().Format("2006-01-02T15:04:05.000Z"), data.Get(wbxml.EmailDateReceived))
			assert.Equal(t, "65001", data.Get(wbxml.EmailInternetCPID))
			assert.Equal(t, "urn:content-classes:message", data.Get(wbxml.EmailContentClass))
			assert.Equal(t, "1", data.Get(wbxml.EmailImportance))
			assert.True(t, data.Has(wbxml.EmailFlag))
			assert.Equal(t, tc.conversation, data.Has(wbxml.Email2ConversationId))
			assert.Equal(t, tc.conversation, data.Has(wbxml.Email2ConversationIndex))
			assert.Equal(t, tc.conversation, data.Has(wbxml.EmailCategories))
			if tc.conversation {
				assert.Len(t, data.Get(wbxml.Email2ConversationId), 16)
			}
			assert.Equal(t, tc.preview, data.Child(wbxml.AirSyncBaseBody).Has(wbxml.AirSyncBasePreview))
			assert.Equal(t, tc.draft, data.Has(wbxml.Email2IsDraft))
		})
	}
}

// TestSyncConversationIDStable: a reply shares its thread's ConversationId.
func TestSyncConversationIDStable(t *testing.T) {
	t.Parallel()
	a, _ := syncOne(t, eas.Version161, htmlOnly, nil)
	other := strings.Replace(htmlOnly, "<h1@example.com>", "<h2@example.com>", 1)
	other = strings.Replace(other, "<p@example.com>", "<q@example.com>", 1)
	b, _ := syncOne(t, eas.Version161, other, nil)
	assert.Equal(t, a.Get(wbxml.Email2ConversationId), b.Get(wbxml.Email2ConversationId))
}

func TestSyncAttachments(t *testing.T) {
	t.Parallel()
	data, it := syncOne(t, eas.Version161, withAttachments, func(enc *wbxml.Encoder) { bodyPref(enc, 2, 0, false, 0) })
	atts := data.Child(wbxml.AirSyncBaseAttachments).All(wbxml.AirSyncBaseAttachment)
	require.Len(t, atts, 2)
	id := strconv.FormatInt(int64(it.ID), 10)
	assert.Equal(t, "report.pdf", atts[0].Get(wbxml.AirSyncBaseDisplayName))
	assert.Equal(t, id+":2", atts[0].Get(wbxml.AirSyncBaseFileReference))
	assert.Equal(t, "1", atts[0].Get(wbxml.AirSyncBaseMethod))
	assert.Equal(t, "9", atts[0].Get(wbxml.AirSyncBaseEstimatedDataSize))
	assert.False(t, atts[0].Has(wbxml.AirSyncBaseIsInline))
	assert.Equal(t, id+":3", atts[1].Get(wbxml.AirSyncBaseFileReference))
	assert.Equal(t, "logo@x", atts[1].Get(wbxml.AirSyncBaseContentId))
	assert.Equal(t, "1", atts[1].Get(wbxml.AirSyncBaseIsInline))
	assert.Contains(t, data.Child(wbxml.AirSyncBaseBody).Get(wbxml.AirSyncBaseData), "see attached")
	// MIME bodies carry their attachments inside: no Attachments list.
	data, _ = syncOne(t, eas.Version161, withAttachments, func(enc *wbxml.Encoder) {
		enc.Int(wbxml.AirSyncMIMESupport, 2)
		bodyPref(enc, 4, 0, false, 0)
	})
	assert.False(t, data.Has(wbxml.AirSyncBaseAttachments))
}

// TestSyncAddDraft: 16.x clients add email to Drafts (ClientId → ServerId); older versions
// and other folders get status 6.
func TestSyncAddDraft(t *testing.T) {
	t.Parallel()
	st := openSyncStore(t)
	se := newSyncEnv(t, st)
	add := func(cid string) func(enc *wbxml.Encoder) {
		return func(enc *wbxml.Encoder) {
			enc.Start(wbxml.AirSyncAdd)
			enc.String(wbxml.AirSyncClientId, cid)
			enc.Start(wbxml.AirSyncApplicationData)
			enc.String(wbxml.EmailTo, "bob@example.com")
			enc.String(wbxml.EmailSubject, "Grüße")
			enc.Start(wbxml.AirSyncBaseBody)
			enc.Int(wbxml.AirSyncBaseType, 2)
			enc.String(wbxml.AirSyncBaseData, "<p>hi</p>")
			enc.End()
			enc.End()
			enc.End()
		}
	}
	for _, tc := range []struct {
		name   string
		v      eas.Version
		folder store.Folder
		status string
	}{
		{"16.1 drafts", eas.Version161, se.drafts, "1"},
		{"14.1 drafts", eas.Version141, se.drafts, "6"},
		{"16.1 inbox", eas.Version161, se.inbox, "6"},
	} {
		c := se.client()
		c.Version = tc.v
		c.DeviceID = "D" + strconv.Itoa(int(tc.v)) + strconv.FormatInt(int64(tc.folder.ID), 10)
		id := folderIDString(tc.folder)
		key := se.sync(c, collReq{key: "0", id: id}).Get(wbxml.AirSyncSyncKey)
		coll := se.sync(c, collReq{key: key, id: id, commands: add("x1")})
		r := coll.Child(wbxml.AirSyncResponses).Child(wbxml.AirSyncAdd)
		require.NotNil(t, r, tc.name)
		assert.Equal(t, "x1", r.Get(wbxml.AirSyncClientId), tc.name)
		assert.Equal(t, tc.status, r.Get(wbxml.AirSyncStatus), tc.name)
		if tc.status != "1" {
			assert.False(t, r.Has(wbxml.AirSyncServerId))
			continue
		}
		sid, err := strconv.ParseInt(r.Get(wbxml.AirSyncServerId), 10, 64)
		require.NoError(t, err)
		it, err := st.Item(context.Background(), store.ItemID(sid))
		require.NoError(t, err)
		assert.Equal(t, se.drafts.ID, it.Folder)
		assert.Equal(t, "Grüße", it.Subject)
		assert.True(t, it.Draft)
		// The device's own add is not echoed back.
		coll = se.sync(c, collReq{key: coll.Get(wbxml.AirSyncSyncKey), id: id})
		assert.Nil(t, coll.Child(wbxml.AirSyncCommands))
	}
}

// TestSyncFetch: Fetch returns the item; an unknown one gets 8.
func TestSyncFetch(t *testing.T) {
	t.Parallel()
	st := openSyncStore(t)
	se := newSyncEnv(t, st)
	c := se.client()
	inbox := folderIDString(se.inbox)
	key := se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
	it := se.deliver(1)[0]
	sid := strconv.FormatInt(int64(it.ID), 10)
	coll := se.sync(c, collReq{key: key, id: inbox, noGetChanges: true, commands: func(enc *wbxml.Encoder) {
		for _, id := range []string{sid, "424242"} {
			enc.Start(wbxml.AirSyncFetch)
			enc.String(wbxml.AirSyncServerId, id)
			enc.End()
		}
	}})
	fs := coll.Child(wbxml.AirSyncResponses).All(wbxml.AirSyncFetch)
	require.Len(t, fs, 2)
	assert.Equal(t, "1", fs[0].Get(wbxml.AirSyncStatus))
	assert.Equal(t, it.Subject, fs[0].Child(wbxml.AirSyncApplicationData).Get(wbxml.EmailSubject))
	assert.Equal(t, "8", fs[1].Get(wbxml.AirSyncStatus))
	assert.Nil(t, coll.Child(wbxml.AirSyncCommands), "GetChanges 0")
}

// TestSyncMIME121: 12.x clients ask for MIME with MIMESupport and bound it with
// MIMETruncation (MS-ASCMD 2.2.3.111): 0 sends no text, 8 all of it.
func TestSyncMIME121(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code      int
		data      string
		truncated bool
	}{{0, "", true}, {8, htmlOnly, false}} {
		data, _ := syncOne(t, eas.Version121, htmlOnly, func(enc *wbxml.Encoder) {
			enc.Int(wbxml.AirSyncMIMESupport, 2)
			enc.Int(wbxml.AirSyncMIMETruncation, int64(tc.code))
		})
		body := data.Child(wbxml.AirSyncBaseBody)
		assert.Equal(t, "4", body.Get(wbxml.AirSyncBaseType), "code %d", tc.code)
		assert.Equal(t, tc.data, body.Get(wbxml.AirSyncBaseData), "code %d", tc.code)
		assert.Equal(t, tc.truncated, body.Has(wbxml.AirSyncBaseTruncated), "code %d", tc.code)
		assert.Equal(t, strconv.Itoa(len(htmlOnly)), body.Get(wbxml.AirSyncBaseEstimatedDataSize))
	}
}
