package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/internal/hourly"
	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var v T
	require.NoError(t, json.Unmarshal(r.body, &v), "%s", r.body)
	return v
}

func TestStats(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		var reqs *hourly.Counter
		started := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
		en := newEnv(t, st, func(o *Options) {
			reqs = hourly.New(requestKinds, o.Now)
			o.Requests, o.Started = reqs, started
		})
		ctx := t.Context()
		tok := en.login("desk", "desk pw")
		a := en.device(store.AccessAllowed, false)
		require.NoError(t, st.SetDeviceInfo(ctx, a.ID, store.DeviceInfo{Model: "iPhone15,2", OS: "iOS 17.1"}))
		en.device(store.AccessQuarantined, false)
		en.device(store.AccessAllowed, true)

		for range 3 {
			CountRequest(reqs, "Sync")
		}
		CountRequest(reqs, "Ping")
		CountRequest(reqs, "FolderSync")
		CountRequest(reqs, "")
		en.clk.Add(-2 * time.Hour)
		CountRequest(reqs, "Ping")
		en.clk.Add(2 * time.Hour)

		type statsBody struct {
			Devices struct {
				Total       int            `json:"total"`
				ByState     map[string]int `json:"by_state"`
				ByOS        []nameCountJSON
				ByModel     []nameCountJSON
				Wiped       int `json:"wiped"`
				WipePending int `json:"wipe_pending"`
				Compliant   int `json:"compliant"`
			} `json:"devices"`
			RequestsPerHour []hourJSON `json:"requests_per_hour"`
			RequestsSince   time.Time  `json:"requests_since"`
		}
		s := decode[statsBody](t, en.do(http.MethodGet, "/stats", tok, nil))
		assert.Equal(t, 3, s.Devices.Total)
		assert.Equal(t, map[string]int{"allowed": 2, "blocked": 0, "quarantined": 1}, s.Devices.ByState)
		assert.Equal(t, 1, s.Devices.WipePending)
		assert.Zero(t, s.Devices.Wiped)
		assert.Equal(t, started, s.RequestsSince)
		require.Len(t, s.RequestsPerHour, 24)
		now := s.RequestsPerHour[23]
		assert.Equal(t, en.clk.Now().Truncate(time.Hour), now.Start)
		assert.Equal(t, hourJSON{Start: now.Start, Sync: 3, Ping: 1, Other: 2, Total: 6}, now)
		assert.Equal(t, uint64(1), s.RequestsPerHour[21].Ping, "two hours ago")
		assert.Zero(t, s.RequestsPerHour[22].Total)

		var raw struct {
			Devices map[string]json.RawMessage `json:"devices"`
		}
		require.NoError(t, json.Unmarshal(en.do(http.MethodGet, "/stats", tok, nil).body, &raw))
		assert.JSONEq(t, `[{"name":"iPhone","count":2},{"name":"iOS 17.1","count":1}]`, string(raw.Devices["by_os"]))
		assert.JSONEq(t, `[{"name":"","count":2},{"name":"iPhone15,2","count":1}]`, string(raw.Devices["by_model"]))
	})
}

func TestCountRequestAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("allocation counts differ under -cover")
	}
	c := NewRequestCounter()
	assert.Zero(t, testing.AllocsPerRun(1000, func() { CountRequest(c, "Ping") }))
}

