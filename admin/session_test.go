package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestNewInactivityRange(t *testing.T) {
	st := storetest.Open(t, storetest.SQLiteURL(t))
	reg := devices.New(st, devices.Options{})
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		want    time.Duration // zero: refused
	}{
		{"default", 0, DefaultInactivityTimeout},
		{"minimum", 5 * time.Minute, 5 * time.Minute},
		{"maximum", 8 * time.Hour, 8 * time.Hour},
		{"below minimum", 5*time.Minute - time.Second, 0},
		{"above maximum", 8*time.Hour + time.Second, 0},
		{"negative", -time.Hour, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Options{Store: st, Devices: reg, SigningKey: testKey, InactivityTimeout: tc.timeout})
			if tc.want == 0 {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "inactivity timeout")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, s.inactivity)
		})
	}
	_, err := New(Options{Store: st, Devices: reg, SigningKey: testKey[:31]})
	assert.Error(t, err, "a short signing key is refused")
	_, err = New(Options{Store: st, SigningKey: testKey})
	assert.Error(t, err, "Devices is required")
}

// refreshed returns the refreshed token of an authenticated answer.
func refreshed(t *testing.T, r response) string {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	tok := r.header.Get(HeaderRefreshedToken)
	require.NotEmpty(t, tok)
	return tok
}

func TestSessionTimeouts(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		en := newEnv(t, st, func(o *Options) { o.InactivityTimeout = 30 * time.Minute })
		login := en.clk.Now()
		tok := en.login("desk", "desk pw")

		// Inactivity: a token lives 30 minutes; each request hands out a new one.
		en.clk.Add(29 * time.Minute)
		r := en.do(http.MethodGet, "/session", tok, nil)
		next := refreshed(t, r)
		exp, err := time.Parse(time.RFC3339, r.header.Get(HeaderRefreshedExpires))
		require.NoError(t, err)
		assert.Equal(t, en.clk.Now().Add(30*time.Minute), exp)
		en.clk.Add(30*time.Minute + time.Second)
		r = en.do(http.MethodGet, "/session", next, nil)
		assert.Equal(t, http.StatusUnauthorized, r.status, "30 minutes without a request end the session")
		assert.Equal(t, CodeSessionExpired, r.errCode(t))
		assert.Equal(t, `Bearer realm="easd"`, r.header.Get("WWW-Authenticate"))

		// Absolute: activity every 20 minutes keeps a session only until 8 h after login.
		login = en.clk.Now()
		tok = en.login("desk", "desk pw")
		for en.clk.Now().Add(20 * time.Minute).Before(login.Add(AbsoluteTimeout)) {
			en.clk.Add(20 * time.Minute)
			tok = refreshed(t, en.do(http.MethodGet, "/users", tok, nil))
		}
		left := login.Add(AbsoluteTimeout).Sub(en.clk.Now())
		require.Greater(t, left, time.Duration(0))
		require.LessOrEqual(t, left, 20*time.Minute)
		r = en.do(http.MethodGet, "/session", tok, nil)
		tok = refreshed(t, r)
		exp, err = time.Parse(time.RFC3339, r.header.Get(HeaderRefreshedExpires))
		require.NoError(t, err)
		assert.Equal(t, login.Add(AbsoluteTimeout), exp, "a refreshed token never outlives the absolute limit")
		en.clk.Add(left)
		r = en.do(http.MethodGet, "/session", tok, nil)
		assert.Equal(t, http.StatusUnauthorized, r.status, "8 h after login the session ends however active")
		assert.Equal(t, CodeSessionExpired, r.errCode(t))

		// A new login starts a new session.
		tok = en.login("desk", "desk pw")
		refreshed(t, en.do(http.MethodGet, "/session", tok, nil))
	})
}

