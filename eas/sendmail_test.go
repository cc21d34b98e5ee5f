package eas_test

import (
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

func folderItems(t *testing.T, st *store.Store, u store.User, typ store.FolderType) []store.Item {
	t.Helper()
	f, err := st.FolderByType(t.Context(), u.Mailbox, typ)
	require.NoError(t, err)
	its, err := st.Items(t.Context(), f.ID)
	require.NoError(t, err)
	return its
}

func itemBody(t *testing.T, st *store.Store, it store.Item) string {
	t.Helper()
	b, err := st.ItemBody(t.Context(), it.ID)
	require.NoError(t, err)
	return string(b)
}

// composeBody builds a ComposeMail request (MS-ASCMD 2.2.1.15-17) with the MIME as opaque data.
func composeBody(t *testing.T, root wbxml.Tag, clientID string, save, replace bool, folder, item string, mime string) []byte {
	t.Helper()
	return encode(t, func(enc *wbxml.Encoder) {
		enc.Start(root)
		if clientID != "" {
			enc.String(wbxml.ComposeMailClientId, clientID)
		}
		if item != "" {
			enc.Start(wbxml.ComposeMailSource)
			enc.String(wbxml.ComposeMailFolderId, folder)
			enc.String(wbxml.ComposeMailItemId, item)
			enc.End()
		}
		if save {
			enc.Empty(wbxml.ComposeMailSaveInSentItems)
		}
		if replace {
			enc.Empty(wbxml.ComposeMailReplaceMime)
		}
		enc.Opaque(wbxml.ComposeMailMime, []byte(mime))
		enc.End()
	})
}

// sendStatus sends a request and returns the HTTP status and, when there is a body, the
// ComposeMail Status (0 for an empty 200: success).
func sendStatus(t *testing.T, c *easclient.Client, req *easclient.Request) (int, int) {
	t.Helper()
	resp, err := c.Do(t.Context(), req)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK || len(resp.Body) == 0 {
		return resp.StatusCode, 0
	}
	st, err := resp.Status(wbxml.ComposeMailStatus)
	require.NoError(t, err)
	return resp.StatusCode, st
}

func TestSendMail(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newMailEnv(t, st)
		bob, err := st.CreateUser(t.Context(), store.NewUser{Address: "bob@example.com", Password: "pw"})
		require.NoError(t, err)
		alice := env.user

		// 12.1: the message itself, SaveInSent=T in the query.
		c12 := env.client("dev12")
		c12.Version = eas.Version121
		code, status := sendStatus(t, c12, &easclient.Request{Cmd: eas.CmdSendMail, ContentType: "message/rfc822", SaveInSent: true,
			Body: []byte("To: bob@example.com\r\nSubject: from 12.1\r\n\r\nhello\r\n")})
		assert.Equal(t, [2]int{200, 0}, [2]int{code, status})
		require.Len(t, folderItems(t, st, bob, store.FolderInbox), 1)
		sent := folderItems(t, st, alice, store.FolderSent)
		require.Len(t, sent, 1)
		assert.Equal(t, "from 12.1", sent[0].Subject)
		assert.True(t, sent[0].Seen)

		// 16.1: ComposeMail to a local and an external recipient with a Bcc.
		c := env.client("dev16")
		msg := "From: alice@example.com\r\nTo: bob@example.com\r\nCc: ext@remote.test\r\nBcc: secret@remote.test\r\nSubject: from 16.1\r\n\r\nhi\r\n"
		body := composeBody(t, wbxml.ComposeMailSendMail, "client-1", true, false, "", "", msg)
		code, status = sendStatus(t, c, &easclient.Request{Cmd: eas.CmdSendMail, Body: body})
		assert.Equal(t, [2]int{200, 0}, [2]int{code, status})
		inbox := folderItems(t, st, bob, store.FolderInbox)
		require.Len(t, inbox, 2)
		got := itemBody(t, st, inbox[1])
		assert.Contains(t, got, "Subject: from 16.1")
		assert.NotContains(t, got, "secret@remote.test", "Bcc stripped")
		q, err := st.OutboundQueue(t.Context(), 0)
		require.NoError(t, err)
		require.Len(t, q, 1, "the external recipients wait in the queue")
		var remote []string
		for _, r := range q[0].Recipients {
			if !r.Local {
				remote = append(remote, r.Address+"="+r.Status)
			}
		}
		assert.Equal(t, []string{"ext@remote.test=queued", "secret@remote.test=queued"}, remote)
		assert.Len(t, folderItems(t, st, alice, store.FolderSent), 2)

		// The same ClientId again: 118 and nothing sent twice.
		code, status = sendStatus(t, c, &easclient.Request{Cmd: eas.CmdSendMail, Body: body})
		assert.Equal(t, [2]int{200, int(eas.StatusMessagePreviouslySent)}, [2]int{code, status})
		assert.Len(t, folderItems(t, st, bob, store.FolderInbox), 2)
		assert.Len(t, folderItems(t, st, alice, store.FolderSent), 2)
		q, err = st.OutboundQueue(t.Context(), 0)
		require.NoError(t, err)
		assert.Len(t, q, 1)
		// Another device may use the same ClientId.
		code, status = sendStatus(t, env.client("other"), &easclient.Request{Cmd: eas.CmdSendMail, Body: body})
		assert.Equal(t, [2]int{200, 0}, [2]int{code, status})
		assert.Len(t, folderItems(t, st, bob, store.FolderInbox), 3)
	})
}

