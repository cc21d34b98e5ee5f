package eas_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// TestSyncTranscript walks one device through the life of an Inbox on both databases:
// initial sync in windows, no-change sync, a delivery, the device's own flag, read and
// delete, a change made in the store, and a filter window.
func TestSyncTranscript(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		se := newSyncEnv(t, st)
		c := se.client()
		inbox := folderIDString(se.inbox)
		se.deliver(250)

		coll := se.sync(c, collReq{key: "0", id: inbox})
		assert.Equal(t, "1", coll.Get(wbxml.AirSyncStatus))
		assert.Nil(t, coll.Child(wbxml.AirSyncCommands), "key 0 answers no items")
		key := coll.Get(wbxml.AirSyncSyncKey)
		require.NotEqual(t, "0", key)

		held := map[string]bool{}
		for i, want := range []int{100, 100, 50} {
			coll = se.sync(c, collReq{key: key, id: inbox, window: 100})
			require.Equal(t, "1", coll.Get(wbxml.AirSyncStatus))
			adds := commandIDs(coll, wbxml.AirSyncAdd)
			assert.Len(t, adds, want, "round %d", i)
			assert.Equal(t, i < 2, coll.Has(wbxml.AirSyncMoreAvailable), "round %d MoreAvailable", i)
			for _, id := range adds {
				assert.False(t, held[id], "duplicate add %s", id)
				held[id] = true
			}
			newKey := coll.Get(wbxml.AirSyncSyncKey)
			assert.NotEqual(t, key, newKey)
			key = newKey
		}
		require.Len(t, held, 250)

		// No change: status 1, no commands, the same key.
		coll = se.sync(c, collReq{key: key, id: inbox, window: 100})
		assert.Equal(t, "1", coll.Get(wbxml.AirSyncStatus))
		assert.Nil(t, coll.Child(wbxml.AirSyncCommands))
		assert.False(t, coll.Has(wbxml.AirSyncMoreAvailable))
		assert.Equal(t, key, coll.Get(wbxml.AirSyncSyncKey))

		// A delivery arrives as an Add with its fields.
		it := se.deliver(1)[0]
		coll = se.sync(c, collReq{key: key, id: inbox})
		adds := coll.Child(wbxml.AirSyncCommands).All(wbxml.AirSyncAdd)
		require.Len(t, adds, 1)
		assert.Equal(t, strconv.FormatInt(int64(it.ID), 10), adds[0].Get(wbxml.AirSyncServerId))
		data := adds[0].Child(wbxml.AirSyncApplicationData)
		assert.Equal(t, it.Subject, data.Get(wbxml.EmailSubject))
		assert.Equal(t, "0", data.Get(wbxml.EmailRead))
		assert.Equal(t, "IPM.Note", data.Get(wbxml.EmailMessageClass))
		key = coll.Get(wbxml.AirSyncSyncKey)
		sid := strconv.FormatInt(int64(it.ID), 10)

		// The device flags and reads it: the store has it, and it is not echoed back.
		coll = se.sync(c, collReq{key: key, id: inbox, commands: func(enc *wbxml.Encoder) {
			enc.Start(wbxml.AirSyncChange)
			enc.String(wbxml.AirSyncServerId, sid)
			enc.Start(wbxml.AirSyncApplicationData)
			enc.Int(wbxml.EmailRead, 1)
			enc.Start(wbxml.EmailFlag)
			enc.Int(wbxml.EmailStatus, 2)
			enc.String(wbxml.EmailFlagType, "Follow up")
			enc.End()
			enc.End()
			enc.End()
		}})
		assert.Equal(t, "1", coll.Get(wbxml.AirSyncStatus))
		assert.Nil(t, coll.Child(wbxml.AirSyncResponses), "a successful change has no response")
		key = coll.Get(wbxml.AirSyncSyncKey)
		got, err := st.Item(ctx, it.ID)
		require.NoError(t, err)
		assert.True(t, got.Seen)
		assert.True(t, got.Flagged)
		coll = se.sync(c, collReq{key: key, id: inbox})
		assert.Nil(t, coll.Child(wbxml.AirSyncCommands), "own change echoed")
		key = coll.Get(wbxml.AirSyncSyncKey)

		// A change made in the store arrives as a Change.
		off := false
		_, err = st.SetFlags(ctx, it.ID, store.FlagsUpdate{Flagged: &off})
		require.NoError(t, err)
		coll = se.sync(c, collReq{key: key, id: inbox})
		changes := coll.Child(wbxml.AirSyncCommands).All(wbxml.AirSyncChange)
		require.Len(t, changes, 1)
		assert.Equal(t, sid, changes[0].Get(wbxml.AirSyncServerId))
		assert.False(t, changes[0].Child(wbxml.AirSyncApplicationData).Has(wbxml.EmailSubject), "a change carries only what changes")
		assert.False(t, changes[0].Child(wbxml.AirSyncApplicationData).Has(wbxml.AirSyncBaseBody))
		assert.Equal(t, "1", changes[0].Child(wbxml.AirSyncApplicationData).Get(wbxml.EmailRead))
		flag := changes[0].Child(wbxml.AirSyncApplicationData).Child(wbxml.EmailFlag)
		require.NotNil(t, flag)
		assert.Empty(t, flag.Children, "cleared flag")
		key = coll.Get(wbxml.AirSyncSyncKey)

		// The device deletes it: it moves to Deleted Items.
		coll = se.sync(c, collReq{key: key, id: inbox, commands: func(enc *wbxml.Encoder) {
			enc.Start(wbxml.AirSyncDelete)
			enc.String(wbxml.AirSyncServerId, sid)
			enc.End()
		}})
		assert.Equal(t, "1", coll.Get(wbxml.AirSyncStatus))
		key = coll.Get(wbxml.AirSyncSyncKey)
		got, err = st.Item(ctx, it.ID)
		require.NoError(t, err)
		assert.Equal(t, se.trash.ID, got.Folder)
		coll = se.sync(c, collReq{key: key, id: inbox})
		assert.Nil(t, coll.Child(wbxml.AirSyncCommands), "own delete echoed")
		key = coll.Get(wbxml.AirSyncSyncKey)

		// A delete in the store arrives as a Delete; an unknown ServerId gets 8.
		var victim string
		for id := range held {
			victim = id
			break
		}
		vid, _ := strconv.ParseInt(victim, 10, 64)
		require.NoError(t, st.DeleteItem(ctx, store.ItemID(vid)))
		coll = se.sync(c, collReq{key: key, id: inbox, commands: func(enc *wbxml.Encoder) {
			enc.Start(wbxml.AirSyncChange)
			enc.String(wbxml.AirSyncServerId, "999999")
			enc.Start(wbxml.AirSyncApplicationData)
			enc.Int(wbxml.EmailRead, 1)
			enc.End()
			enc.End()
		}})
		assert.Equal(t, []string{victim}, commandIDs(coll, wbxml.AirSyncDelete))
		resp := coll.Child(wbxml.AirSyncResponses).Child(wbxml.AirSyncChange)
		require.NotNil(t, resp)
		assert.Equal(t, "8", resp.Get(wbxml.AirSyncStatus))
		key = coll.Get(wbxml.AirSyncSyncKey)

		// FilterType 3 (one week): old mail leaves with SoftDelete; back to 0 brings it back.
		old, err := st.AppendMessage(ctx, se.inbox.ID, se.message("old"), store.AppendOptions{Received: se.now.Add(-10 * 24 * time.Hour)})
		require.NoError(t, err)
		coll = se.sync(c, collReq{key: key, id: inbox})
		assert.Equal(t, []string{strconv.FormatInt(int64(old.ID), 10)}, commandIDs(coll, wbxml.AirSyncAdd))
		key = coll.Get(wbxml.AirSyncSyncKey)
		week := func(enc *wbxml.Encoder) { enc.Int(wbxml.AirSyncFilterType, 3) }
		coll = se.sync(c, collReq{key: key, id: inbox, options: week})
		assert.Equal(t, []string{strconv.FormatInt(int64(old.ID), 10)}, commandIDs(coll, wbxml.AirSyncSoftDelete))
		key = coll.Get(wbxml.AirSyncSyncKey)
		// The options are kept: the next Sync without Options keeps the window.
		coll = se.sync(c, collReq{key: key, id: inbox})
		assert.Nil(t, coll.Child(wbxml.AirSyncCommands))
		key = coll.Get(wbxml.AirSyncSyncKey)
		// Time passes: everything delivered ages out of the window.
		se.now = se.now.Add(8 * 24 * time.Hour)
		coll = se.sync(c, collReq{key: key, id: inbox, window: 512})
		assert.Len(t, commandIDs(coll, wbxml.AirSyncSoftDelete), 249)
		key = coll.Get(wbxml.AirSyncSyncKey)
		se.now = se.now.Add(-8 * 24 * time.Hour)
		all := func(enc *wbxml.Encoder) { enc.Int(wbxml.AirSyncFilterType, 0) }
		coll = se.sync(c, collReq{key: key, id: inbox, window: 512, options: all})
		assert.Len(t, commandIDs(coll, wbxml.AirSyncAdd), 250, "widening the window adds everything again")
		require.NoError(t, st.Check(ctx))
	})
}

