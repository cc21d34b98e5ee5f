package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func listingIDs(ls []store.DeviceListing) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.DeviceID
	}
	return out
}

func TestQueryDevices(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		alice, err := s.CreateUser(ctx, store.NewUser{Address: "alice@example.org", Password: "pw"})
		require.NoError(t, err)
		bob, err := s.CreateUser(ctx, store.NewUser{Address: "bob@example.org", DisplayName: "Bob", Password: "pw"})
		require.NoError(t, err)
		def, err := s.DefaultPolicy(ctx)
		require.NoError(t, err)

		type spec struct {
			user  store.UserID
			id    string
			typ   string
			info  store.DeviceInfo
			seen  int // days after base
			state string
		}
		devs := map[string]store.Device{}
		for _, sp := range []spec{
			{alice.ID, "A1", "iPhone", store.DeviceInfo{Model: "iPhone15,2", OS: "iOS 17.1", FriendlyName: "Alice's phone"}, 1, ""},
			{alice.ID, "A2", "Android", store.DeviceInfo{Model: "Pixel 8", OS: "Android 14"}, 3, store.AccessQuarantined},
			{alice.ID, "A3", "WindowsOutlook", store.DeviceInfo{}, 5, store.AccessBlocked},
			{bob.ID, "B1", "iPhone", store.DeviceInfo{Model: "iPhone15,2", OS: "iOS 17.1"}, 2, ""},
			{bob.ID, "B2", "Android", store.DeviceInfo{Model: "Pixel 8", OS: "Android 13"}, 4, store.AccessQuarantined},
		} {
			d, err := s.TouchDevice(ctx, store.DeviceContact{User: sp.user, DeviceID: sp.id, DeviceType: sp.typ, At: base.AddDate(0, 0, sp.seen)})
			require.NoError(t, err)
			require.NoError(t, s.SetDeviceInfo(ctx, d.ID, sp.info))
			if sp.state != "" {
				_, _, err = s.SetDeviceAccess(ctx, d.ID, store.DeviceAccess{State: sp.state, Reason: store.ReasonIndividual, By: "test", At: base}, false)
				require.NoError(t, err)
			}
			devs[sp.id] = d
		}
		// A1 and B1 provisioned the default policy; B1 only partially.
		require.NoError(t, s.SetPendingPolicyKey(ctx, devs["A1"].ID, 11, def.ID, def.Version))
		_, err = s.ConfirmPolicyKey(ctx, devs["A1"].ID, 11, 12, 1, base)
		require.NoError(t, err)
		require.NoError(t, s.SetPendingPolicyKey(ctx, devs["B1"].ID, 21, def.ID, def.Version))
		_, err = s.ConfirmPolicyKey(ctx, devs["B1"].ID, 21, 22, 2, base)
		require.NoError(t, err)
		// A2 was wiped, B2 has a wipe pending.
		_, err = s.RequestDeviceWipe(ctx, devs["A2"].ID, false, "admin", base)
		require.NoError(t, err)
		_, err = s.MarkDeviceWipeSent(ctx, devs["A2"].ID, base)
		require.NoError(t, err)
		_, err = s.AckDeviceWipe(ctx, devs["A2"].ID, 1, base)
		require.NoError(t, err)
		_, err = s.RequestDeviceWipe(ctx, devs["B2"].ID, false, "admin", base)
		require.NoError(t, err)

		for _, tc := range []struct {
			name  string
			q     store.DeviceQuery
			want  []string
			total int
		}{
			{"all by user", store.DeviceQuery{}, []string{"A1", "A2", "A3", "B1", "B2"}, 5},
			{"user", store.DeviceQuery{User: bob.ID}, []string{"B1", "B2"}, 2},
			{"state", store.DeviceQuery{AccessState: store.AccessQuarantined}, []string{"B2"}, 1}, // A2 is blocked by its wipe
			{"blocked", store.DeviceQuery{AccessState: store.AccessBlocked}, []string{"A2", "A3"}, 2},
			{"type", store.DeviceQuery{DeviceType: "iPhone"}, []string{"A1", "B1"}, 2},
			{"model", store.DeviceQuery{Model: "Pixel 8"}, []string{"A2", "B2"}, 2},
			{"os", store.DeviceQuery{OS: "iOS 17.1"}, []string{"A1", "B1"}, 2},
			{"os falls back to type", store.DeviceQuery{OS: "WindowsOutlook"}, []string{"A3"}, 1},
			{"seen before", store.DeviceQuery{SeenBefore: base.AddDate(0, 0, 3)}, []string{"A1", "B1"}, 2},
			{"seen after", store.DeviceQuery{SeenAfter: base.AddDate(0, 0, 3)}, []string{"A2", "A3", "B2"}, 3},
			{"seen window", store.DeviceQuery{SeenAfter: base.AddDate(0, 0, 2), SeenBefore: base.AddDate(0, 0, 4)}, []string{"A2", "B1"}, 2},
			{"compliant", store.DeviceQuery{Compliance: store.Compliant}, []string{"A1"}, 1},
			{"non-compliant", store.DeviceQuery{Compliance: store.NonCompliant}, []string{"A2", "A3", "B1", "B2"}, 4},
			{"wiped", store.DeviceQuery{Wiped: store.WipedYes}, []string{"A2"}, 1},
			{"wipe pending", store.DeviceQuery{Wiped: store.WipedPending}, []string{"B2"}, 1},
			{"not wiped", store.DeviceQuery{Wiped: store.WipedNo}, []string{"A1", "A3", "B1"}, 3},
			{"search friendly name", store.DeviceQuery{Search: "ALICE'S"}, []string{"A1"}, 1},
			{"search address", store.DeviceQuery{Search: "bob@"}, []string{"B1", "B2"}, 2},
			{"search is not a pattern", store.DeviceQuery{Search: "%"}, []string{}, 0},
			{"sort last seen", store.DeviceQuery{Sort: "last_seen"}, []string{"A1", "B1", "A2", "B2", "A3"}, 5},
			{"sort last seen desc", store.DeviceQuery{Sort: "-last_seen"}, []string{"A3", "B2", "A2", "B1", "A1"}, 5},
			{"sort model", store.DeviceQuery{Sort: "model"}, []string{"A3", "A1", "B1", "A2", "B2"}, 5},
			{"sort state", store.DeviceQuery{Sort: "state"}, []string{"A1", "B1", "A2", "A3", "B2"}, 5},
			{"sort first seen", store.DeviceQuery{Sort: "first_seen"}, []string{"A1", "B1", "A2", "B2", "A3"}, 5},
			{"sort first seen desc", store.DeviceQuery{Sort: "-first_seen", AccessState: store.AccessBlocked}, []string{"A3", "A2"}, 2},
			{"page", store.DeviceQuery{Sort: "-last_seen", Limit: 2, Offset: 1}, []string{"B2", "A2"}, 5},
			{"page past the end", store.DeviceQuery{Limit: 2, Offset: 10}, []string{}, 5},
			{"filters combine", store.DeviceQuery{User: alice.ID, Model: "Pixel 8", Wiped: store.WipedYes}, []string{"A2"}, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, n, err := s.QueryDevices(ctx, tc.q)
				require.NoError(t, err)
				assert.Equal(t, tc.want, listingIDs(got))
				assert.Equal(t, tc.total, n)
			})
		}

		got, _, err := s.QueryDevices(ctx, store.DeviceQuery{User: alice.ID, Limit: 1})
		require.NoError(t, err)
		assert.Equal(t, "alice@example.org", got[0].Address)
		assert.True(t, got[0].Compliant)
		assert.Equal(t, "iPhone15,2", got[0].Info.Model)
		assert.Equal(t, def.Name, got[0].AckPolicyName, "the acknowledged policy's name")
		assert.Equal(t, def.Name, got[0].PolicyName, "the user's policy's name")
		got, _, err = s.QueryDevices(ctx, store.DeviceQuery{Search: "A3"})
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Empty(t, got[0].AckPolicyName, "never provisioned")
		assert.Equal(t, def.Name, got[0].PolicyName)
		one, err := s.DeviceListingByID(ctx, devs["B1"].ID)
		require.NoError(t, err)
		assert.Equal(t, "bob@example.org", one.Address)
		assert.False(t, one.Compliant, "a partial acknowledgement is not compliance")
		_, err = s.DeviceListingByID(ctx, 999999)
		assert.ErrorIs(t, err, store.ErrNotFound)

		// A new policy version makes A1 non-compliant.
		_, err = s.UpdatePolicy(ctx, def.ID, `{"AllowCamera":false}`)
		require.NoError(t, err)
		_, n, err := s.QueryDevices(ctx, store.DeviceQuery{Compliance: store.Compliant})
		require.NoError(t, err)
		assert.Zero(t, n)

		for _, q := range []store.DeviceQuery{{Sort: "colour"}, {Compliance: "maybe"}, {Wiped: "yes"}, {Limit: -1}, {Offset: -1}} {
			_, _, err := s.QueryDevices(ctx, q)
			assert.ErrorIs(t, err, store.ErrInvalidArgument, "%+v", q)
		}
	})
}

