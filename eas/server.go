package eas

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/singleflight"

	"github.com/easd/easd/internal/loginlimit"
	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// Path is where ActiveSync lives (MS-ASHTTP 2.2.1.1.1: the ActiveSync virtual directory).
// Requests match it ignoring ASCII case.
const Path = "/Microsoft-Server-ActiveSync"

// ContentTypeWBXML is the media type of WBXML bodies (MS-ASHTTP 2.2.1.1.2.3, 2.2.2.1.2.4).
const ContentTypeWBXML = "application/vnd.ms-sync.wbxml"

// DefaultMaxBodySize is the request body limit when Options.MaxBodySize is 0: room for a
// SendMail with the attachments mail servers usually accept.
const DefaultMaxBodySize = 20 << 20

// DefaultServerVersion is the MS-Server-ActiveSync header when Options.ServerVersion is "".
// MS-ASHTTP 2.2.2.1.2 calls it the version of the server that handled the request and gives
// "15.1" as its example: the build of Exchange 2016, which returns 16.1 in
// MS-ASProtocolVersions (MS-ASHTTP 6, Product Behavior). Clients are told not to trigger on it
// (MS-ASHTTP 4, OPTIONS example).
const DefaultServerVersion = "15.1"

// Realm is the realm of the Basic challenge.
const Realm = "easd"

// Authenticator checks a user's password. *store.Store implements it: ErrBadCredentials
// for an unknown address or a wrong password, and the User together with ErrUserDisabled
// when the password is right but the account is disabled.
type Authenticator interface {
	Authenticate(ctx context.Context, addr, password string) (store.User, error)
}

var _ Authenticator = (*store.Store)(nil)

// DeviceGate decides, once per request after authentication and before the handler, whether
// the device may run the command: the device registry (allow, block, quarantine, cap, wipe
// pending) and the policy key check plug in here. PassGate admits everything until the
// devices package replaces it.
type DeviceGate interface {
	Admit(ctx context.Context, r *Request) (Decision, error)
}

// Decision is a DeviceGate's answer.
type Decision struct {
	Allow bool
	// Status is the refusal when Allow is false, e.g. StatusDeviceNotProvisioned (449 before
	// 14.0) or StatusDeviceIsBlockedForThisUser. It is written like a handler's StatusError;
	// zero means StatusAccessDenied.
	Status Status
	Reason string // for the log
}

// LoginGuard throttles failed logins (*loginlimit.Limiter implements it): Allow before the
// password is checked returns how long the client must wait, Failed records a wrong password.
type LoginGuard interface {
	Allow(account string, remote netip.Addr) (retryAfter time.Duration)
	Failed(account string, remote netip.Addr)
}

var _ LoginGuard = (*loginlimit.Limiter)(nil)

// Tracer records the request/response exchanges of devices an administrator chose to trace
// (off by default; the store and the dashboard provide the real one).
type Tracer interface {
	// Tracing reports whether the exchanges of this device of this user are recorded. It is
	// called once per authenticated POST and must be cheap.
	Tracing(user store.UserID, deviceID string) bool
	// Record receives one exchange after its response was written, on the request's
	// goroutine. The bodies are raw (WBXML, or MIME for SendMail before 14.0): decoding and
	// redacting passwords and message bodies is the Tracer's job, before anything is stored.
	Record(ctx context.Context, t Trace)
}

// Trace is one traced exchange. The slices belong to the Tracer.
type Trace struct {
	Time               time.Time
	User               store.UserID
	Address            string
	DeviceID           string
	DeviceType         string
	Cmd                CommandCode
	Version            Version
	Request            []byte // request body; nil if refused before it was read
	RequestContentType string
	Response           []byte // response body; nil for an HTTP status without body
	HTTPStatus         int
	Status             Status // status of a status-only response, 0 otherwise
	Duration           time.Duration
}

// PassGate admits every request.
type PassGate struct{}