// TestSyncKeys covers stale, foreign and malformed keys, the previous key and unknown
// collections.
func TestSyncKeys(t *testing.T) {
	st := openSyncStore(t)
	se := newSyncEnv(t, st)
	c := se.client()
	inbox := folderIDString(se.inbox)
	se.deliver(3)
	k1 := se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
	coll := se.sync(c, collReq{key: k1, id: inbox})
	k2 := coll.Get(wbxml.AirSyncSyncKey)
	first := commandIDs(coll, wbxml.AirSyncAdd)
	require.Len(t, first, 3)
	// The previous key again: the same adds again, under a fresh key.
	coll = se.sync(c, collReq{key: k1, id: inbox})
	assert.Equal(t, first, commandIDs(coll, wbxml.AirSyncAdd))
	k3 := coll.Get(wbxml.AirSyncSyncKey)
	assert.NotEqual(t, k2, k3)
	// k2 was never acknowledged and is gone; k1 still is the previous key.
	se.deliver(1)
	coll = se.sync(c, collReq{key: k3, id: inbox})
	k4 := coll.Get(wbxml.AirSyncSyncKey)
	require.NotEqual(t, k3, k4)
	// k1 is now two rounds old.
	for _, key := range []string{k1, k2, "{0000000000000000}1", "garbage", "7"} {
		coll = se.sync(c, collReq{key: key, id: inbox})
		assert.Equal(t, "3", coll.Get(wbxml.AirSyncStatus), "key %q", key)
		assert.Equal(t, "0", coll.Get(wbxml.AirSyncSyncKey))
	}
	// Another device does not share keys.
	other := se.client()
	other.DeviceID = "Other01"
	coll = se.sync(other, collReq{key: k4, id: inbox})
	assert.Equal(t, "3", coll.Get(wbxml.AirSyncStatus))
	// Unknown collections: 12.
	for _, id := range []string{"99999", "x"} {
		coll = se.sync(c, collReq{key: "0", id: id})
		assert.Equal(t, "12", coll.Get(wbxml.AirSyncStatus))
	}
}

