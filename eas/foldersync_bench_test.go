package eas_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// benchHierarchy is echo with the hierarchy commands on a real store, a user with the ten
// default folders and 50 mail folders, without TLS and network.
func benchHierarchy(b *testing.B, st *store.Store) *echo.Echo {
	b.Helper()
	ctx := context.Background()
	u, err := st.CreateUser(ctx, store.NewUser{Address: "alice@example.com", Password: "secret"})
	require.NoError(b, err)
	for i := range 50 {
		_, err := st.CreateFolder(ctx, u.Mailbox, 0, fmt.Sprintf("Folder %02d", i), store.FolderUserMail)
		require.NoError(b, err)
	}
	srv := eas.New(eas.Options{Logger: slog.New(slog.DiscardHandler), Auth: st, AllowPlainHTTP: true})
	for _, c := range eas.NewHierarchy(eas.HierarchyOptions{Store: st}).Commands() {
		srv.Handle(c)
	}
	e := echo.New()
	srv.Register(e)
	return e
}

func benchFolderSync(b *testing.B, e *echo.Echo, key string) *easclient.Response {
	b.Helper()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.FolderHierarchyFolderSync)
	enc.String(wbxml.FolderHierarchySyncKey, key)
	enc.End()
	req := httptest.NewRequest(http.MethodPost, eas.Path+"?Cmd=FolderSync&User=alice%40example.com&DeviceId=Bench1&DeviceType=iPhone",
		strings.NewReader(string(enc.Bytes())))
	req.SetBasicAuth("alice@example.com", "secret")
	req.Header.Set("MS-ASProtocolVersion", "16.1")
	req.Header.Set("Content-Type", eas.ContentTypeWBXML)
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatal(w.Code, w.Body.String())
	}
	return &easclient.Response{StatusCode: w.Code, Header: w.Header(), Body: w.Body.Bytes()}
}

// BenchmarkFolderSyncInitial: FolderSync 0 for 60 folders, each a new snapshot in the store.
func BenchmarkFolderSyncInitial(b *testing.B) {
	storetest.ForEachBench(b, func(b *testing.B, st *store.Store) {
		e := benchHierarchy(b, st)
		n := len(benchFolderSync(b, e, "0").Body)
		b.ReportAllocs()
		b.SetBytes(int64(n))
		for b.Loop() {
			benchFolderSync(b, e, "0")
		}
	})
}

// BenchmarkFolderSyncNoChange: the incremental FolderSync a device sends on every start with
// nothing changed: read the state and the folders, compare, answer Count 0.
func BenchmarkFolderSyncNoChange(b *testing.B) {
	storetest.ForEachBench(b, func(b *testing.B, st *store.Store) {
		e := benchHierarchy(b, st)
		toks, err := benchFolderSync(b, e, "0").Tokens()
		require.NoError(b, err)
		var key string
		for i, tok := range toks {
			if tok.Kind == wbxml.KindStart && tok.Tag == wbxml.FolderHierarchySyncKey {
				key = string(toks[i+1].Data)
			}
		}
		resp := benchFolderSync(b, e, key)
		b.ReportAllocs()
		b.SetBytes(int64(len(resp.Body)))
		for b.Loop() {
			if r := benchFolderSync(b, e, key); len(r.Body) != len(resp.Body) {
				b.Fatal("changes reported")
			}
		}
	})
}
