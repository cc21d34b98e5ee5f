package eas_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// provEnv is a server on the real store (SQLite) with the real gate, Provision and trace
// recorder, plus trivial FolderSync and Settings commands that stand for "any command that
// needs a policy key".
type provEnv struct {
	st    *store.Store
	reg   *devices.Registry
	user  store.User
	https *httptest.Server
}

// newProvEnv builds the server; now, if given, is the clock of the registry and the gate.
func newProvEnv(t *testing.T, traceOpts eas.TraceOptions, now ...func() time.Time) *provEnv {
	t.Helper()
	return newProvEnvOn(t, openStore(t), traceOpts, now...)
}

// newProvEnvOn is newProvEnv on a given, migrated, empty store.
func newProvEnvOn(t *testing.T, st *store.Store, traceOpts eas.TraceOptions, now ...func() time.Time) *provEnv {
	t.Helper()
	u, err := st.CreateUser(t.Context(), store.NewUser{Address: "alice@example.com", Password: "secret"})
	require.NoError(t, err)
	var clock func() time.Time
	if len(now) > 0 {
		clock = now[0]
	}
	reg := devices.New(st, devices.Options{Now: clock})
	gopts := eas.GateOptions{Now: clock}
	srv := eas.New(eas.Options{
		Logger:        slog.New(slog.DiscardHandler),
		Auth:          st,
		DefaultDomain: "example.com",
		Gate:          eas.NewGate(reg, st, gopts),
		Tracer:        eas.NewTraceRecorder(reg, st, traceOpts),
	})
	srv.Handle(eas.ProvisionCommand(reg, st))
	srv.Handle(eas.Command{
		Code:   eas.CmdFolderSync,
		Status: eas.TopLevelStatus(wbxml.FolderHierarchyFolderSync, wbxml.FolderHierarchyStatus),
		Handler: func(_ context.Context, _ *eas.Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
			if _, err := dec.Expect(wbxml.FolderHierarchyFolderSync); err != nil {
				return err
			}
			if err := dec.Skip(); err != nil {
				return err
			}
			enc.Start(wbxml.FolderHierarchyFolderSync)
			enc.Int(wbxml.FolderHierarchyStatus, 1)
			enc.String(wbxml.FolderHierarchySyncKey, "1")
			enc.End()
			return nil
		},
	})
	srv.Handle(eas.Command{
		Code:   eas.CmdSettings,
		Status: eas.TopLevelStatus(wbxml.SettingsSettings, wbxml.SettingsStatus),
		Handler: func(_ context.Context, _ *eas.Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
			if _, err := dec.Expect(wbxml.SettingsSettings); err != nil {
				return err
			}
			if err := dec.Skip(); err != nil {
				return err
			}
			enc.Start(wbxml.SettingsSettings)
			enc.Int(wbxml.SettingsStatus, 1)
			enc.End()
			return nil
		},
	})
	e := echo.New()
	srv.Register(e)
	https := httptest.NewTLSServer(e)
	t.Cleanup(https.Close)
	return &provEnv{st: st, reg: reg, user: u, https: https}
}

func (env *provEnv) client(deviceID string, v eas.Version) *easclient.Client {
	return &easclient.Client{HTTP: env.https.Client(), URL: env.https.URL, Username: "alice@example.com",
		Password: "secret", User: "alice", DeviceID: deviceID, DeviceType: "iPhone",
		UserAgent: "Apple-iPhone15C2/2104.100", Version: v}
}

func (env *provEnv) device(t *testing.T, deviceID string) devices.Device {
	t.Helper()
	d, err := env.reg.Get(t.Context(), devices.Key{User: env.user.ID, DeviceID: deviceID})
	require.NoError(t, err)
	return d
}

