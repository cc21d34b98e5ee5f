package eas_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/internal/loginlimit"
	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// fakeAuth is the user lookup of the unit tests: addresses to passwords and accounts.
type fakeAuth struct {
	mu    sync.Mutex
	users map[string]fakeUser
	calls int
}

type fakeUser struct {
	password string
	user     store.User
}

func (a *fakeAuth) Authenticate(_ context.Context, addr, password string) (store.User, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	u, ok := a.users[addr]
	if !ok || u.password != password {
		return store.User{}, fmt.Errorf("authenticate %s: %w", addr, store.ErrBadCredentials)
	}
	if u.user.Disabled {
		return u.user, fmt.Errorf("authenticate %s: %w", addr, store.ErrUserDisabled)
	}
	return u.user, nil
}

func newFakeAuth() *fakeAuth {
	mk := func(addr string, disabled, easOn bool) fakeUser {
		return fakeUser{password: "secret", user: store.User{ID: 1, Address: addr, Disabled: disabled,
			Protocols: store.Protocols{EAS: easOn, IMAP: true, POP3: true, SMTP: true}}}
	}
	return &fakeAuth{users: map[string]fakeUser{
		"alice@example.com": mk("alice@example.com", false, true),
		"bob@example.com":   mk("bob@example.com", false, true),
		"dis@example.com":   mk("dis@example.com", true, true),
		"noeas@example.com": mk("noeas@example.com", false, false),
	}}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeClock is a settable clock for the throttle.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testEnv is a running server with test commands.
type testEnv struct {
	srv   *eas.Server
	https *httptest.Server
	logs  *syncBuffer
	clock *fakeClock
	gate  *testGate
	seen  chan *eas.Request // requests the handlers saw
}

// testGate refuses devices whose id starts with "blocked", and those without a policy key
// with 142.
type testGate struct{}

func (testGate) Admit(_ context.Context, r *eas.Request) (eas.Decision, error) {
	switch {
	case strings.HasPrefix(r.DeviceID, "blocked"):
		return eas.Decision{Status: eas.StatusDeviceIsBlockedForThisUser, Reason: "test rule"}, nil
	case strings.HasPrefix(r.DeviceID, "unprov") && r.PolicyKey == 0:
		return eas.Decision{Status: eas.StatusDeviceNotProvisioned, Reason: "no policy key"}, nil
	case strings.HasPrefix(r.DeviceID, "gateerr"):
		return eas.Decision{}, errors.New("registry down")
	}
	return eas.Decision{Allow: true}, nil
}

type envOption func(*eas.Options)

func newEnv(t *testing.T, auth eas.Authenticator, opts ...envOption) *testEnv {
	t.Helper()
	env := &testEnv{
		logs:  new(syncBuffer),
		clock: &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		seen:  make(chan *eas.Request, 100),
	}
	o := eas.Options{
		Logger:        slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Auth:          auth,
		DefaultDomain: "example.com",
		Gate:          testGate{},
		MaxBodySize:   1 << 10,
		Guard: loginlimit.New(loginlimit.Options{
			PerAddress: loginlimit.Limit{Failures: 3, Window: time.Minute},
			PerAccount: loginlimit.Limit{Failures: 5, Window: time.Minute},
			Now:        env.clock.Now,
		}),
		Clock: env.clock.Now,
	}
	for _, f := range opts {
		f(&o)
	}
	env.srv = eas.New(o)
	env.registerTestCommands()
	e := echo.New()
	env.srv.Register(e)
	env.https = httptest.NewTLSServer(e)
	t.Cleanup(env.https.Close)
	return env
}

// registerTestCommands registers FolderSync and Ping with trivial handlers: FolderSync
// answers Status 1 and the number of tokens it read, or the status a <SyncKey> of 100+
// asks for; Ping answers nothing.
func (env *testEnv) registerTestCommands() {
	env.srv.Handle(eas.Command{
		Code:   eas.CmdFolderSync,
		Status: eas.TopLevelStatus(wbxml.FolderHierarchyFolderSync, wbxml.FolderHierarchyStatus),
		Handler: func(ctx context.Context, r *eas.Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
			env.seen <- r
			if _, err := dec.Expect(wbxml.FolderHierarchyFolderSync); err != nil {
				return err
			}
			if _, err := dec.Expect(wbxml.FolderHierarchySyncKey); err != nil {
				return err
			}
			key, err := dec.String()
			if err != nil {
				return err
			}
			switch key {
			case "fail":
				return errors.New("database on fire")
			case "status":
				return &eas.StatusError{Status: eas.StatusSyncStateNotFound, Err: errors.New("no such key")}
			case "badkey":
				// MS-ASCMD 2.2.3.177.5: FolderSync status 9, invalid synchronization key.
				return &eas.StatusError{Status: 9, Err: errors.New("unknown key")}
			case "big":
				// A response far larger than net/http's buffer, which would otherwise go
				// out chunked.
				enc.Start(wbxml.FolderHierarchyFolderSync)
				enc.Int(wbxml.FolderHierarchyStatus, 1)
				enc.String(wbxml.FolderHierarchySyncKey, strings.Repeat("k", 64<<10))
				enc.End()
				return nil
			}
			enc.Start(wbxml.FolderHierarchyFolderSync)
			enc.Int(wbxml.FolderHierarchyStatus, 1)
			enc.String(wbxml.FolderHierarchySyncKey, "1")
			enc.End()
			return nil
		},
	})
	env.srv.Handle(eas.Command{
		Code:      eas.CmdPing,
		Status:    eas.TopLevelStatus(wbxml.PingPing, wbxml.PingStatus),
		EmptyBody: true,
		Handler: func(ctx context.Context, r *eas.Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
			env.seen <- r
			return nil
		},
	})
}

func (env *testEnv) client(user string) *easclient.Client {
	return &easclient.Client{
		HTTP:       env.https.Client(),
		URL:        env.https.URL,
		Username:   user,
		Password:   "secret",
		User:       user,
		DeviceID:   "Dev0001",
		DeviceType: "iPhone",
		UserAgent:  "Apple-iPhone11C8/2007.75",
		Version:    eas.Version161,
	}
}

// folderSyncBody is <FolderSync><SyncKey>key</SyncKey></FolderSync>.
func folderSyncBody(t *testing.T, key string) []byte {
	t.Helper()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.FolderHierarchyFolderSync)
	enc.String(wbxml.FolderHierarchySyncKey, key)
	enc.End()
	b := enc.Bytes()
	require.NoError(t, enc.Err())
	return b
}

