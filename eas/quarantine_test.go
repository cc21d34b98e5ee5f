package eas_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// mdmEnv is a server on the real store with the real gate, Provision, the folder hierarchy
// commands and Sync, for the device management sequences (issue 6); alice is the user,
// admin@example.com the admin recipient of notifications.
type mdmEnv struct {
	st    *store.Store
	reg   *devices.Registry
	alice store.User
	admin store.User
	https *httptest.Server
}

func newMDMEnv(t *testing.T, st *store.Store, opts devices.Options) *mdmEnv {
	t.Helper()
	ctx := t.Context()
	alice, err := st.CreateUser(ctx, store.NewUser{Address: "alice@example.com", Password: "secret"})
	require.NoError(t, err)
	admin, err := st.CreateUser(ctx, store.NewUser{Address: "admin@example.com", Password: "secret"})
	require.NoError(t, err)
	opts.AdminRecipients = []string{"admin@example.com"}
	reg := devices.New(st, opts)
	srv := eas.New(eas.Options{Logger: slog.New(slog.DiscardHandler), Auth: st, DefaultDomain: "example.com",
		Gate: eas.NewGate(reg, st, eas.GateOptions{})})
	srv.Handle(eas.ProvisionCommand(reg, st))
	for _, c := range eas.NewHierarchy(eas.HierarchyOptions{Store: st}).Commands() {
		srv.Handle(c)
	}
	for _, c := range eas.NewSync(eas.SyncOptions{Store: st}).Commands() {
		srv.Handle(c)
	}
	e := echo.New()
	srv.Register(e)
	https := httptest.NewTLSServer(e)
	t.Cleanup(https.Close)
	return &mdmEnv{st: st, reg: reg, alice: alice, admin: admin, https: https}
}

func (env *mdmEnv) client(id, typ string, v eas.Version) *easclient.Client {
	return &easclient.Client{HTTP: env.https.Client(), URL: env.https.URL, Username: "alice@example.com",
		Password: "secret", User: "alice", DeviceID: id, DeviceType: typ, UserAgent: typ + "/1.0", Version: v}
}

func (env *mdmEnv) device(t *testing.T, id string) devices.Device {
	t.Helper()
	d, err := env.reg.Get(t.Context(), devices.Key{User: env.alice.ID, DeviceID: id})
	require.NoError(t, err)
	return d
}

// subjects returns the subjects of the messages in the user's Inbox.
func (env *mdmEnv) subjects(t *testing.T, u store.User) []string {
	t.Helper()
	inbox, err := env.st.FolderByType(t.Context(), u.Mailbox, store.FolderInbox)
	require.NoError(t, err)
	items, err := env.st.Items(t.Context(), inbox.ID)
	require.NoError(t, err)
	var out []string
	for _, it := range items {
		out = append(out, it.Subject)
	}
	return out
}

// hierarchy does a FolderSync with key and returns the status, the new key and the display
// names of the added folders.
func hierarchy(t *testing.T, c *easclient.Client, key string) (int, string, []string) {
	t.Helper()
	fs, err := c.FolderSync(t.Context(), key)
	if he, ok := errors.AsType[*easclient.HTTPError](err); ok {
		return he.StatusCode, "", nil
	}
	require.NoError(t, err)
	var names []string
	for _, f := range fs.Added {
		names = append(names, f.DisplayName)
	}
	return fs.Status, fs.SyncKey, names
}

// inboxSubjects syncs the Inbox from key 0 and returns the subjects sent.
func inboxSubjects(t *testing.T, c *easclient.Client, inbox store.Folder) []string {
	t.Helper()
	r, err := c.InitialSync(t.Context(), folderIDString(inbox), 100)
	require.NoError(t, err)
	require.NotNil(t, r.Collection)
	require.Equal(t, 1, r.Status)
	var out []string
	for _, a := range r.Added {
		out = append(out, a.Data.Get(wbxml.EmailSubject))
	}
	return out
}

// syncStatus sends a Sync with key 0 for folder and returns the collection's Status.
func syncStatus(t *testing.T, c *easclient.Client, folder store.Folder) string {
	t.Helper()
	resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdSync,
		Body: syncBody(t, []collReq{{key: "0", id: folderIDString(folder)}}, nil)})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	coll := parseWBXML(t, resp.Body).Child(wbxml.AirSyncCollections).Child(wbxml.AirSyncCollection)
	require.NotNil(t, coll)
	return coll.Get(wbxml.AirSyncStatus)
}