// provisionBody is an initial request (key "") or an acknowledgement.
func provisionBody(t *testing.T, policyType, key, status string, info *devices.Info) []byte {
	t.Helper()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.ProvisionProvision)
	if info != nil {
		enc.Start(wbxml.SettingsDeviceInformation)
		enc.Start(wbxml.SettingsSet)
		enc.String(wbxml.SettingsModel, info.Model)
		enc.String(wbxml.SettingsIMEI, info.IMEI)
		enc.String(wbxml.SettingsFriendlyName, info.FriendlyName)
		enc.String(wbxml.SettingsOS, info.OS)
		enc.String(wbxml.SettingsOSLanguage, info.OSLanguage)
		enc.String(wbxml.SettingsPhoneNumber, info.PhoneNumber)
		enc.String(wbxml.SettingsUserAgent, info.UserAgent)
		enc.String(wbxml.SettingsEnableOutboundSMS, "1")
		enc.String(wbxml.SettingsMobileOperator, info.MobileOperator)
		enc.End()
		enc.End()
	}
	enc.Start(wbxml.ProvisionPolicies)
	enc.Start(wbxml.ProvisionPolicy)
	enc.String(wbxml.ProvisionPolicyType, policyType)
	if key != "" {
		enc.String(wbxml.ProvisionPolicyKey, key)
		enc.String(wbxml.ProvisionStatus, status)
	}
	enc.End()
	enc.End()
	enc.End()
	b := enc.Bytes()
	require.NoError(t, enc.Err())
	return b
}

// provResult is what a Provision response says.
type provResult struct {
	http         int
	status       int // Provision Status
	policyStatus int // Policy Status, 0 if no Policy
	infoStatus   int // DeviceInformation Status, 0 if absent
	key          uint32
	policyType   string
	doc          []string // EASProvisionDoc element names
}

func provision(t *testing.T, c *easclient.Client, body []byte) provResult {
	t.Helper()
	resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdProvision, Body: body})
	require.NoError(t, err)
	res := provResult{http: resp.StatusCode}
	if resp.StatusCode != http.StatusOK {
		return res
	}
	toks, err := resp.Tokens()
	require.NoError(t, err)
	var path []wbxml.Tag
	for _, tok := range toks {
		switch tok.Kind {
		case wbxml.KindStart:
			if len(path) > 0 && path[len(path)-1] == wbxml.ProvisionEASProvisionDoc {
				res.doc = append(res.doc, strings.TrimPrefix(tok.Tag.String(), "Provision:"))
			}
			if tok.Content {
				path = append(path, tok.Tag)
			}
		case wbxml.KindEnd:
			path = path[:len(path)-1]
		case wbxml.KindString:
			in := path[len(path)-1]
			parent := wbxml.Tag(0)
			if len(path) > 1 {
				parent = path[len(path)-2]
			}
			s := string(tok.Data)
			n, _ := strconv.Atoi(s)
			switch {
			case in == wbxml.ProvisionStatus && parent == wbxml.ProvisionProvision:
				res.status = n
			case in == wbxml.ProvisionStatus && parent == wbxml.ProvisionPolicy:
				res.policyStatus = n
			case in == wbxml.SettingsStatus && parent == wbxml.SettingsDeviceInformation:
				res.infoStatus = n
			case in == wbxml.ProvisionPolicyKey:
				k, err := strconv.ParseUint(s, 10, 32)
				require.NoError(t, err, "policy key %q", s)
				res.key = uint32(k)
			case in == wbxml.ProvisionPolicyType:
				res.policyType = s
			}
		}
	}
	return res
}

// handshake provisions c and sets its final key.
func handshake(t *testing.T, c *easclient.Client) uint32 {
	t.Helper()
	key, err := c.Provision(t.Context(), nil)
	require.NoError(t, err)
	return key
}

// refused asserts the answer a request needing a key gets: HTTP 449 before 14.0 (MS-ASPROV
// 3.2.5.1), the status in FolderSync's Status element from 14.0 on.
func refused(t *testing.T, c *easclient.Client, want eas.Status) {
	t.Helper()
	resp := folderSync(t, c, "0")
	if c.Version < eas.Version140 {
		assert.Equal(t, eas.HTTP449, resp.StatusCode, "want %s as HTTP 449", want)
		return
	}
	assert.Equal(t, int(want), folderSyncStatus(t, resp))
}

