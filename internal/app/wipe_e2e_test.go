package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/internal/app"
	"github.com/easd/easd/internal/app/apptest"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// The helpdesk remote wipe of issues 6 and 7, end to end over HTTPS on the
// server as `easd serve` wires it: a phone provisions and syncs through
// eas/easclient; a helpdesk agent logs in to the admin API and asks for a
// wipe; the phone's next request is told to provision (140), Provision
// hands it the directive, the phone acknowledges; the API shows the wipe
// confirmed with its time, the audit log has every step with who and from
// where, and the user and the requester (or the admin recipients, when the
// requester has no mail address) got the confirmation message.
func TestHelpdeskWipeEndToEnd(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		e := newWipeEnv(t, st)

		t.Run("full wipe by an agent with a mailbox", func(t *testing.T) {
			e.t = t
			alice := e.mailUser("alice@example.com")
			phone := e.phone(alice, "LOST1", "iPhone15,2", "356000000000001")
			desk := e.login("helpdesk@example.com", "desk pw")
			id := e.partnership(desk, alice.Address, "LOST1")

			before := time.Now().UTC().Add(-time.Second)
			code, body := e.api(http.MethodPost, fmt.Sprintf("/devices/%d/wipe", id), desk, nil)
			require.Equal(t, http.StatusOK, code, "%s", body)
			assert.Equal(t, "requested", jsonField[string](t, body, "wipe_state"))
			assert.Equal(t, "helpdesk@example.com", jsonField[string](t, body, "wipe_requested_by"))

			// The next request (FolderSync, 16.1) gets 140; Provision sends RemoteWipe.
			assert.Equal(t, int(eas.StatusRemoteWipeRequested), folderSyncStatus(t, phone, phone.syncKey))
			st, directive := provisionWipe(t, phone.Client, nil)
			assert.Equal(t, 1, st)
			assert.Equal(t, "RemoteWipe", directive)
			_, body = e.api(http.MethodGet, fmt.Sprintf("/devices/%d", id), desk, nil)
			assert.Equal(t, "sent", jsonField[string](t, body, "wipe_state"))
			code, body = e.api(http.MethodPost, fmt.Sprintf("/devices/%d/cancel-wipe", id), desk, nil)
			assert.Equal(t, http.StatusConflict, code, "sent: too late to cancel")
			assert.Equal(t, "wipe_state", jsonField[string](t, body, "code"))

			// The phone acknowledges; the API shows the wipe confirmed with its time.
			st, directive = provisionWipe(t, phone.Client, &wipeAck{tag: wbxml.ProvisionRemoteWipe, status: 1})
			assert.Equal(t, 1, st)
			assert.Empty(t, directive)
			_, body = e.api(http.MethodGet, fmt.Sprintf("/devices/%d", id), desk, nil)
			assert.Equal(t, "acknowledged", jsonField[string](t, body, "wipe_state"))
			assert.Equal(t, 1, jsonField[int](t, body, "wipe_ack_status"))
			assert.Equal(t, "blocked", jsonField[string](t, body, "access_state"))
			acked := jsonField[time.Time](t, body, "wipe_acked_at")
			assert.False(t, acked.Before(before), "acknowledged at %v", acked)
			assert.False(t, acked.After(time.Now().UTC().Add(time.Second)))
			assert.Equal(t, int(eas.StatusDeviceIsBlockedForThisUser), folderSyncStatus(t, phone, "0"), "blocked until removed")

			// Every step in the audit log, read through the API by an admin.
			root := e.login("root", "root pw")
			rows := e.history(root, id)
			require.Equal(t, []string{"device.wipe-ack", "device.wipe-sent", "device.wipe"}, actions(rows), "one row per step")
			req := rows[2]
			assert.Equal(t, "helpdesk@example.com", req.Actor)
			assert.Equal(t, "127.0.0.1", req.RemoteAddr, "the request's row has the agent's address")
			assert.Equal(t, "device", rows[1].Actor)
			assert.Equal(t, "device", rows[0].Actor)
			assert.Equal(t, "127.0.0.1", rows[1].RemoteAddr, "the phone's address on the device's rows")
			assert.Equal(t, "127.0.0.1", rows[0].RemoteAddr)
			assert.Equal(t, "succeeded", rows[0].Detail)
			assert.False(t, rows[0].At.Before(req.At))

			// The user and the agent got the confirmation; the admin recipients did not.
			subject := "Remote wipe of LOST1 succeeded"
			assert.Contains(t, e.subjects(alice.Address), subject)
			assert.Equal(t, []string{subject}, e.subjects("helpdesk@example.com"))
			assert.NotContains(t, e.subjects("it@example.com"), subject)

			// The wiped phone comes back under a new DeviceId: the dashboard
			// shows it as the likely successor, and the old one as its predecessor.
			e.phone(alice, "RESET1", "iPhone15,2", "356000000000001")
			newID := e.partnership(desk, alice.Address, "RESET1")
			_, body = e.api(http.MethodGet, fmt.Sprintf("/devices/%d", id), desk, nil)
			succ := jsonField[[]map[string]any](t, body, "likely_successors")
			require.Len(t, succ, 1)
			assert.Equal(t, float64(newID), succ[0]["id"])
			assert.Equal(t, "same IMEI and model", succ[0]["reason"])
			_, body = e.api(http.MethodGet, fmt.Sprintf("/devices/%d", newID), desk, nil)
			pred := jsonField[[]map[string]any](t, body, "likely_predecessor")
			require.Len(t, pred, 1)
			assert.Equal(t, float64(id), pred[0]["id"])

			// The overview counts the wipe and the requests of this process.
			_, body = e.api(http.MethodGet, "/stats", desk, nil)
			var stats struct {
				Devices struct {
					Wiped int `json:"wiped"`
				} `json:"devices"`
				Hours []struct{ Sync, Other, Total int } `json:"requests_per_hour"`
			}
			require.NoError(t, json.Unmarshal(body, &stats))
			assert.Equal(t, 1, stats.Devices.Wiped)
			var syncs, others int
			for _, h := range stats.Hours {
				syncs, others = syncs+h.Sync, others+h.Other
			}
			assert.GreaterOrEqual(t, syncs, 4, "two phones synced twice each")
			assert.GreaterOrEqual(t, others, 10, "Provision and FolderSync")
		})

		t.Run("account-only wipe by an agent without a mailbox", func(t *testing.T) {
			e.t = t
			bob := e.mailUser("bob@example.com")
			phone := e.phone(bob, "WORK1", "Pixel 8", "")
			desk := e.login("desk", "desk pw")
			id := e.partnership(desk, bob.Address, "WORK1")

			code, body := e.api(http.MethodPost, fmt.Sprintf("/devices/%d/wipe", id), desk, map[string]bool{"account_only": true})
			require.Equal(t, http.StatusOK, code, "%s", body)
			assert.True(t, jsonField[bool](t, body, "wipe_account_only"))

			assert.Equal(t, int(eas.StatusRemoteWipeRequested), folderSyncStatus(t, phone, phone.syncKey))
			st, directive := provisionWipe(t, phone.Client, nil)
			assert.Equal(t, 1, st)
			assert.Equal(t, "AccountOnlyRemoteWipe", directive, "MS-ASPROV 2.2.2.1, 16.1")
			st, _ = provisionWipe(t, phone.Client, &wipeAck{tag: wbxml.ProvisionAccountOnlyRemoteWipe, status: 1})
			assert.Equal(t, 1, st)

			_, body = e.api(http.MethodGet, fmt.Sprintf("/devices/%d", id), desk, nil)
			assert.Equal(t, "acknowledged", jsonField[string](t, body, "wipe_state"))
			assert.NotZero(t, jsonField[time.Time](t, body, "wipe_acked_at"))

			rows := e.history(e.login("root", "root pw"), id)
			require.Equal(t, []string{"device.wipe-ack", "device.wipe-sent", "device.wipe-account"}, actions(rows))
			assert.Equal(t, "desk", rows[2].Actor)
			assert.Equal(t, "127.0.0.1", rows[2].RemoteAddr)

			// "desk" has no address: the admin recipients are told instead.
			subject := "Remote wipe of WORK1 succeeded"
			assert.Contains(t, e.subjects(bob.Address), subject)
			assert.Contains(t, e.subjects("it@example.com"), subject)
		})

		t.Run("full wipe of a 12.1 device", func(t *testing.T) {
			e.t = t
			dave := e.mailUser("dave@example.com")
			phone := e.phoneVersion(dave, "OLDPHONE", "", "", eas.Version121)
			desk := e.login("desk", "desk pw")
			id := e.partnership(desk, dave.Address, "OLDPHONE")
			code, body := e.api(http.MethodPost, fmt.Sprintf("/devices/%d/wipe", id), desk, nil)
			require.Equal(t, http.StatusOK, code, "%s", body)

			// Before 14.0 there is no status 140: HTTP 449 makes it provision (MS-ASPROV 3.2.5.1).
			_, err := phone.FolderSync(t.Context(), phone.syncKey)
			var refused *easclient.HTTPError
			require.ErrorAs(t, err, &refused)
			assert.Equal(t, eas.HTTP449, refused.StatusCode)
			st, directive := provisionWipe(t, phone.Client, nil)
			assert.Equal(t, 1, st)
			assert.Equal(t, "RemoteWipe", directive)
			st, _ = provisionWipe(t, phone.Client, &wipeAck{tag: wbxml.ProvisionRemoteWipe, status: 1})
			assert.Equal(t, 1, st)
			_, body = e.api(http.MethodGet, fmt.Sprintf("/devices/%d", id), desk, nil)
			assert.Equal(t, "acknowledged", jsonField[string](t, body, "wipe_state"))
			assert.Contains(t, e.subjects(dave.Address), "Remote wipe of OLDPHONE succeeded")
		})

		t.Run("cancelled before it was sent", func(t *testing.T) {
			e.t = t
			carol := e.mailUser("carol@example.com")
			phone := e.phone(carol, "FOUND1", "iPhone15,2", "")
			desk := e.login("desk", "desk pw")
			id := e.partnership(desk, carol.Address, "FOUND1")

			code, body := e.api(http.MethodPost, fmt.Sprintf("/devices/%d/wipe", id), desk, nil)
			require.Equal(t, http.StatusOK, code, "%s", body)
			code, body = e.api(http.MethodPost, fmt.Sprintf("/devices/%d/cancel-wipe", id), desk, nil)
			require.Equal(t, http.StatusOK, code, "%s", body)
			assert.Equal(t, "cancelled", jsonField[string](t, body, "wipe_state"))

			// The phone never hears of it and keeps syncing.
			assert.Equal(t, 1, folderSyncStatus(t, phone, phone.syncKey))
			assert.Equal(t, "1", syncInbox(t, phone).status)
			_, body = e.api(http.MethodGet, fmt.Sprintf("/devices/%d", id), desk, nil)
			assert.Equal(t, "cancelled", jsonField[string](t, body, "wipe_state"))
			assert.Equal(t, "allowed", jsonField[string](t, body, "access_state"))
			assert.Nil(t, jsonField[*time.Time](t, body, "wipe_sent_at"))

			rows := e.history(e.login("root", "root pw"), id)
			assert.Equal(t, []string{"device.wipe-cancel", "device.wipe"}, actions(rows))
			for _, s := range e.subjects(carol.Address) {
				assert.NotContains(t, s, "Remote wipe")
			}
		})
	})
}