func TestSendMailRefused(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	env := newMailEnv(t, st)
	_, err := st.CreateUser(t.Context(), store.NewUser{Address: "bob@example.com", Password: "pw"})
	require.NoError(t, err)
	c := env.client("dev")
	c12 := env.client("dev")
	c12.Version = eas.Version121
	for _, tc := range []struct {
		name     string
		client   *easclient.Client
		req      *easclient.Request
		code, st int
	}{
		{"spoofed from", c, &easclient.Request{Cmd: eas.CmdSendMail, Body: composeBody(t, wbxml.ComposeMailSendMail, "a", false, false, "", "",
			"From: bob@example.com\r\nTo: bob@example.com\r\n\r\nx")}, 200, int(eas.StatusAccessDenied)},
		{"spoofed from 12.1", c12, &easclient.Request{Cmd: eas.CmdSendMail, ContentType: "message/rfc822",
			Body: []byte("From: bob@example.com\r\nTo: bob@example.com\r\n\r\nx")}, 403, 0},
		{"no recipient", c, &easclient.Request{Cmd: eas.CmdSendMail, Body: composeBody(t, wbxml.ComposeMailSendMail, "b", false, false, "", "",
			"Subject: nobody\r\n\r\nx")}, 200, int(eas.StatusMessageHasNoRecipient)},
		{"invalid mime", c, &easclient.Request{Cmd: eas.CmdSendMail, Body: composeBody(t, wbxml.ComposeMailSendMail, "c", false, false, "", "",
			"To: <<<\r\n\r\nx")}, 200, int(eas.StatusInvalidMIME)},
		{"no mime", c, &easclient.Request{Cmd: eas.CmdSendMail, Body: xmlBody(t, `<SendMail xmlns="ComposeMail"><ClientId>d</ClientId></SendMail>`)},
			200, int(eas.StatusInvalidXML)},
		{"unknown original", c, &easclient.Request{Cmd: eas.CmdSmartReply, Body: composeBody(t, wbxml.ComposeMailSmartReply, "e", false, false, "1", "999999",
			"To: bob@example.com\r\n\r\nx")}, 200, int(eas.StatusItemNotFound)},
		{"long id", c, &easclient.Request{Cmd: eas.CmdSmartForward, Body: xmlBody(t,
			`<SmartForward xmlns="ComposeMail"><ClientId>f</ClientId><Source><LongId>RgAAAA</LongId></Source><Mime>To: bob@example.com

x</Mime></SmartForward>`)}, 200, int(eas.StatusItemNotFound)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, status := sendStatus(t, tc.client, tc.req)
			assert.Equal(t, [2]int{tc.code, tc.st}, [2]int{code, status})
		})
	}
	assert.Empty(t, folderItems(t, st, env.user, store.FolderSent))
	q, err := st.OutboundQueue(t.Context(), 0)
	require.NoError(t, err)
	assert.Empty(t, q, "nothing was sent")
}

