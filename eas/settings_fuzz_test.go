package eas_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// FuzzHierarchySettings sends arbitrary bodies as FolderSync, FolderCreate, FolderUpdate,
// FolderDelete and Settings to the real commands on a real store. Whatever the body, the
// answer is HTTP 200 with a well-formed WBXML body whose Status is never a server error
// (FolderHierarchy 6, common 110): bad input is the client's fault, never the server's.
func FuzzHierarchySettings(f *testing.F) {
	cmds := []eas.CommandCode{eas.CmdFolderSync, eas.CmdFolderCreate, eas.CmdFolderUpdate, eas.CmdFolderDelete, eas.CmdSettings}
	seeds, _ := filepath.Glob(filepath.Join(corpusDir, "eas", "*", "*", "*settings*.req.wbxml"))
	more, _ := filepath.Glob(filepath.Join(corpusDir, "eas", "*", "*foldersync*.req.wbxml"))
	for _, s := range append(seeds, more...) {
		if b, err := os.ReadFile(s); err == nil {
			cmd := byte(0)
			if strings.Contains(s, "settings") {
				cmd = 4
			}
			f.Add(cmd, b)
		}
	}
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.FolderHierarchyFolderCreate)
	enc.String(wbxml.FolderHierarchySyncKey, "1")
	enc.String(wbxml.FolderHierarchyParentId, "0")
	enc.String(wbxml.FolderHierarchyDisplayName, "Fuzz")
	enc.String(wbxml.FolderHierarchyType, "12")
	enc.End()
	f.Add(byte(1), append([]byte(nil), enc.Bytes()...))

	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(f.TempDir(), "easd.db"), store.Options{KDF: store.TestKDF})
	require.NoError(f, err)
	f.Cleanup(func() { _ = st.Close() })
	require.NoError(f, st.Migrate(ctx))
	_, err = st.CreateUser(ctx, store.NewUser{Address: "alice@example.com", Password: "secret"})
	require.NoError(f, err)
	box, err := store.NewSecretBox(make([]byte, 32))
	require.NoError(f, err)
	srv := eas.New(eas.Options{Logger: slog.New(slog.DiscardHandler), Auth: st, AllowPlainHTTP: true})
	for _, c := range eas.NewHierarchy(eas.HierarchyOptions{Store: st}).Commands() {
		srv.Handle(c)
	}
	srv.Handle(eas.NewSettings(eas.SettingsOptions{Store: st, Devices: &fakeDevices{}, Secrets: box}).Command())
	e := echo.New()
	srv.Register(e)

	f.Fuzz(func(t *testing.T, which byte, body []byte) {
		cmd := cmds[int(which)%len(cmds)]
		req := httptest.NewRequest(http.MethodPost, eas.Path+"?Cmd="+cmd.String()+"&User=alice&DeviceId=Fuzz1&DeviceType=iPhone",
			strings.NewReader(string(body)))
		req.SetBasicAuth("alice@example.com", "secret")
		req.Header.Set("MS-ASProtocolVersion", "16.1")
		req.Header.Set("Content-Type", eas.ContentTypeWBXML)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		require.Equal(t, http.StatusOK, w.Code)
		resp := &easclient.Response{StatusCode: w.Code, Header: w.Header(), Body: w.Body.Bytes()}
		toks, err := resp.Tokens()
		require.NoError(t, err)
		for i, tok := range toks {
			if tok.Kind == wbxml.KindStart && (tok.Tag == wbxml.FolderHierarchyStatus || tok.Tag == wbxml.SettingsStatus) {
				v := string(toks[i+1].Data)
				require.NotEqual(t, "110", v, "server error for %x", body)
				if tok.Tag == wbxml.FolderHierarchyStatus {
					require.NotEqual(t, "6", v, "server error for %x", body)
				}
			}
		}
	})
}
