package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestValidation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		en := newEnv(t, st, nil)
		tok := en.login("root", "root pw")
		alice := en.user()
		wiping := en.device(store.AccessAllowed, true)
		idle := en.device(store.AccessAllowed, false)
		def, err := en.svc.pol.Default(t.Context())
		require.NoError(t, err)
		big := `{"address":"x@example.com","password":"` + strings.Repeat("a", maxBody) + `"}`

		for _, tc := range []struct {
			name         string
			method, path string
			body         any
			status       int
			code         string
			message      string // a part of the message, if given
		}{
			{"unknown member", "POST", "/users", `{"address":"b@example.com","password":"x","admin":true}`, 400, CodeInvalid, ""},
			{"missing password", "POST", "/users", map[string]string{"address": "b@example.com"}, 400, CodeInvalid, "required"},
			{"bad address", "POST", "/users", map[string]string{"address": "not an address", "password": "x"}, 400, CodeInvalid, "email address"},
			{"duplicate user", "POST", "/users", map[string]string{"address": alice.Address, "password": "x"}, 409, CodeExists, ""},
			{"wrong type", "POST", "/users", `["b@example.com"]`, 400, CodeInvalid, ""},
			{"body too large", "POST", "/users", big, 413, CodeInvalid, "too large"},
			{"limit zero", "GET", "/users?limit=0", nil, 400, CodeInvalid, "limit"},
			{"limit too big", "GET", "/users?limit=1001", nil, 400, CodeInvalid, "limit"},
			{"limit not a number", "GET", "/users?limit=ten", nil, 400, CodeInvalid, "limit"},
			{"negative offset", "GET", "/users?offset=-1", nil, 400, CodeInvalid, "offset"},
			{"long search", "GET", "/users?q=" + strings.Repeat("a", 257), nil, 400, CodeInvalid, ""},
			{"unknown user", "GET", "/users/nobody@example.com", nil, 404, CodeNotFound, ""},
			{"disable unknown user", "POST", "/users/nobody@example.com/disable", nil, 404, CodeNotFound, ""},
			{"no protocol", "PATCH", "/users/" + alice.Address + "/protocols", map[string]any{}, 400, CodeInvalid, "at least one"},
			{"protocol not a bool", "PATCH", "/users/" + alice.Address + "/protocols", map[string]any{"eas": "yes"}, 400, CodeInvalid, ""},
			{"empty password", "POST", "/users/" + alice.Address + "/password", map[string]string{"password": ""}, 400, CodeInvalid, "password"},
			{"no policy id", "PUT", "/users/" + alice.Address + "/policy", map[string]int{"policy_id": 0}, 400, CodeInvalid, "policy_id"},
			{"unknown policy", "PUT", "/users/" + alice.Address + "/policy", map[string]int{"policy_id": 99999}, 404, CodeNotFound, ""},
			{"bad state filter", "GET", "/devices?state=lost", nil, 400, CodeInvalid, "state"},
			{"bad wipe_pending", "GET", "/devices?wipe_pending=maybe", nil, 400, CodeInvalid, "wipe_pending"},
			{"bad sort", "GET", "/devices?sort=colour", nil, 400, CodeInvalid, "first_seen"},
			{"bad compliance", "GET", "/devices?compliance=maybe", nil, 400, CodeInvalid, "compliance"},
			{"bad wipe filter", "GET", "/devices?wipe=gone", nil, 400, CodeInvalid, "wipe"},
			{"wipe filters contradict", "GET", "/devices?wipe=wiped&wipe_pending=true", nil, 400, CodeInvalid, "contradicts"},
			{"seen_before not a time", "GET", "/devices?seen_before=yesterday", nil, 400, CodeInvalid, "seen_before"},
			{"seen window empty", "GET", "/devices?seen_after=2026-01-02T00:00:00Z&seen_before=2026-01-01T00:00:00Z", nil, 400, CodeInvalid, "seen_after"},
			{"long device search", "GET", "/devices?q=" + strings.Repeat("a", 257), nil, 400, CodeInvalid, "q"},
			{"long model", "GET", "/devices?model=" + strings.Repeat("a", 257), nil, 400, CodeInvalid, "model"},
			{"device list offset", "GET", "/devices?offset=100001", nil, 400, CodeInvalid, "offset"},
			{"unknown device filter", "GET", "/devices?colour=red", nil, 400, CodeInvalid, `"colour"`},
			{"repeated filter", "GET", "/devices?state=allowed&state=blocked", nil, 400, CodeInvalid, "2 times"},
			{"unknown user filter", "GET", "/users?sort=address", nil, 400, CodeInvalid, `"sort"`},
			{"parameter on a show route", "GET", fmt.Sprintf("/devices/%d?verbose=1", idle.ID), nil, 400, CodeInvalid, "takes none"},
			{"parameter on a change", "POST", fmt.Sprintf("/devices/%d/wipe?account_only=true", idle.ID), nil, 400, CodeInvalid, `"account_only"`},
			{"unknown stats parameter", "GET", "/stats?hours=48", nil, 400, CodeInvalid, `"hours"`},
			{"traces of unknown device", "GET", "/devices/99999/traces", nil, 404, CodeNotFound, ""},
			{"traces limit zero", "GET", fmt.Sprintf("/devices/%d/traces?limit=0", idle.ID), nil, 400, CodeInvalid, "limit"},
			{"traces limit too big", "GET", fmt.Sprintf("/devices/%d/traces?limit=1001", idle.ID), nil, 400, CodeInvalid, "limit"},
			{"history limit zero", "GET", fmt.Sprintf("/devices/%d/history?limit=0", idle.ID), nil, 400, CodeInvalid, "limit"},
			{"history limit not a number", "GET", fmt.Sprintf("/devices/%d/history?limit=ten", idle.ID), nil, 400, CodeInvalid, "limit"},
			{"history of unknown device id", "GET", "/devices/0/history", nil, 404, CodeNotFound, ""},
			{"trace without enabled", "PUT", fmt.Sprintf("/devices/%d/trace", idle.ID), map[string]any{}, 400, CodeInvalid, "enabled"},
			{"trace enabled not a bool", "PUT", fmt.Sprintf("/devices/%d/trace", idle.ID), map[string]any{"enabled": "yes"}, 400, CodeInvalid, ""},
			{"trace without body", "PUT", fmt.Sprintf("/devices/%d/trace", idle.ID), nil, 415, CodeUnsupportedType, ""},
			{"trace of unknown device", "PUT", "/devices/99999/trace", map[string]any{"enabled": true}, 404, CodeNotFound, ""},
			{"device id not a number", "GET", "/devices/abc", nil, 404, CodeNotFound, ""},
			{"unknown device", "GET", "/devices/999999", nil, 404, CodeNotFound, ""},
			{"wipe twice", "POST", fmt.Sprintf("/devices/%d/wipe", wiping.ID), nil, 409, CodeWipeState, ""},
			{"cancel without wipe", "POST", fmt.Sprintf("/devices/%d/cancel-wipe", idle.ID), nil, 409, CodeWipeState, ""},
			{"wipe body not an object", "POST", fmt.Sprintf("/devices/%d/wipe", idle.ID), `true`, 400, CodeInvalid, ""},
			{"invalid setting", "POST", "/policies", map[string]any{"name": "Bad", "settings": map[string]any{"MinDevicePasswordLength": 40}}, 400, CodeInvalid, "MinDevicePasswordLength"},
			{"two invalid settings", "POST", "/policies", map[string]any{"name": "Bad", "settings": map[string]any{"MinDevicePasswordLength": 40, "MaxDevicePasswordFailedAttempts": 2}}, 400, CodeInvalid, "MaxDevicePasswordFailedAttempts: 2 is outside 4-16; MinDevicePasswordLength: 40 is outside 1-16"},
			{"unknown setting", "POST", "/policies", map[string]any{"name": "Bad", "settings": map[string]any{"AllowTeleport": true}}, 400, CodeInvalid, "settings"},
			{"policy without name", "POST", "/policies", map[string]any{"settings": map[string]any{}}, 400, CodeInvalid, "name"},
			{"duplicate policy", "POST", "/policies", map[string]any{"name": def.Name}, 409, CodeExists, ""},
			{"rename policy", "PUT", fmt.Sprintf("/policies/%d", def.ID), map[string]any{"name": "Other"}, 400, CodeInvalid, "renamed"},
			{"update unknown policy", "PUT", "/policies/99999", map[string]any{}, 404, CodeNotFound, ""},
			{"bad rule field", "POST", "/rules", map[string]string{"field": "colour", "match": "exact", "pattern": "red", "action": "blocked"}, 400, CodeInvalid, "rule field"},
			{"bad rule action", "POST", "/rules", map[string]string{"field": "os", "match": "exact", "pattern": "iOS", "action": "wipe"}, 400, CodeInvalid, "rule action"},
			{"remove unknown rule", "DELETE", "/rules/99999", nil, 404, CodeNotFound, ""},
			{"history of unknown device", "GET", "/devices/99999/history", nil, 404, CodeNotFound, ""},
			{"audit since not a time", "GET", "/audit?since=yesterday", nil, 400, CodeInvalid, "since"},
			{"audit since after until", "GET", "/audit?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", nil, 400, CodeInvalid, "before"},
			{"audit limit", "GET", "/audit?limit=5000", nil, 400, CodeInvalid, "limit"},
			{"audit offset", "GET", "/audit?offset=-1", nil, 400, CodeInvalid, "offset"},
			{"audit unknown filter", "GET", "/audit?who=root", nil, 400, CodeInvalid, `"who"`},
			{"outbound limit", "GET", "/outbound?limit=0", nil, 400, CodeInvalid, "limit"},
			{"unknown route", "GET", "/nope", nil, 404, CodeNotFound, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				en.t = t
				r := en.do(tc.method, tc.path, tok, tc.body)
				require.Equal(t, tc.status, r.status, "%s", r.body)
				var e struct{ Code, Message string }
				require.NoError(t, json.Unmarshal(r.body, &e), "%s", r.body)
				assert.Equal(t, tc.code, e.Code)
				assert.NotEmpty(t, e.Message)
				assert.Contains(t, e.Message, tc.message)
			})
		}
		en.t = t

		// Nothing was changed by the refused requests.
		p, err := en.svc.pol.Default(t.Context())
		require.NoError(t, err)
		assert.Equal(t, def.Version, p.Version)
		_, err = st.UserByAddress(t.Context(), "b@example.com")
		assert.ErrorIs(t, err, store.ErrNotFound)
		d, err := st.DeviceByID(t.Context(), idle.ID)
		require.NoError(t, err)
		assert.False(t, d.TraceEnabled, "no refused trace switch changed the device")
	})
}

