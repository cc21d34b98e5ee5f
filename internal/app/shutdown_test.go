package app_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/internal/app"
	"github.com/easd/easd/internal/app/apptest"
	"github.com/easd/easd/internal/tlscert"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// Shutting down, the server stops accepting connections, answers the waiting Ping (status
// 1), lets it finish, and writes the last_seen values its touches kept in memory before Serve
// returns, while the store is still open.
func TestShutdownReleasesPingsAndWritesLastSeen(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		u, err := st.CreateUser(ctx, store.NewUser{Address: "shut@example.com", Password: "phone pw"})
		require.NoError(t, err)

		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		a, err := app.New(app.Config{Store: st, SecretKey: apptest.SecretKey, AdminKey: apptest.AdminKey,
			Hostname: "localhost", Port: ln.Addr().(*net.TCPAddr).Port,
			DeviceFlushInterval: -1}) // no timer: only the shutdown writes last_seen
		require.NoError(t, err)
		cert, _, err := tlscert.LoadOrCreate(t.TempDir(), "localhost", time.Now())
		require.NoError(t, err)
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		require.NoError(t, err)
		pool := x509.NewCertPool()
		pool.AddCert(leaf)
		serveCtx, stop := context.WithCancel(context.Background())
		defer stop()
		served := make(chan error, 1)
		go func() { served <- a.Serve(serveCtx, ln, cert) }()

		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr}
		base := "https://" + ln.Addr().String()
		c := &easclient.Client{HTTP: hc, URL: base, Username: u.Address, Password: "phone pw", User: u.Address,
			DeviceID: "SHUT1", DeviceType: "Phone", UserAgent: "Phone/1.0", Version: eas.Version161}
		_, err = c.Provision(ctx, &easclient.DeviceInfo{Model: "Phone 1", OS: "TestOS 1"})
		require.NoError(t, err)
		fs, err := c.FolderSync(ctx, "0")
		require.NoError(t, err)
		inbox, ok := fs.Folder(2) // MS-ASCMD 2.2.3.186.3: 2 is the Inbox
		require.True(t, ok)
		first, err := st.DeviceOf(ctx, u.ID, "SHUT1")
		require.NoError(t, err)

		enc := wbxml.NewEncoder(nil)
		enc.Start(wbxml.PingPing)
		enc.Int(wbxml.PingHeartbeatInterval, 3000)
		enc.Start(wbxml.PingFolders)
		enc.Start(wbxml.PingFolder)
		enc.String(wbxml.PingId, inbox.ServerID)
		enc.String(wbxml.PingClass, "Email")
		enc.End()
		enc.End()
		enc.End()
		body, err := enc.Bytes(), enc.Err()
		require.NoError(t, err)
		pingSent := time.Now().UTC().Truncate(time.Microsecond)
		type answer struct {
			resp *easclient.Response
			err  error
		}
		answered := make(chan answer, 1)
		go func() {
			resp, err := c.Do(context.Background(), &easclient.Request{Cmd: eas.CmdPing, Body: body})
			answered <- answer{resp, err}
		}()
		require.Eventually(t, func() bool { return pingWaiting(t, hc, base) == "1" }, 30*time.Second,
			20*time.Millisecond, "the Ping parks")

		row, err := st.DeviceOf(ctx, u.ID, "SHUT1")
		require.NoError(t, err)
		assert.Equal(t, first.LastSeen, row.LastSeen, "known device: nothing written on the request path")

		stop()
		got := <-answered
		require.NoError(t, got.err)
		require.Equal(t, http.StatusOK, got.resp.StatusCode)
		status, err := got.resp.Status(wbxml.PingStatus)
		require.NoError(t, err)
		assert.Equal(t, 1, status, "released with an answer: Ping Status 1, so the device reconnects")
		require.NoError(t, <-served, "a clean shutdown")

		_, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		assert.Error(t, err, "no longer accepting")
		row, err = st.DeviceOf(ctx, u.ID, "SHUT1")
		require.NoError(t, err)
		assert.False(t, row.LastSeen.Before(pingSent), "last_seen %v written at shutdown, Ping sent at %v",
			row.LastSeen, pingSent)
	})
}

// pingWaiting reads the easd_ping_waiting gauge from /metrics.
func pingWaiting(t *testing.T, hc *http.Client, base string) string {
	resp, err := hc.Get(base + "/metrics")
	if err != nil {
		t.Log(err)
		return ""
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "easd_ping_waiting "); ok {
			return v
		}
	}
	return ""
}
