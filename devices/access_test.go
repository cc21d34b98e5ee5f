package devices_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	dev := devices.Device{ID: 1, DeviceID: "D1", DeviceType: "SamsungPhone", UserAgent: "Android-SAMSUNG-SM-G991B/101.5",
		Info: store.DeviceInfo{Model: "SM-G991B", OS: "Android 14"}}
	rule := func(id store.RuleID, field, match, pattern, action string) store.DeviceRule {
		return store.DeviceRule{ID: id, Field: field, Match: match, Pattern: pattern, Action: action}
	}
	tests := []struct {
		name   string
		list   string
		rules  []store.DeviceRule
		def    string
		want   string
		reason string
		by     string
	}{
		{"default", "", nil, store.AccessQuarantined, store.AccessQuarantined, store.ReasonDefault, "default"},
		{"no rule matches", "", []store.DeviceRule{rule(1, store.RuleFieldModel, store.RuleMatchExact, "SM-G991", store.AccessBlocked)},
			store.AccessAllowed, store.AccessAllowed, store.ReasonDefault, "default"},
		{"prefix, case-insensitive", "", []store.DeviceRule{rule(1, store.RuleFieldModel, store.RuleMatchPrefix, "sm-", store.AccessBlocked)},
			store.AccessAllowed, store.AccessBlocked, store.ReasonRule, "rule 1"},
		{"exact beats prefix", "", []store.DeviceRule{
			rule(1, store.RuleFieldUserAgent, store.RuleMatchPrefix, "Android-SAMSUNG-SM-G991B/101.5", store.AccessBlocked),
			rule(2, store.RuleFieldOS, store.RuleMatchExact, "android 14", store.AccessAllowed)},
			store.AccessQuarantined, store.AccessAllowed, store.ReasonRule, "rule 2"},
		{"longer prefix beats shorter", "", []store.DeviceRule{
			rule(1, store.RuleFieldDeviceType, store.RuleMatchPrefix, "Samsung", store.AccessAllowed),
			rule(2, store.RuleFieldModel, store.RuleMatchPrefix, "SM", store.AccessBlocked)},
			store.AccessQuarantined, store.AccessAllowed, store.ReasonRule, "rule 1"},
		{"equal specificity: the stricter", "", []store.DeviceRule{
			rule(1, store.RuleFieldModel, store.RuleMatchPrefix, "SM-G", store.AccessAllowed),
			rule(2, store.RuleFieldOS, store.RuleMatchPrefix, "Andr", store.AccessQuarantined)},
			store.AccessAllowed, store.AccessQuarantined, store.ReasonRule, "rule 2"},
		{"equal everything: the older", "", []store.DeviceRule{
			rule(7, store.RuleFieldModel, store.RuleMatchPrefix, "SM-G", store.AccessBlocked),
			rule(3, store.RuleFieldOS, store.RuleMatchPrefix, "Andr", store.AccessBlocked)},
			store.AccessAllowed, store.AccessBlocked, store.ReasonRule, "rule 3"},
		{"user list beats rules", store.AccessAllowed, []store.DeviceRule{rule(1, store.RuleFieldModel, store.RuleMatchExact, "SM-G991B", store.AccessBlocked)},
			store.AccessBlocked, store.AccessAllowed, store.ReasonUserList, "user-list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := devices.Decide(dev, tc.list, tc.rules, tc.def)
			assert.Equal(t, devices.Decision{State: tc.want, Reason: tc.reason, By: tc.by}, got)
		})
	}
}

// Rules on the model apply once DeviceInformation tells the model; ClearAccess hands an
// individual decision back to the rules.
func TestAccessFromDeviceInformation(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		u, err := st.CreateUser(ctx, store.NewUser{Address: "info@example.org", Password: "pw"})
		require.NoError(t, err)
		reg := devices.New(st, devices.Options{})
		_, err = reg.AddRule(ctx, store.DeviceRule{Field: store.RuleFieldModel, Match: store.RuleMatchPrefix,
			Pattern: "SM-", Action: store.AccessBlocked}, "test")
		require.NoError(t, err)
		k := devices.Key{User: u.ID, DeviceID: "D1"}
		d, err := reg.Touch(ctx, k, devices.Contact{DeviceType: "Android"})
		require.NoError(t, err)
		assert.Equal(t, store.AccessAllowed, d.AccessState, "model unknown yet")
		require.NoError(t, reg.SetInfo(ctx, k, devices.Info{Model: "SM-G991B"}))
		d, err = reg.Get(ctx, k)
		require.NoError(t, err)
		assert.Equal(t, store.AccessBlocked, d.AccessState)
		assert.Equal(t, store.ReasonRule, d.AccessReason)

		d, err = reg.SetAccess(ctx, d.ID, store.AccessAllowed, "admin")
		require.NoError(t, err)
		assert.Equal(t, store.AccessAllowed, d.AccessState)
		d, err = reg.ClearAccess(ctx, d.ID, "admin")
		require.NoError(t, err)
		assert.Equal(t, store.AccessBlocked, d.AccessState)
		assert.Equal(t, store.ReasonRule, d.AccessReason)
	})
}
