package httpd

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/internal/tlscert"
)

func start(t *testing.T, health func(context.Context) error, routes func(e *echo.Echo)) (base string, client *http.Client, stop func() error) {
	t.Helper()
	s := New(Options{Logger: slog.New(slog.DiscardHandler), Health: health})
	if routes != nil {
		routes(s.Echo)
	}
	cert, _, err := tlscert.LoadOrCreate(t.TempDir(), "localhost", time.Now())
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, cert) }()
	client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { assert.NoError(t, stop()) })
	return "https://" + ln.Addr().String(), client, stop
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestHealthz(t *testing.T) {
	var healthErr error
	base, c, _ := start(t, func(context.Context) error { return healthErr }, nil)

	code, body := get(t, c, base+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)

	healthErr = errors.New("database is locked: secret detail")
	code, body = get(t, c, base+"/healthz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.NotContains(t, body, "secret detail", "causes are logged, not shown")
}

func TestMetricsAndPanics(t *testing.T) {
	base, c, _ := start(t, func(context.Context) error { return nil }, func(e *echo.Echo) {
		e.GET("/boom", func(echo.Context) error { panic("bug") })
	})
	code, _ := get(t, c, base+"/boom")
	assert.Equal(t, http.StatusInternalServerError, code, "a panic is a 500, and the server lives on")
	code, body := get(t, c, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "easd_http_panics_total 1")
	assert.Contains(t, body, `easd_http_requests_total{code="500",route="/boom"} 1`)
	assert.Contains(t, body, "go_goroutines")
}

// A long poll must not hold up shutdown: its request context is cancelled
// when shutdown starts, and it answers before the server closes.
func TestShutdownReleasesLongPolls(t *testing.T) {
	entered := make(chan struct{})
	base, c, stop := start(t, func(context.Context) error { return nil }, func(e *echo.Echo) {
		e.GET("/poll", func(ec echo.Context) error {
			close(entered)
			select {
			case <-ec.Request().Context().Done():
				return ec.String(http.StatusOK, "released")
			case <-time.After(time.Hour):
				return ec.String(http.StatusOK, "timeout")
			}
		})
	})
	got := make(chan string, 1)
	go func() {
		resp, err := c.Get(base + "/poll")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-entered
	require.NoError(t, stop(), "shutdown is clean")
	assert.Equal(t, "released", strings.TrimSpace(<-got))
}