// commandStatus sends a FolderCreate (a command a quarantined device may not use) and
// returns its Status, or the HTTP status when it is not 200.
func folderCreateStatus(t *testing.T, c *easclient.Client, key string) int {
	t.Helper()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.FolderHierarchyFolderCreate)
	enc.String(wbxml.FolderHierarchySyncKey, key)
	enc.String(wbxml.FolderHierarchyParentId, "0")
	enc.String(wbxml.FolderHierarchyDisplayName, "New")
	enc.Int(wbxml.FolderHierarchyType, 12)
	enc.End()
	resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdFolderCreate, Body: enc.Bytes()})
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode
	}
	st, err := resp.Status(wbxml.FolderHierarchyStatus)
	require.NoError(t, err)
	return st
}

func TestDeviceCap(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newMDMEnv(t, st, devices.Options{})
		ctx := t.Context()
		// 99 partnerships exist; one of them was wiped (it still counts).
		for i := range devices.DefaultMaxDevices - 1 {
			_, err := st.TouchDevice(ctx, store.DeviceContact{User: env.alice.ID, DeviceID: fmt.Sprint("Old", i)})
			require.NoError(t, err)
		}
		old := env.device(t, "Old0")
		_, err := env.reg.RequestWipe(ctx, old.ID, false, "cli:root")
		require.NoError(t, err)

		// 20 new devices at once: exactly one becomes the 100th, the others get 177 and
		// nothing is created for them.
		var wg sync.WaitGroup
		statuses := make([]int, 20)
		for i := range statuses {
			wg.Go(func() {
				c := env.client(fmt.Sprint("New", i), "iPhone", eas.Version161)
				resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdProvision,
					Body: provisionBody(t, eas.PolicyTypeWBXML, "", "", nil)})
				if !assert.NoError(t, err) || !assert.Equal(t, http.StatusOK, resp.StatusCode) {
					return
				}
				statuses[i], err = resp.Status(wbxml.ProvisionStatus)
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		counts := map[int]int{}
		winner := ""
		for i, s := range statuses {
			counts[s]++
			if s == 1 {
				winner = fmt.Sprint("New", i)
			}
		}
		assert.Equal(t, map[int]int{1: 1, int(eas.StatusMaximumDevicesReached): 19}, counts)
		n, err := st.CountDevices(ctx, env.alice.ID)
		require.NoError(t, err)
		assert.Equal(t, devices.DefaultMaxDevices, n)

		// The 101st: 177 on FolderSync too, HTTP 403 before 14.0; existing devices go on.
		late := env.client("Late", "iPhone", eas.Version141)
		st177, _, _ := hierarchy(t, late, "0")
		assert.Equal(t, int(eas.StatusMaximumDevicesReached), st177)
		late.Version = eas.Version121
		code, _, _ := hierarchy(t, late, "0")
		assert.Equal(t, http.StatusForbidden, code)
		_, err = env.reg.Get(ctx, devices.Key{User: env.alice.ID, DeviceID: "Late"})
		require.ErrorIs(t, err, store.ErrNotFound)

		w := env.client(winner, "iPhone", eas.Version161)
		handshake(t, w)
		stw, _, _ := hierarchy(t, w, "0")
		assert.Equal(t, 1, stw)

		// Removing the wiped partnership frees a slot.
		require.NoError(t, env.reg.RemoveAs(ctx, old.ID, "cli:root"))
		late.Version = eas.Version161
		handshake(t, late)
		stl, _, _ := hierarchy(t, late, "0")
		assert.Equal(t, 1, stl)
	})
}