// Admit returns Decision{Allow: true}.
func (PassGate) Admit(context.Context, *Request) (Decision, error) { return Decision{Allow: true}, nil }

// Options configures New. Logger and Auth are required.
type Options struct {
	Logger *slog.Logger
	Auth   Authenticator
	// DefaultDomain turns the user name forms without a domain into an address: "alice" and
	// "CORP\alice" log in as alice@DefaultDomain (the NetBIOS domain before the backslash is
	// ignored). Empty: only user@domain logins work.
	DefaultDomain string
	// Gate admits devices; nil: PassGate.
	Gate DeviceGate
	// MaxBodySize bounds a request body (Command.MaxBody overrides it per command); larger
	// bodies get HTTP 413. Zero: DefaultMaxBodySize.
	MaxBodySize int64
	// Guard throttles failed logins; give every front-end the same one (cmd/easd does) so
	// an attacker gets no fresh budget by switching protocols. Nil: a loginlimit.Limiter
	// with its defaults, for this Server alone.
	Guard LoginGuard
	// Clock is the time source of the credential cache; nil: time.Now. Tests pass a fake.
	Clock func() time.Time
	// ServerVersion is the MS-Server-ActiveSync header; "": DefaultServerVersion.
	ServerVersion string
	// AllowPlainHTTP accepts credentials on requests that did not arrive over TLS. Set it only
	// behind a TLS-terminating proxy on a trusted network; otherwise such requests get 403.
	AllowPlainHTTP bool
	// CredentialTTL is how long a verified password is remembered after its last use, when
	// Auth also implements UserLookup (the account is still read on every request, and a
	// password change stops the old password at once). Zero: DefaultCredentialTTL; negative:
	// no cache. The cache uses Clock.
	CredentialTTL time.Duration
	// DisableCompression turns off gzip for responses to clients that accept it.
	DisableCompression bool
	// Tracer, if set, records the exchanges of the devices it is tracing.
	Tracer Tracer
	// Observe, if set, is called after every POST with the command ("" if the query did not
	// parse), the HTTP status, the protocol status written (0 for none) and the duration.
	Observe func(cmd string, httpStatus int, status Status, d time.Duration)
}

// Server is the ActiveSync HTTP front-end: OPTIONS, authentication, request parsing and
// dispatch to the registered commands. Register commands with Handle before serving.
type Server struct {
	log     *slog.Logger
	auth    Authenticator
	gate    DeviceGate
	domain  string
	maxBody int64
	version string
	plainOK bool
	observe func(string, int, Status, time.Duration)
	tracer  Tracer
	noGzip  bool
	gzips   sync.Pool     // *gzipBuf
	lookup  UserLookup    // nil: no credential cache
	account AccountLookup // lookup's, if it has the capability and the Gate wants the policy
	creds   *credCache
	// verifying shares concurrent password checks of the same credentials (verify).
	verifying singleflight.Group
	guard     LoginGuard

	commands [256]*Command

	cidBase uint64
	cidSeq  atomic.Uint64

	decoders sync.Pool // *wbxml.Decoder
	encoders sync.Pool // *wbxml.Encoder
}

