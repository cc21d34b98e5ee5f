package eas_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// parseTree decodes a 200 answer into its root element.
func parseTree(t *testing.T, resp *easclient.Response) *easclient.Node {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	n, err := resp.Tree()
	require.NoError(t, err)
	return n
}

func settings(t *testing.T, c *easclient.Client, fn func(enc *wbxml.Encoder)) *easclient.Node {
	t.Helper()
	body := encode(t, func(enc *wbxml.Encoder) {
		enc.Start(wbxml.SettingsSettings)
		fn(enc)
		enc.End()
	})
	resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdSettings, Body: body})
	require.NoError(t, err)
	n := parseTree(t, resp)
	require.Equal(t, wbxml.SettingsSettings, n.Tag)
	return n
}

type oofMsg struct {
	audience         wbxml.Tag
	enabled, message string
	bodyType         string
}

func oofSet(state, start, end string, msgs ...oofMsg) func(enc *wbxml.Encoder) {
	return func(enc *wbxml.Encoder) {
		enc.Start(wbxml.SettingsOof)
		enc.Start(wbxml.SettingsSet)
		if state != "" {
			enc.String(wbxml.SettingsOofState, state)
		}
		if start != "" {
			enc.String(wbxml.SettingsStartTime, start)
		}
		if end != "" {
			enc.String(wbxml.SettingsEndTime, end)
		}
		for _, m := range msgs {
			enc.Start(wbxml.SettingsOofMessage)
			enc.Empty(m.audience)
			enc.String(wbxml.SettingsEnabled, m.enabled)
			enc.String(wbxml.SettingsReplyMessage, m.message)
			enc.String(wbxml.SettingsBodyType, m.bodyType)
			enc.End()
		}
		enc.End()
		enc.End()
	}
}

func oofGet(bodyType string) func(enc *wbxml.Encoder) {
	return func(enc *wbxml.Encoder) {
		enc.Start(wbxml.SettingsOof)
		enc.Start(wbxml.SettingsGet)
		enc.String(wbxml.SettingsBodyType, bodyType)
		enc.End()
		enc.End()
	}
}