func folderSync(t *testing.T, c *easclient.Client, key string) *easclient.Response {
	t.Helper()
	resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdFolderSync, Body: folderSyncBody(t, key)})
	require.NoError(t, err)
	return resp
}

func folderSyncStatus(t *testing.T, resp *easclient.Response) int {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, eas.ContentTypeWBXML, resp.Header.Get("Content-Type"))
	st, err := resp.Status(wbxml.FolderHierarchyStatus)
	require.NoError(t, err)
	return st
}

func TestOptions(t *testing.T) {
	t.Parallel()
	env := newEnv(t, newFakeAuth())
	resp, err := env.client("alice@example.com").Options(t.Context())
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "12.0,12.1,14.0,14.1,16.0,16.1", resp.Header.Get("MS-ASProtocolVersions"))
	assert.Equal(t, "FolderSync,Ping", resp.Header.Get("MS-ASProtocolCommands"))
	assert.Equal(t, eas.DefaultServerVersion, resp.Header.Get("MS-Server-ActiveSync"))
	assert.Equal(t, "OPTIONS,POST", resp.Header.Get("Allow"))
	assert.Equal(t, "OPTIONS,POST", resp.Header.Get("Public"))
	assert.Empty(t, resp.Body)

	// Without credentials and with a wrong password: 401, like a POST.
	anon := env.client("")
	resp, err = anon.Options(t.Context())
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, `Basic realm="easd"`, resp.Header.Get("WWW-Authenticate"))
	bad := env.client("alice@example.com")
	bad.Password = "wrong"
	resp, err = bad.Options(t.Context())
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// ActiveSync switched off: 403.
	resp, err = env.client("noeas@example.com").Options(t.Context())
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestOptionsListsOnlyRegisteredCommands(t *testing.T) {
	t.Parallel()
	srv := eas.New(eas.Options{Logger: slog.New(slog.DiscardHandler), Auth: newFakeAuth()})
	e := echo.New()
	srv.Register(e)
	https := httptest.NewTLSServer(e)
	defer https.Close()
	c := &easclient.Client{HTTP: https.Client(), URL: https.URL, Username: "alice@example.com", Password: "secret"}
	resp, err := c.Options(t.Context())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// No command is implemented yet: the header is there and empty.
	v, ok := resp.Header["Ms-Asprotocolcommands"]
	require.True(t, ok, "MS-ASProtocolCommands header missing")
	assert.Equal(t, []string{""}, v)
	assert.Empty(t, srv.Commands())

	srv.Handle(eas.Command{Code: eas.CmdProvision, Handler: func(context.Context, *eas.Request, *wbxml.Decoder, *wbxml.Encoder) error { return nil }})
	srv.Handle(eas.Command{Code: eas.CmdSync, Handler: func(context.Context, *eas.Request, *wbxml.Decoder, *wbxml.Encoder) error { return nil }})
	assert.Equal(t, []string{"Sync", "Provision"}, srv.Commands())
	assert.Panics(t, func() {
		srv.Handle(eas.Command{Code: eas.CmdSync, Handler: func(context.Context, *eas.Request, *wbxml.Decoder, *wbxml.Encoder) error { return nil }})
	})
}