func TestSmartReplyForward(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newMailEnv(t, st)
		bob, err := st.CreateUser(t.Context(), store.NewUser{Address: "bob@example.com", Password: "pw"})
		require.NoError(t, err)
		orig, err := st.Deliver(t.Context(), env.user.Address, []byte("From: Bob <bob@example.com>\r\nTo: alice@example.com\r\n"+
			"Subject: Lunch?\r\nMessage-ID: <lunch@example.com>\r\n\r\nShall we have lunch?\r\n"))
		require.NoError(t, err)
		inbox, item := fmt.Sprint(orig.Folder), fmt.Sprint(orig.ID)
		c := env.client("dev")

		// SmartReply quoting the original.
		code, status := sendStatus(t, c, &easclient.Request{Cmd: eas.CmdSmartReply, Body: composeBody(t, wbxml.ComposeMailSmartReply,
			"r1", true, false, inbox, item, "To: bob@example.com\r\nSubject: Re: Lunch?\r\n\r\nYes!\r\n")})
		require.Equal(t, [2]int{200, 0}, [2]int{code, status})
		got := folderItems(t, st, bob, store.FolderInbox)
		require.Len(t, got, 1)
		assert.Equal(t, "lunch@example.com", got[0].InReplyTo)
		b := itemBody(t, st, got[0])
		assert.Contains(t, b, "Yes!\r\n\r\n\r\n-----Original Message-----")
		assert.Contains(t, b, "Shall we have lunch?")
		it, err := st.Item(t.Context(), orig.ID)
		require.NoError(t, err)
		assert.True(t, it.Answered, "the original is marked answered")
		assert.False(t, it.Forwarded)

		// SmartReply with ReplaceMime: the client's message as it is.
		code, status = sendStatus(t, c, &easclient.Request{Cmd: eas.CmdSmartReply, Body: composeBody(t, wbxml.ComposeMailSmartReply,
			"r2", false, true, inbox, item, "To: bob@example.com\r\nSubject: Re: Lunch?\r\n\r\nYes, again.\r\n")})
		require.Equal(t, [2]int{200, 0}, [2]int{code, status})
		got = folderItems(t, st, bob, store.FolderInbox)
		require.Len(t, got, 2)
		assert.NotContains(t, itemBody(t, st, got[1]), "Original Message")
		assert.Equal(t, "lunch@example.com", got[1].InReplyTo, "threaded even with ReplaceMime")

		// SmartForward at 14.1 attaches the original.
		c.Version = eas.Version141
		code, status = sendStatus(t, c, &easclient.Request{Cmd: eas.CmdSmartForward, Body: composeBody(t, wbxml.ComposeMailSmartForward,
			"f1", false, false, inbox, item, "To: bob@example.com\r\nSubject: Fw: Lunch?\r\n\r\nFYI\r\n")})
		require.Equal(t, [2]int{200, 0}, [2]int{code, status})
		got = folderItems(t, st, bob, store.FolderInbox)
		require.Len(t, got, 3)
		assert.True(t, got[2].HasAttachments)
		assert.Contains(t, itemBody(t, st, got[2]), "Content-Type: message/rfc822")
		it, err = st.Item(t.Context(), orig.ID)
		require.NoError(t, err)
		assert.True(t, it.Forwarded, "the original is marked forwarded")

		// SmartForward at 12.1: ItemId and CollectionId in the query, ReplaceMime impossible.
		c.Version = eas.Version121
		code, status = sendStatus(t, c, &easclient.Request{Cmd: eas.CmdSmartForward, ContentType: "message/rfc822",
			ItemID: item, CollectionID: inbox, SaveInSent: true,
			Body: []byte("To: bob@example.com\r\nSubject: Fw: Lunch?\r\n\r\nFYI 12\r\n")})
		require.Equal(t, [2]int{200, 0}, [2]int{code, status})
		got = folderItems(t, st, bob, store.FolderInbox)
		require.Len(t, got, 4)
		assert.Contains(t, itemBody(t, st, got[3]), "Shall we have lunch?")
		sent := folderItems(t, st, env.user, store.FolderSent)
		assert.Len(t, sent, 2, "r1 and the 12.1 forward asked for Sent Items")
		assert.True(t, strings.HasPrefix(sent[1].Subject, "Fw:"))
	})
}
