package eas_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// TestSyncSeesOtherWriter: no-change Syncs answer from memory (the folder's modseq kept
// current by the store's change notifications, the sync state kept by the Syncer), yet a
// message delivered through a second store connection (easd deliver, another node) is sent by
// the first Sync after the notifier delivered its event, exactly once.
func TestSyncSeesOtherWriter(t *testing.T) {
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		ctx := t.Context()
		a := storetest.Open(t, dsn)
		require.NoError(t, a.Migrate(ctx))
		a.PollOtherWriters(20 * time.Millisecond) // as easd serve does; nothing on PostgreSQL
		se := newSyncEnv(t, a)
		se.deliver(2)
		c := se.client()
		inbox := folderIDString(se.inbox)
		key := se.sync(c, collReq{key: "0", id: inbox}).get(wbxml.AirSyncSyncKey)
		coll := se.sync(c, collReq{key: key, id: inbox})
		require.Len(t, commandIDs(coll, wbxml.AirSyncAdd), 2)
		key = coll.get(wbxml.AirSyncSyncKey)
		for range 3 {
			coll = se.sync(c, collReq{key: key, id: inbox})
			assert.Equal(t, key, coll.get(wbxml.AirSyncSyncKey))
			assert.False(t, coll.has(wbxml.AirSyncCommands))
		}

		b := storetest.Open(t, dsn)
		w := a.Watch(ctx, se.user.Mailbox) // after the Syncs: notified after the folder cache
		defer w.Close()
		it, err := b.Deliver(ctx, se.user.Address, se.message("from another process"))
		require.NoError(t, err)
		select {
		case <-w.C:
		case <-time.After(10 * time.Second):
			t.Fatal("the other store's delivery was never notified")
		}
		coll = se.sync(c, collReq{key: key, id: inbox})
		assert.Equal(t, []string{itemServerID(it)}, commandIDs(coll, wbxml.AirSyncAdd))
		next := coll.get(wbxml.AirSyncSyncKey)
		assert.NotEqual(t, key, next)
		coll = se.sync(c, collReq{key: next, id: inbox})
		assert.Equal(t, next, coll.get(wbxml.AirSyncSyncKey))
		assert.False(t, coll.has(wbxml.AirSyncCommands), "sent twice")

		// The previous key still replays the round (MS-ASCMD 2.2.3.166.4), from the database.
		coll = se.sync(c, collReq{key: key, id: inbox})
		assert.Equal(t, []string{itemServerID(it)}, commandIDs(coll, wbxml.AirSyncAdd))
	})
}

func itemServerID(it store.Item) string { return strconv.FormatInt(int64(it.ID), 10) }

// TestSyncTwoNodes: two servers share one store, as nodes behind a load balancer do, and a
// device alternates between them. What one node keeps in memory never makes it answer with a
// key the other has moved past, nor send an item twice: a request naming the other node's new
// key is looked up in the database, and so is an empty one (the answer gives the key).
func TestSyncTwoNodes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		se := newSyncEnv(t, st) // node A
		nodeB := newBenchEnv(t, st)
		for _, c := range eas.NewSync(eas.SyncOptions{Store: st}).Commands() {
			nodeB.srv.Handle(c)
		}
		a := se.client()
		b := nodeB.client("alice@example.com")
		b.DeviceID = a.DeviceID
		inbox := folderIDString(se.inbox)
		first := se.deliver(1)[0]

		key := se.sync(a, collReq{key: "0", id: inbox}).get(wbxml.AirSyncSyncKey)
		coll := se.sync(a, collReq{key: key, id: inbox})
		assert.Equal(t, []string{itemServerID(first)}, commandIDs(coll, wbxml.AirSyncAdd))
		key = coll.get(wbxml.AirSyncSyncKey)
		coll = se.sync(a, collReq{key: key, id: inbox}) // A holds this state in memory
		require.Equal(t, key, coll.get(wbxml.AirSyncSyncKey))

		// Node B sends the next message and moves the key on.
		second := se.deliver(1)[0]
		coll = se.sync(b, collReq{key: key, id: inbox})
		assert.Equal(t, []string{itemServerID(second)}, commandIDs(coll, wbxml.AirSyncAdd))
		keyB := coll.get(wbxml.AirSyncSyncKey)
		require.NotEqual(t, key, keyB)

		// An empty request to A: B's key, nothing sent again.
		resp := se.do(a, nil)
		coll = parseWBXML(t, resp.Body).child(wbxml.AirSyncCollections).child(wbxml.AirSyncCollection)
		require.NotNil(t, coll)
		assert.Equal(t, keyB, coll.get(wbxml.AirSyncSyncKey))
		assert.False(t, coll.has(wbxml.AirSyncCommands), "sent twice")

		// B's key on A: current, nothing new.
		coll = se.sync(a, collReq{key: keyB, id: inbox})
		assert.Equal(t, keyB, coll.get(wbxml.AirSyncSyncKey))
		assert.False(t, coll.has(wbxml.AirSyncCommands))

		// The device lost B's answer and sends A's old key: A replays B's round.
		coll = se.sync(a, collReq{key: key, id: inbox})
		assert.Equal(t, []string{itemServerID(second)}, commandIDs(coll, wbxml.AirSyncAdd))
	})
}

// TestSyncForgetsRemovedPartnership: when a partnership is removed its sync states go
// (store.RemoveDevice) and the registry signals AdminChangeDevice; the Syncer drops what it
// holds of the device, so the device's old key gets status 3 at once instead of "nothing new".
func TestSyncForgetsRemovedPartnership(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		se := newSyncEnv(t, st)
		se.deliver(1)
		c := se.client()
		inbox := folderIDString(se.inbox)
		key := se.sync(c, collReq{key: "0", id: inbox}).get(wbxml.AirSyncSyncKey)
		key = se.sync(c, collReq{key: key, id: inbox}).get(wbxml.AirSyncSyncKey)
		coll := se.sync(c, collReq{key: key, id: inbox})
		require.Equal(t, "1", coll.get(wbxml.AirSyncStatus))

		// What devices.Registry.Remove does after store.RemoveDevice.
		require.NoError(t, st.DeleteSyncStates(ctx, se.user.ID, c.DeviceID))
		st.PublishAdminChange(ctx, store.AdminChange{Kind: store.AdminChangeDevice, User: se.user.ID, DeviceID: c.DeviceID})

		coll = se.sync(c, collReq{key: key, id: inbox})
		assert.Equal(t, "3", coll.get(wbxml.AirSyncStatus))
	})
}