// New returns a Server without commands.
func New(opts Options) *Server {
	s := &Server{
		log:     opts.Logger.With("pkg", "eas"),
		auth:    opts.Auth,
		gate:    opts.Gate,
		domain:  strings.ToLower(strings.TrimPrefix(opts.DefaultDomain, "@")),
		maxBody: opts.MaxBodySize,
		version: opts.ServerVersion,
		plainOK: opts.AllowPlainHTTP,
		observe: opts.Observe,
		tracer:  opts.Tracer,
		noGzip:  opts.DisableCompression,
		guard:   opts.Guard,
	}
	if s.gate == nil {
		s.gate = PassGate{}
	}
	if s.guard == nil {
		s.guard = loginlimit.New(loginlimit.Options{})
	}
	if l, ok := opts.Auth.(UserLookup); ok && opts.CredentialTTL >= 0 {
		ttl := opts.CredentialTTL
		if ttl == 0 {
			ttl = DefaultCredentialTTL
		}
		now := opts.Clock
		if now == nil {
			now = time.Now
		}
		s.lookup, s.creds = l, newCredCache(ttl, now)
		// Read the policy with the account only for a Gate that checks it over the same store.
		if a, ok := l.(AccountLookup); ok {
			if g, ok := s.gate.(*Gate); ok && any(g.policies) == any(a) {
				s.account = a
			}
		}
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodySize
	}
	if s.version == "" {
		s.version = DefaultServerVersion
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	s.cidBase = binary.LittleEndian.Uint64(b[:]) >> 16 // room to count without wrapping
	s.decoders.New = func() any { return wbxml.NewDecoder(nil) }
	s.encoders.New = func() any { return wbxml.NewEncoder(make([]byte, 0, 4096)) }
	s.gzips.New = func() any { return new(gzipBuf) }
	return s
}

// Handle registers a command. It panics on a programmer error (invalid code, nil handler,
// a second registration of the same command). Handle must not run concurrently with
// requests: register every command before serving.
func (s *Server) Handle(c Command) {
	if !c.Code.Valid() || c.Handler == nil {
		panic(fmt.Sprintf("eas: Handle: invalid command %d or nil handler", c.Code))
	}
	if s.commands[c.Code] != nil {
		panic("eas: Handle: command " + c.Code.String() + " registered twice")
	}
	s.commands[c.Code] = &c
}

// Commands returns the names of the registered commands in command-code order (Find last):
// the MS-ASProtocolCommands list.
func (s *Server) Commands() []string {
	var names []string
	for code, c := range s.commands {
		if c != nil && CommandCode(code) != CmdFind {
			names = append(names, CommandCode(code).String())
		}
	}
	if s.commands[CmdFind] != nil {
		names = append(names, CmdFind.String())
	}
	return names
}

// SetProtocolHeaders adds MS-ASProtocolVersions and MS-ASProtocolCommands to h, as OPTIONS
// answers them; FolderSync with SyncKey 0 sends them too (MS-ASHTTP 6, <R1202>).
func (s *Server) SetProtocolHeaders(h http.Header) {
	// MS-ASHTTP 2.2.4.1.2.2: the versions the server supports, comma-delimited.
	h.Set("MS-ASProtocolVersions", versionList())
	// MS-ASHTTP 2.2.4.1.2.1: the commands the server supports, comma-delimited.
	h.Set("MS-ASProtocolCommands", strings.Join(s.Commands(), ","))
}

// Register adds the ActiveSync routes to e: OPTIONS and POST on Path, matched ignoring case
// (a Pre middleware rewrites any casing of Path, with or without a trailing slash, to Path).
func (s *Server) Register(e *echo.Echo) {
	e.Pre(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u := c.Request().URL
			p := strings.TrimSuffix(u.Path, "/")
			if p != Path && strings.EqualFold(p, Path) || p == Path && u.Path != Path {
				u.Path, u.RawPath = Path, ""
			}
			return next(c)
		}
	})
	e.OPTIONS(Path, s.options)
	e.POST(Path, s.post)
}

// newCID returns a connection-independent request id for the log.
func (s *Server) newCID() string {
	return strconv.FormatUint(s.cidBase+s.cidSeq.Add(1), 36)
}

func (s *Server) commonHeaders(h http.Header) {
	// MS-ASHTTP 2.2.2.1.2: optional, the version of the server that handled the request.
	h.Set("MS-Server-ActiveSync", s.version)
	// MS-ASHTTP 2.2.2.1.2: Cache-Control private, as Exchange sends.
	h.Set("Cache-Control", "private")
}

