package submission_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/submission"
)

func setup(t *testing.T, st *store.Store) (*submission.Submitter, store.User, store.User) {
	t.Helper()
	alice, err := st.CreateUser(t.Context(), store.NewUser{Address: "alice@example.com", DisplayName: "Alice", Password: "pw"})
	require.NoError(t, err)
	bob, err := st.CreateUser(t.Context(), store.NewUser{Address: "bob@example.com", Password: "pw"})
	require.NoError(t, err)
	clock := func() time.Time { return time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC) }
	return submission.New(submission.Options{Store: st, Clock: clock}), alice, bob
}

func items(t *testing.T, st *store.Store, u store.User, typ store.FolderType) []store.Item {
	t.Helper()
	f, err := st.FolderByType(t.Context(), u.Mailbox, typ)
	require.NoError(t, err)
	its, err := st.Items(t.Context(), f.ID)
	require.NoError(t, err)
	return its
}

func body(t *testing.T, st *store.Store, it store.Item) string {
	t.Helper()
	b, err := st.ItemBody(t.Context(), it.ID)
	require.NoError(t, err)
	return string(b)
}

func TestSubmit(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		sub, alice, bob := setup(t, st)
		ctx := t.Context()
		raw := "To: Bob <BOB@example.com>, ext@remote.test\r\nCc: bob@example.com\r\nBcc: hidden@remote.test\r\nSubject: plan\r\n\r\nLet us meet.\r\n"
		res, err := sub.Submit(ctx, alice, []byte(raw), submission.SubmitOptions{DeviceID: "d1", ClientID: "c1", SaveInSent: true})
		require.NoError(t, err)
		assert.Equal(t, []string{"bob@example.com"}, res.Local)
		assert.Equal(t, []string{"ext@remote.test", "hidden@remote.test"}, res.Remote)
		assert.NotZero(t, res.Queue)
		require.True(t, res.HasSent)

		inbox := items(t, st, bob, store.FolderInbox)
		require.Len(t, inbox, 1, "bob is in To and Cc and gets one copy")
		got := body(t, st, inbox[0])
		assert.Contains(t, got, "From: \"Alice\" <alice@example.com>\r\n")
		assert.Contains(t, got, "Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n")
		assert.Contains(t, got, "Message-Id: <"+res.MessageID+">\r\n")
		assert.NotContains(t, strings.ToLower(got), "bcc", "recipients do not see Bcc")
		assert.True(t, strings.HasSuffix(got, "\r\n\r\nLet us meet.\r\n"), "body unchanged")

		sent := items(t, st, alice, store.FolderSent)
		require.Len(t, sent, 1)
		assert.True(t, sent[0].Seen)
		assert.Contains(t, body(t, st, sent[0]), "Bcc: hidden@remote.test", "the sender's copy keeps Bcc")

		q, err := st.OutboundQueue(ctx, 0)
		require.NoError(t, err)
		require.Len(t, q, 1)
		assert.Equal(t, "alice@example.com", q[0].EnvelopeFrom)
		var states []string
		for _, r := range q[0].Recipients {
			states = append(states, r.Address+"="+r.Status)
		}
		assert.Equal(t, []string{"bob@example.com=delivered", "ext@remote.test=queued", "hidden@remote.test=queued"}, states)
		data, err := st.OutboundData(ctx, q[0].ID)
		require.NoError(t, err)
		assert.NotContains(t, strings.ToLower(string(data)), "bcc:")

		// The same ClientId again sends nothing.
		_, err = sub.Submit(ctx, alice, []byte(raw), submission.SubmitOptions{DeviceID: "d1", ClientID: "c1", SaveInSent: true})
		require.ErrorIs(t, err, store.ErrAlreadySent)
		assert.Len(t, items(t, st, bob, store.FolderInbox), 1)
		assert.Len(t, items(t, st, alice, store.FolderSent), 1)
		q, err = st.OutboundQueue(ctx, 0)
		require.NoError(t, err)
		assert.Len(t, q, 1)
	})
}

func TestSubmitLocalOnlyLeavesNoQueue(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		sub, alice, bob := setup(t, st)
		res, err := sub.Submit(t.Context(), alice, []byte("From: alice@example.com\nTo: bob@example.com\nMessage-ID: <x@y>\n\nhi\n"), submission.SubmitOptions{})
		require.NoError(t, err)
		assert.Equal(t, "x@y", res.MessageID)
		assert.Zero(t, res.Queue)
		assert.False(t, res.HasSent)
		assert.Len(t, items(t, st, bob, store.FolderInbox), 1)
		assert.Empty(t, items(t, st, alice, store.FolderSent))
		q, err := st.OutboundQueue(t.Context(), 0)
		require.NoError(t, err)
		assert.Empty(t, q)
	})
}

func TestSubmitRefused(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, storetest.SQLiteURL(t))
	require.NoError(t, st.Migrate(t.Context()))
	sub, alice, bob := setup(t, st)
	for _, tc := range []struct {
		name, raw string
		err       error
	}{
		{"spoofed from", "From: bob@example.com\r\nTo: bob@example.com\r\n\r\nx", submission.ErrFromNotAllowed},
		{"two froms", "From: alice@example.com, bob@example.com\r\nTo: bob@example.com\r\n\r\nx", submission.ErrFromNotAllowed},
		{"no recipient", "From: alice@example.com\r\nSubject: x\r\n\r\nx", submission.ErrNoRecipients},
		{"bad address", "To: <<<\r\n\r\nx", submission.ErrInvalidMessage},
		{"empty", "", submission.ErrInvalidMessage},
		{"no header", "\r\n\r\nbody", submission.ErrInvalidMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sub.Submit(t.Context(), alice, []byte(tc.raw), submission.SubmitOptions{})
			require.ErrorIs(t, err, tc.err)
		})
	}
	assert.Empty(t, items(t, st, bob, store.FolderInbox), "nothing delivered")
	q, err := st.OutboundQueue(t.Context(), 0)
	require.NoError(t, err)
	assert.Empty(t, q, "nothing queued")
}
