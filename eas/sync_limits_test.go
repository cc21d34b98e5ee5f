package eas_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// The policy's body truncation limit caps what Sync sends even when the device asks for the
// whole body (MS-ASPROV 2.2.2.34), and HTML is served as plain text when the policy forbids
// HTML mail (2.2.2.7).
func TestSyncEnforcesPolicyLimits(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		m := policy.NewManager(st)
		p, err := m.Default(ctx)
		require.NoError(t, err)
		oneKB := int32(1)
		p.MaxEmailBodyTruncationSize = &oneKB
		p.AllowHTMLEmail = false
		_, err = m.Update(ctx, p)
		require.NoError(t, err)

		se := newSyncEnv(t, st, func(o *eas.SyncOptions) { o.Limits = eas.PolicyLimits(st) })
		long := strings.Repeat("0123456789", 500) // 5000 bytes
		_, err = st.Deliver(ctx, "alice@example.com", []byte("From: bob@example.com\r\nTo: alice@example.com\r\n"+
			"Subject: long\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>"+long+"</p>\r\n"))
		require.NoError(t, err)

		c := se.client()
		first := se.sync(c, collReq{key: "0", id: folderIDString(se.inbox)})
		require.Equal(t, "1", first.Get(wbxml.AirSyncStatus))
		coll := se.sync(c, collReq{key: first.Get(wbxml.AirSyncSyncKey), id: folderIDString(se.inbox), window: 10,
			options: func(enc *wbxml.Encoder) { bodyPref(enc, 2, 0, false, 0) }}) // HTML, whole body
		require.Equal(t, "1", coll.Get(wbxml.AirSyncStatus))
		adds := coll.Child(wbxml.AirSyncCommands).All(wbxml.AirSyncAdd)
		require.Len(t, adds, 1)
		body := adds[0].Child(wbxml.AirSyncApplicationData).Child(wbxml.AirSyncBaseBody)
		require.NotNil(t, body)
		assert.Equal(t, "1", body.Get(wbxml.AirSyncBaseType), "HTML not allowed: plain text")
		assert.Equal(t, "1", body.Get(wbxml.AirSyncBaseTruncated))
		assert.LessOrEqual(t, len(body.Get(wbxml.AirSyncBaseData)), 1024)
		size, err := strconv.Atoi(body.Get(wbxml.AirSyncBaseEstimatedDataSize))
		require.NoError(t, err)
		assert.GreaterOrEqual(t, size, 5000, "the estimate is the whole body's")
	})
}