// options answers HTTP OPTIONS (MS-ASHTTP 3.2.5.2). Credentials are checked as for POST:
// clients send them, and account setup on phones takes a 200 here as "password accepted".
func (s *Server) options(c echo.Context) error {
	log := s.log.With("cid", s.newCID(), "cmd", "OPTIONS")
	h := c.Response().Header()
	s.commonHeaders(h)
	u, code := s.authenticate(c, log, nil)
	if code != 0 {
		return c.NoContent(code)
	}
	if u.Disabled || !u.Protocols.EAS {
		log.Info("eas refused", "user", u.Address, "disabled", u.Disabled, "eas", u.Protocols.EAS)
		return c.NoContent(http.StatusForbidden)
	}
	h.Set("Allow", "OPTIONS,POST")
	h.Set("Public", "OPTIONS,POST")
	s.SetProtocolHeaders(h)
	return c.NoContent(http.StatusOK)
}

// exchange is the state of one POST while it is dispatched.
type exchange struct {
	s     *Server
	c     echo.Context
	r     *Request
	cmd   *Command
	log   *slog.Logger
	start time.Time
	code  int    // HTTP status sent
	st    Status // protocol status sent in a status-only body, 0 if none

	trace    bool   // the Tracer wants this exchange
	respBody []byte // with trace: a copy of the response body
}

func (s *Server) post(c echo.Context) error {
	x := &exchange{s: s, c: c, start: time.Now(), log: s.log.With("cid", s.newCID())}
	defer x.done()
	ctx, dec, enc, err := s.admit(c, x)
	if dec != nil {
		defer func() {
			dec.Reset(nil) // do not pin the body while pooled
			s.decoders.Put(dec)
		}()
	}
	if enc == nil {
		return err // admit answered
	}
	defer s.putEncoder(enc)
	if err := x.cmd.Handler(ctx, x.r, dec, enc); err != nil {
		return x.handlerError(err)
	}
	return x.respond(enc)
}