func TestTraces(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		en := newEnv(t, st, nil)
		ctx := t.Context()
		root, desk := en.login("root", "root pw"), en.login("desk", "desk pw")
		d := en.device(store.AccessAllowed, false)
		path := fmt.Sprintf("/devices/%d", d.ID)

		type traceList struct {
			Items []traceJSON `json:"items"`
			Total int         `json:"total"`
		}
		assert.Empty(t, decode[traceList](t, en.do(http.MethodGet, path+"/traces", desk, nil)).Items)

		r := en.do(http.MethodPut, path+"/trace", root, map[string]bool{"enabled": true})
		assert.True(t, decode[deviceJSON](t, r).TraceEnabled)
		traced, err := st.Devices(ctx, store.DeviceFilter{TraceEnabled: true})
		require.NoError(t, err)
		require.Len(t, traced, 1)
		assert.Equal(t, d.ID, traced[0].ID)
		rows := en.audit(store.AuditFilter{Action: "device.trace", Limit: 1})
		require.Len(t, rows, 1)
		assert.Equal(t, "on", rows[0].Detail)
		assert.Equal(t, deviceTarget(d), rows[0].Target, "in the device's history")

		for i, cmd := range []string{"FolderSync", "Sync", "Ping"} {
			require.NoError(t, st.AppendTrace(ctx, store.TraceRecord{Device: d.ID, At: en.clk.Now().Add(time.Duration(i) * time.Second),
				Command: cmd, ProtocolVersion: "16.1", HTTPStatus: 200, Duration: 1500 * time.Microsecond,
				Request: "<" + cmd + "/>", Response: "<" + cmd + "><Status>1</Status></" + cmd + ">"}, 0))
		}
		tl := decode[traceList](t, en.do(http.MethodGet, path+"/traces?limit=2", desk, nil))
		require.Len(t, tl.Items, 2)
		assert.Equal(t, "Ping", tl.Items[0].Command, "newest first")
		assert.Equal(t, "Sync", tl.Items[1].Command)
		assert.Equal(t, "<Ping/>", tl.Items[0].Request)
		assert.Equal(t, "<Ping><Status>1</Status></Ping>", tl.Items[0].Response)
		assert.Equal(t, 1.5, tl.Items[0].DurationMs)
		assert.Equal(t, 200, tl.Items[0].HTTPStatus)

		r = en.do(http.MethodPut, path+"/trace", root, map[string]bool{"enabled": false})
		assert.False(t, decode[deviceJSON](t, r).TraceEnabled)
		rows = en.audit(store.AuditFilter{Action: "device.trace", Limit: 1})
		require.Len(t, rows, 1)
		assert.Equal(t, "off", rows[0].Detail)
		assert.Len(t, decode[traceList](t, en.do(http.MethodGet, path+"/traces", desk, nil)).Items, 3, "switching off keeps the traces")
	})
}

func TestDeviceListAndSuccessors(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		en := newEnv(t, st, nil)
		ctx := t.Context()
		tok := en.login("desk", "desk pw")
		u := en.user()
		touch := func(id, model, imei string) store.Device {
			k := devices.Key{User: u.ID, DeviceID: id}
			_, err := en.reg.Touch(ctx, k, devices.Contact{DeviceType: "iPhone", ProtocolVersion: "16.1"})
			require.NoError(t, err)
			require.NoError(t, en.reg.SetInfo(ctx, k, devices.Info{Model: model, IMEI: imei}))
			d, err := en.reg.Get(ctx, k)
			require.NoError(t, err)
			return d
		}
		old := touch("OLD", "iPhone15,2", "356000000000001")
		en.clk.Add(time.Minute)
		r := en.do(http.MethodPost, fmt.Sprintf("/devices/%d/wipe", old.ID), tok, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		en.clk.Add(time.Hour)
		newer := touch("NEW", "iPhone15,2", "")
		en.clk.Add(time.Minute)
		same := touch("SAME", "iPhone15,2", "356000000000001")

		type detail struct {
			deviceJSON
			LikelySuccessors  []likelyJSON `json:"likely_successors"`
			LikelyPredecessor []likelyJSON `json:"likely_predecessor"`
		}
		got := decode[detail](t, en.do(http.MethodGet, fmt.Sprintf("/devices/%d", old.ID), tok, nil))
		assert.Equal(t, "requested", got.WipeState)
		require.Len(t, got.LikelySuccessors, 2)
		assert.Equal(t, int64(same.ID), got.LikelySuccessors[0].ID, "the IMEI match first")
		assert.Equal(t, "same IMEI and model", got.LikelySuccessors[0].Reason)
		assert.Equal(t, int64(newer.ID), got.LikelySuccessors[1].ID)
		assert.Equal(t, "same model", got.LikelySuccessors[1].Reason)
		assert.Empty(t, got.LikelyPredecessor)
		assert.NotNil(t, got.LikelyPredecessor, "an empty array, not null")

		got = decode[detail](t, en.do(http.MethodGet, fmt.Sprintf("/devices/%d", same.ID), tok, nil))
		require.Len(t, got.LikelyPredecessor, 1)
		assert.Equal(t, int64(old.ID), got.LikelyPredecessor[0].ID)
		assert.Equal(t, "requested", got.LikelyPredecessor[0].WipeState)
		assert.Empty(t, got.LikelySuccessors)

		// The list: filters, sort and window in one request.
		type list struct {
			Items []deviceJSON `json:"items"`
			Total int          `json:"total"`
		}
		l := decode[list](t, en.do(http.MethodGet, "/devices?user="+u.Address+"&sort=-last_seen&limit=2", tok, nil))
		assert.Equal(t, 3, l.Total)
		require.Len(t, l.Items, 2)
		assert.Equal(t, "SAME", l.Items[0].DeviceID)
		assert.Equal(t, "NEW", l.Items[1].DeviceID)
		l = decode[list](t, en.do(http.MethodGet, "/devices?user="+u.Address+"&wipe=pending", tok, nil))
		require.Equal(t, 1, l.Total)
		assert.Equal(t, "OLD", l.Items[0].DeviceID)
		l = decode[list](t, en.do(http.MethodGet, "/devices?model=iPhone15,2&os=iPhone&compliance=non-compliant&wipe=none&q=s", tok, nil))
		require.Equal(t, 1, l.Total, "q=s matches SAME only")
		assert.Equal(t, "SAME", l.Items[0].DeviceID)
		assert.False(t, l.Items[0].PolicyCompliant)
		since := en.clk.Now().Add(-30 * time.Second).Format(time.RFC3339)
		l = decode[list](t, en.do(http.MethodGet, "/devices?seen_after="+since, tok, nil))
		require.Equal(t, 1, l.Total)
		assert.Equal(t, "SAME", l.Items[0].DeviceID)
	})
}

