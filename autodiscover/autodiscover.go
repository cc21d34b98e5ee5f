package autodiscover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/easd/easd/store"
)

// Users is what the service needs from the store. *store.Store implements
// it. Authenticate returns store.ErrBadCredentials for an unknown address or
// a wrong password and the User together with store.ErrUserDisabled for a
// disabled account with the right password; UserByAddress returns
// store.ErrNotFound.
type Users interface {
	Authenticate(ctx context.Context, addr, password string) (store.User, error)
	UserByAddress(ctx context.Context, addr string) (store.User, error)
}

var _ Users = (*store.Store)(nil)

// Guard is the failed-login throttle (the one EAS uses). Allow returns how
// long a login to account from remote must wait, 0 if it may proceed; Failed
// records a wrong password. Implementations must be safe for concurrent use.
type Guard interface {
	Allow(account string, remote netip.Addr) (retryAfter time.Duration)
	Failed(account string, remote netip.Addr)
}

// Security is how a mail listener protects its connections.
type Security string

const (
	// SecurityTLS is implicit TLS from the first byte (IMAPS 993, POP3S 995,
	// submissions 465).
	SecurityTLS Security = "tls"
	// SecurityStartTLS is a plain connection upgraded with STARTTLS / STLS
	// before login (IMAP 143, POP3 110, submission 587).
	SecurityStartTLS Security = "starttls"
)

// Endpoint is a mail listener that clients can be told about.
type Endpoint struct {
	// Host is the public name clients connect to. Empty: Options.Hostname.
	Host string
	// Port is the public TCP port. Required.
	Port int
	// Security is SecurityTLS or SecurityStartTLS. Required: easd never
	// offers an unencrypted listener, so there is no "none".
	Security Security
}

// DefaultMaxBodySize is the POX request body limit when Options.MaxBodySize
// is 0. Real requests are under 1 KiB.
const DefaultMaxBodySize = 64 << 10

// Realm is the realm of the Basic challenge (the same as EAS uses, so a
// client that already has the password for one has it for the other).
const Realm = "easd"

// Options configures New. Hostname and Users are required. Build them from
// the same flags that start the listeners, so that answers never name a
// listener that is not running.
type Options struct {
	// Hostname is the public DNS name of the HTTPS listener, as in its
	// certificate: the EAS URL is https://<Hostname>[:Port]/Microsoft-Server-ActiveSync.
	// Required.
	Hostname string
	// Port is the public HTTPS port. Zero or 443: left out of URLs.
	Port int

	// IMAP, POP3 and SMTP (submission) are the mail listeners. Nil: that
	// listener does not run, and the Outlook and Thunderbird answers leave
	// the protocol out.
	IMAP, POP3, SMTP *Endpoint

	// Redirects maps a domain (lower case) to another domain: a request for
	// local@domain whose address is not an account here is answered with a
	// redirect to local@target (MS-ASCMD 2.2.3.147 Redirect, MS-OXDSCLI
	// 2.2.4.1.1.2.8 RedirectAddr). Nil: no redirects.
	Redirects map[string]string

	// Organization names the organization in the Apple profile
	// (PayloadOrganization) and in the Thunderbird answer (displayName).
	// Empty: Hostname.
	Organization string

	// Users authenticates and looks up accounts. Required.
	Users Users
	// Guard throttles failed logins. Nil: no throttling.
	Guard Guard

	// MaxBodySize limits POX request bodies. Zero: DefaultMaxBodySize.
	MaxBodySize int64
	// AllowPlainHTTP accepts credentials on requests that did not arrive over
	// TLS. Zero (false): such requests get 403. Set it only behind a TLS
	// terminating proxy.
	AllowPlainHTTP bool
	// Logger receives the log. Nil: discard.
	Logger *slog.Logger
}

// Service answers Autodiscover, autoconfig and profile requests. It is safe
// for concurrent use.
type Service struct {
	opts    Options
	log     *slog.Logger
	maxBody int64
}