// TestSyncWait covers Wait and HeartbeatInterval: the long poll returns on a delivery and on
// cancellation, and out-of-range or combined values get 14 (with Limit) and 4.
func TestSyncWait(t *testing.T) {
	st := openSyncStore(t)
	se := newSyncEnv(t, st)
	c := se.client()
	inbox := folderIDString(se.inbox)
	key := se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
	key = se.sync(c, collReq{key: key, id: inbox}).Get(wbxml.AirSyncSyncKey)

	for _, tc := range []struct {
		name   string
		top    func(enc *wbxml.Encoder)
		status string
		limit  string
	}{
		{"wait too long", func(enc *wbxml.Encoder) { enc.Int(wbxml.AirSyncWait, 60) }, "14", "59"},
		{"wait zero", func(enc *wbxml.Encoder) { enc.Int(wbxml.AirSyncWait, 0) }, "14", "1"},
		{"heartbeat too short", func(enc *wbxml.Encoder) { enc.Int(wbxml.AirSyncHeartbeatInterval, 30) }, "14", "60"},
		{"heartbeat too long", func(enc *wbxml.Encoder) { enc.Int(wbxml.AirSyncHeartbeatInterval, 3600) }, "14", "3540"},
		{"both", func(enc *wbxml.Encoder) {
			enc.Int(wbxml.AirSyncWait, 5)
			enc.Int(wbxml.AirSyncHeartbeatInterval, 300)
		}, "4", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := se.do(c, syncBody(t, []collReq{{key: key, id: inbox}}, tc.top))
			doc := parseWBXML(t, resp.Body)
			assert.Equal(t, tc.status, doc.Get(wbxml.AirSyncStatus))
			assert.Equal(t, tc.limit, doc.Get(wbxml.AirSyncLimit))
		})
	}

	// A delivery ends the wait with the new message.
	done := make(chan *easclient.Response, 1)
	go func() {
		resp, err := c.Do(context.Background(), &easclient.Request{Cmd: eas.CmdSync,
			Body: syncBody(t, []collReq{{key: key, id: inbox}}, func(enc *wbxml.Encoder) { enc.Int(wbxml.AirSyncHeartbeatInterval, 600) })})
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("sync with heartbeat returned before any change")
	default:
	}
	it := se.deliver(1)[0]
	var resp *easclient.Response
	select {
	case resp = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("sync with heartbeat did not wake on delivery")
	}
	require.NotNil(t, resp)
	coll := parseWBXML(t, resp.Body).Child(wbxml.AirSyncCollections).Child(wbxml.AirSyncCollection)
	assert.Equal(t, []string{strconv.FormatInt(int64(it.ID), 10)}, commandIDs(coll, wbxml.AirSyncAdd))
	key = coll.Get(wbxml.AirSyncSyncKey)

	// An empty request repeats the cached one (with its heartbeat); a client that goes away
	// ends the long poll.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Do(ctx, &easclient.Request{Cmd: eas.CmdSync})
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		assert.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("cancelled long poll did not return")
	}
	// The key is unchanged by the abandoned poll.
	coll = se.sync(c, collReq{key: key, id: inbox})
	assert.Equal(t, "1", coll.Get(wbxml.AirSyncStatus))
}