func TestPostPlainQuery(t *testing.T) {
	t.Parallel()
	env := newEnv(t, newFakeAuth())
	c := env.client("alice@example.com")
	c.HasPolicyKey, c.PolicyKey = true, 3942919513
	resp := folderSync(t, c, "0")
	assert.Equal(t, 1, folderSyncStatus(t, resp))
	assert.Equal(t, eas.DefaultServerVersion, resp.Header.Get("MS-Server-ActiveSync"))
	x, err := resp.XML()
	require.NoError(t, err)
	assert.Contains(t, x, "<SyncKey>1</SyncKey>")

	r := <-env.seen
	assert.Equal(t, eas.CmdFolderSync, r.Cmd)
	assert.Equal(t, "Dev0001", r.DeviceID)
	assert.Equal(t, "iPhone", r.DeviceType)
	assert.Equal(t, eas.Version161, r.Version)
	assert.Equal(t, "Apple-iPhone11C8/2007.75", r.UserAgent)
	assert.True(t, r.HasPolicyKey)
	assert.Equal(t, uint32(3942919513), r.PolicyKey)
	assert.Equal(t, "alice@example.com", r.Account.Address)
	assert.False(t, r.Base64)
	assert.Contains(t, env.logs.String(), "device_id=Dev0001")
}

