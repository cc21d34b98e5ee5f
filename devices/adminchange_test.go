package devices_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// A Registry drops exactly what an admin change of another process names: one partnership,
// every partnership of a user, or everything; until then it serves its cache (a TouchInterval
// of an hour). The changes are made here in the database without a signal, so only the
// signals published afterwards can make them visible.
func TestRegistryDropsWhatAdminChangesName(t *testing.T) {
	t.Parallel()
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		srv := storetest.Open(t, dsn)
		require.NoError(t, srv.Migrate(ctx))
		srv.PollOtherWriters(10 * time.Millisecond)
		reg := devices.New(srv, devices.Options{TouchInterval: time.Hour})
		t.Cleanup(reg.Close)
		seen := make(chan store.AdminChange, 16)
		t.Cleanup(srv.SubscribeAdminChanges(func(ch store.AdminChange) { seen <- ch }))
		wait := func(want store.AdminChange) {
			t.Helper()
			for {
				select {
				case ch := <-seen:
					if ch == want {
						return
					}
				case <-time.After(30 * time.Second): // a hang guard
					t.Fatalf("%+v not observed", want)
				}
			}
		}

		other := storetest.Open(t, dsn) // another process
		alice := newUser(t, srv, "alice@example.com")
		bob := newUser(t, srv, "bob@example.com")
		contact := devices.Contact{DeviceType: "iPhone", ProtocolVersion: "16.1"}
		keys := []devices.Key{{User: alice.ID, DeviceID: "A1"}, {User: alice.ID, DeviceID: "A2"}, {User: bob.ID, DeviceID: "B1"}}
		for _, k := range keys {
			d, err := reg.Touch(ctx, k, contact)
			require.NoError(t, err)
			require.Equal(t, store.AccessAllowed, d.AccessState)
			// Blocked in the database, unsignalled.
			_, _, err = other.SetDeviceAccess(ctx, d.ID, store.DeviceAccess{State: store.AccessBlocked,
				Reason: store.ReasonIndividual, By: "test"}, false)
			require.NoError(t, err)
		}
		state := func(k devices.Key) string {
			t.Helper()
			d, err := reg.Touch(ctx, k, contact)
			require.NoError(t, err)
			return d.AccessState
		}
		for _, k := range keys {
			require.Equal(t, store.AccessAllowed, state(k), "cached, no signal yet")
		}

		one := store.AdminChange{Kind: store.AdminChangeDevice, User: alice.ID, DeviceID: "A1"}
		other.PublishAdminChange(ctx, one)
		wait(one)
		assert.Equal(t, store.AccessBlocked, state(keys[0]))
		assert.Equal(t, store.AccessAllowed, state(keys[1]), "another device of the user stays cached")

		user := store.AdminChange{Kind: store.AdminChangeDevice, User: alice.ID}
		other.PublishAdminChange(ctx, user)
		wait(user)
		assert.Equal(t, store.AccessBlocked, state(keys[1]))
		assert.Equal(t, store.AccessAllowed, state(keys[2]), "another user's device stays cached")

		policy := store.AdminChange{Kind: store.AdminChangePolicy, User: bob.ID}
		other.PublishAdminChange(ctx, policy)
		wait(policy)
		assert.Equal(t, store.AccessAllowed, state(keys[2]), "a policy change leaves the partnerships cached")

		all := store.AdminChange{Kind: store.AdminChangeAll}
		other.PublishAdminChange(ctx, all)
		wait(all)
		assert.Equal(t, store.AccessBlocked, state(keys[2]))
	})
}

// A trace switched on by another process is seen by this one's Traced, which reads only
// memory.
func TestTraceSwitchReachesOtherProcesses(t *testing.T) {
	t.Parallel()
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		srv := storetest.Open(t, dsn)
		require.NoError(t, srv.Migrate(ctx))
		srv.PollOtherWriters(10 * time.Millisecond)
		reg := devices.New(srv, devices.Options{TouchInterval: time.Hour})
		t.Cleanup(reg.Close)
		seen := make(chan store.AdminChange, 16)
		t.Cleanup(srv.SubscribeAdminChanges(func(ch store.AdminChange) { seen <- ch }))

		alice := newUser(t, srv, "alice@example.com")
		k := devices.Key{User: alice.ID, DeviceID: "T1"}
		d, err := reg.Touch(ctx, k, devices.Contact{DeviceType: "iPhone", ProtocolVersion: "16.1"})
		require.NoError(t, err)
		_, traced := reg.Traced(k)
		require.False(t, traced)

		cli := devices.New(storetest.Open(t, dsn), devices.Options{})
		t.Cleanup(cli.Close)
		require.NoError(t, cli.SetTrace(ctx, d.ID, true))
		select {
		case ch := <-seen:
			require.Equal(t, store.AdminChange{Kind: store.AdminChangeDevice, User: alice.ID, DeviceID: "T1"}, ch)
		case <-time.After(30 * time.Second): // a hang guard
			t.Fatal("trace change not observed")
		}
		_, err = reg.Touch(ctx, k, devices.Contact{DeviceType: "iPhone", ProtocolVersion: "16.1"})
		require.NoError(t, err)
		_, traced = reg.Traced(k)
		assert.True(t, traced)
	})
}