// admit does everything before the handler: parse, authenticate, admit the device, read the
// body. It has a frame of its own because a long poll (Ping) waits inside the handler for
// minutes with every frame below it on its goroutine's stack: post's frame stays small, so
// the runtime can shrink a parked Ping's stack (BenchmarkPingParked: about 8 kB less per
// waiting Ping). enc is nil when admit answered the request; dec, when not nil, goes back
// to the pool.
func (s *Server) admit(c echo.Context, x *exchange) (ctx context.Context, dec *wbxml.Decoder, enc *wbxml.Encoder, err error) {
	s.commonHeaders(c.Response().Header())
	req := c.Request()

	r, err := ParseRequest(req.URL.RawQuery, req.Header)
	if err != nil {
		// MS-ASHTTP 2.2.2.1.1: 400 for malformed requests, including an unknown Cmd and a
		// missing DeviceId (MS-ASCMD 2.2.2 statuses 108 and 137 need a command to carry them).
		x.log.Debug("bad request", "err", err, "query", req.URL.RawQuery)
		return nil, nil, nil, x.http(http.StatusBadRequest)
	}
	x.r = r
	x.cmd = s.commands[r.Cmd]
	x.log = x.log.With("device_id", r.DeviceID, "cmd", r.Cmd.String())

	u, code := s.authenticate(c, x.log, r)
	if code != 0 {
		return nil, nil, nil, x.http(code)
	}
	r.Account = u
	x.log = x.log.With("user", u.Address)
	x.trace = s.tracer != nil && s.tracer.Tracing(u.ID, r.DeviceID)
	r.Log = x.log
	r.RemoteAddr = s.clientAddr(c)
	r.ContentType = req.Header.Get("Content-Type")

	// The User parameter is informational (MS-ASHTTP 2.2.1.1.1.1.3: "in a format that can be
	// logged"), but one naming another account is either a confused client or someone probing
	// with valid credentials: 403, not 401, so devices do not re-prompt for a password that is
	// right.
	if !userMatches(r.User, u) {
		x.log.Info("user parameter names another account", "user_param", r.User)
		return nil, nil, nil, x.http(http.StatusForbidden)
	}
	if u.Disabled {
		x.log.Info("account disabled")
		return nil, nil, nil, x.refuse(StatusAccountDisabled)
	}
	if !u.Protocols.EAS {
		x.log.Info("activesync disabled for user")
		return nil, nil, nil, x.refuse(StatusUserDisabledForSync)
	}
	if !r.Version.Supported() {
		// MS-ASCMD 2.2.2 status 138, HTTP 400 for versions before 14.0 (refuse does both).
		x.log.Debug("unsupported protocol version", "version", r.Version.String())
		return nil, nil, nil, x.refuse(StatusVersionNotSupported)
	}
	if x.cmd == nil {
		// MS-ASHTTP 2.2.2.1.1: 501, the server does not support the functionality. OPTIONS
		// does not list the command either.
		x.log.Info("command not implemented")
		return nil, nil, nil, x.http(http.StatusNotImplemented)
	}

	limit := s.maxBody
	if x.cmd.MaxBody > 0 {
		limit = x.cmd.MaxBody
	}
	body, err := readBody(http.MaxBytesReader(c.Response(), req.Body, limit), req.ContentLength, limit)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			x.log.Info("request body too large", "limit", limit, "content_length", req.ContentLength)
			return nil, nil, nil, x.http(http.StatusRequestEntityTooLarge)
		}
		x.log.Debug("read request body", "err", err)
		return nil, nil, nil, x.http(http.StatusBadRequest)
	}
	r.Body = body

	dec = s.decoders.Get().(*wbxml.Decoder)
	dec.SetMaxSize(int(min(limit, math.MaxInt32)))
	isMIME := x.cmd.MIMEBody && isMIMEType(r.ContentType)
	switch {
	case len(body) == 0 && !x.cmd.EmptyBody:
		x.log.Debug("empty request body")
		return nil, dec, nil, x.refuse(StatusInvalidContent)
	case len(body) > 0 && !isMIME:
		if err := checkWBXML(dec, body); err != nil {
			x.log.Debug("malformed wbxml", "err", err)
			return nil, dec, nil, x.refuse(StatusInvalidWBXML)
		}
	}

	ctx = withRequest(req.Context(), r)
	d, err := s.gate.Admit(ctx, r)
	if err != nil {
		x.log.Error("device gate", "err", err)
		return nil, dec, nil, x.refuse(StatusServerError)
	}
	if !d.Allow {
		if d.Status == 0 {
			d.Status = StatusAccessDenied
		}
		x.log.Info("device refused", "status", d.Status.String(), "reason", d.Reason)
		return nil, dec, nil, x.refuse(d.Status)
	}

	enc = s.encoders.Get().(*wbxml.Encoder)
	enc.Reset(enc.Bytes()[:0])
	if isMIME {
		dec.Reset(nil)
	} else {
		dec.Reset(body)
	}
	return ctx, dec, enc, nil
}

// readBody reads a whole body, allocating exactly once when the client announced its length
// (net/http's body reader ends there): a Ping keeps its body while it waits, so no spare
// capacity.
func readBody(r io.Reader, contentLength, limit int64) ([]byte, error) {
	if contentLength <= 0 || contentLength > limit {
		return io.ReadAll(r)
	}
	buf := make([]byte, contentLength)
	n, err := io.ReadFull(r, buf)
	return buf[:n], err
}

