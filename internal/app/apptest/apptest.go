// Package apptest starts the whole easd server (internal/app) on a real TLS
// listener for end-to-end and browser tests.
package apptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/easd/easd/internal/app"
	"github.com/easd/easd/internal/tlscert"
	"github.com/easd/easd/store"
)

// Server is a running app.
type Server struct {
	*app.App
	// URL is the base address, "https://127.0.0.1:PORT".
	URL string
	// Client trusts exactly the server's certificate.
	Client *http.Client
	// CertPool holds the server's certificate, for clients built elsewhere.
	CertPool *x509.CertPool
}

// Keys of every test server; tests never see a production key.
var (
	SecretKey = []byte("apptest-secret-key-0123456789abc")
	AdminKey  = []byte("apptest-admin-jwt-key-0123456789")
)

// Start wires the app over st as `easd serve` does, serves it on a loopback
// TLS listener until the test ends and returns it. Fields of cfg left zero
// get test defaults (store, keys, host name, port).
func Start(t testing.TB, st *store.Store, cfg app.Config) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = st
	if cfg.SecretKey == nil {
		cfg.SecretKey = SecretKey
	}
	if cfg.AdminKey == nil {
		cfg.AdminKey = AdminKey
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	if cfg.Port == 0 {
		cfg.Port = ln.Addr().(*net.TCPAddr).Port
	}
	a, err := app.New(cfg)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	cert, _, err := tlscert.LoadOrCreate(t.TempDir(), cfg.Hostname, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln, cert) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: "localhost"}
	t.Cleanup(tr.CloseIdleConnections)
	return &Server{
		App:      a,
		URL:      "https://" + ln.Addr().String(),
		Client:   &http.Client{Transport: tr},
		CertPool: pool,
	}
}
