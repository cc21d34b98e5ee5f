package main

import (
	"encoding/json"
	"fmt"
	"os/user"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
)

// cliActor is the audit actor the binary records for the person running the tests.
func cliActor(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	require.NoError(t, err)
	return "cli:" + u.Username
}

func TestDeviceCommands(t *testing.T) {
	forEachDB(t, func(t *testing.T, in *instance) { testDeviceCommands(t, in) })
}

func testDeviceCommands(t *testing.T, in *instance) {
	in.mustRun("pw\n", "user", "add", "alice@example.com", "--password-stdin")
	in.mustRun("pw\n", "user", "add", "bob@example.com", "--password-stdin")
	st := in.open()
	ctx := t.Context()
	alice, err := st.UserByAddress(ctx, "alice@example.com")
	require.NoError(t, err)
	bob, err := st.UserByAddress(ctx, "bob@example.com")
	require.NoError(t, err)
	a1, err := st.TouchDevice(ctx, store.DeviceContact{User: alice.ID, DeviceID: "AliceIPhone", DeviceType: "iPhone"})
	require.NoError(t, err)
	_, err = st.TouchDevice(ctx, store.DeviceContact{User: bob.ID, DeviceID: "BobDroid", DeviceType: "Android"})
	require.NoError(t, err)
	id := fmt.Sprint(a1.ID)

	out := in.mustRun("", "device", "list")
	assert.Contains(t, out, "DEVICE ID")
	assert.Contains(t, out, "AliceIPhone")
	assert.Contains(t, out, "BobDroid")
	out = in.mustRun("", "device", "list", "--user", "bob@example.com")
	assert.NotContains(t, out, "AliceIPhone")
	assert.Contains(t, out, "BobDroid")

	var list []struct {
		ID          int64
		DeviceID    string
		Address     string
		AccessState string
	}
	require.NoError(t, json.Unmarshal([]byte(in.mustRun("", "device", "list", "--json")), &list))
	require.Len(t, list, 2)
	assert.Equal(t, "alice@example.com", list[0].Address)
	assert.Equal(t, store.AccessAllowed, list[0].AccessState)

	// Individual decisions.
	assert.Contains(t, in.mustRun("", "device", "quarantine", id), "quarantined")
	out = in.mustRun("", "device", "list", "--state", "quarantined")
	assert.Contains(t, out, "AliceIPhone")
	assert.NotContains(t, out, "BobDroid")
	in.mustRun("", "device", "allow", id)
	in.mustRun("", "device", "block", id)
	d, err := st.DeviceByID(ctx, a1.ID)
	require.NoError(t, err)
	assert.Equal(t, store.AccessBlocked, d.AccessState)
	assert.Equal(t, store.ReasonIndividual, d.AccessReason)
	assert.Equal(t, cliActor(t), d.AccessSetBy)
	out = in.mustRun("", "device", "reset", id)
	assert.Contains(t, out, "allowed (default)")
	out = in.mustRun("", "device", "show", id)
	assert.Contains(t, out, "AliceIPhone")
	assert.Contains(t, out, "alice@example.com")
	assert.Contains(t, out, "never provisioned")

	// Wipe, refused twice, cancelled, account-only.
	assert.Contains(t, in.mustRun("", "device", "wipe", id), "remote wipe of device")
	_, errOut, code := in.run("", "device", "wipe", id)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errOut, "wipe state")
	in.mustRun("", "device", "cancel-wipe", id)
	_, errOut, code = in.run("", "device", "cancel-wipe", id)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errOut, "wipe state")
	assert.Contains(t, in.mustRun("", "device", "wipe", id, "--account-only"), "account-only")
	var shown struct {
		WipeState       string
		WipeAccountOnly bool
		WipeRequestedBy string
	}
	require.NoError(t, json.Unmarshal([]byte(in.mustRun("", "device", "show", id, "--json")), &shown))
	assert.Equal(t, store.WipeRequested, shown.WipeState)
	assert.True(t, shown.WipeAccountOnly)
	assert.Equal(t, cliActor(t), shown.WipeRequestedBy)

	// The wiped phone back under a new DeviceId: show names it both ways.
	require.NoError(t, st.SetDeviceInfo(ctx, a1.ID, store.DeviceInfo{Model: "iPhone15,2"}))
	a2, err := st.TouchDevice(ctx, store.DeviceContact{User: alice.ID, DeviceID: "AliceNewPhone", DeviceType: "iPhone"})
	require.NoError(t, err)
	require.NoError(t, st.SetDeviceInfo(ctx, a2.ID, store.DeviceInfo{Model: "iPhone15,2"}))
	out = in.mustRun("", "device", "show", id)
	assert.Regexp(t, `Likely successors:\s+`+fmt.Sprint(a2.ID)+` AliceNewPhone \(iPhone, iPhone15,2, first seen .*\): same model`, out)
	assert.NotContains(t, out, "Likely predecessor")
	out = in.mustRun("", "device", "show", fmt.Sprint(a2.ID))
	assert.Regexp(t, `Likely predecessor:\s+`+id+` AliceIPhone .*: same model`, out)
	var withSucc struct {
		LikelySuccessors []struct {
			ID       int64
			DeviceID string
			Reason   string
		}
		LikelyPredecessors []struct{ ID int64 }
	}
	require.NoError(t, json.Unmarshal([]byte(in.mustRun("", "device", "show", id, "--json")), &withSucc))
	require.Len(t, withSucc.LikelySuccessors, 1)
	assert.Equal(t, "AliceNewPhone", withSucc.LikelySuccessors[0].DeviceID)
	assert.Equal(t, "same model", withSucc.LikelySuccessors[0].Reason)
	assert.Empty(t, withSucc.LikelyPredecessors)

	in.mustRun("", "device", "remove", id)
	_, errOut, code = in.run("", "device", "show", id)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errOut, "no device "+id)

	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no subcommand", []string{"device"}, exitUsage, "usage"},
		{"bad id", []string{"device", "allow", "x"}, exitUsage, "positive number"},
		{"missing id", []string{"device", "wipe"}, exitUsage, "usage"},
		{"bad state", []string{"device", "list", "--state", "gone"}, exitUsage, "--state"},
		{"unknown user", []string{"device", "list", "--user", "nobody@example.com"}, exitFailure, "no such user"},
		{"unknown device", []string{"device", "block", "99999"}, exitFailure, "no device 99999"},
		{"unknown subcommand", []string{"device", "frob", "1"}, exitUsage, "unknown device command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := in.run("", tc.args...)
			assert.Equal(t, tc.code, code, errOut)
			assert.Contains(t, errOut, tc.stderr)
		})
	}

	audit, err := st.Audit(ctx, store.AuditFilter{Actor: cliActor(t)})
	require.NoError(t, err)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	assert.ElementsMatch(t, []string{"device.quarantined", "device.allowed", "device.blocked", "device.clear-access",
		"device.wipe", "device.wipe-cancel", "device.wipe-account", "device.remove"}, actions)
}

