package easclient_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/internal/app"
	"github.com/easd/easd/internal/app/apptest"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// The set-up steps against the whole server as `easd serve` wires it, over TLS, on both
// databases.
func TestSteps(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		srv := apptest.Start(t, st, app.Config{})
		u, err := st.CreateUser(ctx, store.NewUser{Address: "alice@example.com", Password: "pw"})
		require.NoError(t, err)
		seq := 0
		deliver := func(subject string) {
			seq++
			_, err := st.Deliver(ctx, u.Address, fmt.Appendf(nil, "From: <bob@example.com>\r\nTo: <alice@example.com>\r\n"+
				"Subject: %s\r\nMessage-ID: <m%d@example.com>\r\nDate: Fri, 27 Nov 2026 09:00:00 +0000\r\n\r\nHi.\r\n", subject, seq))
			require.NoError(t, err)
		}
		deliver("Welcome")
		client := func(id string, v eas.Version) *easclient.Client {
			return &easclient.Client{HTTP: srv.Client, URL: srv.URL, Username: u.Address, Password: "pw",
				User: u.Address, DeviceID: id, DeviceType: "Phone", UserAgent: "Phone/1.0", Version: v}
		}

		t.Run("provision", func(t *testing.T) {
			c := client("PROV1", eas.Version161)
			_, err := c.FolderSync(ctx, "0")
			var se *easclient.StatusError
			require.NoError(t, err, "a FolderSync status is a value, not an error")
			info := &easclient.DeviceInfo{Model: "Phone 9", IMEI: "350000000000009", OS: "PhoneOS 3", FriendlyName: "Work phone"}
			key, err := c.Provision(ctx, info)
			require.NoError(t, err)
			assert.NotZero(t, key)
			assert.True(t, c.HasPolicyKey)
			assert.Equal(t, key, c.PolicyKey)
			d, err := srv.Devices.Get(ctx, devices.Key{User: u.ID, DeviceID: "PROV1"})
			require.NoError(t, err)
			assert.Equal(t, "Phone 9", d.Info.Model, "DeviceInformation sent from 14.1 on")
			assert.Equal(t, "350000000000009", d.Info.IMEI)
			assert.Equal(t, "Work phone", d.Info.FriendlyName)

			// A wrong key in the acknowledgement: the Policy's Status says so (MS-ASPROV 2.2.2.54.1).
			r, err := c.AcknowledgePolicy(ctx, key+1, 1)
			require.NoError(t, err)
			assert.Equal(t, 1, r.Status)
			assert.Equal(t, int(eas.PolicyWrongPolicyKey), r.PolicyStatus)

			// 12.1: no DeviceInformation, the handshake is the same.
			old := client("PROV2", eas.Version121)
			_, err = old.Provision(ctx, info)
			require.NoError(t, err)
			d, err = srv.Devices.Get(ctx, devices.Key{User: u.ID, DeviceID: "PROV2"})
			require.NoError(t, err)
			assert.Empty(t, d.Info.Model)
			// Before 14.0 a request without a key is refused with HTTP 449.
			old.HasPolicyKey = false
			_, err = old.FolderSync(ctx, "0")
			var he *easclient.HTTPError
			require.True(t, errors.As(err, &he), "%v", err)
			assert.Equal(t, eas.HTTP449, he.StatusCode)
			assert.False(t, errors.As(err, &se))

			bad := client("PROV3", eas.Version161)
			bad.Password = "wrong"
			_, err = bad.Provision(ctx, nil)
			require.True(t, errors.As(err, &he), "%v", err)
			assert.Equal(t, http.StatusUnauthorized, he.StatusCode)
			assert.False(t, bad.HasPolicyKey)
		})

		t.Run("folders and inbox", func(t *testing.T) {
			c := client("SYNC1", eas.Version161)
			_, err := c.Provision(ctx, nil)
			require.NoError(t, err)
			fs, err := c.FolderSync(ctx, "0")
			require.NoError(t, err)
			require.Equal(t, 1, fs.Status)
			require.NotEmpty(t, fs.SyncKey)
			inbox, ok := fs.Folder(2)
			require.True(t, ok, "an Inbox in %v", fs.Added)
			assert.Equal(t, "Inbox", inbox.DisplayName)
			assert.Equal(t, "0", inbox.ParentID)
			assert.NotEmpty(t, inbox.ServerID)
			again, err := c.FolderSync(ctx, fs.SyncKey)
			require.NoError(t, err)
			assert.Equal(t, 1, again.Status)
			assert.Empty(t, again.Added, "nothing new")
			unknown, err := c.FolderSync(ctx, "no-such-key")
			require.NoError(t, err)
			assert.Equal(t, int(eas.StatusFolderSyncKey), unknown.Status)
			assert.Empty(t, unknown.SyncKey)

			first, err := c.InitialSync(ctx, inbox.ServerID, 100)
			require.NoError(t, err)
			require.Equal(t, 1, first.Status)
			require.Len(t, first.Added, 1)
			assert.Equal(t, "Welcome", first.Added[0].Data.Get(wbxml.EmailSubject))
			assert.NotEmpty(t, first.Added[0].ServerID)
			assert.False(t, first.MoreAvailable)

			for _, s := range []string{"one", "two", "three"} {
				deliver(s)
			}
			win, err := c.SyncFolder(ctx, inbox.ServerID, first.SyncKey, 2)
			require.NoError(t, err)
			assert.Equal(t, 1, win.Status)
			assert.Len(t, win.Added, 2, "the window")
			assert.True(t, win.MoreAvailable)
			rest, err := c.SyncFolder(ctx, inbox.ServerID, win.SyncKey, 2)
			require.NoError(t, err)
			require.Len(t, rest.Added, 1)
			assert.False(t, rest.MoreAvailable)
			got := map[string]bool{}
			for _, it := range append(win.Added, rest.Added...) {
				got[it.Data.Get(wbxml.EmailSubject)] = true
			}
			assert.Equal(t, map[string]bool{"one": true, "two": true, "three": true}, got)

			stale, err := c.SyncFolder(ctx, inbox.ServerID, "bogus", 10)
			require.NoError(t, err)
			assert.Equal(t, int(eas.SyncStatusInvalidKey), stale.Status)
			none, err := c.InitialSync(ctx, "no-such-folder", 10)
			require.NoError(t, err)
			assert.NotEqual(t, 1, none.Status, "an unknown collection")
		})

		t.Run("wipe", func(t *testing.T) {
			for _, accountOnly := range []bool{false, true} {
				id := fmt.Sprintf("WIPE%v", accountOnly)
				c := client(id, eas.Version161)
				_, err := c.Provision(ctx, nil)
				require.NoError(t, err)
				d, err := srv.Devices.Get(ctx, devices.Key{User: u.ID, DeviceID: id})
				require.NoError(t, err)
				_, err = srv.Devices.RequestWipe(ctx, d.ID, accountOnly, "admin:test")
				require.NoError(t, err)
				fs, err := c.FolderSync(ctx, "0")
				require.NoError(t, err)
				assert.Equal(t, int(eas.StatusRemoteWipeRequested), fs.Status)

				key := c.PolicyKey
				_, err = c.Provision(ctx, nil)
				require.ErrorIs(t, err, easclient.ErrWipeRequested)
				assert.Equal(t, key, c.PolicyKey, "unchanged")
				r, err := c.RequestPolicy(ctx, nil)
				require.NoError(t, err)
				want := wbxml.ProvisionRemoteWipe
				if accountOnly {
					want = wbxml.ProvisionAccountOnlyRemoteWipe
				}
				assert.Equal(t, want, r.Wipe)
				r, err = c.AcknowledgeWipe(ctx, want, 1)
				require.NoError(t, err)
				assert.Equal(t, 1, r.Status)
				assert.Zero(t, r.Wipe)
				d, err = srv.Devices.Get(ctx, devices.Key{User: u.ID, DeviceID: id})
				require.NoError(t, err)
				assert.Equal(t, store.WipeAcknowledged, d.WipeState)
			}
		})
	})
}
