package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// clock is a settable clock shared by the service and the registry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// guard is a Guard that refuses the accounts in blocked and counts failures.
type guard struct {
	mu      sync.Mutex
	blocked map[string]bool
	failed  []string
}

func (g *guard) Allow(account string, _ netip.Addr) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.blocked[account] {
		return 90 * time.Second
	}
	return 0
}

func (g *guard) Failed(account string, _ netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failed = append(g.failed, account)
}

var testKey = bytes.Repeat([]byte("k"), 32)

// env is a running API over a real store and a TLS listener.
type env struct {
	t     *testing.T
	st    *store.Store
	reg   *devices.Registry
	svc   *Service
	clk   *clock
	guard *guard
	srv   *httptest.Server
	echo  *echo.Echo
	seq   atomic.Int64
}

func newEnv(t *testing.T, st *store.Store, mod func(*Options)) *env {
	t.Helper()
	en := &env{t: t, st: st, clk: &clock{t: time.Now().UTC().Truncate(time.Second)}, guard: &guard{blocked: map[string]bool{}}}
	en.reg = devices.New(st, devices.Options{Now: en.clk.Now, TouchInterval: -1})
	opts := Options{Store: st, Devices: en.reg, SigningKey: testKey, Guard: en.guard, Now: en.clk.Now}
	if mod != nil {
		mod(&opts)
	}
	svc, err := New(opts)
	require.NoError(t, err)
	en.svc = svc
	en.echo = echo.New()
	svc.Register(en.echo)
	en.srv = httptest.NewTLSServer(en.echo)
	t.Cleanup(en.srv.Close)
	ctx := t.Context()
	_, err = st.CreateAdmin(ctx, "root", store.RoleAdmin, "root pw")
	require.NoError(t, err)
	_, err = st.CreateAdmin(ctx, "desk", store.RoleHelpdesk, "desk pw")
	require.NoError(t, err)
	return en
}

// response is an answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) errCode(t *testing.T) string {
	t.Helper()
	var e struct{ Code, Message string }
	require.NoError(t, json.Unmarshal(r.body, &e), "body %s", r.body)
	assert.NotEmpty(t, e.Message)
	return e.Code
}

