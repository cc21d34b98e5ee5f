package eas_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
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
		key := se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
		coll := se.sync(c, collReq{key: key, id: inbox})
		require.Len(t, commandIDs(coll, wbxml.AirSyncAdd), 2)
		key = coll.Get(wbxml.AirSyncSyncKey)
		for range 3 {
			coll = se.sync(c, collReq{key: key, id: inbox})
			assert.Equal(t, key, coll.Get(wbxml.AirSyncSyncKey))
			assert.False(t, coll.Has(wbxml.AirSyncCommands))
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
		next := coll.Get(wbxml.AirSyncSyncKey)
		assert.NotEqual(t, key, next)
		coll = se.sync(c, collReq{key: next, id: inbox})
		assert.Equal(t, next, coll.Get(wbxml.AirSyncSyncKey))
		assert.False(t, coll.Has(wbxml.AirSyncCommands), "sent twice")

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

		key := se.sync(a, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
		coll := se.sync(a, collReq{key: key, id: inbox})
		assert.Equal(t, []string{itemServerID(first)}, commandIDs(coll, wbxml.AirSyncAdd))
		key = coll.Get(wbxml.AirSyncSyncKey)
		coll = se.sync(a, collReq{key: key, id: inbox}) // A holds this state in memory
		require.Equal(t, key, coll.Get(wbxml.AirSyncSyncKey))

		// Node B sends the next message and moves the key on.
		second := se.deliver(1)[0]
		coll = se.sync(b, collReq{key: key, id: inbox})
		assert.Equal(t, []string{itemServerID(second)}, commandIDs(coll, wbxml.AirSyncAdd))
		keyB := coll.Get(wbxml.AirSyncSyncKey)
		require.NotEqual(t, key, keyB)

		// An empty request to A: B's key, nothing sent again.
		resp := se.do(a, nil)
		coll = parseWBXML(t, resp.Body).Child(wbxml.AirSyncCollections).Child(wbxml.AirSyncCollection)
		require.NotNil(t, coll)
		assert.Equal(t, keyB, coll.Get(wbxml.AirSyncSyncKey))
		assert.False(t, coll.Has(wbxml.AirSyncCommands), "sent twice")

		// B's key on A: current, nothing new.
		coll = se.sync(a, collReq{key: keyB, id: inbox})
		assert.Equal(t, keyB, coll.Get(wbxml.AirSyncSyncKey))
		assert.False(t, coll.Has(wbxml.AirSyncCommands))

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
		key := se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
		key = se.sync(c, collReq{key: key, id: inbox}).Get(wbxml.AirSyncSyncKey)
		coll := se.sync(c, collReq{key: key, id: inbox})
		require.Equal(t, "1", coll.Get(wbxml.AirSyncStatus))

		// What devices.Registry.Remove does after store.RemoveDevice.
		require.NoError(t, st.DeleteSyncStates(ctx, se.user.ID, c.DeviceID))
		st.PublishAdminChange(ctx, store.AdminChange{Kind: store.AdminChangeDevice, User: se.user.ID, DeviceID: c.DeviceID})

		coll = se.sync(c, collReq{key: key, id: inbox})
		assert.Equal(t, "3", coll.Get(wbxml.AirSyncStatus))
	})
}

// TestSyncConcurrentDevices: devices syncing over and over while mail arrives each get every
// message exactly once; the first Sync after the last delivery brings whatever is left (this
// process's writes drop the cached folder before they return).
func TestSyncConcurrentDevices(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		st.PollOtherWriters(0) // the cached path on SQLite too, as easd serve runs
		se := newSyncEnv(t, st)
		inbox := folderIDString(se.inbox)
		const devices, messages = 4, 20
		msgs := make([][]byte, messages)
		for i := range msgs {
			msgs[i] = se.message("concurrent " + strconv.Itoa(i))
		}
		type device struct {
			c    *easclient.Client
			key  string
			held map[string]bool
		}
		devs := make([]*device, devices)
		for i := range devs {
			c := se.client()
			c.DeviceID = "Conc" + strconv.Itoa(i)
			devs[i] = &device{c: c, held: map[string]bool{}}
			devs[i].key = se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
		}
		// sync runs one round; it reports whether the round sent anything.
		// (It runs on the devices' goroutines: errors, never t.FailNow.)
		sync := func(d *device) (bool, error) {
			enc := wbxml.NewEncoder(nil)
			enc.Start(wbxml.AirSyncSync)
			enc.Start(wbxml.AirSyncCollections)
			enc.Start(wbxml.AirSyncCollection)
			enc.String(wbxml.AirSyncSyncKey, d.key)
			enc.String(wbxml.AirSyncCollectionId, inbox)
			enc.Empty(wbxml.AirSyncGetChanges)
			enc.End()
			enc.End()
			enc.End()
			resp, err := d.c.Do(context.Background(), &easclient.Request{Cmd: eas.CmdSync, Body: enc.Bytes()})
			if err != nil {
				return false, err
			}
			var (
				status, key string
				adds        []string
				more        bool
			)
			dec := wbxml.NewDecoder(resp.Body)
			var path []wbxml.Tag
			for {
				tok, err := dec.Next()
				if errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					return false, err
				}
				switch tok.Kind {
				case wbxml.KindStart:
					if tok.Tag == wbxml.AirSyncMoreAvailable {
						more = true
					}
					if tok.Content {
						path = append(path, tok.Tag)
					}
				case wbxml.KindEnd:
					path = path[:len(path)-1]
				case wbxml.KindString:
					switch {
					case len(path) == 4 && path[3] == wbxml.AirSyncStatus:
						status = string(tok.Data)
					case len(path) == 4 && path[3] == wbxml.AirSyncSyncKey:
						key = string(tok.Data)
					case len(path) == 6 && path[4] == wbxml.AirSyncAdd && path[5] == wbxml.AirSyncServerId:
						adds = append(adds, string(tok.Data))
					}
				}
			}
			if status != "1" {
				return false, fmt.Errorf("%s: status %q", d.c.DeviceID, status)
			}
			for _, id := range adds {
				if d.held[id] {
					return false, fmt.Errorf("%s: item %s sent twice", d.c.DeviceID, id)
				}
				d.held[id] = true
			}
			d.key = key
			return len(adds) > 0 || more, nil
		}
		done := make(chan struct{})
		var g errgroup.Group
		for _, d := range devs {
			g.Go(func() error {
				for {
					select {
					case <-done:
						for { // drain: the deliveries are all committed
							more, err := sync(d)
							if err != nil || !more {
								return err
							}
						}
					default:
					}
					if _, err := sync(d); err != nil {
						return err
					}
				}
			})
		}
		for _, m := range msgs {
			_, err := st.Deliver(t.Context(), se.user.Address, m)
			require.NoError(t, err)
		}
		close(done)
		require.NoError(t, g.Wait())
		for _, d := range devs {
			assert.Len(t, d.held, messages, d.c.DeviceID)
		}
	})
}