func TestProvisionHandshake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		version eas.Version
		info    bool // send DeviceInformation (14.1 and later)
		base64  bool
		docLen  int
	}{
		{"12.0", eas.Version120, false, false, 12},
		{"12.1", eas.Version121, false, false, 42},
		{"14.0 base64 query", eas.Version140, false, true, 42},
		{"14.1 with DeviceInformation", eas.Version141, true, false, 42},
		{"16.1 with DeviceInformation", eas.Version161, true, false, 42},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newProvEnv(t, eas.TraceOptions{})
			id := "Dev" + strings.NewReplacer(".", "", " ", "").Replace(tc.name)
			c := env.client(id, tc.version)
			c.Base64 = tc.base64

			// Before provisioning: no key.
			refused(t, c, eas.StatusDeviceNotProvisioned)
			c.PolicyKey, c.HasPolicyKey = 0, true
			refused(t, c, eas.StatusDeviceNotProvisioned)
			c.HasPolicyKey = false

			var info *devices.Info
			if tc.info {
				info = &devices.Info{Model: "iPhone15,2", IMEI: "356938035643809", FriendlyName: "Alice's iPhone",
					OS: "iOS 17.4 21E219", OSLanguage: "en-US", PhoneNumber: "+15550100", MobileOperator: "Carrier",
					UserAgent: "Apple-iPhone15C2/2104.100", EnableOutboundSMS: true}
			}
			init := provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, "", "", info))
			require.Equal(t, http.StatusOK, init.http)
			assert.Equal(t, 1, init.status)
			assert.Equal(t, 1, init.policyStatus)
			assert.Equal(t, eas.PolicyTypeWBXML, init.policyType)
			assert.NotZero(t, init.key)
			assert.Len(t, init.doc, tc.docLen)
			assert.Contains(t, init.doc, "DevicePasswordEnabled")
			if tc.info {
				assert.Equal(t, 1, init.infoStatus)
				assert.Equal(t, *info, env.device(t, id).Info)
			} else {
				assert.Zero(t, init.infoStatus)
			}

			// The temporary key is not a policy key for other commands.
			c.PolicyKey, c.HasPolicyKey = init.key, true
			refused(t, c, eas.StatusDeviceNotProvisioned)

			ack := provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, strconv.FormatUint(uint64(init.key), 10), "1", nil))
			require.Equal(t, http.StatusOK, ack.http)
			assert.Equal(t, 1, ack.status)
			assert.Equal(t, 1, ack.policyStatus)
			assert.NotZero(t, ack.key)
			assert.NotEqual(t, init.key, ack.key)
			assert.Empty(t, ack.doc, "no settings in the acknowledgement's answer")

			c.PolicyKey = ack.key
			assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")))

			d := env.device(t, id)
			assert.Equal(t, ack.key, d.PolicyKey)
			assert.Zero(t, d.PendingPolicyKey)
			assert.Equal(t, 1, d.ProvisionStatus)
			assert.Equal(t, tc.version.String(), d.ProtocolVersion)
			assert.Equal(t, "iPhone", d.DeviceType)
			def, err := env.st.DefaultPolicy(t.Context())
			require.NoError(t, err)
			assert.Equal(t, def.ID, d.PolicyID)
			assert.Equal(t, def.Version, d.PolicyVersion)

			// A key that is not the device's.
			c.PolicyKey = ack.key + 1
			refused(t, c, eas.StatusInvalidPolicyKey)
		})
	}
}

func TestProvisionPolicyRefresh(t *testing.T) {
	t.Parallel()
	for _, v := range []eas.Version{eas.Version121, eas.Version161} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			env := newProvEnv(t, eas.TraceOptions{})
			ctx := t.Context()
			c := env.client("Refresh1", v)
			first := handshake(t, c)
			assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")))

			// The policy changes: the device must provision again (143, 449 before 14.0).
			def, err := env.st.DefaultPolicy(ctx)
			require.NoError(t, err)
			p, err := policy.FromRecord(def)
			require.NoError(t, err)
			p.DevicePasswordEnabled = true
			js, err := p.MarshalSettings()
			require.NoError(t, err)
			_, err = env.st.UpdatePolicy(ctx, def.ID, js)
			require.NoError(t, err)
			refused(t, c, eas.StatusPolicyRefresh)

			second := handshake(t, c)
			assert.NotEqual(t, first, second)
			assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")))

			// Assigning another policy to the user does the same.
			strict, err := env.st.CreatePolicy(ctx, "Strict", `{"AllowCamera":false}`)
			require.NoError(t, err)
			require.NoError(t, env.st.AssignPolicy(ctx, env.user.ID, strict.ID))
			refused(t, c, eas.StatusPolicyRefresh)
			handshake(t, c)
			assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")))
			assert.Equal(t, strict.ID, env.device(t, "Refresh1").PolicyID)
		})
	}
}