// wipeEnv is a running server with the accounts of the test.
type wipeEnv struct {
	t   *testing.T
	st  *store.Store
	srv *apptest.Server
	seq int
}

func newWipeEnv(t *testing.T, st *store.Store) *wipeEnv {
	ctx := t.Context()
	for _, a := range []string{"helpdesk@example.com", "it@example.com"} {
		_, err := st.CreateUser(ctx, store.NewUser{Address: a, Password: "mail pw"})
		require.NoError(t, err)
	}
	_, err := st.CreateAdmin(ctx, "root", store.RoleAdmin, "root pw")
	require.NoError(t, err)
	_, err = st.CreateAdmin(ctx, "helpdesk@example.com", store.RoleHelpdesk, "desk pw")
	require.NoError(t, err)
	_, err = st.CreateAdmin(ctx, "desk", store.RoleHelpdesk, "desk pw")
	require.NoError(t, err)
	srv := apptest.Start(t, st, app.Config{AdminRecipients: []string{"it@example.com"}})
	return &wipeEnv{t: t, st: st, srv: srv}
}

func (e *wipeEnv) mailUser(addr string) store.User {
	e.t.Helper()
	u, err := e.st.CreateUser(e.t.Context(), store.NewUser{Address: addr, Password: "phone pw"})
	require.NoError(e.t, err)
	_, err = e.st.Deliver(e.t.Context(), addr, []byte("From: <boss@example.com>\r\nTo: <"+addr+">\r\nSubject: Welcome\r\n"+
		"Message-ID: <welcome-"+addr+">\r\nDate: Fri, 27 Nov 2026 09:00:00 +0000\r\n\r\nHello.\r\n"))
	require.NoError(e.t, err)
	return u
}