func TestSettingsOof(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newHierEnv(t, st)
		c := env.client("alice@example.com", "DevA", "Android", "")

		// Never set: disabled, all three audiences present and off.
		n := settings(t, c, oofGet("Text"))
		assert.Equal(t, "1", n.Get(wbxml.SettingsStatus))
		assert.Equal(t, "1", n.Get(wbxml.SettingsOof, wbxml.SettingsStatus))
		assert.Equal(t, "0", n.Get(wbxml.SettingsOof, wbxml.SettingsGet, wbxml.SettingsOofState))
		assert.Len(t, n.Child(wbxml.SettingsOof, wbxml.SettingsGet).Children, 4)

		// The Nine 16.1 Set: scheduled, internal and known external on, unknown off.
		set := settings(t, c, oofSet("2", "2026-07-01T08:00:00.000Z", "2026-07-03T18:30:00.000Z",
			oofMsg{wbxml.SettingsAppliesToInternal, "1", "Away until Friday", "Text"},
			oofMsg{wbxml.SettingsAppliesToExternalKnown, "1", "<p>Away &amp; back Friday</p>", "HTML"},
			oofMsg{wbxml.SettingsAppliesToExternalUnknown, "0", "Not here", "Text"}))
		assert.Equal(t, "1", set.Get(wbxml.SettingsStatus))
		assert.Equal(t, "1", set.Get(wbxml.SettingsOof, wbxml.SettingsStatus))

		o, err := st.Oof(t.Context(), env.alice.ID)
		require.NoError(t, err)
		assert.Equal(t, store.Oof{
			State: store.OofScheduled,
			Start: time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC), End: time.Date(2026, 7, 3, 18, 30, 0, 0, time.UTC),
			Internal:        store.OofMessage{Enabled: true, Message: "Away until Friday", BodyType: "Text"},
			ExternalKnown:   store.OofMessage{Enabled: true, Message: "<p>Away &amp; back Friday</p>", BodyType: "HTML"},
			ExternalUnknown: store.OofMessage{Message: "Not here", BodyType: "Text"},
		}, o)

		// Get returns what Set stored, in the body type asked for.
		g := settings(t, c, oofGet("Text")).Child(wbxml.SettingsOof, wbxml.SettingsGet)
		require.NotNil(t, g)
		assert.Equal(t, "2", g.Get(wbxml.SettingsOofState))
		assert.Equal(t, "2026-07-01T08:00:00.000Z", g.Get(wbxml.SettingsStartTime))
		assert.Equal(t, "2026-07-03T18:30:00.000Z", g.Get(wbxml.SettingsEndTime))
		var msgs []*easclient.Node
		for _, ch := range g.Children {
			if ch.Tag == wbxml.SettingsOofMessage {
				msgs = append(msgs, ch)
			}
		}
		require.Len(t, msgs, 3)
		assert.NotNil(t, msgs[0].Child(wbxml.SettingsAppliesToInternal))
		assert.Equal(t, "1", msgs[0].Get(wbxml.SettingsEnabled))
		assert.Equal(t, "Away until Friday", msgs[0].Get(wbxml.SettingsReplyMessage))
		assert.NotNil(t, msgs[1].Child(wbxml.SettingsAppliesToExternalKnown))
		assert.Equal(t, "Away & back Friday", msgs[1].Get(wbxml.SettingsReplyMessage), "HTML reduced to text")
		assert.Equal(t, "Text", msgs[1].Get(wbxml.SettingsBodyType))
		assert.NotNil(t, msgs[2].Child(wbxml.SettingsAppliesToExternalUnknown))
		assert.Equal(t, "0", msgs[2].Get(wbxml.SettingsEnabled))

		h := settings(t, c, oofGet("HTML")).Child(wbxml.SettingsOof, wbxml.SettingsGet)
		require.NotNil(t, h)
		for _, ch := range h.Children {
			if ch.Tag == wbxml.SettingsOofMessage && ch.Child(wbxml.SettingsAppliesToExternalKnown) != nil {
				assert.Equal(t, "<p>Away &amp; back Friday</p>", ch.Get(wbxml.SettingsReplyMessage))
				assert.Equal(t, "HTML", ch.Get(wbxml.SettingsBodyType))
			}
		}

		// Switching off keeps the messages.
		off := settings(t, c, oofSet("0", "", ""))
		assert.Equal(t, "1", off.Get(wbxml.SettingsOof, wbxml.SettingsStatus))
		o, err = st.Oof(t.Context(), env.alice.ID)
		require.NoError(t, err)
		assert.Equal(t, store.OofDisabled, o.State)
		assert.Equal(t, "Away until Friday", o.Internal.Message)

		// Out-of-range values: the Oof part answers its own status and nothing is stored.
		for _, tc := range []struct {
			name string
			set  func(enc *wbxml.Encoder)
			want string
		}{
			{"state 3", oofSet("3", "", ""), "5"},
			{"state text", oofSet("on", "", ""), "5"},
			{"bad time", oofSet("2", "tomorrow", "2026-07-03T18:30:00.000Z"), "5"},
			{"end before the stored start", oofSet("2", "", "2026-01-01T00:00:00.000Z"), "6"},
			{"end before start", oofSet("2", "2026-07-03T18:30:00.000Z", "2026-07-01T08:00:00.000Z"), "6"},
			{"bad body type", oofSet("1", "", "", oofMsg{wbxml.SettingsAppliesToInternal, "1", "x", "RTF"}), "5"},
			{"bad enabled", oofSet("1", "", "", oofMsg{wbxml.SettingsAppliesToInternal, "yes", "x", "Text"}), "5"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				n := settings(t, c, tc.set)
				assert.Equal(t, "1", n.Get(wbxml.SettingsStatus))
				assert.Equal(t, tc.want, n.Get(wbxml.SettingsOof, wbxml.SettingsStatus))
				after, err := st.Oof(t.Context(), env.alice.ID)
				require.NoError(t, err)
				assert.Equal(t, o, after)
			})
		}
		assert.Equal(t, "5", settings(t, c, oofGet("RTF")).Get(wbxml.SettingsOof, wbxml.SettingsStatus))

		// Elements left out keep their stored values, so a user who never set a window cannot
		// schedule without one.
		bob := env.client("bob@example.com", "DevBob", "Android", "")
		assert.Equal(t, "5", settings(t, bob, oofSet("2", "", "")).Get(wbxml.SettingsOof, wbxml.SettingsStatus))
		assert.Equal(t, "5", settings(t, bob, oofSet("2", "2026-01-01T00:00:00.000Z", "")).Get(wbxml.SettingsOof, wbxml.SettingsStatus))
	})
}

