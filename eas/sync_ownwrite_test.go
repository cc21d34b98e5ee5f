package eas_test

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// A Sync whose only effect is the device's own Change or Delete leaves nothing new for that
// device: a Ping right after it waits (status 1 at its heartbeat), it does not answer 2 for
// the device's own write.
func TestOwnWriteDoesNotWakePing(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newMailEnv(t, st)
		c := env.client("dev1")
		doFolderSync(t, c, "0")
		inbox := env.folderID(t, store.FolderInbox)
		_, err := st.Deliver(t.Context(), env.user.Address, testMessage)
		require.NoError(t, err)
		_, err = st.Deliver(t.Context(), env.user.Address, testMessage)
		require.NoError(t, err)
		key := syncKey(t, c, inbox, "0")
		key = syncKey(t, c, inbox, key) // both messages on the device
		items, err := st.Items(t.Context(), inbox)
		require.NoError(t, err)
		require.Len(t, items, 2)

		for _, cmd := range []string{
			fmt.Sprintf(`<Change><ServerId>%d</ServerId><ApplicationData><Read xmlns="Email">1</Read></ApplicationData></Change>`, items[0].ID),
			fmt.Sprintf(`<Delete><ServerId>%d</ServerId></Delete>`, items[1].ID),
		} {
			body := xmlBody(t, fmt.Sprintf(`<Sync xmlns="AirSync"><Collections><Collection><SyncKey>%s</SyncKey>`+
				`<CollectionId>%d</CollectionId><DeletesAsMoves>0</DeletesAsMoves><GetChanges/><Commands>%s</Commands></Collection></Collections></Sync>`,
				key, inbox, cmd))
			resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdSync, Body: body})
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode)
			x, err := resp.XML()
			require.NoError(t, err)
			require.Contains(t, x, "<Status>1</Status>", x)
			m := regexp.MustCompile(`<SyncKey>([^<]+)</SyncKey>`).FindStringSubmatch(x)
			require.NotNil(t, m, x)
			key = m[1]
			assert.Equal(t, pingResult{Status: 1}, mustPing(t, c, pingBody(t, 1, inbox)), "after %s", cmd)
		}
	})
}
