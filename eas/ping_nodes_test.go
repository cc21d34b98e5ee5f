package eas_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// Two nodes over one PostgreSQL database: a device whose newer Ping reaches node B ends its
// older Ping on node A (status 1), as on one node; another device's Ping does not.
func TestPingSupersededOnAnotherNode(t *testing.T) {
	t.Parallel()
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		if !strings.HasPrefix(dsn, "postgres") {
			t.Skip("several nodes share a PostgreSQL database; a SQLite file has one server process")
		}
		const grace = time.Second
		withGrace := func(o *eas.PingOptions) { o.SupersedeGrace = grace }
		stA := storetest.Open(t, dsn)
		require.NoError(t, stA.Migrate(t.Context()))
		a := newMailEnv(t, stA, withGrace)
		stB := storetest.Open(t, dsn)
		b := newMailServer(t, stB, a.user, withGrace)

		ca := a.client("dev1")
		doFolderSync(t, ca, "0")
		inbox := a.folderID(t, store.FolderInbox)
		c2 := a.client("dev2")
		doFolderSync(t, c2, "0")
		other := asyncPing(t, a, c2, pingBody(t, 90, inbox))
		older := asyncPing(t, a, ca, pingBody(t, 90, inbox))
		// The device's Ping on A has waited a while (its own start signal reached B long ago)
		// when its next Ping reaches B: not a sleep racing a condition, the age the grace asks.
		time.Sleep(grace + 200*time.Millisecond)

		newer := asyncPing(t, b, b.client("dev1"), pingBody(t, 90, inbox))
		assert.Equal(t, pingResult{Status: 1}, waitPing(t, older, wakeWait), "the older Ping on node A answers 1")
		require.Eventually(t, func() bool { return !a.ping.Parked(a.user.ID, "dev1") }, 5*time.Second, 5*time.Millisecond)
		assert.True(t, a.ping.Parked(a.user.ID, "dev2"), "another device's Ping waits on")
		assert.True(t, b.ping.Parked(a.user.ID, "dev1"), "the newer Ping waits on node B")

		// Both still answer a delivery.
		_, err := stA.Deliver(t.Context(), a.user.Address, testMessage)
		require.NoError(t, err)
		assert.Equal(t, 2, waitPing(t, newer, wakeWait).Status)
		assert.Equal(t, 2, waitPing(t, other, wakeWait).Status)
	})
}