func TestRuleCommands(t *testing.T) {
	forEachDB(t, func(t *testing.T, in *instance) { testRuleCommands(t, in) })
}

func testRuleCommands(t *testing.T, in *instance) {
	out := in.mustRun("", "rule", "add", "--field", "model", "--match", "prefix", "--pattern", "SM-", "--action", "quarantine")
	assert.Contains(t, out, `rule 1 added: model prefix "SM-" → quarantined`)
	in.mustRun("", "rule", "add", "--field", "user-agent", "--pattern", "Outlook-iOS/2.0", "--action", "block")
	out = in.mustRun("", "rule", "list")
	assert.Contains(t, out, "PATTERN")
	assert.Contains(t, out, "Outlook-iOS/2.0")
	var rules []store.DeviceRule
	require.NoError(t, json.Unmarshal([]byte(in.mustRun("", "rule", "list", "--json")), &rules))
	require.Len(t, rules, 2)
	assert.Equal(t, store.RuleMatchExact, rules[1].Match, "exact by default")
	assert.Equal(t, cliActor(t), rules[0].CreatedBy)

	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"duplicate", []string{"rule", "add", "--field", "model", "--match", "prefix", "--pattern", "SM-", "--action", "allow"}, exitFailure, "exists already"},
		{"bad field", []string{"rule", "add", "--field", "imei", "--pattern", "1", "--action", "allow"}, exitUsage, "rule field"},
		{"bad match", []string{"rule", "add", "--field", "os", "--match", "regex", "--pattern", "1", "--action", "allow"}, exitUsage, "rule match"},
		{"no pattern", []string{"rule", "add", "--field", "os", "--action", "allow"}, exitUsage, "pattern"},
		{"bad action", []string{"rule", "add", "--field", "os", "--pattern", "x", "--action", "wipe"}, exitUsage, "--action"},
		{"remove unknown", []string{"rule", "remove", "99"}, exitFailure, "no rule 99"},
		{"remove bad id", []string{"rule", "remove", "x"}, exitUsage, "positive number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := in.run("", tc.args...)
			assert.Equal(t, tc.code, code, errOut)
			assert.Contains(t, errOut, tc.stderr)
		})
	}

	in.mustRun("", "rule", "remove", "1")
	out = in.mustRun("", "rule", "list")
	assert.NotContains(t, out, "SM-")
	st := in.open()
	audit, err := st.Audit(t.Context(), store.AuditFilter{Actor: cliActor(t)})
	require.NoError(t, err)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	assert.ElementsMatch(t, []string{"rule.add", "rule.add", "rule.remove"}, actions)
}