// phone is a provisioned device that synced its Inbox.
type phone struct {
	*easclient.Client
	syncKey string // the FolderSync key
	inboxID string
}

// phone provisions a new 16.1 device of u (telling its model and IMEI),
// syncs the folder hierarchy and the Inbox, and checks it got the Inbox's
// message.
func (e *wipeEnv) phone(u store.User, deviceID, model, imei string) *phone {
	e.t.Helper()
	return e.phoneVersion(u, deviceID, model, imei, eas.Version161)
}

// phoneVersion is phone speaking protocol version v; before 14.1 it tells
// nothing about itself (Provision has no DeviceInformation there).
func (e *wipeEnv) phoneVersion(u store.User, deviceID, model, imei string, v eas.Version) *phone {
	t := e.t
	t.Helper()
	c := &easclient.Client{HTTP: e.srv.Client, URL: e.srv.URL, Username: u.Address, Password: "phone pw",
		User: u.Address, DeviceID: deviceID, DeviceType: "Phone", UserAgent: "Phone/1.0", Version: v}
	p := &phone{Client: c}
	// Provision sends the DeviceInformation from 14.1 on only (MS-ASPROV 2.2.2.53).
	_, err := c.Provision(t.Context(), &easclient.DeviceInfo{Model: model, IMEI: imei, OS: "TestOS 1"})
	require.NoError(t, err)

	fs, err := c.FolderSync(t.Context(), "0")
	require.NoError(t, err)
	require.Equal(t, 1, fs.Status)
	p.syncKey = fs.SyncKey
	inbox, _ := fs.Folder(2) // MS-ASCMD 2.2.3.186.3: 2 is the Inbox
	p.inboxID = inbox.ServerID
	require.NotEmpty(t, p.inboxID)
	res := syncInbox(t, p)
	require.Equal(t, "1", res.status)
	assert.Contains(t, res.subjects, "Welcome")
	return p
}