// TestInternalErrorHidden: a failing store gives 500 with a generic message;
// the cause goes to the log only.
func TestInternalErrorHidden(t *testing.T) {
	st, err := store.Open(t.Context(), storetest.SQLiteURL(t), storetest.Options())
	require.NoError(t, err)
	require.NoError(t, st.Migrate(t.Context()))
	var logs bytes.Buffer
	en := newEnv(t, st, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	tok := en.login("root", "root pw")
	require.NoError(t, st.Close())

	r := en.do(http.MethodGet, "/users", tok, nil)
	require.Equal(t, http.StatusInternalServerError, r.status)
	assert.JSONEq(t, `{"code":"internal_error","message":"internal server error"}`, string(r.body))
	assert.Contains(t, logs.String(), "closed", "the cause is logged")
}

func TestListsAndAudit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		en := newEnv(t, st, nil)
		tok := en.login("root", "root pw")
		var ids []store.PartnershipID
		for range 5 {
			ids = append(ids, en.device(store.AccessQuarantined, false).ID)
		}
		en.device(store.AccessAllowed, false)

		var page struct {
			Items []struct {
				ID          int64  `json:"id"`
				Address     string `json:"address"`
				AccessState string `json:"access_state"`
			}
			Total int
		}
		r := en.do(http.MethodGet, "/devices?state=quarantined&limit=2&offset=2", tok, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.NoError(t, json.Unmarshal(r.body, &page))
		assert.Equal(t, 5, page.Total)
		require.Len(t, page.Items, 2)
		assert.Equal(t, int64(ids[2]), page.Items[0].ID)
		assert.Equal(t, store.AccessQuarantined, page.Items[0].AccessState)
		assert.Contains(t, page.Items[0].Address, "@example.com")

		var users struct {
			Items []struct{ Address string }
			Total int
		}
		r = en.do(http.MethodGet, "/users?q=U3@EXAMPLE", tok, nil)
		require.NoError(t, json.Unmarshal(r.body, &users))
		require.Equal(t, 1, users.Total, "%s", r.body)
		assert.Equal(t, "u3@example.com", users.Items[0].Address)

		// Approve one as helpdesk; the audit log shows who, what and from where.
		desk := en.login("desk", "desk pw")
		en.clk.Add(time.Minute)
		r = en.do(http.MethodPost, fmt.Sprintf("/devices/%d/allow", ids[0]), desk, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r = en.do(http.MethodGet, "/audit?actor=desk&since="+en.clk.Now().Format(time.RFC3339), tok, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		var rows struct {
			Items []map[string]any `json:"items"`
		}
		require.NoError(t, json.Unmarshal(r.body, &rows))
		require.Len(t, rows.Items, 1, "one row for one approval: %s", r.body)
		assert.Equal(t, "device.allowed", rows.Items[0]["action"])
		assert.Equal(t, "127.0.0.1", rows.Items[0]["remote_addr"])
		assert.Equal(t, en.clk.Now().Format(time.RFC3339), rows.Items[0]["at"])

		// The device's history has the setup's quarantine and the approval.
		r = en.do(http.MethodGet, fmt.Sprintf("/devices/%d/history", ids[0]), desk, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		rows.Items = nil
		require.NoError(t, json.Unmarshal(r.body, &rows))
		var actions []any
		for _, it := range rows.Items {
			actions = append(actions, it["action"])
		}
		assert.Equal(t, []any{"device.allowed", "device.quarantined"}, actions)
	})
}
