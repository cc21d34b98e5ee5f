package eas_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/eas"
	"github.com/easd/easd/store"
)

// BenchmarkGateAdmit measures the gate of a provisioned device's request: the coalesced Touch
// (memory) and the user's policy (one indexed read).
func BenchmarkGateAdmit(b *testing.B) {
	st, err := store.Open(b.Context(), "sqlite://"+b.TempDir()+"/easd.db", store.Options{KDF: store.TestKDF})
	require.NoError(b, err)
	b.Cleanup(func() { _ = st.Close() })
	require.NoError(b, st.Migrate(b.Context()))
	u, err := st.CreateUser(b.Context(), store.NewUser{Address: "gate@example.com", Password: "pw"})
	require.NoError(b, err)
	reg := devices.New(st, devices.Options{})
	k := devices.Key{User: u.ID, DeviceID: "Gate1"}
	_, err = reg.Touch(b.Context(), k, devices.Contact{DeviceType: "iPhone", ProtocolVersion: "16.1"})
	require.NoError(b, err)
	def, err := st.DefaultPolicy(b.Context())
	require.NoError(b, err)
	temp, err := reg.BeginProvision(b.Context(), k, def.ID, def.Version)
	require.NoError(b, err)
	final, err := reg.Acknowledge(b.Context(), k, temp, 1)
	require.NoError(b, err)

	g := eas.NewGate(reg, st, eas.GateOptions{})
	r := &eas.Request{Cmd: eas.CmdPing, DeviceID: "Gate1", DeviceType: "iPhone", Version: eas.Version161,
		PolicyKey: final, HasPolicyKey: true, Account: u}
	b.ReportAllocs()
	for b.Loop() {
		d, err := g.Admit(b.Context(), r)
		if err != nil || !d.Allow {
			b.Fatal(d, err)
		}
	}
}
