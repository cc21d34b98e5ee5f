package dashboard

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newServer serves the dashboard over a real TLS listener.
func newServer(t *testing.T) (*httptest.Server, *http.Client) {
	t.Helper()
	e := echo.New()
	Register(e)
	srv := httptest.NewTLSServer(e)
	t.Cleanup(srv.Close)
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return srv, c
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(b)
}

func assertSecurityHeaders(t *testing.T, h http.Header) {
	t.Helper()
	assert.Equal(t, "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "+
		"frame-ancestors 'none'; base-uri 'none'; form-action 'self'", h.Get("Content-Security-Policy"))
	assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
	assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
}

func TestRedirect(t *testing.T) {
	srv, c := newServer(t)
	for _, tc := range []struct{ name, path, want string }{
		{"bare", "/admin", "/admin/"},
		{"query kept", "/admin?x=1", "/admin/?x=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := get(t, c, srv.URL+tc.path)
			assert.Equal(t, http.StatusMovedPermanently, res.StatusCode)
			assert.Equal(t, tc.want, res.Header.Get("Location"))
			assertSecurityHeaders(t, res.Header)
		})
	}
}

func TestIndex(t *testing.T) {
	srv, c := newServer(t)
	for _, p := range []string{"/admin/", "/admin/index.html"} {
		t.Run(p, func(t *testing.T) {
			res, body := get(t, c, srv.URL+p)
			require.Equal(t, http.StatusOK, res.StatusCode)
			assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
			assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			assert.Empty(t, res.Header.Get("ETag"))
			assertSecurityHeaders(t, res.Header)
			assert.Contains(t, body, `<main id="main"`)
			assert.Contains(t, body, `<script type="module" src="js/app.js"></script>`)
		})
	}
}

func TestFiles(t *testing.T) {
	srv, c := newServer(t)
	want := map[string]string{
		"app.css":     "text/css; charset=utf-8",
		"js/app.js":   "text/javascript; charset=utf-8",
		"js/api.js":   "text/javascript; charset=utf-8",
		"favicon.svg": "image/svg+xml",
	}
	for name, ct := range want {
		t.Run(name, func(t *testing.T) {
			res, body := get(t, c, srv.URL+"/admin/"+name)
			require.Equal(t, http.StatusOK, res.StatusCode)
			assert.Equal(t, ct, res.Header.Get("Content-Type"))
			assert.Equal(t, "no-cache", res.Header.Get("Cache-Control"))
			assertSecurityHeaders(t, res.Header)
			b, err := fs.ReadFile(static, "static/"+name)
			require.NoError(t, err)
			assert.Equal(t, string(b), body)

			etag := res.Header.Get("ETag")
			require.NotEmpty(t, etag)
			res, body = get(t, c, srv.URL+"/admin/"+name, "If-None-Match", `"other", `+etag)
			assert.Equal(t, http.StatusNotModified, res.StatusCode)
			assert.Empty(t, body)
			res, _ = get(t, c, srv.URL+"/admin/"+name, "If-None-Match", `"other"`)
			assert.Equal(t, http.StatusOK, res.StatusCode)
		})
	}
}

func TestHead(t *testing.T) {
	srv, c := newServer(t)
	res, err := c.Head(srv.URL + "/admin/app.css")
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Empty(t, b)
	want, err := fs.ReadFile(static, "static/app.css")
	require.NoError(t, err)
	assert.Equal(t, int64(len(want)), res.ContentLength)
}

func TestNotFound(t *testing.T) {
	srv, c := newServer(t)
	for _, p := range []string{"/admin/nope.js", "/admin/js", "/admin/js/", "/admin/../go.mod", "/admin/%2e%2e/dashboard.go", "/admin/static/app.css"} {
		t.Run(p, func(t *testing.T) {
			res, body := get(t, c, srv.URL+p)
			assert.Equal(t, http.StatusNotFound, res.StatusCode)
			assert.NotContains(t, body, "package dashboard")
			assert.NotContains(t, body, "module github.com")
		})
	}
	res, _ := get(t, c, srv.URL+"/admin/nope.js")
	assertSecurityHeaders(t, res.Header)
}

// embedded lists the dashboard's files as served ("js/app.js").
func embedded(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		out[strings.TrimPrefix(p, "static/")] = string(b)
		return err
	}))
	return out
}