// TestSyncEmptyAndPartial: an empty or Partial request without a cached one gets 13; with
// one, it is completed from the cache.
func TestSyncEmptyAndPartial(t *testing.T) {
	st := openSyncStore(t)
	se := newSyncEnv(t, st)
	c := se.client()
	fresh := se.client()
	fresh.DeviceID = "Fresh01"
	resp := se.do(fresh, nil)
	assert.Equal(t, "13", parseWBXML(t, resp.Body).Get(wbxml.AirSyncStatus))
	resp = se.do(fresh, syncBody(t, nil, func(enc *wbxml.Encoder) { enc.Empty(wbxml.AirSyncPartial) }))
	assert.Equal(t, "13", parseWBXML(t, resp.Body).Get(wbxml.AirSyncStatus))

	inbox, drafts := folderIDString(se.inbox), folderIDString(se.drafts)
	resp = se.do(c, syncBody(t, []collReq{{key: "0", id: inbox}, {key: "0", id: drafts}}, nil))
	colls := parseWBXML(t, resp.Body).Child(wbxml.AirSyncCollections).All(wbxml.AirSyncCollection)
	require.Len(t, colls, 2)
	ki, kd := colls[0].Get(wbxml.AirSyncSyncKey), colls[1].Get(wbxml.AirSyncSyncKey)
	resp = se.do(c, syncBody(t, []collReq{{key: ki, id: inbox}, {key: kd, id: drafts}}, nil))
	colls = parseWBXML(t, resp.Body).Child(wbxml.AirSyncCollections).All(wbxml.AirSyncCollection)
	require.Len(t, colls, 2)
	ki, kd = colls[0].Get(wbxml.AirSyncSyncKey), colls[1].Get(wbxml.AirSyncSyncKey)

	it := se.deliver(1)[0]
	// Partial with only Drafts: the Inbox comes from the cache and brings the new mail.
	resp = se.do(c, syncBody(t, []collReq{{key: kd, id: drafts}}, func(enc *wbxml.Encoder) { enc.Empty(wbxml.AirSyncPartial) }))
	colls = parseWBXML(t, resp.Body).Child(wbxml.AirSyncCollections).All(wbxml.AirSyncCollection)
	require.Len(t, colls, 2)
	assert.Equal(t, inbox, colls[1].Get(wbxml.AirSyncCollectionId))
	assert.Equal(t, []string{strconv.FormatInt(int64(it.ID), 10)}, commandIDs(colls[1], wbxml.AirSyncAdd))
	_ = ki

	// Empty request: both collections, current keys.
	se.deliver(1)
	resp = se.do(c, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	colls = parseWBXML(t, resp.Body).Child(wbxml.AirSyncCollections).All(wbxml.AirSyncCollection)
	require.Len(t, colls, 2)
	assert.Len(t, commandIDs(colls[1], wbxml.AirSyncAdd), 1)
}

// TestSyncBudget: a round that runs out of time answers with what it has (at least one
// command) and MoreAvailable; the device gets everything over several rounds.
func TestSyncBudget(t *testing.T) {
	st := openSyncStore(t)
	se := newSyncEnv(t, st, func(o *eas.SyncOptions) { o.Budget = time.Nanosecond })
	c := se.client()
	inbox := folderIDString(se.inbox)
	se.deliver(4)
	key := se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
	got := 0
	for round := 0; ; round++ {
		require.Less(t, round, 10)
		coll := se.sync(c, collReq{key: key, id: inbox, window: 100})
		// The initial load reads a page per query and checks the time between pages.
		n := len(commandIDs(coll, wbxml.AirSyncAdd))
		assert.Positive(t, n, "at least one command per round when out of time")
		got += n
		key = coll.Get(wbxml.AirSyncSyncKey)
		if !coll.Has(wbxml.AirSyncMoreAvailable) {
			break
		}
	}
	assert.Equal(t, 4, got)
	// The change log checks the time per item.
	se.deliver(2)
	coll := se.sync(c, collReq{key: key, id: inbox, window: 100})
	assert.Len(t, commandIDs(coll, wbxml.AirSyncAdd), 1)
	assert.True(t, coll.Has(wbxml.AirSyncMoreAvailable))
	coll = se.sync(c, collReq{key: coll.Get(wbxml.AirSyncSyncKey), id: inbox, window: 100})
	assert.Len(t, commandIDs(coll, wbxml.AirSyncAdd), 1)
	assert.False(t, coll.Has(wbxml.AirSyncMoreAvailable))
}

// TestSyncResponseOrder: MS-ASCMD 2.2.3.29.2 orders a response Collection SyncKey,
// CollectionId, Status, MoreAvailable, Commands, Responses.
func TestSyncResponseOrder(t *testing.T) {
	st := openSyncStore(t)
	se := newSyncEnv(t, st)
	c := se.client()
	inbox := folderIDString(se.inbox)
	key := se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
	se.deliver(3)
	coll := se.sync(c, collReq{key: key, id: inbox, window: 2, commands: func(enc *wbxml.Encoder) {
		enc.Start(wbxml.AirSyncFetch)
		enc.String(wbxml.AirSyncServerId, "1")
		enc.End()
	}})
	var order []wbxml.Tag
	for _, k := range coll.Children {
		order = append(order, k.Tag)
	}
	assert.Equal(t, []wbxml.Tag{wbxml.AirSyncSyncKey, wbxml.AirSyncCollectionId, wbxml.AirSyncStatus,
		wbxml.AirSyncMoreAvailable, wbxml.AirSyncCommands, wbxml.AirSyncResponses}, order)
}

// TestSyncProtocolErrors: option values out of range are a protocol error (4) for the whole
// request.
func TestSyncProtocolErrors(t *testing.T) {
	st := openSyncStore(t)
	se := newSyncEnv(t, st)
	c := se.client()
	inbox := folderIDString(se.inbox)
	for name, opts := range map[string]func(enc *wbxml.Encoder){
		"body type":   func(enc *wbxml.Encoder) { bodyPref(enc, 9, 0, false, 0) },
		"preview":     func(enc *wbxml.Encoder) { bodyPref(enc, 1, 0, false, 300) },
		"filter type": func(enc *wbxml.Encoder) { enc.Int(wbxml.AirSyncFilterType, 9) },
		"mime":        func(enc *wbxml.Encoder) { enc.Int(wbxml.AirSyncMIMESupport, 3) },
	} {
		resp := se.do(c, syncBody(t, []collReq{{key: "0", id: inbox, options: opts}}, nil))
		assert.Equal(t, "4", parseWBXML(t, resp.Body).Get(wbxml.AirSyncStatus), name)
	}
}

// TestSyncTwoChangesOfOneItem: two Changes of one item in one request are two commands, the
// second wins, and a resend of that request applies neither again. (Found by the
// dropped-response test, seed 1795783696438829138.)
func TestSyncTwoChangesOfOneItem(t *testing.T) {
	st := openSyncStore(t)
	se := newSyncEnv(t, st)
	c := se.client()
	inbox := folderIDString(se.inbox)
	it := se.deliver(1)[0]
	sid := strconv.FormatInt(int64(it.ID), 10)
	key := se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
	key = se.sync(c, collReq{key: key, id: inbox}).Get(wbxml.AirSyncSyncKey)
	change := func(enc *wbxml.Encoder, flag bool) {
		enc.Start(wbxml.AirSyncChange)
		enc.String(wbxml.AirSyncServerId, sid)
		enc.Start(wbxml.AirSyncApplicationData)
		enc.Int(wbxml.EmailRead, 1)
		if flag {
			enc.Start(wbxml.EmailFlag)
			enc.Int(wbxml.EmailStatus, 2)
			enc.End()
		} else {
			enc.Empty(wbxml.EmailFlag)
		}
		enc.End()
		enc.End()
	}
	req := collReq{key: key, id: inbox, commands: func(enc *wbxml.Encoder) {
		change(enc, true)
		change(enc, false)
	}}
	coll := se.sync(c, req)
	assert.Nil(t, coll.Child(wbxml.AirSyncResponses))
	got, err := st.Item(t.Context(), it.ID)
	require.NoError(t, err)
	assert.True(t, got.Seen)
	assert.False(t, got.Flagged, "the second change wins")
	// The server flags it; the device resends the request whose answer it lost.
	on := true
	_, err = st.SetFlags(t.Context(), it.ID, store.FlagsUpdate{Flagged: &on})
	require.NoError(t, err)
	coll = se.sync(c, req)
	got, err = st.Item(t.Context(), it.ID)
	require.NoError(t, err)
	assert.True(t, got.Flagged, "the resent changes are not applied again")
	changes := coll.Child(wbxml.AirSyncCommands).All(wbxml.AirSyncChange)
	require.Len(t, changes, 1)
	assert.Equal(t, "2", changes[0].Child(wbxml.AirSyncApplicationData).Child(wbxml.EmailFlag).Get(wbxml.EmailStatus))
}