func TestTokens(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		oldKey := bytes.Repeat([]byte("o"), 32)
		en := newEnv(t, st, func(o *Options) { o.PreviousKeys = [][]byte{oldKey} })
		ctx := t.Context()
		now := en.clk.Now()
		sign := func(key []byte, method jwt.SigningMethod, c claims) string {
			tok, err := jwt.NewWithClaims(method, c).SignedString(key)
			require.NoError(t, err)
			return tok
		}
		valid := claims{Role: store.RoleAdmin, AuthTime: now.Unix(), RegisteredClaims: jwt.RegisteredClaims{
			Issuer: tokenIssuer, Subject: "root", IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}}
		otherIssuer := valid
		otherIssuer.Issuer = "someone"
		noExp := valid
		noExp.ExpiresAt = nil
		ghost := valid
		ghost.Subject = "ghost"
		oldAuth := valid
		oldAuth.AuthTime = now.Add(-AbsoluteTimeout).Unix()

		for _, tc := range []struct {
			name  string
			token string
			code  string // empty: accepted
		}{
			{"current key", sign(testKey, jwt.SigningMethodHS256, valid), ""},
			{"previous key after rotation", sign(oldKey, jwt.SigningMethodHS256, valid), ""},
			{"unknown key", sign(bytes.Repeat([]byte("x"), 32), jwt.SigningMethodHS256, valid), CodeInvalidToken},
			{"HS512", sign(testKey, jwt.SigningMethodHS512, valid), CodeInvalidToken},
			{"alg none", func() string {
				tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
				require.NoError(t, err)
				return tok
			}(), CodeInvalidToken},
			{"other issuer", sign(testKey, jwt.SigningMethodHS256, otherIssuer), CodeInvalidToken},
			{"no expiry", sign(testKey, jwt.SigningMethodHS256, noExp), CodeInvalidToken},
			{"removed account", sign(testKey, jwt.SigningMethodHS256, ghost), CodeInvalidToken},
			{"login 8 h ago", sign(testKey, jwt.SigningMethodHS256, oldAuth), CodeSessionExpired},
			{"garbage", "not.a.token", CodeInvalidToken},
		} {
			t.Run(tc.name, func(t *testing.T) {
				en.t = t
				r := en.do(http.MethodGet, "/session", tc.token, nil)
				if tc.code == "" {
					refreshed(t, r)
					return
				}
				assert.Equal(t, http.StatusUnauthorized, r.status)
				assert.Equal(t, tc.code, r.errCode(t))
			})
		}
		en.t = t

		// The role is the account's current one, not the token's.
		tok := en.login("root", "root pw")
		require.NoError(t, st.RemoveAdmin(ctx, "desk"))
		_, err := st.CreateAdmin(ctx, "root2", store.RoleAdmin, "pw")
		require.NoError(t, err)
		require.NoError(t, st.RemoveAdmin(ctx, "root"))
		_, err = st.CreateAdmin(ctx, "root", store.RoleHelpdesk, "pw")
		require.NoError(t, err)
		r := en.do(http.MethodGet, "/policies", tok, nil)
		assert.Equal(t, http.StatusForbidden, r.status, "a demoted account loses admin rights at once")
		var sess struct{ Role string }
		require.NoError(t, json.Unmarshal(en.do(http.MethodGet, "/session", tok, nil).body, &sess))
		assert.Equal(t, store.RoleHelpdesk, sess.Role)
	})
}

func TestLogin(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		en := newEnv(t, st, nil)
		for _, tc := range []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"admin", map[string]string{"name": "root", "password": "root pw"}, 200, ""},
			{"helpdesk", map[string]string{"name": "desk", "password": "desk pw"}, 200, ""},
			{"wrong password", map[string]string{"name": "root", "password": "nope"}, 401, CodeBadCredentials},
			{"unknown account", map[string]string{"name": "ghost", "password": "nope"}, 401, CodeBadCredentials},
			{"mail user is not an admin", map[string]string{"name": "root@example.com", "password": "root pw"}, 401, CodeBadCredentials},
			{"no password", map[string]string{"name": "root"}, 400, CodeInvalid},
			{"unknown member", map[string]string{"name": "root", "password": "root pw", "role": "admin"}, 400, CodeInvalid},
			{"not JSON", "name=root", 400, CodeInvalid},
			{"two objects", `{"name":"root","password":"root pw"}{}`, 400, CodeInvalid},
			{"throttled", map[string]string{"name": "locked", "password": "x"}, 429, CodeTooManyAttempts},
		} {
			t.Run(tc.name, func(t *testing.T) {
				en.t = t
				en.guard.blocked["locked"] = true
				r := en.do(http.MethodPost, "/login", "", tc.body)
				require.Equal(t, tc.status, r.status, "%s", r.body)
				if tc.code != "" {
					assert.Equal(t, tc.code, r.errCode(t))
					return
				}
				var tok Token
				require.NoError(t, json.Unmarshal(r.body, &tok))
				assert.NotEmpty(t, tok.Token)
				assert.Equal(t, en.clk.Now().Add(DefaultInactivityTimeout), tok.ExpiresAt)
			})
		}
		en.t = t
		r := en.do(http.MethodPost, "/login", "", map[string]string{"name": "locked", "password": "x"})
		assert.Equal(t, "90", r.header.Get("Retry-After"))
		assert.Equal(t, []string{"root", "ghost", "root@example.com"}, en.guard.failed, "failures go to the shared guard")

		rows := en.audit(store.AuditFilter{Action: "admin.login-failed"})
		require.Len(t, rows, 3)
		assert.Equal(t, "root@example.com", rows[0].Actor)
		assert.Equal(t, "127.0.0.1", rows[0].RemoteAddr)
		rows = en.audit(store.AuditFilter{Action: "admin.login"})
		require.Len(t, rows, 2)
		assert.Equal(t, "desk", rows[0].Actor)

		// A wrong media type is refused before anything is checked.
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, en.srv.URL+Prefix+"/login", bytes.NewReader([]byte(`{"name":"root","password":"root pw"}`)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := en.srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	})
}