func TestEveryFileHasAType(t *testing.T) {
	for name := range embedded(t) {
		_, ok := contentTypes[path.Ext(name)]
		assert.True(t, ok, "%s has no content type and would not be served", name)
	}
}

// TestReferences checks that every file index.html, the CSS and the
// modules refer to exists, and that the router's pages have modules.
func TestReferences(t *testing.T) {
	files := embedded(t)
	attr := regexp.MustCompile(`(?:src|href)="([^"#][^"]*)"`)
	for _, m := range attr.FindAllStringSubmatch(files["index.html"], -1) {
		assert.Contains(t, files, m[1], "index.html refers to %s", m[1])
	}
	imports := regexp.MustCompile(`(?:from\s+|import\s*\(\s*|import\s+)'(\.[^']+)'`)
	n := 0
	for name, text := range files {
		if path.Ext(name) != ".js" {
			continue
		}
		for _, m := range imports.FindAllStringSubmatch(text, -1) {
			target := path.Join(path.Dir(name), m[1])
			assert.Contains(t, files, target, "%s imports %s", name, m[1])
			n++
		}
	}
	assert.Greater(t, n, 10, "the import pattern found too few imports to be working")
	for _, page := range []string{"overview", "quarantine", "devices", "device", "users", "rules", "policies", "outbound", "audit"} {
		assert.Contains(t, files, "js/pages/"+page+".js")
		assert.Contains(t, files["js/app.js"], "import('./pages/"+page+".js')")
	}
}

// TestNoInlineCode keeps the files within the CSP and away from HTML
// injection: no inline script, style or handlers, no foreign origins, no
// HTML built from strings.
func TestNoInlineCode(t *testing.T) {
	files := embedded(t)
	index := files["index.html"]
	assert.NotRegexp(t, `<script(?:\s[^>]*)?>\s*[^<\s]`, index, "inline script")
	assert.NotRegexp(t, `<style`, index)
	for name, text := range files {
		switch path.Ext(name) {
		case ".html", ".svg":
			assert.NotRegexp(t, `\sstyle=`, text, "%s: style attribute", name)
			assert.NotRegexp(t, `\son[a-z]+=`, text, "%s: inline event handler", name)
		case ".js":
			for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage", "sessionStorage", "document.cookie", ".style."} {
				assert.NotContains(t, text, bad, "%s uses %s", name, bad)
			}
			assert.NotRegexp(t, `setAttribute\(\s*'style'`, text, "%s sets a style attribute", name)
		}
		for _, u := range regexp.MustCompile(`https?://[^\s"')]+`).FindAllString(text, -1) {
			assert.Equal(t, "http://www.w3.org/2000/svg", u, "%s refers to another origin", name)
		}
	}
}

// TestSelectorContract keeps the ids and attributes the browser tests rely
// on (listed in static/js/app.js) present in the files that make them.
func TestSelectorContract(t *testing.T) {
	files := embedded(t)
	all := ""
	for name, text := range files {
		if path.Ext(name) == ".js" || path.Ext(name) == ".html" {
			all += text
		}
	}
	index := files["index.html"]
	for _, id := range []string{"main", "status", "confirm", "confirm-ok", "confirm-cancel", "logout", "confirm-title", "confirm-text"} {
		assert.Contains(t, index, `id="`+id+`"`)
	}
	assert.Regexp(t, `<main id="main"[^>]*data-page=`, index)
	assert.Regexp(t, `<div id="status" role="status" aria-live="polite"`, index)
	assert.Contains(t, index, `<dialog id="confirm"`)
	for _, page := range []string{"overview", "quarantine", "devices", "users", "rules", "policies", "outbound", "audit"} {
		assert.Contains(t, index, `<a href="#/`+page+`"`)
	}
	for _, id := range []string{"login-user", "login-password", "login-submit", "login-message", "bulk-approve", "bulk-block"} {
		assert.Contains(t, files["js/app.js"]+files["js/devicetable.js"], "'"+id+"'", "id %s", id)
	}
	for _, action := range []string{"approve", "block", "allow", "quarantine", "wipe", "account-wipe", "cancel-wipe", "remove"} {
		assert.Regexp(t, `(?:action: |button\()'`+regexp.QuoteMeta(action)+`'`, all, "data-action %s", action)
	}
	for _, s := range []string{"dataset.ready = 'true'", "removeAttribute('data-ready')", "dataset.role = ", "select: String(", "auditAction: ", "deviceId: String("} {
		assert.Contains(t, all, s)
	}
}
