// Package httpd runs the HTTPS listener that every HTTP front-end of easd
// shares: ActiveSync, Autodiscover, the admin API and dashboard, and the
// operational endpoints /healthz and /metrics.
//
// New builds the echo instance with the middleware every route gets (panic
// recovery with a counted, logged stack; request metrics; a debug request
// log). Front-ends add their routes to it. Serve runs it over TLS until its
// context ends, then shuts down gracefully: it stops accepting connections,
// runs the OnShutdown functions (EAS Ping answers its waiting requests),
// cancels the context of every request, so long polls (EAS Ping, Sync with
// Wait) return at once, and gives in-flight requests ShutdownTimeout to
// finish.
package httpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configures New. Logger and Health are required.
type Options struct {
	Logger *slog.Logger
	// Health reports whether the server can do its work (the store is
	// reachable). GET /healthz answers 200 "ok" or 503 with the reason.
	Health func(ctx context.Context) error
	// Registry receives the HTTP metrics and is served at /metrics. Nil: a new
	// registry with the Go and process collectors.
	Registry *prometheus.Registry
}

// Server is the shared echo instance plus its metrics.
type Server struct {
	Echo     *echo.Echo
	Registry *prometheus.Registry
	log      *slog.Logger

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	panics   prometheus.Counter

	onShutdown []func()
}

// OnShutdown registers f to run when Serve shuts down, once the listener no
// longer accepts connections and before the request contexts are cancelled
// and the running requests awaited: a long poll released here can still
// answer. Call it before Serve.
func (s *Server) OnShutdown(f func()) { s.onShutdown = append(s.onShutdown, f) }

// New returns a Server with /healthz and /metrics registered.
func New(opts Options) *Server {
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s := &Server{
		Echo:     echo.New(),
		Registry: reg,
		log:      opts.Logger.With("pkg", "httpd"),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "easd_http_requests_total",
			Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "easd_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route (long polls included).",
			Buckets: []float64{.001, .005, .025, .1, .5, 2, 10, 60, 600, 3600},
		}, []string{"route"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "easd_http_panics_total",
			Help: "Handler panics recovered; each is a bug to report.",
		}),
	}
	reg.MustRegister(s.requests, s.duration, s.panics)

	e := s.Echo
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.observe)

	e.GET("/healthz", func(c echo.Context) error {
		if err := opts.Health(c.Request().Context()); err != nil {
			s.log.Warn("health check failed", "err", err)
			return c.String(http.StatusServiceUnavailable, "store unreachable\n")
		}
		return c.String(http.StatusOK, "ok\n")
	})
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	return s
}

// observe recovers panics, counts and times every request and logs it at
// Debug.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				s.panics.Inc()
				s.log.Error("handler panic", "method", c.Request().Method, "path", c.Request().URL.Path,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				err = echo.NewHTTPError(http.StatusInternalServerError)
			}
			if err != nil {
				c.Error(err)
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			code := c.Response().Status
			s.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
			s.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
			s.log.Debug("http request", "method", c.Request().Method, "path", c.Request().URL.Path,
				"code", code, "remote", c.RealIP(), "duration", time.Since(start))
		}()
		return next(c)
	}
}

// errorHandler answers with the status of an *echo.HTTPError and a generic
// message for anything else; the cause is logged, never shown to clients.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := http.StatusInternalServerError, http.StatusText(http.StatusInternalServerError)
	if he, ok := errors.AsType[*echo.HTTPError](err); ok {
		code = he.Code
		if m, ok := he.Message.(string); ok {
			msg = m
		} else {
			msg = http.StatusText(code)
		}
	} else {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(code)
	} else {
		err = c.String(code, msg+"\n")
	}
	if err != nil {
		s.log.Debug("write error response", "err", err)
	}
}

// ShutdownTimeout is how long Serve waits for in-flight requests after its
// context ends.
const ShutdownTimeout = 30 * time.Second

// Serve answers HTTPS on ln with cert until ctx ends, then shuts down
// gracefully (see the package doc). It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener, cert tls.Certificate) error {
	reqCtx, releasePolls := context.WithCancel(context.WithoutCancel(ctx))
	defer releasePolls()
	srv := &http.Server{
		Handler:           s.Echo,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	// Shutdown closes the listener, then runs this, then waits for the requests.
	srv.RegisterOnShutdown(func() {
		for _, f := range s.onShutdown {
			f()
		}
		releasePolls()
	})
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()

	select {
	case err := <-errc:
		return fmt.Errorf("httpd: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "addr", ln.Addr().String(), "grace", ShutdownTimeout)
	shutCtx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
		return fmt.Errorf("httpd: shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("httpd: serve %s: %w", ln.Addr(), err)
	}
	return nil
}