// New returns a Service. It panics when a required option is missing or an
// Endpoint is invalid: the options come from code, not from users.
func New(opts Options) *Service {
	if opts.Hostname == "" {
		panic("autodiscover: Options.Hostname is required")
	}
	if opts.Users == nil {
		panic("autodiscover: Options.Users is required")
	}
	for name, ep := range map[string]*Endpoint{"IMAP": opts.IMAP, "POP3": opts.POP3, "SMTP": opts.SMTP} {
		if ep == nil {
			continue
		}
		if ep.Port <= 0 || ep.Port > 65535 {
			panic(fmt.Sprintf("autodiscover: %s endpoint port %d out of range", name, ep.Port))
		}
		if ep.Security != SecurityTLS && ep.Security != SecurityStartTLS {
			panic(fmt.Sprintf("autodiscover: %s endpoint security %q is neither tls nor starttls", name, ep.Security))
		}
	}
	if opts.Organization == "" {
		opts.Organization = opts.Hostname
	}
	redirects := make(map[string]string, len(opts.Redirects))
	for d, t := range opts.Redirects {
		redirects[strings.ToLower(d)] = strings.ToLower(t)
	}
	opts.Redirects = redirects
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxBody := opts.MaxBodySize
	if maxBody <= 0 {
		maxBody = DefaultMaxBodySize
	}
	return &Service{opts: opts, log: log.With("pkg", "autodiscover"), maxBody: maxBody}
}

// Route paths, in their canonical (lower-case) spelling.
const (
	PathPOX          = "/autodiscover/autodiscover.xml"
	PathJSON         = "/autodiscover/autodiscover.json"
	PathJSONv1       = "/autodiscover/autodiscover.json/v1.0/"
	PathProfile      = "/autodiscover/easd.mobileconfig"
	PathAutoconfig   = "/mail/config-v1.1.xml"
	PathWellKnown    = "/.well-known/autoconfig/mail/config-v1.1.xml"
	pathNineQuirk    = "/v1.1/mail/config-v1.1.xml"
	PathActiveSync   = "/Microsoft-Server-ActiveSync"
	contentTypeXML   = "text/xml; charset=utf-8"
	contentTypeJSON  = "application/json; charset=utf-8"
	contentTypeAspen = "application/x-apple-aspen-config"
)

// exactPaths are matched whole and case-insensitively by canonicalPath.
var exactPaths = []string{PathPOX, PathJSON, PathProfile, PathAutoconfig, PathWellKnown, pathNineQuirk}

// Register adds the routes to e, and a Pre middleware that maps any spelling
// of their paths to the canonical one (echo routes case-sensitively; Outlook
// and the Remote Connectivity Analyzer send /Autodiscover/Autodiscover.xml).
// Other paths are left alone.
func (s *Service) Register(e *echo.Echo) {
	e.Pre(canonicalPath)
	e.POST(PathPOX, s.handlePOX)
	e.GET(PathJSON, s.handleJSON)
	e.GET(PathJSONv1+":address", s.handleJSON)
	e.GET(PathProfile, s.handleProfile)
	e.GET(PathAutoconfig, s.handleAutoconfig)
	e.GET(PathWellKnown, s.handleAutoconfig)
	// Quirk(Nine for Android): asks for /v1.1/mail/config-v1.1.xml.
	e.GET(pathNineQuirk, s.handleAutoconfig)
}

// canonicalPath rewrites the paths of this package's routes to their
// canonical spelling, ignoring case.
func canonicalPath(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := c.Request().URL
		for _, p := range exactPaths {
			if len(u.Path) == len(p) && u.Path != p && strings.EqualFold(u.Path, p) {
				u.Path, u.RawPath = p, ""
				return next(c)
			}
		}
		p := PathJSONv1
		if len(u.Path) > len(p) && !strings.HasPrefix(u.Path, p) && strings.EqualFold(u.Path[:len(p)], p) {
			u.Path = p + u.Path[len(p):]
			if u.RawPath != "" && len(u.RawPath) > len(p) && strings.EqualFold(u.RawPath[:len(p)], p) {
				u.RawPath = p + u.RawPath[len(p):]
			}
		}
		return next(c)
	}
}

// baseURL is https://host[:port] of the HTTPS listener.
func (s *Service) baseURL() string {
	return "https://" + hostPort(s.opts.Hostname, s.opts.Port)
}