func TestPolicyCommands(t *testing.T) {
	forEachDB(t, func(t *testing.T, in *instance) { testPolicyCommands(t, in) })
}

func testPolicyCommands(t *testing.T, in *instance) {
	in.mustRun("pw\n", "user", "add", "alice@example.com", "--password-stdin")
	out := in.mustRun("", "policy", "create", "Strict", "DevicePasswordEnabled=true", "MinDevicePasswordLength=6")
	assert.Contains(t, out, "policy Strict created")
	out = in.mustRun("", "policy", "set", "Strict", "MaxAttachmentSize=1048576", "AllowCamera=false")
	assert.Contains(t, out, "version 2")
	out = in.mustRun("", "policy", "list")
	assert.Contains(t, out, "Default")
	assert.Regexp(t, `Strict\s+2`, out)

	var shown struct {
		Name     string
		Version  int64
		Settings map[string]json.RawMessage
	}
	require.NoError(t, json.Unmarshal([]byte(in.mustRun("", "policy", "show", "Strict", "--json")), &shown))
	assert.Equal(t, int64(2), shown.Version)
	assert.JSONEq(t, "true", string(shown.Settings["DevicePasswordEnabled"]))
	assert.JSONEq(t, "6", string(shown.Settings["MinDevicePasswordLength"]))
	assert.JSONEq(t, "1048576", string(shown.Settings["MaxAttachmentSize"]))
	assert.JSONEq(t, "false", string(shown.Settings["AllowCamera"]))
	out = in.mustRun("", "policy", "show", "Strict")
	assert.Regexp(t, `AllowCamera\s+false`, out)

	in.mustRun("", "policy", "assign", "Strict", "alice@example.com")
	st := in.open()
	alice, err := st.UserByAddress(t.Context(), "alice@example.com")
	require.NoError(t, err)
	rec, err := st.UserPolicy(t.Context(), alice.ID)
	require.NoError(t, err)
	assert.Equal(t, "Strict", rec.Name)

	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"duplicate", []string{"policy", "create", "Strict"}, exitFailure, "exists already"},
		{"out of range", []string{"policy", "set", "Strict", "MaxEmailAgeFilter=9"}, exitUsage, "MaxEmailAgeFilter"},
		{"unknown setting", []string{"policy", "set", "Strict", "Bogus=1"}, exitUsage, "Bogus"},
		{"not key=value", []string{"policy", "set", "Strict", "AllowCamera"}, exitUsage, "SETTING=VALUE"},
		{"unknown policy", []string{"policy", "show", "Nope"}, exitFailure, `no policy "Nope"`},
		{"unknown user", []string{"policy", "assign", "Strict", "nobody@example.com"}, exitFailure, "no such user"},
		{"unknown subcommand", []string{"policy", "frob"}, exitUsage, "unknown policy command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := in.run("", tc.args...)
			assert.Equal(t, tc.code, code, errOut)
			assert.Contains(t, errOut, tc.stderr)
		})
	}

	audit, err := st.Audit(t.Context(), store.AuditFilter{Actor: cliActor(t)})
	require.NoError(t, err)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action+" "+a.Target)
	}
	assert.ElementsMatch(t, []string{"policy.create Strict", "policy.set Strict", "policy.assign alice@example.com"}, actions)
	assert.False(t, strings.Contains(out, "error"))
}