// checkWBXML walks body to its end, so that handlers see only well-formed WBXML. The walk does
// not allocate.
func checkWBXML(dec *wbxml.Decoder, body []byte) error {
	dec.Reset(body)
	for {
		if _, err := dec.Next(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// maxPooledEncoder is the largest encoder buffer kept for reuse.
const maxPooledEncoder = 1 << 20

func (s *Server) putEncoder(enc *wbxml.Encoder) {
	if cap(enc.Bytes()) <= maxPooledEncoder {
		s.encoders.Put(enc)
	}
}

func isMIMEType(ct string) bool {
	t, _, err := mime.ParseMediaType(ct)
	return err == nil && t == "message/rfc822"
}

// handlerError writes the answer to a handler's error.
func (x *exchange) handlerError(err error) error {
	if se, ok := errors.AsType[*StatusError](err); ok {
		x.log.Debug("command status", "status", se.Status.String(), "err", se.Err)
		return x.refuse(se.Status)
	}
	if _, ok := errors.AsType[*wbxml.SyntaxError](err); ok {
		// The body was well-formed (checkWBXML), so the handler found the wrong shape.
		x.log.Debug("request does not follow the protocol", "err", err)
		return x.refuse(StatusInvalidXML)
	}
	if ctxErr := x.c.Request().Context().Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		x.log.Info("request cancelled", "err", err)
		x.code = 499 // nothing is written: the client is gone or the server is stopping
		return nil
	}
	x.log.Error("command failed", "err", err)
	return x.refuse(StatusServerError)
}

// respond sends what the handler produced.
func (x *exchange) respond(enc *wbxml.Encoder) error {
	r, w := x.r, x.c.Response()
	for k, vs := range r.Response.Header {
		w.Header()[k] = vs
	}
	if r.Response.Body != nil {
		return x.body(r.Response.ContentType, r.Response.Body)
	}
	if err := enc.Err(); err != nil {
		x.log.Error("command encoded an invalid response", "err", err)
		return x.http(http.StatusInternalServerError)
	}
	b := enc.Bytes()
	if len(b) <= len(emptyDoc) {
		// Nothing written: MS-ASHTTP 2.2.2.1.3, Sync and Ping answer without a body.
		return x.http(http.StatusOK)
	}
	if err := enc.Err(); err != nil {
		x.log.Error("command encoded an invalid response", "err", err)
		return x.http(http.StatusInternalServerError)
	}
	return x.body(ContentTypeWBXML, b)
}

// emptyDoc is what an Encoder holds before anything is written: the header.
var emptyDoc = func() []byte {
	enc := wbxml.NewEncoder(nil)
	return append([]byte(nil), enc.Bytes()...)
}()

// refuse answers with a protocol status in the command's Status element, when the command has
// a StatusWriter. A common status (101-177) goes there only for 14.0 and later; before, the
// HTTP status from Status.HTTPStatus stands in for it (MS-ASCMD 2.2.2: 2.5, 12.0 and 12.1 get
// the HTTP status instead). Command-specific statuses (1-99) exist in every version.
func (x *exchange) refuse(st Status) error {
	if x.cmd == nil || x.cmd.Status == nil || st.IsCommon() && x.r.Version < Version140 {
		return x.http(st.HTTPStatus())
	}
	enc := x.s.encoders.Get().(*wbxml.Encoder)
	defer x.s.putEncoder(enc)
	enc.Reset(enc.Bytes()[:0])
	x.cmd.Status(enc, st)
	b := enc.Bytes()
	if err := enc.Err(); err != nil {
		x.log.Error("status writer", "err", err)
		return x.http(http.StatusInternalServerError)
	}
	x.st = st
	return x.body(ContentTypeWBXML, b)
}

// body answers 200 with b. Content-Length is always set (MS-ASHTTP 2.2.2.1.2.3: required),
// never chunked.
func (x *exchange) body(contentType string, b []byte) error {
	x.code = http.StatusOK
	if x.trace {
		x.respBody = bytes.Clone(b) // b may be a pooled buffer, reused once we return
	}
	h := x.c.Response().Header()
	if !x.s.noGzip && len(b) >= minGzipSize && acceptsGzip(x.c.Request().Header) {
		// MS-ASHTTP 2.2.2.1.2.2: Content-Encoding when the body is compressed. Big FolderSync
		// and Sync answers shrink several times over, which matters on mobile networks.
		gz := x.s.gzips.Get().(*gzipBuf)
		defer func() {
			if gz.buf.Cap() <= maxPooledEncoder {
				x.s.gzips.Put(gz)
			}
		}()
		if z, err := gz.compress(b); err == nil {
			h.Set("Content-Encoding", "gzip")
			b = z
		}
	}
	h.Add("Vary", "Accept-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	return x.c.Blob(http.StatusOK, contentType, b)
}

// minGzipSize is the smallest response body worth compressing.
const minGzipSize = 1024

// gzipBuf is a reusable gzip writer and its output buffer.
type gzipBuf struct {
	buf bytes.Buffer
	w   *gzip.Writer
}

func (g *gzipBuf) compress(b []byte) ([]byte, error) {
	g.buf.Reset()
	if g.w == nil {
		g.w = gzip.NewWriter(&g.buf)
	} else {
		g.w.Reset(&g.buf)
	}
	if _, err := g.w.Write(b); err != nil {
		return nil, err
	}
	if err := g.w.Close(); err != nil {
		return nil, err
	}
	return g.buf.Bytes(), nil
}

// acceptsGzip reports whether the request's Accept-Encoding lists gzip with a non-zero q.
func acceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
			if !ok {
				return true
			}
			f, err := strconv.ParseFloat(q, 64)
			return err == nil && f > 0
		}
	}
	return false
}

