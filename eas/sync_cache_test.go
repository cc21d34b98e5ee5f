package eas_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