func TestQuarantineByRuleAndApproval(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newMDMEnv(t, st, devices.Options{})
		ctx := t.Context()
		_, err := env.reg.AddRule(ctx, store.DeviceRule{Field: store.RuleFieldDeviceType, Match: store.RuleMatchPrefix,
			Pattern: "Android", Action: store.AccessQuarantined}, "cli:root")
		require.NoError(t, err)
		inbox, err := st.FolderByType(ctx, env.alice.Mailbox, store.FolderInbox)
		require.NoError(t, err)

		c := env.client("Droid1", "AndroidPhone", eas.Version141)
		handshake(t, c)
		d := env.device(t, "Droid1")
		assert.Equal(t, store.AccessQuarantined, d.AccessState)
		assert.Equal(t, store.ReasonRule, d.AccessReason)

		// Only the Inbox, which holds the explanation; other commands are refused.
		status, key, names := hierarchy(t, c, "0")
		require.Equal(t, 1, status)
		assert.Equal(t, []string{"Inbox"}, names)
		assert.Equal(t, []string{"Your device is waiting for approval"}, inboxSubjects(t, c, inbox))
		assert.Equal(t, int(eas.StatusAccessDenied), folderCreateStatus(t, c, key))
		hierarchy(t, c, key)
		assert.Equal(t, []string{"Your device is waiting for approval"}, env.subjects(t, env.alice), "told once")
		assert.Equal(t, []string{"Device quarantined: alice@example.com Droid1"}, env.subjects(t, env.admin))
		// A collection it knows by ID but may not see is unknown to it (Sync status 12).
		sent, err := st.FolderByType(ctx, env.alice.Mailbox, store.FolderSent)
		require.NoError(t, err)
		assert.Equal(t, "12", syncStatus(t, c, sent), "quarantined: only the Inbox syncs")

		// Approval: the next FolderSync adds every other folder, without a new Provision.
		_, err = env.reg.SetAccess(ctx, d.ID, store.AccessAllowed, "cli:root")
		require.NoError(t, err)
		status, _, names = hierarchy(t, c, key)
		require.Equal(t, 1, status)
		assert.Contains(t, names, "Sent Items")
		assert.NotContains(t, names, "Inbox", "the Inbox was there already")
		assert.Greater(t, len(names), 3)
		assert.Equal(t, "1", syncStatus(t, c, sent), "approved: every folder syncs")
		d = env.device(t, "Droid1")
		assert.Equal(t, store.ReasonIndividual, d.AccessReason)
		assert.Equal(t, "cli:root", d.AccessSetBy)

		audit, err := st.Audit(ctx, store.AuditFilter{Actor: "cli:root"})
		require.NoError(t, err)
		var actions []string
		for _, a := range audit {
			actions = append(actions, a.Action)
		}
		assert.ElementsMatch(t, []string{"rule.add", "device.allowed"}, actions)
	})
}

// A quarantined device sees only the notice in its Inbox: the rest of the mailbox is what
// the quarantine protects, so it can neither list, count, fetch, change nor delete it.
// Approval makes its next Sync start again, and then every item comes.
func TestQuarantineShowsOnlyTheNotice(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newMDMEnv(t, st, devices.Options{DefaultAccess: store.AccessQuarantined})
		ctx := t.Context()
		secret, err := st.Deliver(ctx, env.alice.Address, []byte("From: <bob@example.com>\r\nSubject: Secret plans\r\n\r\nplans\r\n"))
		require.NoError(t, err)
		inbox, err := st.FolderByType(ctx, env.alice.Mailbox, store.FolderInbox)
		require.NoError(t, err)

		c := env.client("Q1", "iPhone", eas.Version161)
		handshake(t, c)
		require.Equal(t, store.AccessQuarantined, env.device(t, "Q1").AccessState)
		status, _, names := hierarchy(t, c, "0")
		require.Equal(t, 1, status)
		require.Equal(t, []string{"Inbox"}, names)

		sync := func(cr collReq) *easclient.Node {
			resp, err := c.Do(ctx, &easclient.Request{Cmd: eas.CmdSync, Body: syncBody(t, []collReq{cr}, nil)})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			coll := parseWBXML(t, resp.Body).Child(wbxml.AirSyncCollections).Child(wbxml.AirSyncCollection)
			require.NotNil(t, coll)
			return coll
		}
		id := folderIDString(inbox)
		first := sync(collReq{key: "0", id: id})
		require.Equal(t, "1", first.Get(wbxml.AirSyncStatus))
		second := sync(collReq{key: first.Get(wbxml.AirSyncSyncKey), id: id, window: 100})
		require.Equal(t, "1", second.Get(wbxml.AirSyncStatus))
		var subjects []string
		for _, a := range second.Child(wbxml.AirSyncCommands).All(wbxml.AirSyncAdd) {
			subjects = append(subjects, a.Child(wbxml.AirSyncApplicationData).Get(wbxml.EmailSubject))
		}
		assert.Equal(t, []string{"Your device is waiting for approval"}, subjects, "only the notice")
		key := second.Get(wbxml.AirSyncSyncKey)

		// Fetching, flagging as read or deleting the hidden message: not found (8), nothing changes.
		sid := itemServerID(secret)
		third := sync(collReq{key: key, id: id, commands: func(enc *wbxml.Encoder) {
			enc.Start(wbxml.AirSyncFetch)
			enc.String(wbxml.AirSyncServerId, sid)
			enc.End()
			enc.Start(wbxml.AirSyncChange)
			enc.String(wbxml.AirSyncServerId, sid)
			enc.Start(wbxml.AirSyncApplicationData)
			enc.Int(wbxml.EmailRead, 1)
			enc.End()
			enc.End()
			enc.Start(wbxml.AirSyncDelete)
			enc.String(wbxml.AirSyncServerId, sid)
			enc.End()
		}})
		require.Equal(t, "1", third.Get(wbxml.AirSyncStatus))
		resps := third.Child(wbxml.AirSyncResponses)
		require.NotNil(t, resps)
		for _, tag := range []wbxml.Tag{wbxml.AirSyncFetch, wbxml.AirSyncChange, wbxml.AirSyncDelete} {
			r := resps.Child(tag)
			require.NotNil(t, r, "a response for %v", tag)
			assert.Equal(t, "8", r.Get(wbxml.AirSyncStatus), "%v of a hidden item", tag)
		}
		still, err := st.Item(ctx, secret.ID)
		require.NoError(t, err, "not deleted")
		assert.False(t, still.Seen, "not marked read")
		key = third.Get(wbxml.AirSyncSyncKey)

		// New mail while in quarantine does not show either.
		_, err = st.Deliver(ctx, env.alice.Address, []byte("From: <bob@example.com>\r\nSubject: More plans\r\n\r\nmore\r\n"))
		require.NoError(t, err)
		fourth := sync(collReq{key: key, id: id})
		if fourth.Get(wbxml.AirSyncStatus) == "1" {
			assert.Nil(t, fourth.Child(wbxml.AirSyncCommands), "nothing new for a quarantined device")
		}

		// Approval: the old key is refused (3), a new sync from 0 brings everything.
		_, err = env.reg.SetAccess(ctx, env.device(t, "Q1").ID, store.AccessAllowed, "cli:root")
		require.NoError(t, err)
		assert.Equal(t, "3", sync(collReq{key: key, id: id}).Get(wbxml.AirSyncStatus))
		assert.ElementsMatch(t, []string{"Your device is waiting for approval", "Secret plans", "More plans"}, inboxSubjects(t, c, inbox))
	})
}

func TestDeviceAccessPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		def        string
		rules      []store.DeviceRule
		list       string // the user's list for the device
		individual string
		want       string
		reason     string
	}{
		{name: "default allowed", want: store.AccessAllowed, reason: store.ReasonDefault},
		{name: "default blocked", def: store.AccessBlocked, want: store.AccessBlocked, reason: store.ReasonDefault},
		{name: "rule over default", def: store.AccessQuarantined,
			rules: []store.DeviceRule{{Field: store.RuleFieldUserAgent, Match: store.RuleMatchPrefix, Pattern: "Work", Action: store.AccessAllowed}},
			want:  store.AccessAllowed, reason: store.ReasonRule},
		{name: "exact rule over prefix rule",
			rules: []store.DeviceRule{
				{Field: store.RuleFieldDeviceType, Match: store.RuleMatchPrefix, Pattern: "Work", Action: store.AccessAllowed},
				{Field: store.RuleFieldDeviceType, Match: store.RuleMatchExact, Pattern: "WorkPhone", Action: store.AccessBlocked},
			},
			want: store.AccessBlocked, reason: store.ReasonRule},
		{name: "longer prefix wins",
			rules: []store.DeviceRule{
				{Field: store.RuleFieldDeviceType, Match: store.RuleMatchPrefix, Pattern: "W", Action: store.AccessBlocked},
				{Field: store.RuleFieldDeviceType, Match: store.RuleMatchPrefix, Pattern: "WorkP", Action: store.AccessAllowed},
			},
			want: store.AccessAllowed, reason: store.ReasonRule},
		{name: "user list over rule",
			rules: []store.DeviceRule{{Field: store.RuleFieldDeviceType, Match: store.RuleMatchExact, Pattern: "WorkPhone", Action: store.AccessBlocked}},
			list:  store.AccessAllowed, want: store.AccessAllowed, reason: store.ReasonUserList},
		{name: "user block list over default", list: store.AccessBlocked, want: store.AccessBlocked, reason: store.ReasonUserList},
		{name: "individual over user list", list: store.AccessBlocked, individual: store.AccessAllowed,
			want: store.AccessAllowed, reason: store.ReasonIndividual},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.ForEach(t, func(t *testing.T, st *store.Store) {
				env := newMDMEnv(t, st, devices.Options{DefaultAccess: tc.def})
				ctx := t.Context()
				for _, r := range tc.rules {
					_, err := env.reg.AddRule(ctx, r, "cli:root")
					require.NoError(t, err)
				}
				if tc.list != "" {
					require.NoError(t, env.reg.SetUserList(ctx, env.alice.ID, "P1", tc.list, "cli:root"))
				}
				for _, v := range []eas.Version{eas.Version121, eas.Version161} {
					c := env.client("P1", "WorkPhone", v)
					if tc.individual != "" {
						// The device exists after its first request; then the admin decides.
						hierarchy(t, c, "0")
						_, err := env.reg.SetAccess(ctx, env.device(t, "P1").ID, tc.individual, "cli:root")
						require.NoError(t, err)
					}
					init := provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, "", "", nil))
					d := env.device(t, "P1")
					assert.Equal(t, tc.want, d.AccessState, v)
					assert.Equal(t, tc.reason, d.AccessReason, v)
					if tc.want == store.AccessBlocked {
						// Blocked: 129 for everything, Provision included (403 before 14.0).
						if v < eas.Version140 {
							assert.Equal(t, http.StatusForbidden, init.http)
						} else {
							assert.Equal(t, int(eas.StatusDeviceIsBlockedForThisUser), init.status)
						}
						refusedAs(t, c, eas.StatusDeviceIsBlockedForThisUser, http.StatusForbidden)
						continue
					}
					handshake(t, c)
					status, _, names := hierarchy(t, c, "0")
					assert.Equal(t, 1, status)
					assert.Greater(t, len(names), 3, "allowed: every folder")
				}
			})
		})
	}
}