// partnership finds the device's partnership id through the API.
func (e *wipeEnv) partnership(token, user, deviceID string) int64 {
	e.t.Helper()
	code, body := e.api(http.MethodGet, "/devices?user="+url.QueryEscape(user)+"&q="+url.QueryEscape(deviceID), token, nil)
	require.Equal(e.t, http.StatusOK, code, "%s", body)
	var l struct {
		Items []struct {
			ID       int64  `json:"id"`
			DeviceID string `json:"device_id"`
		} `json:"items"`
	}
	require.NoError(e.t, json.Unmarshal(body, &l))
	for _, d := range l.Items {
		if d.DeviceID == deviceID {
			return d.ID
		}
	}
	e.t.Fatalf("no partnership %s of %s in %s", deviceID, user, body)
	return 0
}

func (e *wipeEnv) api(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(e.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.srv.URL+"/api/v1"+path, rd)
	require.NoError(e.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, b
}

func (e *wipeEnv) login(name, password string) string {
	e.t.Helper()
	code, body := e.api(http.MethodPost, "/login", "", map[string]string{"name": name, "password": password})
	require.Equal(e.t, http.StatusOK, code, "%s", body)
	return jsonField[string](e.t, body, "token")
}

type auditRow struct {
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	Detail     string    `json:"detail"`
	RemoteAddr string    `json:"remote_addr"`
}

// history is the device's audit rows (newest first) through the API,
// without the access decisions of its first contact.
func (e *wipeEnv) history(token string, id int64) []auditRow {
	e.t.Helper()
	code, body := e.api(http.MethodGet, fmt.Sprintf("/devices/%d/history", id), token, nil)
	require.Equal(e.t, http.StatusOK, code, "%s", body)
	var l struct {
		Items []auditRow `json:"items"`
	}
	require.NoError(e.t, json.Unmarshal(body, &l))
	var out []auditRow
	for _, r := range l.Items {
		if r.Action != "device.allowed" && r.Action != "device.quarantined" && r.Action != "device.blocked" {
			out = append(out, r)
		}
	}
	return out
}

func actions(rows []auditRow) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, r.Action)
	}
	return out
}