func userInfoGet(enc *wbxml.Encoder) {
	enc.Start(wbxml.SettingsUserInformation)
	enc.Empty(wbxml.SettingsGet)
	enc.End()
}

func TestSettingsUserInformation(t *testing.T) {
	t.Parallel()
	env := newHierEnv(t, openStore(t))
	tests := []struct {
		version eas.Version
		want    [][]wbxml.Tag // paths under UserInformation/Get that must hold the address
		absent  []wbxml.Tag
	}{
		{eas.Version121, [][]wbxml.Tag{{wbxml.SettingsEmailAddresses, wbxml.SettingsSMTPAddress}}, []wbxml.Tag{wbxml.SettingsAccounts}},
		{eas.Version140, [][]wbxml.Tag{{wbxml.SettingsEmailAddresses, wbxml.SettingsSMTPAddress}}, []wbxml.Tag{wbxml.SettingsAccounts}},
		{eas.Version141, [][]wbxml.Tag{
			{wbxml.SettingsAccounts, wbxml.SettingsAccount, wbxml.SettingsEmailAddresses, wbxml.SettingsPrimarySmtpAddress},
			{wbxml.SettingsAccounts, wbxml.SettingsAccount, wbxml.SettingsEmailAddresses, wbxml.SettingsSMTPAddress},
			{wbxml.SettingsAccounts, wbxml.SettingsAccount, wbxml.SettingsAccountName},
		}, []wbxml.Tag{wbxml.SettingsEmailAddresses}},
		{eas.Version161, [][]wbxml.Tag{
			{wbxml.SettingsAccounts, wbxml.SettingsAccount, wbxml.SettingsEmailAddresses, wbxml.SettingsPrimarySmtpAddress},
			{wbxml.SettingsAccounts, wbxml.SettingsAccount, wbxml.SettingsEmailAddresses, wbxml.SettingsSMTPAddress},
			{wbxml.SettingsAccounts, wbxml.SettingsAccount, wbxml.SettingsAccountName},
		}, []wbxml.Tag{wbxml.SettingsEmailAddresses}},
	}
	for _, tc := range tests {
		t.Run(tc.version.String(), func(t *testing.T) {
			t.Parallel()
			c := env.client("alice", "DevU"+tc.version.String(), "iPhone", "")
			c.Version = tc.version
			n := settings(t, c, userInfoGet)
			assert.Equal(t, "1", n.Get(wbxml.SettingsStatus))
			assert.Equal(t, "1", n.Get(wbxml.SettingsUserInformation, wbxml.SettingsStatus))
			get := n.Child(wbxml.SettingsUserInformation, wbxml.SettingsGet)
			require.NotNil(t, get)
			for _, p := range tc.want {
				assert.Equal(t, "alice@example.com", get.Get(p...))
			}
			for _, a := range tc.absent {
				assert.Nil(t, get.Child(a))
			}
			if tc.version >= eas.Version141 {
				assert.Equal(t, "Alice Liddell", get.Get(wbxml.SettingsAccounts, wbxml.SettingsAccount, wbxml.SettingsUserDisplayName))
			}
		})
	}
}