func TestProvisionResentAndWrongKeys(t *testing.T) {
	t.Parallel()
	env := newProvEnv(t, eas.TraceOptions{})
	c := env.client("Android1", eas.Version141)
	c.DeviceType = "Android"

	first := provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, "", "", nil))
	require.Equal(t, 1, first.policyStatus)
	// Quirk(Android): the initial request comes again, with the temporary key as header.
	c.PolicyKey, c.HasPolicyKey = first.key, true
	second := provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, "", "", nil))
	require.Equal(t, 1, second.policyStatus)
	assert.NotEqual(t, first.key, second.key)

	// Acknowledging the replaced key, or a made-up one: Policy Status 5, no key.
	for _, k := range []string{strconv.FormatUint(uint64(first.key), 10), "12345", "0", "not-a-number"} {
		wrong := provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, k, "1", nil))
		assert.Equal(t, 1, wrong.status, k)
		assert.Equal(t, int(eas.PolicyWrongPolicyKey), wrong.policyStatus, k)
		assert.Zero(t, wrong.key, k)
	}
	refused(t, c, eas.StatusDeviceNotProvisioned)

	ack := provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, strconv.FormatUint(uint64(second.key), 10), "2", nil))
	require.Equal(t, 1, ack.policyStatus)
	c.PolicyKey = ack.key
	assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")))
	assert.Equal(t, 2, env.device(t, "Android1").ProvisionStatus, "partial success is recorded")

	// A second acknowledgement of the same temporary key fails: it was used.
	again := provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, strconv.FormatUint(uint64(second.key), 10), "1", nil))
	assert.Equal(t, int(eas.PolicyWrongPolicyKey), again.policyStatus)
	// The final key still works.
	assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")))
}

func TestProvisionStatuses(t *testing.T) {
	t.Parallel()
	env := newProvEnv(t, eas.TraceOptions{})
	c := env.client("Status1", eas.Version161)

	// MS-WAP-Provisioning-XML is protocol 2.5's: unknown here.
	for _, pt := range []string{"MS-WAP-Provisioning-XML", "bogus"} {
		res := provision(t, c, provisionBody(t, pt, "", "", nil))
		assert.Equal(t, 1, res.status, pt)
		assert.Equal(t, int(eas.PolicyUnknownType), res.policyStatus, pt)
		assert.Zero(t, res.key, pt)
		assert.Equal(t, pt, res.policyType)
	}

	// No Policies: protocol error.
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.ProvisionProvision)
	enc.Start(wbxml.SettingsDeviceInformation)
	enc.Start(wbxml.SettingsSet)
	enc.String(wbxml.SettingsModel, "X")
	enc.End()
	enc.End()
	enc.End()
	res := provision(t, c, enc.Bytes())
	assert.Equal(t, int(eas.ProvisionProtocolError), res.status)
	assert.Zero(t, res.policyStatus)

	// The client did not apply the policy: 139, or 403 before 14.0.
	init := provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, "", "", nil))
	res = provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, strconv.FormatUint(uint64(init.key), 10), "3", nil))
	assert.Equal(t, int(eas.StatusDeviceNotFullyProvisionable), res.status)
	c.Version = eas.Version121
	res = provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, strconv.FormatUint(uint64(init.key), 10), "4", nil))
	assert.Equal(t, http.StatusForbidden, res.http)
}

func TestAllowNonProvisionableDevices(t *testing.T) {
	t.Parallel()
	env := newProvEnv(t, eas.TraceOptions{})
	ctx := t.Context()
	def, err := env.st.DefaultPolicy(ctx)
	require.NoError(t, err)
	_, err = env.st.UpdatePolicy(ctx, def.ID, `{"AllowNonProvisionableDevices":true}`)
	require.NoError(t, err)

	c := env.client("Legacy1", eas.Version141)
	assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")), "no policy key at all: admitted")
	c.PolicyKey, c.HasPolicyKey = 0, true
	refused(t, c, eas.StatusDeviceNotProvisioned)

	// A device that does provision but does not apply the policy gets a key anyway.
	c.HasPolicyKey = false
	init := provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, "", "", nil))
	res := provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, strconv.FormatUint(uint64(init.key), 10), "3", nil))
	assert.Equal(t, 1, res.policyStatus)
	assert.NotZero(t, res.key)
}