// refusedAs asserts the answer of a FolderSync: want in the Status from 14.0 on, the HTTP
// status code before.
func refusedAs(t *testing.T, c *easclient.Client, want eas.Status, code int) {
	t.Helper()
	resp := folderSync(t, c, "0")
	if c.Version < eas.Version140 {
		assert.Equal(t, code, resp.StatusCode, "want %s as HTTP %d", want, code)
		return
	}
	assert.Equal(t, int(want), folderSyncStatus(t, resp))
}

// wipeBody is a Provision carrying the remote wipe acknowledgement.
func wipeBody(t *testing.T, tag wbxml.Tag, status string) []byte {
	t.Helper()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.ProvisionProvision)
	enc.Start(tag)
	enc.String(wbxml.ProvisionStatus, status)
	enc.End()
	enc.End()
	return enc.Bytes()
}

// provisionDirective sends body as a Provision and returns the HTTP code, the Provision
// Status and which wipe directive came back.
func provisionDirective(t *testing.T, c *easclient.Client, body []byte) (int, int, string) {
	t.Helper()
	resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdProvision, Body: body})
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, 0, ""
	}
	doc := parseWBXML(t, resp.Body)
	st, _ := strconv.Atoi(doc.Get(wbxml.ProvisionStatus))
	switch {
	case doc.Has(wbxml.ProvisionRemoteWipe):
		return resp.StatusCode, st, "RemoteWipe"
	case doc.Has(wbxml.ProvisionAccountOnlyRemoteWipe):
		return resp.StatusCode, st, "AccountOnlyRemoteWipe"
	}
	return resp.StatusCode, st, ""
}