// subjects are the subjects of the messages in addr's Inbox, from the store.
func (e *wipeEnv) subjects(addr string) []string {
	e.t.Helper()
	ctx := e.t.Context()
	u, err := e.st.UserByAddress(ctx, addr)
	require.NoError(e.t, err)
	inbox, err := e.st.FolderByType(ctx, u.Mailbox, store.FolderInbox)
	require.NoError(e.t, err)
	items, err := e.st.Items(ctx, inbox.ID)
	require.NoError(e.t, err)
	out := []string{}
	for _, it := range items {
		if it.Subject != "Welcome" {
			out = append(out, it.Subject)
		}
	}
	return out
}

func jsonField[T any](t *testing.T, body []byte, name string) T {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &m), "%s", body)
	var v T
	if raw, ok := m[name]; ok {
		require.NoError(t, json.Unmarshal(raw, &v), "%s: %s", name, raw)
	}
	return v
}

// WBXML requests and answers, through eas/easclient.

func folderSyncStatus(t *testing.T, p *phone, key string) int {
	t.Helper()
	fs, err := p.FolderSync(t.Context(), key)
	require.NoError(t, err)
	return fs.Status
}

type syncResult struct {
	status   string
	subjects []string
}

// syncInbox syncs the Inbox from key 0: the priming Sync, then one that
// returns the messages.
func syncInbox(t *testing.T, p *phone) syncResult {
	t.Helper()
	r, err := p.InitialSync(t.Context(), p.inboxID, 100)
	require.NoError(t, err)
	res := syncResult{status: strconv.Itoa(r.Status)}
	for _, a := range r.Added {
		res.subjects = append(res.subjects, a.Data.Get(wbxml.EmailSubject))
	}
	return res
}

type wipeAck struct {
	tag    wbxml.Tag // ProvisionRemoteWipe or ProvisionAccountOnlyRemoteWipe
	status int       // MS-ASPROV 2.2.2.54.3: 1 wiped, 2 failed
}

// provisionWipe sends the initial Provision the status 140 asks for, or
// (ack) the acknowledgement of the wipe directive (MS-ASPROV 3.2.5.1.2.2),
// and returns the Provision Status and the directive in the answer.
func provisionWipe(t *testing.T, c *easclient.Client, ack *wipeAck) (int, string) {
	t.Helper()
	var r *easclient.ProvisionResult
	var err error
	if ack != nil {
		r, err = c.AcknowledgeWipe(t.Context(), ack.tag, ack.status)
	} else {
		r, err = c.RequestPolicy(t.Context(), nil)
	}
	require.NoError(t, err)
	if r.Wipe == 0 {
		return r.Status, ""
	}
	return r.Status, strings.TrimPrefix(r.Wipe.String(), "Provision:") // RemoteWipe, AccountOnlyRemoteWipe
}