func TestSettingsDevicePassword(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newHierEnv(t, st)
		c := env.client("alice@example.com", "DevPw", "iPhone", "")
		const pw = "hunter2-recovery"
		n := settings(t, c, func(enc *wbxml.Encoder) {
			enc.Start(wbxml.SettingsDevicePassword)
			enc.Start(wbxml.SettingsSet)
			enc.String(wbxml.SettingsPassword, pw)
			enc.End()
			enc.End()
		})
		assert.Equal(t, "1", n.Get(wbxml.SettingsStatus))
		assert.Equal(t, "1", n.Get(wbxml.SettingsDevicePassword, wbxml.SettingsStatus))

		got, err := st.DevicePassword(t.Context(), env.box, env.alice.ID, "DevPw")
		require.NoError(t, err)
		assert.Equal(t, pw, got)
		var raw [][]byte
		require.NoError(t, st.DB().Raw(`SELECT sealed FROM device_passwords WHERE device_id = ?`, "DevPw").Scan(&raw).Error)
		require.Len(t, raw, 1)
		assert.NotContains(t, string(raw[0]), pw, "stored encrypted")
		assert.NotContains(t, string(raw[0]), "hunter2")

		// Set without Password, and Get (there is none): protocol error for the part.
		n = settings(t, c, func(enc *wbxml.Encoder) {
			enc.Start(wbxml.SettingsDevicePassword)
			enc.Empty(wbxml.SettingsSet)
			enc.End()
			enc.Start(wbxml.SettingsDevicePassword)
			enc.Empty(wbxml.SettingsGet)
			enc.End()
		})
		assert.Equal(t, "1", n.Get(wbxml.SettingsStatus))
		require.Len(t, n.Children, 3)
		assert.Equal(t, "2", n.Children[1].Get(wbxml.SettingsStatus))
		assert.Equal(t, "2", n.Children[2].Get(wbxml.SettingsStatus))
	})
}

func TestSettingsDeviceInformation(t *testing.T) {
	t.Parallel()
	env := newHierEnv(t, openStore(t))
	c := env.client("alice@example.com", "DevInfo", "Android", "")
	// Nine's 16.1 request, plus the other parts in one Settings.
	n := settings(t, c, func(enc *wbxml.Encoder) {
		enc.Start(wbxml.SettingsDeviceInformation)
		enc.Start(wbxml.SettingsSet)
		enc.String(wbxml.SettingsModel, "Android SDK built for x86_64")
		enc.String(wbxml.SettingsIMEI, "000000000000000")
		enc.String(wbxml.SettingsFriendlyName, "sdk_phone64_x86_64")
		enc.String(wbxml.SettingsOS, "Android 12.8752307")
		enc.String(wbxml.SettingsOSLanguage, "English (United States)")
		enc.String(wbxml.SettingsMobileOperator, "T-Mobile")
		enc.End()
		enc.End()
		userInfoGet(enc)
		enc.Start(wbxml.SettingsRightsManagementInformation)
		enc.Empty(wbxml.SettingsGet)
		enc.End()
	})
	assert.Equal(t, "1", n.Get(wbxml.SettingsStatus))
	require.Len(t, n.Children, 4, "top-level Status and one element per part, in request order")
	assert.Equal(t, wbxml.SettingsDeviceInformation, n.Children[1].Tag)
	assert.Equal(t, "1", n.Children[1].Get(wbxml.SettingsStatus))
	assert.Equal(t, wbxml.SettingsUserInformation, n.Children[2].Tag)
	assert.Equal(t, wbxml.SettingsRightsManagementInformation, n.Children[3].Tag)
	assert.Equal(t, "1", n.Children[3].Get(wbxml.SettingsStatus))
	tmpl := n.Children[3].Child(wbxml.SettingsGet, wbxml.RightsManagementRightsManagementTemplates)
	require.NotNil(t, tmpl)
	assert.Empty(t, tmpl.Children, "no templates")

	info, ok := env.devices.info(devices.Key{User: env.alice.ID, DeviceID: "DevInfo"})
	require.True(t, ok)
	assert.Equal(t, "Android SDK built for x86_64", info.Model)
	assert.Equal(t, "000000000000000", info.IMEI)
	assert.Equal(t, "T-Mobile", info.MobileOperator)
	assert.Equal(t, "English (United States)", info.OSLanguage)

	// The registry failing: the part says 4, the command still succeeds.
	env.devices.mu.Lock()
	env.devices.fail = true
	env.devices.mu.Unlock()
	n = settings(t, c, func(enc *wbxml.Encoder) {
		enc.Start(wbxml.SettingsDeviceInformation)
		enc.Start(wbxml.SettingsSet)
		enc.String(wbxml.SettingsModel, "x")
		enc.End()
		enc.End()
	})
	assert.Equal(t, "1", n.Get(wbxml.SettingsStatus))
	assert.Equal(t, "4", n.Get(wbxml.SettingsDeviceInformation, wbxml.SettingsStatus))

	// RightsManagementInformation before 14.1 does not exist: protocol error for the part.
	old := env.client("alice@example.com", "DevOld", "Android", "")
	old.Version = eas.Version140
	n = settings(t, old, func(enc *wbxml.Encoder) {
		enc.Start(wbxml.SettingsRightsManagementInformation)
		enc.Empty(wbxml.SettingsGet)
		enc.End()
	})
	assert.Equal(t, "2", n.Get(wbxml.SettingsRightsManagementInformation, wbxml.SettingsStatus))
}

