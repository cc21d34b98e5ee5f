package autodiscover_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/autodiscover"
	"github.com/easd/easd/store"
)

const password = "correct horse"

// seed creates the accounts the tests use.
func seed(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := t.Context()
	for _, nu := range []store.NewUser{
		{Address: "alice@example.com", DisplayName: "Alice Example", Password: password},
		{Address: "bob@example.com", DisplayName: "Bob", Password: password},
		{Address: "dis@example.com", Password: password},
		{Address: "plain@example.com", Password: password},
		{Address: "noeas@example.com", DisplayName: "No EAS", Password: password},
		{Address: "moved@old.example.org", DisplayName: "Moved Already", Password: password},
	} {
		_, err := st.CreateUser(ctx, nu)
		require.NoError(t, err)
	}
	require.NoError(t, st.SetDisabled(ctx, "dis@example.com", true))
	off := false
	_, err := st.SetProtocols(ctx, "noeas@example.com", store.ProtocolsUpdate{EAS: &off})
	require.NoError(t, err)
}

// serve starts an HTTPS server with the service registered on a fresh echo
// instance and returns its URL and a client that trusts it.
func serve(t *testing.T, opts autodiscover.Options) (string, *http.Client) {
	t.Helper()
	e := echo.New()
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	autodiscover.New(opts).Register(e)
	srv := httptest.NewTLSServer(e)
	t.Cleanup(srv.Close)
	return srv.URL, srv.Client()
}

// body reads testdata/name with alice@example.com replaced by addr (when
// addr is not empty).
func body(t *testing.T, name, addr string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	s := string(b)
	if addr != "" {
		s = strings.ReplaceAll(s, "alice@example.com", addr)
	}
	return s
}

// post sends a POX request as iOS does (text/xml).
func post(t *testing.T, c *http.Client, url, login, pass, payload string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(payload))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/xml")
	if login != "" {
		req.SetBasicAuth(login, pass)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func get(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// parse reads an XML response body into a document.
func parse(t *testing.T, resp *http.Response) *etree.Document {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(b), "response:\n%s", b)
	return doc
}

// textAt is the text of the element at path, failing when it is absent.
func textAt(t *testing.T, doc *etree.Document, path string) string {
	t.Helper()
	el := doc.FindElement(path)
	require.NotNil(t, el, "no element %s", path)
	return el.Text()
}

// fakeGuard is a throttle the test controls: accounts in blocked are refused
// for a minute; failures are recorded.
type fakeGuard struct {
	mu      sync.Mutex
	blocked map[string]bool
	failed  []string
	remotes []netip.Addr
}

func (g *fakeGuard) Allow(account string, remote netip.Addr) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.remotes = append(g.remotes, remote)
	if g.blocked[account] {
		return 61500 * time.Millisecond
	}
	return 0
}

func (g *fakeGuard) Failed(account string, remote netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failed = append(g.failed, account)
}

var _ autodiscover.Guard = (*fakeGuard)(nil)

func newEcho(s *autodiscover.Service) *echo.Echo {
	e := echo.New()
	s.Register(e)
	return e
}

func newPlainServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func getAuth(t *testing.T, c *http.Client, url, login, pass string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	req.SetBasicAuth(login, pass)
	resp, err := c.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// nopUsers is a Users for tests that never authenticate.
type nopUsers struct{}

func (nopUsers) Authenticate(context.Context, string, string) (store.User, error) {
	return store.User{}, store.ErrBadCredentials
}

func (nopUsers) UserByAddress(context.Context, string) (store.User, error) {
	return store.User{}, store.ErrNotFound
}
