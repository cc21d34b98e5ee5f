package eas_test

import (
	"encoding/base64"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// TestNineMailFlowCorpus replays the mail requests of the real Android client Nine 4.9.2a at
// 16.1 (../shared/corpus/eas/syncgw-traces/nine-android-16.1) as one device of one account,
// in a working order, with this server's folder ids, item ids, FileReferences, sync and policy
// keys put in: Provision, the initial FolderSync of the mail account, Sync on the Inbox (key 0,
// then the multi-collection request with two Options), the two-folder Ping woken by a delivery,
// the GetChanges Sync that brings the new message, both ItemOperations Fetches of its
// attachment, the Sync Delete of it, the Calendar and Tasks Pings each ended by the next Ping
// of the device, and the SendMail. Every answer must be well-formed and successful, and the
// mailbox must show what each request did. TestMailCorpusReplay sends the same requests with
// the capture's own ids (so they fail with the right statuses); this one proves that they work.
func TestNineMailFlowCorpus(t *testing.T) {
	t.Parallel()
	requireCorpus(t)
	dir := filepath.Join(corpusDir, "eas", "syncgw-traces", "nine-android-16.1")
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		env := newSetupEnv(t, st)
		// The SendMail capture is From t1@mail.fd: replay as that account, so it is not a
		// spoofed sender. t2@mail.fd, its recipient, is local too.
		t1, err := st.CreateUser(ctx, store.NewUser{Address: "t1@mail.fd", Password: "secret"})
		require.NoError(t, err)
		t2, err := st.CreateUser(ctx, store.NewUser{Address: "t2@mail.fd", Password: "secret"})
		require.NoError(t, err)
		_, err = st.Deliver(ctx, "t1@mail.fd", []byte("From: t2@mail.fd\r\nTo: t1@mail.fd\r\nSubject: Welcome\r\n"+
			"Date: "+time.Now().Format(time.RFC1123Z)+"\r\n\r\nHello\r\n"))
		require.NoError(t, err)

		r := &corpusReplay{env: env, dir: dir, username: "t1@mail.fd", deviceID: "Nine8EBAF6FB2B19", ids: map[string]string{}}
		r.clean(t, r.send(t, "02-provision-initial-with-deviceinfo", true))
		r.clean(t, r.send(t, "03-provision-ack", true))
		r.clean(t, r.send(t, "19-foldersync-initial-many-folders", true))
		require.NotEmpty(t, r.inbox)
		folderOf := func(typ store.FolderType) string {
			f, err := st.FolderByType(ctx, t1.Mailbox, typ)
			require.NoError(t, err)
			return strconv.FormatInt(int64(f.ID), 10)
		}
		// The capture's ids: M1 Inbox and M7 Sent Items of the mail account, T1 Tasks, C1
		// Calendar.
		r.ids["M1"], r.ids["M7"] = r.inbox, r.folders["Sent"]
		r.ids["T1"], r.ids["C1"] = folderOf(store.FolderTasks), folderOf(store.FolderCalendar)
		r.ids["N1"] = folderOf(store.FolderNotes)

		// Sync: key 0 (the capture's is on C1: here on the Inbox), then the request with an
		// SMS Options and an Email Options, which brings the Welcome.
		r.ids["C1"] = r.inbox
		r.clean(t, r.send(t, "08-sync-initial-synckey0", true))
		r.ids["C1"] = folderOf(store.FolderCalendar)
		got := r.clean(t, r.send(t, "20-sync-multi-collection", true))
		assert.Equal(t, "Welcome", seqTextAt(t, got, "Sync/Collections/Collection/Commands/Add/ApplicationData/Subject"))
		assert.Len(t, seqLookupAll(got, "Sync/Collections/Collection/Commands/Add"), 1)

		// Ping on Inbox and Sent Items, woken by a message with an attachment.
		const attachment = "R0lGODlhAQABAAAAACw="
		ping := r.wake(t, "21-ping-multi-folder", nil, func() {
			_, err := st.Deliver(ctx, "t1@mail.fd", []byte("From: t2@mail.fd\r\nTo: t1@mail.fd\r\nSubject: Picture\r\n"+
				"Date: "+time.Now().Format(time.RFC1123Z)+"\r\nMIME-Version: 1.0\r\n"+
				"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the picture.\r\n"+
				"--b\r\nContent-Type: image/gif; name=p.gif\r\nContent-Disposition: attachment; filename=p.gif\r\n"+
				"Content-Transfer-Encoding: base64\r\n\r\n"+attachment+"\r\n--b--\r\n"))
			require.NoError(t, err)
		})
		assert.Equal(t, "2", seqTextAt(t, ping, "Ping/Status"))
		assert.Equal(t, []string{r.inbox}, seqTexts(seqLookupAll(ping, "Ping/Folders/Folder")))

		// GetChanges (the capture's is on T1: here on the Inbox) brings the new message.
		r.ids["T1"] = r.inbox
		got = r.clean(t, r.send(t, "12-sync-getchanges-with-items", true))
		r.ids["T1"] = folderOf(store.FolderTasks)
		assert.Equal(t, "Picture", seqTextAt(t, got, "Sync/Collections/Collection/Commands/Add/ApplicationData/Subject"))
		assert.Len(t, seqLookupAll(got, "Sync/Collections/Collection/Commands/Add"), 1)
		picture := seqTextAt(t, got, "Sync/Collections/Collection/Commands/Add/ServerId")
		ref := seqTextAt(t, got, "Sync/Collections/Collection/Commands/Add/ApplicationData/Attachments/Attachment/FileReference")

		// Both captured Fetches of an attachment, with the new message's FileReference.
		want, err := base64.StdEncoding.DecodeString(attachment)
		require.NoError(t, err)
		for _, name := range []string{"22-itemoperations-fetch-attachment", "23-itemoperations-fetch-b"} {
			r.ids["sgw-f7ecd1f1"], r.ids["sgw-15000d8c"] = ref, ref
			got := r.clean(t, r.send(t, name, true))
			assert.Equal(t, ref, seqTextAt(t, got, "ItemOperations/Response/Fetch/FileReference"), name)
			data, err := base64.StdEncoding.DecodeString(seqTextAt(t, got, "ItemOperations/Response/Fetch/Properties/Data"))
			require.NoError(t, err, name)
			assert.Equal(t, want, data, name)
		}

		// Sync Delete with DeletesAsMoves (the capture's T8 in T1: here the new message).
		r.ids["T1"], r.ids["T8"] = r.inbox, picture
		r.clean(t, r.send(t, "16-sync-commands-delete", true))
		assert.Equal(t, 0, countSubject(t, st, t1, store.FolderInbox, "Picture"))
		assert.Equal(t, 1, countSubject(t, st, t1, store.FolderDeleted, "Picture"))

		// GetChanges again: nothing new. (Without it the Ping below would answer 2 at once: the
		// snapshot a Sync saves after the device's own Delete does not yet include that move,
		// so the Inbox looks changed to a Ping until the next Sync.)
		resp := r.send(t, "12-sync-getchanges-with-items", true)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		got = parseWBXML(t, resp.Body)
		assert.Equal(t, "1", seqTextAt(t, got, "Sync/Collections/Collection/Status"))
		assert.Empty(t, seqLookupAll(got, "Sync/Collections/Collection/Commands"))
		r.ids["T1"] = folderOf(store.FolderTasks)

		// The Calendar Ping waits; the Tasks Ping ends it (status 1: MS-ASCMD 2.2.1.13, a new
		// Ping of the device supersedes it) and waits in turn; the two-folder Ping ends that
		// one and wakes on the next delivery.
		first := r.start(t, "10-ping-no-response-captured", nil)
		second := r.start(t, "15-ping-with-changes", first)
		last := r.wake(t, "21-ping-multi-folder", second, func() {
			_, err := st.Deliver(ctx, "t1@mail.fd", []byte("From: t2@mail.fd\r\nTo: t1@mail.fd\r\nSubject: Again\r\n\r\nx\r\n"))
			require.NoError(t, err)
		})
		assert.Equal(t, "2", seqTextAt(t, last, "Ping/Status"))

		// SendMail: an empty 200, t2 has it, Sent Items has a copy (SaveInSentItems).
		resp = r.send(t, "25-sendmail", true)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Empty(t, resp.Body)
		assert.Equal(t, 1, countSubject(t, st, t2, store.FolderInbox, "Subject"))
		assert.Equal(t, 1, countSubject(t, st, t1, store.FolderSent, "Subject"))
		// The client resends it when the answer is lost: 118, nothing sent twice.
		resent := r.send(t, "25-sendmail", true)
		n, err := resent.Status(wbxml.ComposeMailStatus)
		require.NoError(t, err)
		assert.Equal(t, 118, n)
		assert.Equal(t, 1, countSubject(t, st, t2, store.FolderInbox, "Subject"))
	})
}

