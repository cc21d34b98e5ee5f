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
	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// adminSignals records the admin changes a store observes. Subscribed after the store's account
// cache (store.Open) and the server's registry, so when a change shows up here both have
// already dropped what it names (subscribers are called in order).
type adminSignals chan store.AdminChange

func watchAdmin(t *testing.T, st *store.Store) adminSignals {
	t.Helper()
	c := make(adminSignals, 64)
	t.Cleanup(st.SubscribeAdminChanges(func(ch store.AdminChange) { c <- ch }))
	return c
}

// wait blocks until a change of kind about the DeviceId device ("": any) has been observed.
func (c adminSignals) wait(t *testing.T, kind store.AdminChangeKind, device string) {
	t.Helper()
	for {
		select {
		case ch := <-c:
			if ch.Kind == kind && (device == "" || ch.DeviceID == device) {
				return
			}
		case <-time.After(30 * time.Second): // a hang guard, not a latency assertion
			t.Fatalf("no %s change observed", kind)
		}
	}
}

// Changes made by another process — here a second store connection driving its own
// devices.Registry and policy.Manager, as `easd device …` and `easd policy …` do — bite at
// the device's next request to a running server, although the server's registry caches
// partnerships for an hour: block, wipe, removal, a per-user block list, a rule, a policy
// change. On SQLite the server sees them through the other-writers poller, on PostgreSQL
// through LISTEN/NOTIFY.
func TestAdminChangesFromAnotherProcess(t *testing.T) {
	t.Parallel()
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		srvStore := storetest.Open(t, dsn)
		require.NoError(t, srvStore.Migrate(t.Context()))
		srvStore.PollOtherWriters(20 * time.Millisecond)
		env := newMDMEnv(t, srvStore, devices.Options{TouchInterval: time.Hour})
		signals := watchAdmin(t, srvStore)

		cliStore := storetest.Open(t, dsn)
		cli := devices.New(cliStore, devices.Options{})
		t.Cleanup(cli.Close)
		policies := policy.NewManager(cliStore)
		ctx := t.Context()

		ready := func(id, typ string, v eas.Version) (*easclient.Client, devices.Device) {
			t.Helper()
			c := env.client(id, typ, v)
			handshake(t, c)
			status, _, _ := hierarchy(t, c, "0")
			require.Equal(t, 1, status) // cached by the server's registry now
			return c, env.device(t, id)
		}
		blockMe, blockDev := ready("Block1", "iPhone", eas.Version161)
		wipeMe, wipeDev := ready("Wipe1", "iPhone", eas.Version141)
		removeMe, removeDev := ready("Remove1", "iPhone", eas.Version161)
		listMe, _ := ready("List1", "iPhone", eas.Version161)
		ruleMe, _ := ready("Rule1", "WindowsPhone", eas.Version161)
		policyMe, _ := ready("Policy1", "iPhone", eas.Version161)

		// Blocked from the other process: 129.
		_, err := cli.SetAccess(ctx, blockDev.ID, store.AccessBlocked, "cli:root")
		require.NoError(t, err)
		signals.wait(t, store.AdminChangeDevice, "Block1")
		refusedAs(t, blockMe, eas.StatusDeviceIsBlockedForThisUser, http.StatusForbidden)
		// And allowed again.
		_, err = cli.SetAccess(ctx, blockDev.ID, store.AccessAllowed, "cli:root")
		require.NoError(t, err)
		signals.wait(t, store.AdminChangeDevice, "Block1")
		status, _, _ := hierarchy(t, blockMe, "0")
		assert.Equal(t, 1, status)

		// A wipe request: 140 (449 before 14.0), and Provision sends the directive.
		_, err = cli.RequestWipe(ctx, wipeDev.ID, false, "cli:root")
		require.NoError(t, err)
		signals.wait(t, store.AdminChangeDevice, "Wipe1")
		refusedAs(t, wipeMe, eas.StatusRemoteWipeRequested, eas.HTTP449)
		code, _, dir := provisionDirective(t, wipeMe, provisionBody(t, eas.PolicyTypeWBXML, "", "", nil))
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, "RemoteWipe", dir)

		// Removal: the partnership is new again and must provision (142).
		require.NoError(t, cli.RemoveAs(ctx, removeDev.ID, "cli:root"))
		signals.wait(t, store.AdminChangeDevice, "Remove1")
		refusedAs(t, removeMe, eas.StatusDeviceNotProvisioned, eas.HTTP449)

		// The user's block list.
		require.NoError(t, cli.SetUserList(ctx, env.alice.ID, "List1", store.AccessBlocked, "cli:root"))
		signals.wait(t, store.AdminChangeUserList, "List1")
		refusedAs(t, listMe, eas.StatusDeviceIsBlockedForThisUser, http.StatusForbidden)

		// A rule blocking the device type.
		_, err = cli.AddRule(ctx, store.DeviceRule{Field: store.RuleFieldDeviceType, Match: store.RuleMatchExact,
			Pattern: "WindowsPhone", Action: store.AccessBlocked}, "cli:root")
		require.NoError(t, err)
		signals.wait(t, store.AdminChangeRules, "")
		refusedAs(t, ruleMe, eas.StatusDeviceIsBlockedForThisUser, http.StatusForbidden)

		// A policy change: the device provisions again (143) and then works.
		def, err := policies.Default(ctx)
		require.NoError(t, err)
		def.AllowCamera = false
		_, err = policies.Update(ctx, def)
		require.NoError(t, err)
		signals.wait(t, store.AdminChangePolicy, "")
		refusedAs(t, policyMe, eas.StatusPolicyRefresh, eas.HTTP449)
		handshake(t, policyMe)
		status, _, _ = hierarchy(t, policyMe, "0")
		assert.Equal(t, 1, status)
	})
}