func TestRemoteWipe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		version     eas.Version
		accountOnly bool
		directive   string
	}{
		{"full 12.1", eas.Version121, false, "RemoteWipe"},
		{"full 14.1", eas.Version141, false, "RemoteWipe"},
		{"full 16.1", eas.Version161, false, "RemoteWipe"},
		{"account-only 16.1", eas.Version161, true, "AccountOnlyRemoteWipe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.ForEach(t, func(t *testing.T, st *store.Store) {
				env := newMDMEnv(t, st, devices.Options{})
				ctx := t.Context()
				c := env.client("Lost1", "iPhone", tc.version)
				handshake(t, c)
				d := env.device(t, "Lost1")

				// Requested, then cancelled before it was sent: nothing happens.
				_, err := env.reg.RequestWipe(ctx, d.ID, tc.accountOnly, "admin:admin@example.com")
				require.NoError(t, err)
				_, err = env.reg.CancelWipe(ctx, d.ID, "admin:admin@example.com")
				require.NoError(t, err)
				status, _, _ := hierarchy(t, c, "0")
				assert.Equal(t, 1, status)

				// Requested again: the next request must provision (140, 449 before 14.0).
				_, err = env.reg.RequestWipe(ctx, d.ID, tc.accountOnly, "admin:admin@example.com")
				require.NoError(t, err)
				refusedAs(t, c, eas.StatusRemoteWipeRequested, eas.HTTP449)
				code, pst, dir := provisionDirective(t, c, provisionBody(t, eas.PolicyTypeWBXML, "", "", nil))
				require.Equal(t, http.StatusOK, code)
				assert.Equal(t, 1, pst)
				assert.Equal(t, tc.directive, dir)
				assert.Equal(t, store.WipeSent, env.device(t, "Lost1").WipeState)
				_, err = env.reg.CancelWipe(ctx, d.ID, "admin:admin@example.com")
				require.ErrorIs(t, err, devices.ErrWipeState, "sent: too late to cancel")

				// The acknowledgement confirms it; the partnership stays blocked.
				ackTag := wbxml.ProvisionRemoteWipe
				if tc.accountOnly {
					ackTag = wbxml.ProvisionAccountOnlyRemoteWipe
				}
				code, pst, dir = provisionDirective(t, c, wipeBody(t, ackTag, "1"))
				require.Equal(t, http.StatusOK, code)
				assert.Equal(t, 1, pst)
				assert.Empty(t, dir)
				d = env.device(t, "Lost1")
				assert.Equal(t, store.WipeAcknowledged, d.WipeState)
				assert.Equal(t, 1, d.WipeAckStatus)
				assert.False(t, d.WipeAckedAt.IsZero())
				assert.Equal(t, tc.accountOnly, d.WipeAccountOnly)
				assert.Equal(t, store.AccessBlocked, d.AccessState)
				refusedAs(t, c, eas.StatusDeviceIsBlockedForThisUser, http.StatusForbidden)
				_, err = env.reg.SetAccess(ctx, d.ID, store.AccessAllowed, "cli:root")
				require.ErrorIs(t, err, devices.ErrWiped)

				// Confirmations to the user and the requester; every step audited.
				assert.Equal(t, []string{"Remote wipe of Lost1 succeeded"}, env.subjects(t, env.alice))
				assert.Equal(t, []string{"Remote wipe of Lost1 succeeded"}, env.subjects(t, env.admin))
				audit, err := st.Audit(ctx, store.AuditFilter{})
				require.NoError(t, err)
				var actions []string
				for _, a := range audit {
					if a.Action != "rule.add" {
						actions = append(actions, a.Action)
					}
				}
				req := "device.wipe"
				if tc.accountOnly {
					req = "device.wipe-account"
				}
				assert.ElementsMatch(t, []string{req, "device.wipe-cancel", req, "device.wipe-sent", "device.wipe-ack"}, actions)

				// Removing the partnership lets the (reset) phone start over.
				require.NoError(t, env.reg.RemoveAs(ctx, d.ID, "cli:root"))
				c.HasPolicyKey, c.PolicyKey = false, 0
				handshake(t, c)
				status, _, _ = hierarchy(t, c, "0")
				assert.Equal(t, 1, status)
			})
		})
	}
}

func TestAccountOnlyWipeBefore161(t *testing.T) {
	t.Parallel()
	env := newMDMEnv(t, openStore(t), devices.Options{})
	ctx := t.Context()
	c := env.client("Old1", "iPhone", eas.Version141)
	handshake(t, c)
	_, err := env.reg.RequestWipe(ctx, env.device(t, "Old1").ID, true, "cli:root")
	require.NoError(t, err)
	// Never a full wipe in its place: the device is blocked while the request stands.
	code, pst, _ := provisionDirective(t, c, provisionBody(t, eas.PolicyTypeWBXML, "", "", nil))
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, int(eas.StatusDeviceIsBlockedForThisUser), pst)
	refusedAs(t, c, eas.StatusDeviceIsBlockedForThisUser, http.StatusForbidden)
	assert.Equal(t, store.WipeRequested, env.device(t, "Old1").WipeState)

	// An acknowledgement without a wipe sent is a protocol error.
	other := env.client("Other1", "iPhone", eas.Version161)
	_, pst, _ = provisionDirective(t, other, wipeBody(t, wbxml.ProvisionRemoteWipe, "1"))
	assert.Equal(t, int(eas.ProvisionProtocolError), pst)
}