// pingAnswer is the answer of a Ping replayed on another goroutine.
type pingAnswer struct {
	resp *easclient.Response
	err  error
}

// start sends the captured Ping name and returns once the server holds it waiting. A Ping of
// the device that waits already (prev, if not nil) must end with status 1.
func (r *corpusReplay) start(t *testing.T, name string, prev <-chan pingAnswer) <-chan pingAnswer {
	t.Helper()
	before := r.env.ping.Waiting()
	req := r.request(t, name, true)
	done := make(chan pingAnswer, 1)
	go func() {
		resp, err := r.do(req)
		done <- pingAnswer{resp, err}
	}()
	if prev != nil {
		pingEnded(t, prev)
		before-- // the new Ping takes the old one's place
	}
	for r.env.ping.Waiting() <= before {
		select {
		case a := <-done:
			require.NoError(t, a.err)
			x, _ := a.resp.XML()
			t.Fatalf("%s answered before waiting:\n%s", name, x)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return done
}

// wake sends the captured Ping name, calls deliver once the server holds it waiting and
// returns the Ping's well-formed answer.
func (r *corpusReplay) wake(t *testing.T, name string, prev <-chan pingAnswer, deliver func()) *easclient.Node {
	t.Helper()
	done := r.start(t, name, prev)
	deliver()
	a := <-done
	require.NoError(t, a.err)
	require.Equal(t, http.StatusOK, a.resp.StatusCode)
	_, err := a.resp.XML()
	require.NoError(t, err, "well-formed")
	return parseWBXML(t, a.resp.Body)
}

// pingEnded checks a superseded Ping's answer: well-formed, status 1 (MS-ASCMD 2.2.3.177.10:
// the heartbeat expired with no changes; a newer Ping took over).
func pingEnded(t *testing.T, done <-chan pingAnswer) {
	t.Helper()
	a := <-done
	require.NoError(t, a.err)
	require.Equal(t, http.StatusOK, a.resp.StatusCode)
	_, err := a.resp.XML()
	require.NoError(t, err, "well-formed")
	n, err := a.resp.Status(wbxml.PingStatus)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a superseded Ping")
}

func seqTexts(ns []*easclient.Node) []string {
	var s []string
	for _, n := range ns {
		s = append(s, n.Text)
	}
	return s
}

// countSubject counts the messages with the subject in a default folder of u.
func countSubject(t *testing.T, st *store.Store, u store.User, typ store.FolderType, subject string) int {
	t.Helper()
	f, err := st.FolderByType(t.Context(), u.Mailbox, typ)
	require.NoError(t, err)
	items, err := st.Items(t.Context(), f.ID)
	require.NoError(t, err)
	n := 0
	for _, it := range items {
		if it.Subject == subject {
			n++
		}
	}
	return n
}