func TestDeviceStats(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		st, err := s.DeviceStats(ctx, 10)
		require.NoError(t, err)
		assert.Equal(t, store.DeviceStats{ByState: map[string]int{"allowed": 0, "blocked": 0, "quarantined": 0},
			ByOS: []store.NameCount{}, ByModel: []store.NameCount{}}, st, "an empty store")

		u, err := s.CreateUser(ctx, store.NewUser{Address: "stats@example.org", Password: "pw"})
		require.NoError(t, err)
		// Model M<i> has i devices, i = 1..12; one device says no OS.
		n := 0
		var last store.Device
		for i := 1; i <= 12; i++ {
			for range i {
				n++
				d, err := s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: fmt.Sprint("D", n), DeviceType: "Android"})
				require.NoError(t, err)
				os := "Android 14"
				if n == 1 {
					os = ""
				}
				require.NoError(t, s.SetDeviceInfo(ctx, d.ID, store.DeviceInfo{Model: fmt.Sprint("M", i), OS: os}))
				last = d
			}
		}
		_, _, err = s.SetDeviceAccess(ctx, last.ID, store.DeviceAccess{State: store.AccessQuarantined, Reason: store.ReasonRule, By: "t"}, false)
		require.NoError(t, err)
		_, err = s.RequestDeviceWipe(ctx, last.ID, false, "admin", time.Time{})
		require.NoError(t, err)

		st, err = s.DeviceStats(ctx, 10)
		require.NoError(t, err)
		assert.Equal(t, n, st.Total)
		assert.Equal(t, map[string]int{"allowed": n - 1, "blocked": 0, "quarantined": 1}, st.ByState)
		assert.Equal(t, []store.NameCount{{"Android 14", n - 1}, {"Android", 1}}, st.ByOS)
		require.Len(t, st.ByModel, 11)
		assert.Equal(t, store.NameCount{Name: "M12", Count: 12}, st.ByModel[0])
		assert.Equal(t, store.NameCount{Name: "M3", Count: 3}, st.ByModel[9])
		assert.Equal(t, store.NameCount{Name: store.OtherModels, Count: 1 + 2}, st.ByModel[10])
		assert.Equal(t, 1, st.WipePending)
		assert.Zero(t, st.Wiped)
		assert.Zero(t, st.Compliant)
	})
}

