package eas_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/internal/httpd"
	"github.com/easd/easd/wbxml"
)

// TestWithHTTPD mounts the server on the shared echo instance of internal/httpd, as cmd/easd
// does, so its middleware (metrics, recovery) and error handler sit in front.
func TestWithHTTPD(t *testing.T) {
	t.Parallel()
	h := httpd.New(httpd.Options{Logger: slog.New(slog.DiscardHandler), Health: func(context.Context) error { return nil }})
	srv := eas.New(eas.Options{Logger: slog.New(slog.DiscardHandler), Auth: newFakeAuth()})
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
			enc.End()
			return nil
		},
	})
	srv.Register(h.Echo)
	https := httptest.NewTLSServer(h.Echo)
	defer https.Close()

	c := &easclient.Client{HTTP: https.Client(), URL: https.URL, Username: "alice@example.com", Password: "secret",
		DeviceID: "Httpd1", DeviceType: "Android", Version: eas.Version161}
	opt, err := c.Options(t.Context())
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, opt.StatusCode)
	assert.Equal(t, "FolderSync", opt.Header.Get("MS-ASProtocolCommands"))

	resp := folderSync(t, c, "0")
	assert.Equal(t, 1, folderSyncStatus(t, resp))
	c.Password = "wrong"
	assert.Equal(t, http.StatusUnauthorized, folderSync(t, c, "0").StatusCode)

	// Other methods on the path: echo's 405, through httpd's error handler.
	get, err := https.Client().Get(https.URL + "/microsoft-server-activesync")
	require.NoError(t, err)
	get.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, get.StatusCode)

	// httpd counts the requests under the route.
	m, err := https.Client().Get(https.URL + "/metrics")
	require.NoError(t, err)
	defer m.Body.Close()
	b, err := io.ReadAll(m.Body)
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(b), `route="/Microsoft-Server-ActiveSync"`), "metrics by route")
}
