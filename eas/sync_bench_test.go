package eas_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/internal/httpd"
	"github.com/easd/easd/internal/loginlimit"
	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// BenchmarkSyncNoChange is the steady state of an idle device: a Sync of the Inbox with the
// current key and nothing new, end to end over HTTPS on SQLite.
func BenchmarkSyncNoChange(b *testing.B) {
	st := openSyncStore(b)
	se := newSyncEnv(b, st)
	se.deliver(100)
	c := se.client()
	inbox := folderIDString(se.inbox)
	key := se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
	key = se.sync(c, collReq{key: key, id: inbox, window: 512}).Get(wbxml.AirSyncSyncKey)
	body := syncBody(b, []collReq{{key: key, id: inbox}}, nil)
	req := &easclient.Request{Cmd: eas.CmdSync, Body: body}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		resp, err := c.Do(ctx, req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err, resp)
		}
	}
}

// BenchmarkSyncInitial10k is a device's first sync of an Inbox of 10,000 messages at
// WindowSize 100: key 0 and then 100 rounds, all the server time of it per op.
func BenchmarkSyncInitial10k(b *testing.B) {
	st := openSyncStore(b)
	se := newSyncEnv(b, st)
	se.deliver(10000)
	inbox := folderIDString(se.inbox)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		c := se.client()
		c.DeviceID = "Bench" + strconv.Itoa(n)
		key := se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
		got := 0
		for {
			coll := se.sync(c, collReq{key: key, id: inbox, window: 100})
			got += len(commandIDs(coll, wbxml.AirSyncAdd))
			key = coll.Get(wbxml.AirSyncSyncKey)
			if !coll.Has(wbxml.AirSyncMoreAvailable) {
				break
			}
		}
		require.Equal(b, 10000, got)
	}
}

// BenchmarkSyncNoChangeServed is BenchmarkSyncNoChange with the wiring of easd serve: the
// other-writers poller, the httpd middleware, the device gate over the registry and the
// policies (the device has provisioned), the policy limits in Sync and the trace recorder.
func BenchmarkSyncNoChangeServed(b *testing.B) {
	st := openSyncStore(b)
	st.PollOtherWriters(0) // as easd serve does
	ctx := context.Background()
	_, err := st.CreateUser(ctx, store.NewUser{Address: "alice@example.com", DisplayName: "Alice", Password: "secret"})
	require.NoError(b, err)
	for i := range 100 {
		raw := fmt.Appendf(nil, "From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>\r\nSubject: %d\r\n"+
			"Message-ID: <b%d@example.com>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\nHello\r\n", i, i)
		_, err := st.Deliver(ctx, "alice@example.com", raw)
		require.NoError(b, err)
	}
	log := slog.New(slog.DiscardHandler)
	h := httpd.New(httpd.Options{Logger: log, Health: st.Ping})
	reg := devices.New(st, devices.Options{Logger: log})
	srv := eas.New(eas.Options{
		Logger: log, Auth: st, DefaultDomain: "example.com", Guard: loginlimit.New(loginlimit.Options{}),
		Gate:   eas.NewGate(reg, st, eas.GateOptions{}),
		Tracer: eas.NewTraceRecorder(reg, st, eas.TraceOptions{Logger: log}),
	})
	srv.Handle(eas.ProvisionCommand(reg, st))
	for _, c := range eas.NewSync(eas.SyncOptions{Store: st, Limits: eas.PolicyLimits(st)}).Commands() {
		srv.Handle(c)
	}
	srv.Register(h.Echo)
	https := httptest.NewTLSServer(h.Echo)
	b.Cleanup(https.Close)
	c := &easclient.Client{HTTP: https.Client(), URL: https.URL, Username: "alice@example.com", Password: "secret",
		User: "alice@example.com", DeviceID: "BenchServed1", DeviceType: "iPhone", UserAgent: "Apple-iPhone/1"}
	provisionClient(b, c)

	inbox, err := st.FolderByType(ctx, mustUser(b, st, "alice@example.com").Mailbox, store.FolderInbox)
	require.NoError(b, err)
	id := folderIDString(inbox)
	do := func(body []byte) *easclient.Node {
		resp, err := c.Do(ctx, &easclient.Request{Cmd: eas.CmdSync, Body: body})
		require.NoError(b, err)
		require.Equal(b, http.StatusOK, resp.StatusCode)
		return parseWBXML(b, resp.Body).Child(wbxml.AirSyncCollections).Child(wbxml.AirSyncCollection)
	}
	key := do(syncBody(b, []collReq{{key: "0", id: id}}, nil)).Get(wbxml.AirSyncSyncKey)
	coll := do(syncBody(b, []collReq{{key: key, id: id, window: 512}}, nil))
	require.Len(b, commandIDs(coll, wbxml.AirSyncAdd), 100)
	key = coll.Get(wbxml.AirSyncSyncKey)
	body := syncBody(b, []collReq{{key: key, id: id}}, nil)
	req := &easclient.Request{Cmd: eas.CmdSync, Body: body}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		resp, err := c.Do(ctx, req)
		if err != nil || resp.StatusCode != http.StatusOK || len(resp.Body) == 0 {
			b.Fatal(err, resp)
		}
	}
}

func mustUser(t testing.TB, st *store.Store, addr string) store.User {
	t.Helper()
	u, err := st.UserByAddress(context.Background(), addr)
	require.NoError(t, err)
	return u
}

// provisionClient runs the two Provision rounds (MS-ASPROV 3.1.5.1) and leaves the final
// policy key in c.
func provisionClient(t testing.TB, c *easclient.Client) {
	t.Helper()
	_, err := c.Provision(context.Background(), nil)
	require.NoError(t, err)
}