func TestTrace(t *testing.T) {
	t.Parallel()
	env := newProvEnv(t, eas.TraceOptions{Limit: 4})
	ctx := t.Context()
	c := env.client("Traced1", eas.Version161)

	handshake(t, c) // not traced: tracing is off
	d := env.device(t, "Traced1")
	tr, err := env.st.Traces(ctx, d.ID, 0)
	require.NoError(t, err)
	assert.Empty(t, tr)

	require.NoError(t, env.reg.SetTrace(ctx, d.ID, true))
	// Settings DevicePassword: the password never reaches the trace.
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.SettingsSettings)
	enc.Start(wbxml.SettingsDevicePassword)
	enc.Start(wbxml.SettingsSet)
	enc.String(wbxml.SettingsPassword, "hunter22")
	enc.End()
	enc.End()
	enc.End()
	resp, err := c.Do(ctx, &easclient.Request{Cmd: eas.CmdSettings, Body: enc.Bytes()})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	tr, err = env.st.Traces(ctx, d.ID, 0)
	require.NoError(t, err)
	require.Len(t, tr, 1)
	assert.Equal(t, "Settings", tr[0].Command)
	assert.Equal(t, "16.1", tr[0].ProtocolVersion)
	assert.Equal(t, http.StatusOK, tr[0].HTTPStatus)
	assert.Contains(t, tr[0].Request, "<Password>[redacted 8 bytes]</Password>")
	assert.NotContains(t, tr[0].Request, "hunter22")
	assert.Contains(t, tr[0].Response, "<Status>1</Status>")

	// A refused request is traced with its status; the ring keeps 4.
	good := c.PolicyKey
	c.PolicyKey = good + 1
	refused(t, c, eas.StatusInvalidPolicyKey)
	c.PolicyKey = good
	for range 4 {
		assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")))
	}
	tr, err = env.st.Traces(ctx, d.ID, 0)
	require.NoError(t, err)
	require.Len(t, tr, 4)
	assert.Equal(t, "FolderSync", tr[0].Command)
	assert.NotContains(t, tr[3].Request, "hunter22")

	// Off again: nothing more is stored.
	require.NoError(t, env.reg.SetTrace(ctx, d.ID, false))
	assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")))
	after, err := env.st.Traces(ctx, d.ID, 0)
	require.NoError(t, err)
	assert.Equal(t, tr, after)
}

func TestRedactWBXML(t *testing.T) {
	t.Parallel()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.AirSyncSync)
	enc.Start(wbxml.AirSyncBaseBody)
	enc.Int(wbxml.AirSyncBaseType, 2)
	enc.String(wbxml.AirSyncBaseData, "<p>secret body</p>")
	enc.End()
	enc.Opaque(wbxml.ComposeMailMime, []byte("Subject: hi\r\n\r\nbody"))
	enc.String(wbxml.SearchPassword, "pw")
	enc.Empty(wbxml.AirSyncBaseData)
	enc.End()
	doc := enc.Bytes()
	require.NoError(t, enc.Err())

	xmlOf := func(b []byte) string {
		var s strings.Builder
		require.NoError(t, wbxml.ToXML(&s, b))
		return s.String()
	}
	red, err := eas.RedactWBXML(nil, doc, false)
	require.NoError(t, err)
	x := xmlOf(red)
	assert.Contains(t, x, "<airsyncbase:Data>[redacted 18 bytes]</airsyncbase:Data>")
	assert.Contains(t, x, "<composemail:Mime>[redacted 19 bytes]</composemail:Mime>")
	assert.Contains(t, x, "<search:Password>[redacted 2 bytes]</search:Password>")
	assert.Contains(t, x, "<airsyncbase:Type>2</airsyncbase:Type>")
	assert.NotContains(t, x, "secret body")

	keep, err := eas.RedactWBXML(nil, doc, true)
	require.NoError(t, err)
	x = xmlOf(keep)
	assert.Contains(t, x, "secret body")
	assert.Contains(t, x, "<search:Password>[redacted 2 bytes]</search:Password>", "passwords always")

	_, err = eas.RedactWBXML(nil, doc[:len(doc)-1], false)
	assert.Error(t, err)
}

