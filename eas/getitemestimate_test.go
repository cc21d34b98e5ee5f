package eas_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

func estimateBody(t *testing.T, id, key string, filter int) []byte {
	t.Helper()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.GetItemEstimateGetItemEstimate)
	enc.Start(wbxml.GetItemEstimateCollections)
	enc.Start(wbxml.GetItemEstimateCollection)
	enc.String(wbxml.AirSyncSyncKey, key)
	enc.String(wbxml.GetItemEstimateCollectionId, id)
	if filter >= 0 {
		enc.Start(wbxml.AirSyncOptions)
		enc.Int(wbxml.AirSyncFilterType, int64(filter))
		enc.End()
	}
	enc.End()
	enc.End()
	enc.End()
	require.NoError(t, enc.Err())
	return enc.Bytes()
}

// estimate returns the Status and Estimate of a one-collection GetItemEstimate.
func (se *syncEnv) estimate(t *testing.T, c *easclient.Client, id, key string, filter int) (string, string) {
	t.Helper()
	resp, err := c.Do(context.Background(), &easclient.Request{Cmd: eas.CmdGetItemEstimate, Body: estimateBody(t, id, key, filter)})
	require.NoError(t, err)
	r := parseWBXML(t, resp.Body).Child(wbxml.GetItemEstimateResponse)
	require.NotNil(t, r)
	return r.Get(wbxml.GetItemEstimateStatus), r.Child(wbxml.GetItemEstimateCollection).Get(wbxml.GetItemEstimateEstimate)
}

func TestGetItemEstimate(t *testing.T) {
	t.Parallel()
	st := openSyncStore(t)
	se := newSyncEnv(t, st)
	c := se.client()
	inbox := folderIDString(se.inbox)
	se.deliver(7)
	_, err := st.AppendMessage(context.Background(), se.inbox.ID, se.message("old"), store.AppendOptions{Received: se.now.Add(-30 * 24 * time.Hour)})
	require.NoError(t, err)

	s, _ := se.estimate(t, c, inbox, "0", -1)
	assert.Equal(t, "3", s, "key 0: not primed")
	s, _ = se.estimate(t, c, "424242", "0", -1)
	assert.Equal(t, "2", s, "unknown collection")
	key := se.sync(c, collReq{key: "0", id: inbox}).Get(wbxml.AirSyncSyncKey)
	s, n := se.estimate(t, c, inbox, key, -1)
	assert.Equal(t, "1", s)
	assert.Equal(t, "8", n, "the whole initial load")
	s, n = se.estimate(t, c, inbox, key, 3)
	assert.Equal(t, "1", s)
	assert.Equal(t, "7", n, "one week leaves the old one out")
	s, _ = se.estimate(t, c, inbox, "{0000000000000000}1", -1)
	assert.Equal(t, "4", s, "wrong key")
	other := se.client()
	other.DeviceID = "Other02"
	s, _ = se.estimate(t, other, inbox, key, -1)
	assert.Equal(t, "3", s, "no sync state for this device")

	// After the load, the estimate counts the changes the next Sync sends.
	coll := se.sync(c, collReq{key: key, id: inbox, window: 512})
	require.Len(t, commandIDs(coll, wbxml.AirSyncAdd), 8)
	key = coll.Get(wbxml.AirSyncSyncKey)
	_, n = se.estimate(t, c, inbox, key, -1)
	assert.Equal(t, "0", n)
	items := se.deliver(2)
	on := true
	_, err = st.SetFlags(context.Background(), items[0].ID, store.FlagsUpdate{Seen: &on})
	require.NoError(t, err)
	_, n = se.estimate(t, c, inbox, key, -1)
	assert.Equal(t, "2", n, "two adds; the flag change folds into its add")
	// The estimate changed nothing: the Sync sends those two.
	coll = se.sync(c, collReq{key: key, id: inbox})
	assert.Len(t, commandIDs(coll, wbxml.AirSyncAdd), 2)
}
