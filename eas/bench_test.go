package eas_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/internal/loginlimit"
	"github.com/easd/easd/wbxml"
)

func BenchmarkParseRequestPlain(b *testing.B) {
	q := "Cmd=FolderSync&User=t1%40dev.fd&DeviceId=Nine45069EA34A52&DeviceType=Android"
	h := http.Header{"Ms-Asprotocolversion": {"16.1"}, "User-Agent": {"Nine-sdk_phone64_x86_64/SE1A.220621.001"},
		"X-Ms-Policykey": {"1307199584"}}
	b.ReportAllocs()
	b.SetBytes(int64(len(q)))
	for b.Loop() {
		if _, err := eas.ParseRequest(q, h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRequestBase64(b *testing.B) {
	q := b64(0xa1, 19, 0x07, 0x04, 16, 0x34, 0xe0, 0x72, 0x8a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
		4, 0, 0, 0, 0, 11, 'W', 'i', 'n', 'd', 'o', 'w', 's', 'M', 'a', 'i', 'l', 7, 1, 2)
	h := http.Header{}
	b.ReportAllocs()
	b.SetBytes(int64(len(q)))
	for b.Loop() {
		if _, err := eas.ParseRequest(q, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDispatch measures one POST through echo and the dispatcher (parse, a trivial
// authenticator, WBXML check, handler, response), without TLS and network.
func BenchmarkDispatch(b *testing.B) {
	srv := eas.New(eas.Options{
		Logger: slog.New(slog.DiscardHandler), Auth: newFakeAuth(), AllowPlainHTTP: true,
		Guard: loginlimit.New(loginlimit.Options{Disable: true}),
	})
	srv.Handle(eas.Command{
		Code:   eas.CmdFolderSync,
		Status: eas.TopLevelStatus(wbxml.FolderHierarchyFolderSync, wbxml.FolderHierarchyStatus),
		Handler: func(_ context.Context, _ *eas.Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
			if _, err := dec.Expect(wbxml.FolderHierarchyFolderSync); err != nil {
				return err
			}
			if err := dec.Skip(); err != nil {
				return err
			}
			enc.Start(wbxml.FolderHierarchyFolderSync)
			enc.Int(wbxml.FolderHierarchyStatus, 1)
			enc.String(wbxml.FolderHierarchySyncKey, "1")
			enc.End()
			return nil
		},
	})
	e := echo.New()
	srv.Register(e)
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.FolderHierarchyFolderSync)
	enc.String(wbxml.FolderHierarchySyncKey, "0")
	enc.End()
	body := string(enc.Bytes())
	enc.Reset(nil)
	enc.Start(wbxml.FolderHierarchyFolderSync)
	enc.Int(wbxml.FolderHierarchyStatus, 1)
	enc.String(wbxml.FolderHierarchySyncKey, "1")
	enc.End()
	want := enc.Bytes()
	target := eas.Path + "?Cmd=FolderSync&User=alice%40example.com&DeviceId=Bench1&DeviceType=iPhone"
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
		req.SetBasicAuth("alice@example.com", "secret")
		req.Header.Set("MS-ASProtocolVersion", "16.1")
		req.Header.Set("Content-Type", eas.ContentTypeWBXML)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if w.Code != http.StatusOK || w.Body.Len() != len(want) {
			b.Fatal(w.Code, w.Body.Bytes())
		}
	}
}