// TestDevicePolicyNamesAndQueueOrder: a helpdesk agent, who cannot read
// /policies, sees which policy a device acknowledged and which one its
// user now has, by name, in the list, the detail and an action's answer;
// sort=first_seen lists the quarantine queue longest waiting first across
// pages.
func TestDevicePolicyNamesAndQueueOrder(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		en := newEnv(t, st, nil)
		ctx := t.Context()
		tok := en.login("desk", "desk pw")
		def, err := en.svc.pol.Default(ctx)
		require.NoError(t, err)
		u := en.user()
		var ids []string
		for i := range 3 {
			k := devices.Key{User: u.ID, DeviceID: fmt.Sprintf("Q%d", 3-i)} // Q3 first: names sort against age
			d, err := en.reg.Touch(ctx, k, devices.Contact{DeviceType: "Android", ProtocolVersion: "16.1"})
			require.NoError(t, err)
			temp, err := en.reg.BeginProvision(ctx, k, def.ID, def.Version)
			require.NoError(t, err)
			_, err = en.reg.Acknowledge(ctx, k, temp, 1)
			require.NoError(t, err)
			_, err = en.reg.SetAccess(ctx, d.ID, store.AccessQuarantined, "setup")
			require.NoError(t, err)
			ids = append(ids, k.DeviceID)
			en.clk.Add(time.Minute)
		}
		exec := policy.Default()
		exec.Name = "Executives"
		execP, err := en.svc.pol.Create(ctx, exec)
		require.NoError(t, err)
		require.NoError(t, en.svc.pol.Assign(ctx, u.ID, execP.ID))

		type list struct {
			Items []deviceJSON `json:"items"`
			Total int          `json:"total"`
		}
		var got []string
		for offset := 0; offset < 3; offset += 2 {
			l := decode[list](t, en.do(http.MethodGet, fmt.Sprintf("/devices?user=%s&state=quarantined&sort=first_seen&limit=2&offset=%d", u.Address, offset), tok, nil))
			assert.Equal(t, 3, l.Total)
			for _, d := range l.Items {
				got = append(got, d.DeviceID)
				assert.Equal(t, "Executives", d.PolicyName, "the user's policy")
				assert.Equal(t, def.Name, d.AckPolicyName, "the acknowledged policy")
				assert.False(t, d.PolicyCompliant)
			}
		}
		assert.Equal(t, ids, got, "oldest first across pages")
		l := decode[list](t, en.do(http.MethodGet, "/devices?user="+u.Address+"&sort=-first_seen", tok, nil))
		require.Len(t, l.Items, 3)
		assert.Equal(t, ids[2], l.Items[0].DeviceID, "newest first")

		first := l.Items[2]
		d := decode[deviceJSON](t, en.do(http.MethodGet, fmt.Sprintf("/devices/%d", first.ID), tok, nil))
		assert.Equal(t, "Executives", d.PolicyName)
		assert.Equal(t, def.Name, d.AckPolicyName)
		d = decode[deviceJSON](t, en.do(http.MethodPost, fmt.Sprintf("/devices/%d/allow", first.ID), tok, nil))
		assert.Equal(t, store.AccessAllowed, d.AccessState)
		assert.Equal(t, "Executives", d.PolicyName, "an action's answer names the policies too")
		assert.Equal(t, def.Name, d.AckPolicyName)

		// A device that never provisioned acknowledged nothing.
		fresh := en.device(store.AccessAllowed, false)
		d = decode[deviceJSON](t, en.do(http.MethodGet, fmt.Sprintf("/devices/%d", fresh.ID), tok, nil))
		assert.Empty(t, d.AckPolicyName)
		assert.Equal(t, def.Name, d.PolicyName)
	})
}