// do sends a request; a non-nil body that is not a string is sent as JSON.
func (en *env) do(method, path, token string, body any) response {
	en.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	default:
		js, err := json.Marshal(b)
		require.NoError(en.t, err)
		rd, ctype = bytes.NewReader(js), "application/json"
	}
	req, err := http.NewRequestWithContext(en.t.Context(), method, en.srv.URL+Prefix+path, rd)
	require.NoError(en.t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := en.srv.Client().Do(req)
	require.NoError(en.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(en.t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (en *env) login(name, password string) string {
	en.t.Helper()
	r := en.do(http.MethodPost, "/login", "", map[string]string{"name": name, "password": password})
	require.Equal(en.t, http.StatusOK, r.status, "login %s: %s", name, r.body)
	var tok Token
	require.NoError(en.t, json.Unmarshal(r.body, &tok))
	return tok.Token
}

// user creates a fresh user.
func (en *env) user() store.User {
	en.t.Helper()
	u, err := en.st.CreateUser(en.t.Context(), store.NewUser{Address: fmt.Sprintf("u%d@example.com", en.seq.Add(1)), Password: "pw"})
	require.NoError(en.t, err)
	return u
}

// device creates a fresh partnership in state (and a wipe if wipe).
func (en *env) device(state string, wipe bool) store.Device {
	en.t.Helper()
	ctx := en.t.Context()
	u := en.user()
	d, err := en.st.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: fmt.Sprintf("DEV%d", en.seq.Add(1)), DeviceType: "iPhone"})
	require.NoError(en.t, err)
	if state != store.AccessAllowed {
		d, err = en.reg.SetAccess(ctx, d.ID, state, "setup")
		require.NoError(en.t, err)
	}
	if wipe {
		d, err = en.reg.RequestWipe(ctx, d.ID, false, "setup")
		require.NoError(en.t, err)
	}
	return d
}

func (en *env) audit(f store.AuditFilter) []store.AuditEntry {
	en.t.Helper()
	rows, err := en.st.Audit(en.t.Context(), f)
	require.NoError(en.t, err)
	return rows
}

// endpointCase is one endpoint; setup returns the path and body for one
// run (each run gets fresh objects).
type endpointCase struct {
	name     string
	method   string
	setup    func(en *env) (path string, body any)
	admin    int // status for an admin token
	helpdesk int // status for a helpdesk token
	audit    string
}

func endpointCases() []endpointCase {
	userPath := func(suffix string) func(en *env) (string, any) {
		return func(en *env) (string, any) { return "/users/" + en.user().Address + suffix, nil }
	}
	// userBody sends the address escaped, as encodeURIComponent does:
	// the API must unescape it.
	userBody := func(suffix string, body any) func(en *env) (string, any) {
		return func(en *env) (string, any) {
			return "/users/" + strings.ReplaceAll(en.user().Address, "@", "%40") + suffix, body
		}
	}
	devPath := func(state string, wipe bool, suffix string) func(en *env) (string, any) {
		return func(en *env) (string, any) {
			return fmt.Sprintf("/devices/%d%s", en.device(state, wipe).ID, suffix), nil
		}
	}
	fixed := func(path string, body any) func(en *env) (string, any) {
		return func(*env) (string, any) { return path, body }
	}
	policyPath := func(en *env) (string, any) {
		p, err := en.svc.pol.Default(en.t.Context())
		require.NoError(en.t, err)
		return fmt.Sprintf("/policies/%d", p.ID), nil
	}
	q, a := store.AccessQuarantined, store.AccessAllowed
	return []endpointCase{
		{"session", "GET", fixed("/session", nil), 200, 200, ""},
		{"stats", "GET", fixed("/stats", nil), 200, 200, ""},
		{"list users", "GET", fixed("/users?q=example", nil), 200, 200, ""},
		{"create user", "POST", func(en *env) (string, any) {
			return "/users", map[string]string{"address": fmt.Sprintf("new%d@example.com", en.seq.Add(1)), "password": "pw"}
		}, 201, 403, "user.create"},
		{"show user", "GET", userPath(""), 200, 200, ""},
		{"disable user", "POST", userPath("/disable"), 200, 403, "user.disable"},
		{"enable user", "POST", userPath("/enable"), 200, 403, "user.enable"},
		{"protocols", "PATCH", userBody("/protocols", map[string]bool{"imap": false}), 200, 403, "user.protocols"},
		{"reset password", "POST", userBody("/password", map[string]string{"password": "new"}), 204, 403, "user.password"},
		{"user policy", "GET", userPath("/policy"), 200, 200, ""},
		{"assign policy", "PUT", func(en *env) (string, any) {
			p, err := en.svc.pol.Default(en.t.Context())
			require.NoError(en.t, err)
			return "/users/" + en.user().Address + "/policy", map[string]int64{"policy_id": int64(p.ID)}
		}, 200, 403, "policy.assign"},
		{"list devices", "GET", fixed("/devices?state=quarantined&sort=-last_seen&compliance=non-compliant&limit=5&offset=1", nil), 200, 200, ""},
		{"show device", "GET", devPath(a, false, ""), 200, 200, ""},
		{"approve quarantined", "POST", devPath(q, false, "/allow"), 200, 200, "device.allowed"},
		{"block quarantined", "POST", devPath(q, false, "/block"), 200, 200, "device.blocked"},
		{"block allowed", "POST", devPath(a, false, "/block"), 200, 403, "device.blocked"},
		{"allow blocked", "POST", devPath(store.AccessBlocked, false, "/allow"), 200, 403, "device.allowed"},
		{"quarantine", "POST", devPath(a, false, "/quarantine"), 200, 403, "device.quarantined"},
		{"reset access", "POST", devPath(q, false, "/reset"), 200, 403, "device.clear-access"},
		{"wipe", "POST", devPath(a, false, "/wipe"), 200, 200, "device.wipe"},
		{"account-only wipe", "POST", func(en *env) (string, any) {
			return fmt.Sprintf("/devices/%d/wipe", en.device(a, false).ID), map[string]bool{"account_only": true}
		}, 200, 200, "device.wipe-account"},
		{"cancel wipe", "POST", devPath(a, true, "/cancel-wipe"), 200, 200, "device.wipe-cancel"},
		{"remove device", "DELETE", devPath(a, false, ""), 204, 403, "device.remove"},
		{"device history", "GET", devPath(q, false, "/history"), 200, 200, ""},
		{"device traces", "GET", devPath(a, false, "/traces?limit=5"), 200, 200, ""},
		{"switch trace", "PUT", func(en *env) (string, any) {
			return fmt.Sprintf("/devices/%d/trace", en.device(a, false).ID), map[string]bool{"enabled": true}
		}, 200, 403, "device.trace"},
		{"list rules", "GET", fixed("/rules", nil), 200, 403, ""},
		{"add rule", "POST", func(en *env) (string, any) {
			return "/rules", map[string]string{"field": "model", "match": "prefix", "pattern": fmt.Sprintf("NoSuchModel%d", en.seq.Add(1)), "action": "quarantined"}
		}, 201, 403, "rule.add"},
		{"remove rule", "DELETE", func(en *env) (string, any) {
			r, err := en.reg.AddRule(en.t.Context(), store.DeviceRule{Field: store.RuleFieldOS, Match: store.RuleMatchExact, Pattern: fmt.Sprintf("NoSuchOS%d", en.seq.Add(1)), Action: store.AccessBlocked}, "setup")
			require.NoError(en.t, err)
			return fmt.Sprintf("/rules/%d", r.ID), nil
		}, 204, 403, "rule.remove"},
		{"list policies", "GET", fixed("/policies", nil), 200, 403, ""},
		{"create policy", "POST", func(en *env) (string, any) {
			return "/policies", map[string]any{"name": fmt.Sprintf("P%d", en.seq.Add(1)), "settings": map[string]any{"DevicePasswordEnabled": true}}
		}, 201, 403, "policy.create"},
		{"show policy", "GET", policyPath, 200, 403, ""},
		{"update policy", "PUT", func(en *env) (string, any) {
			path, _ := policyPath(en)
			return path, map[string]any{"settings": map[string]any{"AllowCamera": false}}
		}, 200, 403, "policy.update"},
		{"outbound", "GET", fixed("/outbound", nil), 200, 403, ""},
		{"audit", "GET", fixed("/audit?action=admin.login&limit=10&offset=0", nil), 200, 403, ""},
	}
}

func TestEndpointsByRole(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		en := newEnv(t, st, nil)
		rootTok, deskTok := en.login("root", "root pw"), en.login("desk", "desk pw")
		// A token from a login 7 hours ago, idle since: past the 6 h inactivity timeout.
		en.clk.Add(-7 * time.Hour)
		expired, err := en.svc.issue("root", store.RoleAdmin, en.clk.Now())
		require.NoError(t, err)
		en.clk.Add(7 * time.Hour)

		covered := map[string]bool{}
		for _, tc := range endpointCases() {
			t.Run(tc.name, func(t *testing.T) {
				en.t = t
				for _, role := range []struct {
					name, token string
					want        int
				}{{"none", "", 401}, {"expired", expired.Token, 401}, {"helpdesk", deskTok, tc.helpdesk}, {"admin", rootTok, tc.admin}} {
					path, body := tc.setup(en)
					r := en.do(tc.method, path, role.token, body)
					require.Equal(t, role.want, r.status, "%s: %s", role.name, r.body)
					switch {
					case role.name == "none":
						assert.Equal(t, CodeUnauthenticated, r.errCode(t))
					case role.name == "expired":
						assert.Equal(t, CodeSessionExpired, r.errCode(t))
					case r.status == 403:
						assert.Equal(t, CodeForbidden, r.errCode(t))
						rows := en.audit(store.AuditFilter{Action: "api.forbidden", Limit: 1})
						require.Len(t, rows, 1, "a refused helpdesk call is audited")
						assert.Equal(t, "desk", rows[0].Actor)
						assert.Equal(t, "127.0.0.1", rows[0].RemoteAddr)
						assert.Equal(t, en.clk.Now(), rows[0].At)
					default:
						assert.NotEmpty(t, r.header.Get(HeaderRefreshedToken), "%s: an authenticated answer refreshes the token", role.name)
						if tc.audit != "" {
							rows := en.audit(store.AuditFilter{Action: tc.audit, Limit: 1})
							require.Len(t, rows, 1, "%s: audited as %s", role.name, tc.audit)
							assert.Equal(t, map[string]string{"admin": "root", "helpdesk": "desk"}[role.name], rows[0].Actor)
							assert.Equal(t, "127.0.0.1", rows[0].RemoteAddr)
						}
					}
				}
				covered[tc.method+" "+routePattern(en, tc)] = true
			})
		}
		en.t = t
		// Every authenticated route has a case.
		for _, r := range routes {
			if r.access == public {
				continue
			}
			assert.True(t, covered[r.method+" "+r.path], "no role test for %s %s", r.method, r.path)
		}
	})
}

// routePattern finds the route pattern a case's path matches.
func routePattern(en *env, tc endpointCase) string {
	path, _ := tc.setup(en)
	path, _, _ = strings.Cut(path, "?")
	c := en.echo.NewContext(httptest.NewRequest(tc.method, Prefix+path, nil), httptest.NewRecorder())
	en.echo.Router().Find(tc.method, Prefix+path, c)
	return strings.TrimPrefix(c.Path(), Prefix)
}