// TestProvisionMalformedDeviceInformation: a DeviceInformation that does not follow MS-ASCMD
// 2.2.3.45 fails the whole request with InvalidXML (103; HTTP 400 before 14.0).
func TestProvisionMalformedDeviceInformation(t *testing.T) {
	t.Parallel()
	env := newProvEnv(t, eas.TraceOptions{})
	tests := []struct {
		name string
		body func(enc *wbxml.Encoder)
	}{
		{"EnableOutboundSMS not 0 or 1", func(enc *wbxml.Encoder) {
			enc.Start(wbxml.SettingsDeviceInformation)
			enc.Start(wbxml.SettingsSet)
			enc.String(wbxml.SettingsEnableOutboundSMS, "yes")
			enc.End()
			enc.End()
		}},
		{"no Set", func(enc *wbxml.Encoder) {
			enc.Start(wbxml.SettingsDeviceInformation)
			enc.String(wbxml.SettingsModel, "X")
			enc.End()
		}},
		{"Model with children", func(enc *wbxml.Encoder) {
			enc.Start(wbxml.SettingsDeviceInformation)
			enc.Start(wbxml.SettingsSet)
			enc.Start(wbxml.SettingsModel)
			enc.String(wbxml.SettingsOS, "X")
			enc.End()
			enc.End()
			enc.End()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := wbxml.NewEncoder(nil)
			enc.Start(wbxml.ProvisionProvision)
			tc.body(enc)
			enc.Start(wbxml.ProvisionPolicies)
			enc.Start(wbxml.ProvisionPolicy)
			enc.String(wbxml.ProvisionPolicyType, eas.PolicyTypeWBXML)
			enc.End()
			enc.End()
			enc.End()
			body := enc.Bytes()
			require.NoError(t, enc.Err())
			c := env.client("BadInfo", eas.Version161)
			res := provision(t, c, body)
			assert.Equal(t, int(eas.StatusInvalidXML), res.status)
			assert.Zero(t, res.key)
			c.Version = eas.Version121
			assert.Equal(t, http.StatusBadRequest, provision(t, c, body).http)
		})
	}
}

// TestPolicyRefreshInterval: a policy with a refresh interval makes devices provision again
// once it has passed since their acknowledgement.
func TestPolicyRefreshInterval(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Now()}
	env := newProvEnv(t, eas.TraceOptions{}, clk.Now)
	ctx := t.Context()
	def, err := env.st.DefaultPolicy(ctx)
	require.NoError(t, err)
	_, err = env.st.UpdatePolicy(ctx, def.ID, `{"RefreshIntervalHours":2}`)
	require.NoError(t, err)

	c := env.client("Refresh2", eas.Version161)
	handshake(t, c)
	clk.Advance(time.Hour)
	assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")))
	clk.Advance(90 * time.Minute)
	refused(t, c, eas.StatusPolicyRefresh)
	handshake(t, c)
	assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")))
}

// TestConcurrentFirstContactHTTPS: a new device's first requests arriving together over HTTPS
// create one partnership, on SQLite and PostgreSQL, and each gets its answer (142: not
// provisioned).
func TestConcurrentFirstContactHTTPS(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newProvEnvOn(t, st, eas.TraceOptions{})
		const n = 20
		var wg sync.WaitGroup
		codes := make([]int, n)
		body := folderSyncBody(t, "0")
		for i := range n {
			wg.Go(func() {
				c := env.client("Burst1", eas.Version161)
				resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdFolderSync, Body: body})
				if err != nil {
					return
				}
				if status, err := resp.Status(wbxml.FolderHierarchyStatus); err == nil {
					codes[i] = status
				}
			})
		}
		wg.Wait()
		for i := range n {
			assert.Equal(t, int(eas.StatusDeviceNotProvisioned), codes[i], "request %d", i)
		}
		list, err := st.Devices(t.Context(), store.DeviceFilter{User: env.user.ID})
		require.NoError(t, err)
		assert.Len(t, list, 1)
	})
}
