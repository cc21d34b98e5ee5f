package eas_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// parseWBXML decodes a response body into its root element.
func parseWBXML(t testing.TB, b []byte) *easclient.Node {
	t.Helper()
	doc, err := easclient.Parse(b)
	require.NoError(t, err)
	return doc
}

// syncEnv is a server with the real Sync commands over a real store and one user.
type syncEnv struct {
	t      testing.TB
	st     *store.Store
	env    *testEnv
	user   store.User
	inbox  store.Folder
	drafts store.Folder
	trash  store.Folder
	now    time.Time
	seq    int
}

func newSyncEnv(t testing.TB, st *store.Store, opts ...func(*eas.SyncOptions)) *syncEnv {
	t.Helper()
	ctx := context.Background()
	u, err := st.CreateUser(ctx, store.NewUser{Address: "alice@example.com", DisplayName: "Alice", Password: "secret"})
	require.NoError(t, err)
	se := &syncEnv{t: t, st: st, user: u, now: time.Now()}
	tt, ok := t.(*testing.T)
	var env *testEnv
	if ok {
		env = newEnv(tt, st, func(o *eas.Options) { o.MaxBodySize = 0 })
	} else {
		env = newBenchEnv(t, st)
	}
	se.env = env
	so := eas.SyncOptions{Store: st, Clock: func() time.Time { return se.now }}
	for _, f := range opts {
		f(&so)
	}
	syncer := eas.NewSync(so)
	for _, c := range syncer.Commands() {
		env.srv.Handle(c)
	}
	se.inbox, err = st.FolderByType(ctx, u.Mailbox, store.FolderInbox)
	require.NoError(t, err)
	se.drafts, err = st.FolderByType(ctx, u.Mailbox, store.FolderDrafts)
	require.NoError(t, err)
	se.trash, err = st.FolderByType(ctx, u.Mailbox, store.FolderDeleted)
	require.NoError(t, err)
	return se
}

func (se *syncEnv) client() *easclient.Client {
	return se.env.client("alice@example.com")
}

// message returns a small message with a unique subject.
func (se *syncEnv) message(subject string) []byte {
	se.seq++
	return fmt.Appendf(nil, "From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>\r\nSubject: %s\r\n"+
		"Message-ID: <m%d@example.com>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\nHello %d\r\n", subject, se.seq, se.seq)
}

func (se *syncEnv) deliver(n int) []store.Item {
	se.t.Helper()
	var out []store.Item
	for i := range n {
		it, err := se.st.Deliver(context.Background(), "alice@example.com", se.message("msg "+strconv.Itoa(i)))
		require.NoError(se.t, err)
		out = append(out, it)
	}
	return out
}

// collReq is one Collection of a Sync request built by syncBody.
type collReq struct {
	key, id      string
	window       int // 0: not sent
	noGetChanges bool
	options      func(enc *wbxml.Encoder) // inside <Options>; nil: no Options
	commands     func(enc *wbxml.Encoder) // inside <Commands>; nil: none
}

func syncBody(t testing.TB, colls []collReq, top func(enc *wbxml.Encoder)) []byte {
	t.Helper()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.AirSyncSync)
	if len(colls) > 0 {
		enc.Start(wbxml.AirSyncCollections)
		for _, c := range colls {
			enc.Start(wbxml.AirSyncCollection)
			enc.String(wbxml.AirSyncSyncKey, c.key)
			enc.String(wbxml.AirSyncCollectionId, c.id)
			switch {
			case c.noGetChanges:
				enc.Int(wbxml.AirSyncGetChanges, 0)
			case c.key != "0":
				enc.Empty(wbxml.AirSyncGetChanges)
			}
			if c.window > 0 {
				enc.Int(wbxml.AirSyncWindowSize, int64(c.window))
			}
			if c.options != nil {
				enc.Start(wbxml.AirSyncOptions)
				c.options(enc)
				enc.End()
			}
			if c.commands != nil {
				enc.Start(wbxml.AirSyncCommands)
				c.commands(enc)
				enc.End()
			}
			enc.End()
		}
		enc.End()
	}
	if top != nil {
		top(enc)
	}
	enc.End()
	require.NoError(t, enc.Err())
	return enc.Bytes()
}

// do sends a Sync body and returns the response.
func (se *syncEnv) do(c *easclient.Client, body []byte) *easclient.Response {
	se.t.Helper()
	resp, err := c.Do(context.Background(), &easclient.Request{Cmd: eas.CmdSync, Body: body})
	require.NoError(se.t, err)
	require.Equal(se.t, http.StatusOK, resp.StatusCode)
	return resp
}

// sync sends one collection and returns its Collection element of the answer.
func (se *syncEnv) sync(c *easclient.Client, cr collReq) *easclient.Node {
	se.t.Helper()
	resp := se.do(c, syncBody(se.t, []collReq{cr}, nil))
	require.NotEmpty(se.t, resp.Body, "empty sync response")
	doc := parseWBXML(se.t, resp.Body)
	coll := doc.Child(wbxml.AirSyncCollections).Child(wbxml.AirSyncCollection)
	require.NotNil(se.t, coll, "no collection in the answer")
	return coll
}

func folderIDString(f store.Folder) string { return strconv.FormatInt(int64(f.ID), 10) }

// commandIDs returns the ServerIds of the Commands children tagged tag.
func commandIDs(coll *easclient.Node, tag wbxml.Tag) []string {
	var out []string
	for _, n := range coll.Child(wbxml.AirSyncCommands).All(tag) {
		out = append(out, n.Get(wbxml.AirSyncServerId))
	}
	return out
}

// bodyPref writes one BodyPreference.
func bodyPref(enc *wbxml.Encoder, typ int, trunc int, allOrNone bool, preview int) {
	enc.Start(wbxml.AirSyncBaseBodyPreference)
	enc.Int(wbxml.AirSyncBaseType, int64(typ))
	if trunc > 0 {
		enc.Int(wbxml.AirSyncBaseTruncationSize, int64(trunc))
	}
	if allOrNone {
		enc.Int(wbxml.AirSyncBaseAllOrNone, 1)
	}
	if preview > 0 {
		enc.Int(wbxml.AirSyncBasePreview, int64(preview))
	}
	enc.End()
}

// newBenchEnv is newEnv for benchmarks: the real store as authenticator, no test commands.
func newBenchEnv(t testing.TB, st *store.Store) *testEnv {
	t.Helper()
	env := &testEnv{logs: new(syncBuffer), seen: make(chan *eas.Request, 100)}
	env.srv = eas.New(eas.Options{
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Auth:          st,
		DefaultDomain: "example.com",
	})
	e := echo.New()
	env.srv.Register(e)
	env.https = httptest.NewTLSServer(e)
	t.Cleanup(env.https.Close)
	return env
}

func openSyncStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "easd.db"), store.Options{KDF: store.TestKDF})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	require.NoError(t, st.Migrate(context.Background()))
	return st
}
