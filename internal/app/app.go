// Package app wires easd's front-ends into one HTTPS server: ActiveSync,
// Autodiscover, the admin API and the dashboard, over one store, one device
// registry and one failed-login throttle. `easd serve` calls New and serves
// the result; end-to-end and browser tests call New too, so they run the
// server exactly as a user gets it.
package app

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/easd/easd/admin"
	"github.com/easd/easd/autodiscover"
	"github.com/easd/easd/dashboard"
	"github.com/easd/easd/devices"
	"github.com/easd/easd/eas"
	"github.com/easd/easd/internal/httpd"
	"github.com/easd/easd/internal/loginlimit"
	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
	"github.com/easd/easd/submission"
)

// ServeGCPercent is the garbage collector's target (GOGC) of easd serve when the environment
// sets none. Most of a busy server's memory is its waiting Pings, live for minutes; requests
// make garbage between them. At Go's default of 100 the heap grows to twice what is live
// before a collection, and the runtime keeps up to 1.1 times that goal resident, so a push
// server's resident memory settles wherever its last peak left it: 1.07 to 1.87 times a bare
// long poll's per waiting Ping over the 15,000-Ping runs of cmd/easbench/RESULTS.md. At 50
// the heap grows by half of what is live before a collection, which runs twice as often; the
// figures, and what that costs, are in RESULTS.md. GOGC and GOMEMLIMIT in the environment
// still decide.
const ServeGCPercent = 50

// Config is what New needs. Store and the keys are required.
type Config struct {
	Store  *store.Store
	Logger *slog.Logger // nil: discard

	// Hostname is the server's public host name (certificate, Autodiscover).
	Hostname string
	// Port is the HTTPS port clients reach (Autodiscover URLs).
	Port int
	// DefaultDomain completes logins without a domain; empty: full
	// addresses only.
	DefaultDomain string
	// Organization is shown in Apple profiles; empty: Hostname.
	Organization string
	// Redirects maps a mail domain to the domain whose server Autodiscover
	// names instead.
	Redirects map[string]string

	// MaxDevices, DefaultAccess and AdminRecipients configure the device
	// registry (see devices.Options).
	MaxDevices      int
	DefaultAccess   string
	AdminRecipients []string
	// DeviceFlushInterval is how often the devices' last_seen are written
	// (devices.Options.FlushInterval); zero: its default. Tests set it
	// negative to see the write at shutdown alone.
	DeviceFlushInterval time.Duration

	// SecretKey seals stored device secrets (store.NewSecretBox).
	SecretKey []byte
	// AdminKey signs dashboard sessions; AdminPreviousKeys still verify.
	AdminKey          []byte
	AdminPreviousKeys [][]byte
	// AdminIdle is the dashboard's inactivity timeout (zero: 6 h).
	AdminIdle time.Duration
	// AdminNow is the admin API's clock; nil: time.Now. Tests move it to
	// expire sessions.
	AdminNow func() time.Time
}

// App is a wired server.
type App struct {
	HTTP    *httpd.Server
	Devices *devices.Registry
	Admin   *admin.Service
	ping    *eas.Ping
}

// New wires the server. It starts nothing: serve a.HTTP, and call Close
// when shutting down.
func New(cfg Config) (*App, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st := cfg.Store
	srv := httpd.New(httpd.Options{Logger: log, Health: st.Ping})
	// One throttle for every front-end that checks passwords.
	guard := loginlimit.New(loginlimit.Options{})
	secrets, err := store.NewSecretBox(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	// EAS requests per hour for the dashboard's overview (GET /api/v1/stats).
	requests := admin.NewRequestCounter()
	reg := devices.New(st, devices.Options{
		Logger:          log,
		MaxDevices:      cfg.MaxDevices,
		DefaultAccess:   cfg.DefaultAccess,
		AdminRecipients: cfg.AdminRecipients,
		FlushInterval:   cfg.DeviceFlushInterval,
	})
	easSrv := eas.New(eas.Options{
		Logger:        log,
		Auth:          st,
		DefaultDomain: cfg.DefaultDomain,
		Guard:         guard,
		Gate:          eas.NewGate(reg, st, eas.GateOptions{}),
		Tracer:        eas.NewTraceRecorder(reg, st, eas.TraceOptions{Logger: log}),
		Observe: func(cmd string, _ int, _ eas.Status, _ time.Duration) {
			admin.CountRequest(requests, cmd)
		},
	})
	easSrv.Handle(eas.ProvisionCommand(reg, st))
	hier := eas.NewHierarchy(eas.HierarchyOptions{Store: st})
	for _, c := range hier.Commands() {
		easSrv.Handle(c)
	}
	easSrv.Handle(eas.NewSettings(eas.SettingsOptions{Store: st, Devices: reg, Secrets: secrets}).Command())
	// The user's policy caps what Sync, ItemOperations and GetAttachment send.
	limits := eas.PolicyLimits(st)
	for _, c := range eas.NewSync(eas.SyncOptions{Store: st, Limits: limits}).Commands() {
		easSrv.Handle(c)
	}
	ping := eas.NewPing(eas.PingOptions{Store: st, Hierarchy: hier})
	easSrv.Handle(ping.Command())
	// Shutting down, once no connection is accepted: waiting Pings answer status 1 at once.
	srv.OnShutdown(ping.Close)
	srv.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "easd_ping_waiting",
		Help: "Ping requests held open now, waiting for a change or their heartbeat.",
	}, func() float64 { return float64(ping.Waiting()) }))
	sub := submission.New(submission.Options{Store: st, Logger: log})
	for _, c := range eas.NewMail(eas.MailOptions{Store: st, Submitter: sub, Limits: limits}).Commands() {
		easSrv.Handle(c)
	}
	easSrv.Register(srv.Echo)

	adminSvc, err := admin.New(admin.Options{
		Store: st, Devices: reg, Policies: policy.NewManager(st),
		SigningKey: cfg.AdminKey, PreviousKeys: cfg.AdminPreviousKeys,
		Guard: guard, InactivityTimeout: cfg.AdminIdle, Logger: log, Now: cfg.AdminNow,
		Requests: requests,
	})
	if err != nil {
		return nil, err
	}
	adminSvc.Register(srv.Echo)
	dashboard.Register(srv.Echo)
	autodiscover.New(autodiscover.Options{
		Hostname:     cfg.Hostname,
		Port:         cfg.Port,
		Organization: cfg.Organization,
		Redirects:    cfg.Redirects,
		// IMAP, POP3 and SMTP stay nil until those listeners exist, so Autodiscover
		// never advertises a server that is not running.
		Users:  st,
		Guard:  guard,
		Logger: log,
	}).Register(srv.Echo)
	return &App{HTTP: srv, Devices: reg, Admin: adminSvc, ping: ping}, nil
}

// Close releases what waits on the server (every waiting Ping answers status 1 at once, so
// devices reconnect elsewhere) and writes the device registry's pending last_seen values
// (devices.Registry.Close). Serve does both in their place; call Close only when not serving.
func (a *App) Close() {
	a.ping.Close()
	a.Devices.Close()
}

// Serve serves the app on ln with cert until ctx ends, then shuts down in this order: stop
// accepting connections, release the waiting Pings, let the running requests finish (see
// httpd.Server.Serve), and write the device registry's pending last_seen values. The caller
// closes the store after Serve returns.
func (a *App) Serve(ctx context.Context, ln net.Listener, cert tls.Certificate) error {
	err := a.HTTP.Serve(ctx, ln, cert)
	a.Devices.Close()
	return err
}
