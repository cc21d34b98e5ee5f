package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/easd/easd/internal/app"
	"github.com/easd/easd/internal/tlscert"
	"github.com/easd/easd/store"
)

func runServe(ctx context.Context, e *env, g *globals, args []string) error {
	fs := g.flagSet("serve", e)
	httpAddr := fs.String("http", "127.0.0.1:8443", "HTTPS listen `address` (ActiveSync, Autodiscover, dashboard, /healthz, /metrics)")
	hostname := fs.String("hostname", "localhost", "public host `name` of this server, used in its certificate and in Autodiscover")
	certFile := fs.String("tls-cert", "", "certificate chain `file` (PEM); without it a self-signed certificate is kept in the data directory")
	keyFile := fs.String("tls-key", "", "private key `file` (PEM) for --tls-cert")
	publicPort := fs.Int("public-https-port", 0, "HTTPS `port` clients reach, when a proxy or port forward differs from --http (0: the port of --http; URLs omit 443)")
	defaultDomain := fs.String("default-domain", "", "mail `domain` for logins without one (\"alice\" or \"CORP\\alice\" log in as alice@DOMAIN); empty: only full addresses")
	organization := fs.String("organization", "", "organization `name` shown in Apple profiles (default: --hostname)")
	maxDevices := fs.Int("max-devices", 0, "device partnerships per mailbox; the next new device gets status 177 (0: 100, negative: no limit)")
	defaultAccess := fs.String("default-access", store.AccessAllowed, "access of a device no list or rule decides: allowed, quarantined or blocked")
	var adminNotify listFlag
	fs.Var(&adminNotify, "admin-notify", "`address` that is told when a device is quarantined (repeatable)")
	adminIdle := fs.Duration("admin-session-idle", 0, "dashboard and admin API inactivity `timeout`, 5m to 8h (0: 6h); sessions also end 8h after login")
	redirects := mapFlag{}
	fs.Var(redirects, "autodiscover-redirect", "`from=to`: Autodiscover sends addresses @from to the server of domain to (repeatable)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve takes no arguments")
	}
	switch *defaultAccess {
	case store.AccessAllowed, store.AccessQuarantined, store.AccessBlocked:
	default:
		return usagef("--default-access: want allowed, quarantined or blocked, got %q", *defaultAccess)
	}
	if (*certFile == "") != (*keyFile == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	log, err := g.logger(e.stderr)
	if err != nil {
		return err
	}
	gogc := e.getenv("GOGC")
	if gogc == "" {
		debug.SetGCPercent(app.ServeGCPercent)
		gogc = fmt.Sprint(app.ServeGCPercent)
	}
	if err := os.MkdirAll(g.data, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}

	st, err := openMigrated(ctx, g, log)
	if err != nil {
		return err
	}
	defer logClose(log, st)
	// SQLite: writes by other processes (easd deliver) wake Pings too. On
	// PostgreSQL, LISTEN/NOTIFY does this and the call does nothing.
	st.PollOtherWriters(0)
	if err := bootstrapAdmin(ctx, st, e, log); err != nil {
		return err
	}

	cert, err := loadCert(g.data, *hostname, *certFile, *keyFile, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}

	port := *publicPort
	if port == 0 {
		port = ln.Addr().(*net.TCPAddr).Port
	}
	secretKey, err := loadSecretKey(g.data, e.getenv)
	if err != nil {
		return err
	}
	adminKey, adminPrev, err := loadAdminKeys(g.data, e.getenv)
	if err != nil {
		return err
	}
	a, err := app.New(app.Config{
		Store:             st,
		Logger:            log,
		Hostname:          *hostname,
		Port:              port,
		DefaultDomain:     *defaultDomain,
		Organization:      *organization,
		Redirects:         redirects,
		MaxDevices:        *maxDevices,
		DefaultAccess:     *defaultAccess,
		AdminRecipients:   adminNotify,
		SecretKey:         secretKey,
		AdminKey:          adminKey,
		AdminPreviousKeys: adminPrev,
		AdminIdle:         *adminIdle,
	})
	if err != nil {
		return usagef("%v", err)
	}
	log.Info("add a mail user with: easd user add alice@example.com --name \"Alice\" --password-stdin")
	log.Info("easd serving",
		"https", "https://"+ln.Addr().String(),
		"hostname", *hostname,
		"data", g.data,
		"db", redactURL(g.dbURL()),
		"gogc", gogc)
	return a.Serve(ctx, ln, cert)
}

func loadCert(dataDir, hostname, certFile, keyFile string, log *slog.Logger) (tls.Certificate, error) {
	if certFile != "" {
		return tlscert.Load(certFile, keyFile)
	}
	cert, created, err := tlscert.LoadOrCreate(dataDir, hostname, time.Now())
	if err != nil {
		return cert, err
	}
	if created {
		log.Info("generated a self-signed TLS certificate; phones will warn until you use --tls-cert/--tls-key with a trusted one",
			"cert", filepath.Join(dataDir, tlscert.CertFile), "hostname", hostname)
	}
	return cert, nil
}

// bootstrapAdmin creates the dashboard account "admin" on a first start, with
// the password from EASD_ADMIN_PASSWORD or a random one printed once.
func bootstrapAdmin(ctx context.Context, st *store.Store, e *env, log *slog.Logger) error {
	admins, err := st.Admins(ctx)
	if err != nil {
		return fmt.Errorf("list dashboard accounts: %w", err)
	}
	if len(admins) > 0 {
		return nil
	}
	pw, generated := e.getenv("EASD_ADMIN_PASSWORD"), false
	if pw == "" {
		pw, generated = randomPassword(), true
	}
	_, err = st.CreateAdmin(ctx, "admin", "admin", pw)
	if errors.Is(err, store.ErrExists) {
		return nil // another node created it first
	} else if err != nil {
		return fmt.Errorf("create dashboard account admin: %w", err)
	}
	if generated {
		printOnce(e.stderr, pw)
	} else {
		log.Info("created dashboard account admin with the password from EASD_ADMIN_PASSWORD")
	}
	return nil
}

func printOnce(w io.Writer, pw string) {
	fmt.Fprintf(w, "\n"+
		"  Dashboard account created (shown once, keep it now):\n"+
		"      user:     admin\n"+
		"      password: %s\n\n", pw)
}

// randomPassword returns 20 characters from an alphabet without look-alikes
// (no 0/O, 1/l/I), about 115 bits.
func randomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	for i := range b {
		b[i] = alphabet[randIntn(len(alphabet))]
	}
	return string(b)
}

func randIntn(n int) int {
	var buf [1]byte
	for {
		if _, err := rand.Read(buf[:]); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		if int(buf[0]) < 256-256%n {
			return int(buf[0]) % n
		}
	}
}

// mapFlag is a repeatable KEY=VALUE flag.
type mapFlag map[string]string

func (m mapFlag) String() string { return fmt.Sprint(map[string]string(m)) }

func (m mapFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" || val == "" {
		return fmt.Errorf("want from=to, got %q", v)
	}
	m[strings.ToLower(k)] = strings.ToLower(val)
	return nil
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}