// TestSettingsMalformed: requests that do not parse answer the top-level Status 2.
func TestSettingsMalformed(t *testing.T) {
	t.Parallel()
	env := newHierEnv(t, openStore(t))
	c := env.client("alice@example.com", "DevBad", "Android", "")
	tests := []struct {
		name string
		body func(enc *wbxml.Encoder)
	}{
		{"wrong root", func(enc *wbxml.Encoder) {
			enc.Start(wbxml.FolderHierarchyFolderSync)
			enc.String(wbxml.FolderHierarchySyncKey, "0")
			enc.End()
		}},
		{"bad EnableOutboundSMS", func(enc *wbxml.Encoder) {
			enc.Start(wbxml.SettingsSettings)
			enc.Start(wbxml.SettingsDeviceInformation)
			enc.Start(wbxml.SettingsSet)
			enc.String(wbxml.SettingsEnableOutboundSMS, "maybe")
			enc.End()
			enc.End()
			enc.End()
		}},
		{"DeviceInformation without Set", func(enc *wbxml.Encoder) {
			enc.Start(wbxml.SettingsSettings)
			enc.Start(wbxml.SettingsDeviceInformation)
			enc.String(wbxml.SettingsModel, "x")
			enc.End()
			enc.End()
		}},
		{"Oof without Get or Set", func(enc *wbxml.Encoder) {
			enc.Start(wbxml.SettingsSettings)
			enc.Start(wbxml.SettingsOof)
			enc.String(wbxml.SettingsOofState, "1")
			enc.End()
			enc.End()
		}},
		{"text in Settings", func(enc *wbxml.Encoder) {
			enc.Start(wbxml.SettingsSettings)
			enc.Text([]byte("hello"))
			enc.End()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdSettings, Body: encode(t, tc.body)})
			require.NoError(t, err)
			n := parseTree(t, resp)
			assert.Equal(t, wbxml.SettingsSettings, n.Tag)
			assert.Equal(t, "2", n.Get(wbxml.SettingsStatus))
			assert.Len(t, n.Children, 1, "only the status")
		})
	}
	_, ok := env.devices.info(devices.Key{User: env.alice.ID, DeviceID: "DevBad"})
	assert.False(t, ok, "nothing stored from a malformed request")
}