// ActiveSyncURL is the EAS URL given to clients.
func (s *Service) ActiveSyncURL() string { return s.baseURL() + PathActiveSync }

// POXURL is the POX Autodiscover URL given to Autodiscover v2 clients.
func (s *Service) POXURL() string { return s.baseURL() + PathPOX }

// hostPort joins host and port, leaving out 443 and bracketing IPv6
// literals.
func hostPort(host string, port int) string {
	if port == 0 || port == 443 {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// endpointHost is the host clients are told for ep.
func (s *Service) endpointHost(ep *Endpoint) string {
	if ep.Host != "" {
		return ep.Host
	}
	return s.opts.Hostname
}

// errUnauthorized and friends are the outcomes of authenticate that are not
// a user; the handler answers with the status they carry.
type authError struct {
	code       int
	retryAfter time.Duration
}

func (e *authError) Error() string { return "autodiscover: " + http.StatusText(e.code) }

// authenticate checks HTTP Basic credentials with the throttle. domain
// completes a login name without one ("DOMAIN\user" or "user", as the Remote
// Connectivity Analyzer and some Android clients send); it may be empty. On
// failure it sets the response headers and returns an *authError.
func (s *Service) authenticate(c echo.Context, domain string) (store.User, error) {
	req := c.Request()
	h := c.Response().Header()
	if req.TLS == nil && !s.opts.AllowPlainHTTP {
		s.log.Warn("credentials refused without tls", "remote", s.remote(c).String())
		return store.User{}, &authError{code: http.StatusForbidden}
	}
	name, pass, ok := req.BasicAuth()
	if !ok {
		h.Set("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
		return store.User{}, &authError{code: http.StatusUnauthorized}
	}
	login := loginAddress(name, domain)
	remote := s.remote(c)
	if s.opts.Guard != nil {
		if d := s.opts.Guard.Allow(login, remote); d > 0 {
			secs := int(math.Ceil(d.Seconds()))
			s.log.Info("login throttled", "login", login, "remote", remote.String(), "retry_after", secs)
			h.Set("Retry-After", strconv.Itoa(secs))
			return store.User{}, &authError{code: http.StatusTooManyRequests, retryAfter: d}
		}
	}
	var (
		u   store.User
		err = store.ErrBadCredentials
	)
	if login != "" {
		u, err = s.opts.Users.Authenticate(req.Context(), login, pass)
	}
	switch {
	case err == nil:
		return u, nil
	case errors.Is(err, store.ErrUserDisabled):
		s.log.Info("disabled user refused", "login", login)
		return store.User{}, &authError{code: http.StatusForbidden}
	case errors.Is(err, store.ErrBadCredentials):
		if s.opts.Guard != nil {
			s.opts.Guard.Failed(login, remote)
		}
		s.log.Info("login failed", "login", login, "remote", remote.String())
		h.Set("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
		return store.User{}, &authError{code: http.StatusUnauthorized}
	default:
		s.log.Error("authenticate", "login", login, "err", err)
		return store.User{}, &authError{code: http.StatusServiceUnavailable}
	}
}

// loginAddress maps a Basic user name to an account address: user@domain as
// is; DOMAIN\user and user completed with domain. It returns "" when no
// address results.
func loginAddress(name, domain string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	}
	if name == "" {
		return ""
	}
	if strings.IndexByte(name, '@') >= 0 {
		return name
	}
	if domain == "" {
		return ""
	}
	return name + "@" + strings.ToLower(domain)
}

// remote is the client's address: the echo IPExtractor's answer when the
// operator configured one (a trusted proxy), the TCP peer otherwise. echo's
// default RealIP believes X-Forwarded-For from anyone, which would let an
// attacker pick his throttle key.
func (s *Service) remote(c echo.Context) netip.Addr {
	var host string
	if c.Echo().IPExtractor != nil {
		host = c.RealIP()
	} else {
		h, _, err := net.SplitHostPort(c.Request().RemoteAddr)
		if err != nil {
			h = c.Request().RemoteAddr
		}
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// writeAuthError answers an *authError.
func writeAuthError(c echo.Context, err error) error {
	ae, ok := errors.AsType[*authError](err)
	if !ok {
		return err
	}
	return c.NoContent(ae.code)
}