// http answers with an HTTP status and no body.
func (x *exchange) http(code int) error {
	x.code = code
	return x.c.NoContent(code)
}

func (x *exchange) done() {
	d := time.Since(x.start)
	cmd := ""
	if x.r != nil {
		cmd = x.r.Cmd.String()
	}
	x.log.Debug("eas request", "code", x.code, "status", int(x.st), "duration", d)
	if x.s.observe != nil {
		x.s.observe(cmd, x.code, x.st, d)
	}
	if x.trace {
		r := x.r
		x.s.tracer.Record(x.c.Request().Context(), Trace{
			Time: x.start, User: r.Account.ID, Address: r.Account.Address, DeviceID: r.DeviceID,
			DeviceType: r.DeviceType, Cmd: r.Cmd, Version: r.Version, Request: r.Body,
			RequestContentType: r.ContentType, Response: x.respBody, HTTPStatus: x.code, Status: x.st,
			Duration: d,
		})
	}
}

// authenticate checks HTTP Basic credentials (MS-ASHTTP 2.2.1.1.2.1), with the failed-login
// throttle. It returns the account, or the HTTP status to answer with (having set its headers).
// A disabled account is returned with Disabled set: the caller answers with a status. When the
// account is read with its policy (AccountLookup), the policy is left in r (if not nil).
func (s *Server) authenticate(c echo.Context, log *slog.Logger, r *Request) (store.User, int) {
	req := c.Request()
	h := c.Response().Header()
	if req.TLS == nil && !s.plainOK {
		log.Warn("credentials refused without tls", "remote", s.clientAddr(c))
		return store.User{}, http.StatusForbidden
	}
	name, pass, ok := req.BasicAuth()
	if !ok {
		// MS-ASHTTP 2.2.2.1.1: 401, the resource requires authorization. The Remote
		// Connectivity Analyzer sends its first request without credentials on purpose.
		h.Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
		return store.User{}, http.StatusUnauthorized
	}
	addr, mapped := s.loginAddress(name)
	if !mapped {
		addr = strings.ToLower(name)
	}
	client := s.clientAddr(c)
	clientIP, _ := netip.ParseAddr(client) // unparsable: the zero Addr, one shared key
	if d := s.guard.Allow(addr, clientIP); d > 0 {
		secs := int(math.Ceil(d.Seconds()))
		log.Info("login throttled", "login", addr, "remote", client, "retry_after", secs)
		h.Set("Retry-After", strconv.Itoa(secs))
		return store.User{}, http.StatusTooManyRequests
	}
	var (
		u   store.User
		err = store.ErrBadCredentials
	)
	cached := false
	if mapped && s.creds != nil {
		if stamp, ok := s.creds.has(addr, pass); ok {
			// Verified recently: read the account afresh instead of running the KDF again,
			// and trust the memory only if the password has not changed since.
			if s.account != nil && r != nil {
				var (
					rec store.PolicyRecord
					ok  bool
				)
				u, rec, ok, err = s.account.CachedUserAndPolicy(req.Context(), addr)
				if err == nil && ok {
					r.policyRec, r.policyFrom = &rec, s.account
				}
			} else {
				u, err = s.lookup.UserByAddress(req.Context(), addr)
			}
			if err == nil && u.PasswordStamp == stamp {
				cached = true
				if u.Disabled {
					err = store.ErrUserDisabled
				}
			} else {
				s.creds.forget(addr, pass)
			}
		}
	}
	if mapped && !cached {
		u, err = s.verify(req.Context(), addr, pass)
		if s.creds != nil && (err == nil || errors.Is(err, store.ErrUserDisabled)) {
			s.creds.add(addr, pass, u.PasswordStamp)
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, store.ErrUserDisabled):
		u.Disabled = true
	case errors.Is(err, store.ErrBadCredentials):
		s.guard.Failed(addr, clientIP)
		log.Info("login failed", "login", addr, "remote", client)
		h.Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
		return store.User{}, http.StatusUnauthorized
	default:
		log.Error("authenticate", "login", addr, "err", err)
		return store.User{}, http.StatusServiceUnavailable
	}
	return u, 0
}

