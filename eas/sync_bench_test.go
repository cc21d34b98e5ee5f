package eas_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/wbxml"
)

// BenchmarkSyncNoChange is the steady state of an idle device: a Sync of the Inbox with the
// current key and nothing new, end to end over HTTPS on SQLite.
func BenchmarkSyncNoChange(b *testing.B) {
	st := openSyncStore(b)
	se := newSyncEnv(b, st)
	se.deliver(100)
	c := se.client()
	inbox := folderIDString(se.inbox)
	key := se.sync(c, collReq{key: "0", id: inbox}).get(wbxml.AirSyncSyncKey)
	key = se.sync(c, collReq{key: key, id: inbox, window: 512}).get(wbxml.AirSyncSyncKey)
	body := syncBody(b, []collReq{{key: key, id: inbox}}, nil)
	req := &easclient.Request{Cmd: eas.CmdSync, Body: body}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		resp, err := c.Do(ctx, req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err, resp)
		}
	}
}

// BenchmarkSyncInitial10k is a device's first sync of an Inbox of 10,000 messages at
// WindowSize 100: key 0 and then 100 rounds, all the server time of it per op.
func BenchmarkSyncInitial10k(b *testing.B) {
	st := openSyncStore(b)
	se := newSyncEnv(b, st)
	se.deliver(10000)
	inbox := folderIDString(se.inbox)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		c := se.client()
		c.DeviceID = "Bench" + strconv.Itoa(n)
		key := se.sync(c, collReq{key: "0", id: inbox}).get(wbxml.AirSyncSyncKey)
		got := 0
		for {
			coll := se.sync(c, collReq{key: key, id: inbox, window: 100})
			got += len(commandIDs(coll, wbxml.AirSyncAdd))
			key = coll.get(wbxml.AirSyncSyncKey)
			if !coll.has(wbxml.AirSyncMoreAvailable) {
				break
			}
		}
		require.Equal(b, 10000, got)
	}
}