func TestQueryUsersAndAudit(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for _, a := range []string{"carol@example.org", "dave@example.org", "erin@example.net", "under_score@example.org"} {
			_, err := s.CreateUser(ctx, store.NewUser{Address: a, DisplayName: "User " + a[:2], Password: "pw"})
			require.NoError(t, err)
		}
		addrs := func(us []store.User) []string {
			out := []string{}
			for _, u := range us {
				out = append(out, u.Address)
			}
			return out
		}
		us, n, err := s.QueryUsers(ctx, "EXAMPLE.ORG", 2, 1)
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		assert.Equal(t, []string{"dave@example.org", "under_score@example.org"}, addrs(us))
		us, n, err = s.QueryUsers(ctx, "user er", 0, 0)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "display name")
		assert.Equal(t, []string{"erin@example.net"}, addrs(us))
		us, _, err = s.QueryUsers(ctx, "_", 0, 0)
		require.NoError(t, err)
		assert.Equal(t, []string{"under_score@example.org"}, addrs(us), "_ is a character, not a wildcard")
		_, n, err = s.QueryUsers(ctx, "", 0, 0)
		require.NoError(t, err)
		assert.Equal(t, 4, n)

		base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		for i := range 7 {
			actor := "root"
			if i%2 == 1 {
				actor = "desk"
			}
			require.NoError(t, s.AppendAudit(ctx, store.AuditEntry{At: base.Add(time.Duration(i) * time.Hour), Actor: actor,
				Action: "x.test", Target: fmt.Sprint("t", i%3)}))
		}
		rows, n, err := s.QueryAudit(ctx, store.AuditFilter{Actor: "root", Limit: 2}, 1)
		require.NoError(t, err)
		assert.Equal(t, 4, n)
		require.Len(t, rows, 2)
		assert.Equal(t, base.Add(4*time.Hour), rows[0].At, "newest first, after the first")
		assert.Equal(t, base.Add(2*time.Hour), rows[1].At)
		rows, n, err = s.QueryAudit(ctx, store.AuditFilter{Target: "t0", Since: base.Add(time.Hour), Until: base.Add(6 * time.Hour)}, 0)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		require.Len(t, rows, 1)
		assert.Equal(t, base.Add(3*time.Hour), rows[0].At)
		_, _, err = s.QueryAudit(ctx, store.AuditFilter{}, -1)
		assert.ErrorIs(t, err, store.ErrInvalidArgument)
	})
}