// verify checks a password with the Authenticator. Concurrent checks of the same address and
// password share one run: a user's phone, tablet and laptop that connect at once (after a
// restart, a network change, or the credential cache expiring) cost one memory-hard hash, not
// one each, which otherwise turns a reconnect storm into a CPU and memory storm. The shared
// run is not cancelled with the first request that started it.
func (s *Server) verify(ctx context.Context, addr, pass string) (store.User, error) {
	if s.creds == nil {
		return s.auth.Authenticate(ctx, addr, pass)
	}
	sum := s.creds.sum(addr, pass) // the flight key holds no password
	v, err, _ := s.verifying.Do(string(sum[:]), func() (any, error) {
		return s.auth.Authenticate(context.WithoutCancel(ctx), addr, pass)
	})
	u, _ := v.(store.User)
	return u, err
}

// loginAddress maps a Basic user name to an account address: user@domain as is;
// DOMAIN\user and user with Options.DefaultDomain. It reports false when no address results.
func (s *Server) loginAddress(name string) (string, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	}
	if name == "" {
		return "", false
	}
	if strings.IndexByte(name, '@') >= 0 {
		return name, true
	}
	if s.domain == "" {
		return "", false
	}
	return name + "@" + s.domain, true
}

// userMatches reports whether the User query parameter names account u: empty, the address,
// or its local part, each optionally after DOMAIN\, ignoring case.
func userMatches(param string, u store.User) bool {
	if param == "" {
		return true
	}
	p := strings.ToLower(param)
	if i := strings.LastIndexByte(p, '\\'); i >= 0 {
		p = p[i+1:]
	}
	local, _, _ := strings.Cut(u.Address, "@")
	return p == u.Address || p == local
}

// clientAddr is the client's IP address: the echo IPExtractor's answer when the operator
// configured one (a trusted proxy), the TCP peer otherwise. echo's default RealIP believes
// X-Forwarded-For from anyone, which would let an attacker pick his throttle key.
func (s *Server) clientAddr(c echo.Context) string {
	if c.Echo().IPExtractor != nil {
		return c.RealIP()
	}
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host
}
