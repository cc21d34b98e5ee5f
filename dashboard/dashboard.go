// Package dashboard serves the administrators' web dashboard at /admin: a
// single page of plain HTML, one CSS file and JavaScript ES modules,
// embedded in the binary (no build step). It talks only to the JSON API of
// package admin under /api/v1; it holds no state of its own on the server.
//
// Layout: static/index.html is the shell (header, navigation, the #main
// element every page renders into, the #status live region, the #confirm
// dialog); static/js/app.js routes on the location hash (#/overview,
// #/devices/ID, …; after a session ends, logging in again returns to the
// route it was on), static/js/api.js keeps the bearer token in memory
// only (a reload means logging in again) and replaces it with the
// refreshed token of every answer, static/js/charts.js draws the overview's
// SVG charts, static/js/pages/ has one module per page.
//
// Security: every answer carries a Content-Security-Policy that allows
// only this origin's scripts, styles and API (no inline script or style,
// no framing), nosniff, no referrer and DENY framing. index.html is
// no-store; the other files are no-cache with an ETag, so a new binary's
// files are picked up at once and an unchanged file costs a 304.
//
// The selectors the browser tests rely on (ids, data-page, data-ready,
// data-action, …) are listed in static/js/app.js; keep them stable.
package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// Prefix is the dashboard's path.
const Prefix = "/admin"

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of every dashboard answer.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// contentTypes are the media types of the files the dashboard ships; a file
// with another extension is not served (a test checks every file has one).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

type file struct {
	data        []byte
	contentType string
	etag        string
}

// Register adds GET and HEAD /admin (a redirect to /admin/) and /admin/…
// (the files; /admin/ is index.html) to e.
func Register(e *echo.Echo) {
	files, err := load(static)
	if err != nil {
		panic("dashboard: embedded files: " + err.Error()) // the embed is fixed at build time
	}
	methods := []string{http.MethodGet, http.MethodHead}
	e.Match(methods, Prefix, func(c echo.Context) error {
		setHeaders(c.Response().Header())
		to := Prefix + "/"
		if q := c.Request().URL.RawQuery; q != "" {
			to += "?" + q
		}
		return c.Redirect(http.StatusMovedPermanently, to)
	})
	e.Match(methods, Prefix+"/*", func(c echo.Context) error { return serve(c, files) })
}

// load reads every file under static into memory with its type and ETag.
func load(fsys fs.FS) (map[string]file, error) {
	sub, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, err
	}
	files := map[string]file{}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files[p] = file{data: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	return files, err
}

func setHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func serve(c echo.Context, files map[string]file) error {
	h := c.Response().Header()
	setHeaders(h)
	name := strings.TrimPrefix(c.Request().URL.Path, Prefix+"/")
	if name == "" {
		name = "index.html"
	}
	f, ok := files[name]
	if !ok {
		h.Set("Cache-Control", "no-store")
		return c.String(http.StatusNotFound, "not found\n")
	}
	h.Set(echo.HeaderContentType, f.contentType)
	if name == "index.html" {
		// The shell is never cached: a new binary's script names apply at once.
		h.Set("Cache-Control", "no-store")
	} else {
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		if etagMatch(c.Request().Header.Get("If-None-Match"), f.etag) {
			return c.NoContent(http.StatusNotModified)
		}
	}
	if c.Request().Method == http.MethodHead {
		h.Set(echo.HeaderContentLength, strconv.Itoa(len(f.data)))
		return c.NoContent(http.StatusOK)
	}
	return c.Blob(http.StatusOK, f.contentType, f.data)
}

// etagMatch reports whether an If-None-Match header names etag (RFC 9110
// 13.1.2: a list of entity tags, weak comparison, or "*").
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