func TestPostBase64Query(t *testing.T) {
	t.Parallel()
	env := newEnv(t, newFakeAuth())
	c := env.client("alice@example.com")
	c.Base64 = true
	c.UserAgent = "" // Quirk(Windows Phone 8.1): no User-Agent on POSTs.
	c.Version = eas.Version141
	c.DeviceType = "WP8"
	c.DeviceIDBytes = []byte{0x79, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}
	c.HasPolicyKey, c.PolicyKey = true, 7
	q, err := c.Query(&easclient.Request{Cmd: eas.CmdFolderSync})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(q, "jQkJBBB5"), "query %s", q) // 8D 09 09 04 10 79: 14.1 FolderSync

	resp := folderSync(t, c, "0")
	assert.Equal(t, 1, folderSyncStatus(t, resp))
	r := <-env.seen
	assert.True(t, r.Base64)
	assert.Equal(t, eas.Version141, r.Version)
	assert.Equal(t, "790102030405060708090A0B0C0D0E0F", r.DeviceID)
	assert.Equal(t, "WP8", r.DeviceType)
	assert.Equal(t, uint16(0x0409), r.Locale)
	assert.Equal(t, uint32(7), r.PolicyKey)
	assert.Equal(t, "alice@example.com", r.User)
	assert.Empty(t, r.UserAgent)
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	env := newEnv(t, newFakeAuth(), func(o *eas.Options) { o.Guard = loginlimit.New(loginlimit.Options{Disable: true}) })
	tests := []struct {
		name     string
		login    string
		password string
		userArg  string
		want     int
	}{
		{"address", "alice@example.com", "secret", "alice@example.com", http.StatusOK},
		{"address any case", "Alice@Example.COM", "secret", "ALICE@example.com", http.StatusOK},
		{"bare user", "alice", "secret", "alice", http.StatusOK},
		{"domain backslash user", `CORP\alice`, "secret", `CORP\alice`, http.StatusOK},
		{"no user parameter", "alice@example.com", "secret", "", http.StatusOK},
		{"wrong password", "alice@example.com", "nope", "alice@example.com", http.StatusUnauthorized},
		{"unknown user", "mallory@example.com", "secret", "mallory@example.com", http.StatusUnauthorized},
		{"empty login", `CORP\`, "secret", "", http.StatusUnauthorized},
		{"foreign user parameter", "alice@example.com", "secret", "bob@example.com", http.StatusForbidden},
		{"foreign local part", "alice@example.com", "secret", `CORP\bob`, http.StatusForbidden},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := env.client(tc.login)
			c.Password = tc.password
			c.User = tc.userArg
			c.DeviceID = fmt.Sprintf("Auth%02d", i)
			resp := folderSync(t, c, "0")
			assert.Equal(t, tc.want, resp.StatusCode)
			if tc.want == http.StatusUnauthorized {
				assert.Equal(t, `Basic realm="easd"`, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}

	// No credentials at all (the Remote Connectivity Analyzer's first request): 401 and no
	// failure counted.
	anon := env.client("")
	anon.User = `tst\t1`
	resp := folderSync(t, anon, "0")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, `Basic realm="easd"`, resp.Header.Get("WWW-Authenticate"))
}

func TestBareUserWithoutDefaultDomain(t *testing.T) {
	t.Parallel()
	auth := newFakeAuth()
	env := newEnv(t, auth, func(o *eas.Options) { o.DefaultDomain = "" })
	resp := folderSync(t, env.client("alice"), "0")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp = folderSync(t, env.client("alice@example.com"), "0")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	auth := newFakeAuth()
	env := newEnv(t, auth)
	bad := env.client("alice@example.com")
	bad.Password = "guess"
	for range 3 {
		assert.Equal(t, http.StatusUnauthorized, folderSync(t, bad, "0").StatusCode)
	}
	auth.mu.Lock()
	calls := auth.calls
	auth.mu.Unlock()

	// The address has used its budget: 429 with Retry-After, even with the right password
	// and for another account, and the password is not checked.
	resp := folderSync(t, bad, "0")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "60", resp.Header.Get("Retry-After"))
	good := env.client("bob@example.com")
	assert.Equal(t, http.StatusTooManyRequests, folderSync(t, good, "0").StatusCode)
	opt, err := good.Options(t.Context())
	require.NoError(t, err)
	assert.Equal(t, http.StatusTooManyRequests, opt.StatusCode)
	auth.mu.Lock()
	assert.Equal(t, calls, auth.calls, "throttled logins must not reach the password check")
	auth.mu.Unlock()
	assert.Contains(t, env.logs.String(), "login throttled")

	// 30 s later the window still holds the failures; Retry-After counts down.
	env.clock.Advance(30 * time.Second)
	resp = folderSync(t, good, "0")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "30", resp.Header.Get("Retry-After"))

	// Once the oldest failure leaves the window, logins go through again.
	env.clock.Advance(31 * time.Second)
	assert.Equal(t, http.StatusOK, folderSync(t, good, "0").StatusCode)
}

func TestAccountStatus(t *testing.T) {
	t.Parallel()
	env := newEnv(t, newFakeAuth())
	tests := []struct {
		name    string
		login   string
		version eas.Version
		code    int
		status  int
	}{
		{"disabled 16.1", "dis@example.com", eas.Version161, http.StatusOK, 131},
		{"disabled 14.0", "dis@example.com", eas.Version140, http.StatusOK, 131},
		{"disabled 12.1", "dis@example.com", eas.Version121, http.StatusForbidden, 0},
		{"eas off 16.1", "noeas@example.com", eas.Version161, http.StatusOK, 126},
		{"eas off 14.1", "noeas@example.com", eas.Version141, http.StatusOK, 126},
		{"eas off 12.0", "noeas@example.com", eas.Version120, http.StatusForbidden, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := env.client(tc.login)
			c.Version = tc.version
			resp := folderSync(t, c, "0")
			require.Equal(t, tc.code, resp.StatusCode)
			if tc.status != 0 {
				assert.Equal(t, tc.status, folderSyncStatus(t, resp))
			} else {
				assert.Empty(t, resp.Body)
			}
		})
	}
	// A disabled account with a wrong password is a plain 401: nothing is revealed.
	c := env.client("dis@example.com")
	c.Password = "wrong"
	assert.Equal(t, http.StatusUnauthorized, folderSync(t, c, "0").StatusCode)
}

func TestRequestErrors(t *testing.T) {
	t.Parallel()
	env := newEnv(t, newFakeAuth())
	wb := folderSyncBody(t, "0")
	tests := []struct {
		name   string
		modify func(*easclient.Client, *easclient.Request)
		code   int
		status int    // FolderSync Status in a 200 body; 0: none
		log    string // expected in the log
	}{
		{"unsupported version 2.5", func(c *easclient.Client, r *easclient.Request) {
			r.Header = http.Header{"Ms-Asprotocolversion": {"2.5"}}
		}, http.StatusBadRequest, 0, "unsupported protocol version"},
		{"unsupported version 17.0", func(c *easclient.Client, r *easclient.Request) {
			r.Header = http.Header{"Ms-Asprotocolversion": {"17.0"}}
		}, http.StatusOK, 138, "unsupported protocol version"},
		{"malformed version", func(c *easclient.Client, r *easclient.Request) {
			r.Header = http.Header{"Ms-Asprotocolversion": {"fourteen"}}
		}, http.StatusBadRequest, 0, "bad request"},
		{"missing version", func(c *easclient.Client, r *easclient.Request) {
			r.Header = http.Header{"Ms-Asprotocolversion": {""}}
		}, http.StatusBadRequest, 0, "no MS-ASProtocolVersion"},
		{"unknown command", func(c *easclient.Client, r *easclient.Request) {
			r.RawQuery = "Cmd=Frobnicate&User=alice&DeviceId=Dev1&DeviceType=iPhone"
		}, http.StatusBadRequest, 0, "unknown command"},
		{"command not implemented", func(c *easclient.Client, r *easclient.Request) {
			r.Cmd = eas.CmdSearch
		}, http.StatusNotImplemented, 0, "command not implemented"},
		{"missing DeviceId", func(c *easclient.Client, r *easclient.Request) {
			c.DeviceID = ""
		}, http.StatusBadRequest, 0, "missing DeviceId"},
		{"invalid DeviceId", func(c *easclient.Client, r *easclient.Request) {
			c.DeviceID = "a/b"
		}, http.StatusBadRequest, 0, "invalid DeviceId"},
		{"missing DeviceType", func(c *easclient.Client, r *easclient.Request) {
			c.DeviceType = ""
		}, http.StatusBadRequest, 0, "missing DeviceType"},
		{"no Cmd", func(c *easclient.Client, r *easclient.Request) {
			r.RawQuery = "User=alice&DeviceId=Dev1&DeviceType=iPhone"
		}, http.StatusBadRequest, 0, "no Cmd parameter"},
		{"oversized body", func(c *easclient.Client, r *easclient.Request) {
			r.Body = bytes.Repeat([]byte{0}, 2<<10)
		}, http.StatusRequestEntityTooLarge, 0, "request body too large"},
		{"malformed wbxml 16.1", func(c *easclient.Client, r *easclient.Request) {
			r.Body = wb[:len(wb)-2]
		}, http.StatusOK, 102, "malformed wbxml"},
		{"malformed wbxml 12.1", func(c *easclient.Client, r *easclient.Request) {
			c.Version = eas.Version121
			r.Body = []byte("<FolderSync/>")
		}, http.StatusBadRequest, 0, "malformed wbxml"},
		{"empty body", func(c *easclient.Client, r *easclient.Request) {
			r.Body = nil
		}, http.StatusOK, 101, "empty request body"},
		{"wrong document", func(c *easclient.Client, r *easclient.Request) {
			enc := wbxml.NewEncoder(nil)
			enc.Start(wbxml.PingPing)
			enc.End()
			r.Body = enc.Bytes()
		}, http.StatusOK, 103, "request does not follow the protocol"},
		{"handler status", func(c *easclient.Client, r *easclient.Request) {
			r.Body = folderSyncBody(t, "status")
		}, http.StatusOK, 132, "command status"},
		{"command-specific status 12.1", func(c *easclient.Client, r *easclient.Request) {
			c.Version = eas.Version121
			r.Body = folderSyncBody(t, "badkey")
		}, http.StatusOK, 9, "unknown key"},
		{"common status 12.1", func(c *easclient.Client, r *easclient.Request) {
			c.Version = eas.Version121
			r.Body = folderSyncBody(t, "status")
		}, http.StatusInternalServerError, 0, "no such key"},
		{"handler error", func(c *easclient.Client, r *easclient.Request) {
			r.Body = folderSyncBody(t, "fail")
		}, http.StatusOK, 110, "database on fire"},
		{"handler error 12.1", func(c *easclient.Client, r *easclient.Request) {
			c.Version = eas.Version121
			r.Body = folderSyncBody(t, "fail")
		}, http.StatusInternalServerError, 0, "database on fire"},
		{"device blocked", func(c *easclient.Client, r *easclient.Request) {
			c.DeviceID = "blocked1"
		}, http.StatusOK, 129, "device refused"},
		{"not provisioned 14.0", func(c *easclient.Client, r *easclient.Request) {
			c.DeviceID, c.Version = "unprov1", eas.Version140
		}, http.StatusOK, 142, "device refused"},
		{"not provisioned 12.1", func(c *easclient.Client, r *easclient.Request) {
			c.DeviceID, c.Version = "unprov2", eas.Version121
		}, eas.HTTP449, 0, "device refused"},
		{"gate error", func(c *easclient.Client, r *easclient.Request) {
			c.DeviceID = "gateerr1"
		}, http.StatusOK, 110, "registry down"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := env.client("alice@example.com")
			c.DeviceID = fmt.Sprintf("Err%02d", i)
			r := &easclient.Request{Cmd: eas.CmdFolderSync, Body: wb}
			tc.modify(c, r)
			resp, err := c.Do(t.Context(), r)
			require.NoError(t, err)
			require.Equal(t, tc.code, resp.StatusCode)
			if tc.status != 0 {
				assert.Equal(t, tc.status, folderSyncStatus(t, resp))
			} else {
				assert.Empty(t, resp.Body)
			}
			assert.Contains(t, env.logs.String(), tc.log)
		})
	}
}

func TestEmptyBodyAndNoResponseBody(t *testing.T) {
	t.Parallel()
	env := newEnv(t, newFakeAuth())
	resp, err := env.client("alice@example.com").Do(t.Context(), &easclient.Request{Cmd: eas.CmdPing})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, resp.Body)
	assert.Equal(t, "0", resp.Header.Get("Content-Length"))
	assert.Equal(t, eas.DefaultServerVersion, resp.Header.Get("MS-Server-ActiveSync"))
	r := <-env.seen
	assert.Equal(t, eas.CmdPing, r.Cmd)
	assert.Empty(t, r.Body)
}

func TestPathIgnoresCase(t *testing.T) {
	t.Parallel()
	env := newEnv(t, newFakeAuth())
	for _, p := range []string{"/microsoft-server-activesync", "/MICROSOFT-SERVER-ACTIVESYNC", "/Microsoft-Server-ActiveSync/"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
			env.https.URL+p+"?Cmd=FolderSync&User=alice&DeviceId=Case1&DeviceType=iPhone", bytes.NewReader(folderSyncBody(t, "0")))
		require.NoError(t, err)
		req.SetBasicAuth("alice@example.com", "secret")
		req.Header.Set("MS-ASProtocolVersion", "14.0")
		req.Header.Set("Content-Type", eas.ContentTypeWBXML)
		resp, err := env.https.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, p)
	}
}

func TestPlainHTTPRefused(t *testing.T) {
	t.Parallel()
	srv := eas.New(eas.Options{Logger: slog.New(slog.DiscardHandler), Auth: newFakeAuth()})
	e := echo.New()
	srv.Register(e)
	plain := httptest.NewServer(e)
	defer plain.Close()
	c := &easclient.Client{HTTP: plain.Client(), URL: plain.URL, Username: "alice@example.com", Password: "secret",
		DeviceID: "Dev1", DeviceType: "iPhone"}
	resp, err := c.Options(t.Context())
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestObserveAndZeroDecision(t *testing.T) {
	t.Parallel()
	type obs struct {
		cmd    string
		code   int
		status eas.Status
	}
	got := make(chan obs, 10)
	env := newEnv(t, newFakeAuth(), func(o *eas.Options) {
		o.Observe = func(cmd string, code int, st eas.Status, _ time.Duration) { got <- obs{cmd, code, st} }
		o.Gate = zeroGate{}
	})
	resp := folderSync(t, env.client("alice@example.com"), "0")
	// A refusal without a status is AccessDenied.
	assert.Equal(t, int(eas.StatusAccessDenied), folderSyncStatus(t, resp))
	assert.Equal(t, obs{"FolderSync", http.StatusOK, eas.StatusAccessDenied}, <-got)

	c := env.client("alice@example.com")
	c.DeviceID = ""
	assert.Equal(t, http.StatusBadRequest, folderSync(t, c, "0").StatusCode)
	assert.Equal(t, obs{"", http.StatusBadRequest, 0}, <-got)
}

type zeroGate struct{}

func (zeroGate) Admit(context.Context, *eas.Request) (eas.Decision, error) {
	return eas.Decision{}, nil
}

func TestLargeResponseHasContentLength(t *testing.T) {
	t.Parallel()
	env := newEnv(t, newFakeAuth())
	c := env.client("alice@example.com")
	// An explicit Accept-Encoding keeps net/http from decompressing behind our back.
	for _, enc := range []string{"identity", "gzip, deflate, br"} {
		t.Run(enc, func(t *testing.T) {
			resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdFolderSync, Body: folderSyncBody(t, "big"),
				Header: http.Header{"Accept-Encoding": {enc}}})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, fmt.Sprint(len(resp.Body)), resp.Header.Get("Content-Length"))
			if enc == "identity" {
				assert.Empty(t, resp.Header.Get("Content-Encoding"))
			} else {
				// MS-ASHTTP 2.2.2.1.2.2: compressed, and says so.
				require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
				assert.Less(t, len(resp.Body), 1<<10)
				zr, err := gzip.NewReader(bytes.NewReader(resp.Body))
				require.NoError(t, err)
				resp.Body, err = io.ReadAll(zr)
				require.NoError(t, err)
			}
			assert.Greater(t, len(resp.Body), 64<<10)
			assert.Equal(t, 1, folderSyncStatus(t, resp))
		})
	}
	// Small answers are not worth compressing.
	resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdFolderSync, Body: folderSyncBody(t, "0"),
		Header: http.Header{"Accept-Encoding": {"gzip"}}})
	require.NoError(t, err)
	assert.Empty(t, resp.Header.Get("Content-Encoding"))
	assert.Equal(t, 1, folderSyncStatus(t, resp))
}

func TestCompressionDisabled(t *testing.T) {
	t.Parallel()
	env := newEnv(t, newFakeAuth(), func(o *eas.Options) { o.DisableCompression = true })
	resp, err := env.client("alice@example.com").Do(t.Context(), &easclient.Request{Cmd: eas.CmdFolderSync,
		Body: folderSyncBody(t, "big"), Header: http.Header{"Accept-Encoding": {"gzip"}}})
	require.NoError(t, err)
	assert.Empty(t, resp.Header.Get("Content-Encoding"))
	assert.Equal(t, 1, folderSyncStatus(t, resp))
}

// recordingTracer traces devices whose id starts with "Trace".
type recordingTracer struct {
	mu     sync.Mutex
	traces []eas.Trace
}

func (rt *recordingTracer) Tracing(_ store.UserID, deviceID string) bool {
	return strings.HasPrefix(deviceID, "Trace")
}

func (rt *recordingTracer) Record(_ context.Context, tr eas.Trace) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.traces = append(rt.traces, tr)
}

func TestTracer(t *testing.T) {
	t.Parallel()
	rt := new(recordingTracer)
	env := newEnv(t, newFakeAuth(), func(o *eas.Options) { o.Tracer = rt })
	c := env.client("alice@example.com")
	c.DeviceID = "Trace1"
	ok := folderSync(t, c, "0")
	refused := folderSync(t, c, "status")
	c.DeviceID = "Other1"
	folderSync(t, c, "0")

	rt.mu.Lock()
	defer rt.mu.Unlock()
	require.Len(t, rt.traces, 2, "only the traced device")
	tr := rt.traces[0]
	assert.Equal(t, "alice@example.com", tr.Address)
	assert.Equal(t, "Trace1", tr.DeviceID)
	assert.Equal(t, eas.CmdFolderSync, tr.Cmd)
	assert.Equal(t, eas.Version161, tr.Version)
	assert.Equal(t, folderSyncBody(t, "0"), tr.Request)
	assert.Equal(t, ok.Body, tr.Response)
	assert.Equal(t, http.StatusOK, tr.HTTPStatus)
	assert.Zero(t, tr.Status)
	assert.Equal(t, refused.Body, rt.traces[1].Response)
	assert.Equal(t, eas.StatusSyncStateNotFound, rt.traces[1].Status)
}

func TestMIMEBodyAndRawResponse(t *testing.T) {
	t.Parallel()
	env := newEnv(t, newFakeAuth())
	got := make(chan *eas.Request, 1)
	env.srv.Handle(eas.Command{
		Code: eas.CmdSendMail, MIMEBody: true,
		Handler: func(_ context.Context, r *eas.Request, _ *wbxml.Decoder, _ *wbxml.Encoder) error {
			got <- r
			return nil
		},
	})
	env.srv.Handle(eas.Command{
		Code: eas.CmdGetAttachment,
		Handler: func(_ context.Context, r *eas.Request, _ *wbxml.Decoder, _ *wbxml.Encoder) error {
			r.Response = eas.Response{
				Header:      http.Header{"X-Test": {"attachment"}},
				ContentType: "image/png",
				Body:        []byte("\x89PNG"),
			}
			return nil
		},
		EmptyBody: true,
	})
	c := env.client("alice@example.com")
	c.Version = eas.Version121
	mimeMsg := []byte("From: alice@example.com\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nhello\r\n")
	resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdSendMail, SaveInSent: true,
		Body: mimeMsg, ContentType: "message/rfc822"})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	r := <-got
	assert.Equal(t, mimeMsg, r.Body)
	assert.True(t, r.SaveInSent)
	assert.Equal(t, "message/rfc822", r.ContentType)

	// A MIME body to a command that does not take one is checked as WBXML.
	resp, err = c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdFolderSync, Body: mimeMsg, ContentType: "message/rfc822"})
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	resp, err = c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdGetAttachment, AttachmentName: "5:1:0"})
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "image/png", resp.Header.Get("Content-Type"))
	assert.Equal(t, "attachment", resp.Header.Get("X-Test"))
	assert.Equal(t, "4", resp.Header.Get("Content-Length"))
	assert.Equal(t, []byte("\x89PNG"), resp.Body)
}

func TestHandlerCancelled(t *testing.T) {
	t.Parallel()
	env := newEnv(t, newFakeAuth())
	started := make(chan struct{})
	env.srv.Handle(eas.Command{
		Code: eas.CmdSync, EmptyBody: true,
		Handler: func(ctx context.Context, _ *eas.Request, _ *wbxml.Decoder, _ *wbxml.Encoder) error {
			close(started)
			<-ctx.Done() // a long poll, as Sync with Wait does
			return fmt.Errorf("wait for changes: %w", ctx.Err())
		},
	})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-started
		cancel()
	}()
	_, err := env.client("alice@example.com").Do(ctx, &easclient.Request{Cmd: eas.CmdSync})
	require.ErrorIs(t, err, context.Canceled)
	require.Eventually(t, func() bool { return strings.Contains(env.logs.String(), "request cancelled") },
		5*time.Second, 10*time.Millisecond)
	assert.NotContains(t, env.logs.String(), "command failed")
}
