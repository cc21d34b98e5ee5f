package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestDevices(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u, err := s.CreateUser(ctx, store.NewUser{Address: "dev@example.org", Password: "pw"})
		require.NoError(t, err)
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

		d, err := s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: "Appl123", DeviceType: "iPhone",
			UserAgent: "Apple-iPhone/1", ProtocolVersion: "16.1", At: t0})
		require.NoError(t, err)
		assert.NotZero(t, d.ID)
		assert.Equal(t, u.ID, d.User)
		assert.Equal(t, "Appl123", d.DeviceID)
		assert.Equal(t, "iPhone", d.DeviceType)
		assert.Equal(t, "Apple-iPhone/1", d.UserAgent)
		assert.Equal(t, "16.1", d.ProtocolVersion)
		assert.Equal(t, t0, d.FirstSeen)
		assert.Equal(t, t0, d.LastSeen)
		assert.Equal(t, store.AccessAllowed, d.AccessState)
		assert.Equal(t, "default", d.AccessReason)
		assert.Zero(t, d.PolicyKey)
		assert.True(t, d.ProvisionedAt.IsZero())
		assert.False(t, d.TraceEnabled)

		// A later contact without User-Agent keeps it; an earlier time does not move last_seen back.
		d2, err := s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: "Appl123", DeviceType: "iPhone",
			ProtocolVersion: "14.1", At: t0.Add(time.Hour)})
		require.NoError(t, err)
		assert.Equal(t, d.ID, d2.ID)
		assert.Equal(t, "Apple-iPhone/1", d2.UserAgent)
		assert.Equal(t, "14.1", d2.ProtocolVersion)
		assert.Equal(t, t0, d2.FirstSeen)
		assert.Equal(t, t0.Add(time.Hour), d2.LastSeen)
		d3, err := s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: "Appl123", At: t0})
		require.NoError(t, err)
		assert.Equal(t, t0.Add(time.Hour), d3.LastSeen)
		assert.Equal(t, "iPhone", d3.DeviceType)

		_, err = s.TouchDevice(ctx, store.DeviceContact{User: 9999, DeviceID: "x"})
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.TouchDevice(ctx, store.DeviceContact{User: u.ID})
		assert.ErrorIs(t, err, store.ErrInvalidArgument)

		info := store.DeviceInfo{Model: "iPhone15,2", IMEI: "35-000000-000000-0", FriendlyName: "Bob's iPhone",
			OS: "iOS 17.4", OSLanguage: "en", PhoneNumber: "+15550100", MobileOperator: "Carrier",
			UserAgent: "Apple-iPhone15C2/2104.100", EnableOutboundSMS: true}
		require.NoError(t, s.SetDeviceInfo(ctx, d.ID, info))
		got, err := s.DeviceOf(ctx, u.ID, "Appl123")
		require.NoError(t, err)
		assert.Equal(t, info, got.Info)
		assert.Equal(t, info.UserAgent, got.UserAgent)
		assert.ErrorIs(t, s.SetDeviceInfo(ctx, 9999, info), store.ErrNotFound)

		_, err = s.DeviceOf(ctx, u.ID, "other")
		assert.ErrorIs(t, err, store.ErrNotFound)

		// Devices filters.
		_, err = s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: "android1", DeviceType: "Android"})
		require.NoError(t, err)
		all, err := s.Devices(ctx, store.DeviceFilter{User: u.ID})
		require.NoError(t, err)
		require.Len(t, all, 2)
		assert.Equal(t, "Appl123", all[0].DeviceID)
		andr, err := s.Devices(ctx, store.DeviceFilter{DeviceType: "Android"})
		require.NoError(t, err)
		require.Len(t, andr, 1)
		assert.Equal(t, "android1", andr[0].DeviceID)

		// Trace switch.
		require.NoError(t, s.SetDeviceTrace(ctx, d.ID, true))
		traced, err := s.Devices(ctx, store.DeviceFilter{TraceEnabled: true})
		require.NoError(t, err)
		require.Len(t, traced, 1)
		assert.Equal(t, d.ID, traced[0].ID)

		// Removal.
		require.NoError(t, s.RemoveDevice(ctx, andr[0].ID))
		assert.ErrorIs(t, s.RemoveDevice(ctx, andr[0].ID), store.ErrNotFound)
		_, err = s.DeviceByID(ctx, andr[0].ID)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestPolicyKeys(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u, err := s.CreateUser(ctx, store.NewUser{Address: "keys@example.org", Password: "pw"})
		require.NoError(t, err)
		d, err := s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: "k1"})
		require.NoError(t, err)
		def, err := s.DefaultPolicy(ctx)
		require.NoError(t, err)

		assert.ErrorIs(t, s.SetPendingPolicyKey(ctx, d.ID, 0, def.ID, 1), store.ErrInvalidArgument)
		require.NoError(t, s.SetPendingPolicyKey(ctx, d.ID, 111, def.ID, def.Version))
		require.NoError(t, s.SetPendingPolicyKey(ctx, d.ID, 222, def.ID, def.Version)) // resent initial request
		_, err = s.ConfirmPolicyKey(ctx, d.ID, 111, 333, 1, time.Time{})
		assert.ErrorIs(t, err, store.ErrConflict, "the replaced temporary key")

		got, err := s.ConfirmPolicyKey(ctx, d.ID, 222, 333, 2, time.Time{})
		require.NoError(t, err)
		assert.Equal(t, uint32(333), got.PolicyKey)
		assert.Zero(t, got.PendingPolicyKey)
		assert.Equal(t, def.ID, got.PolicyID)
		assert.Equal(t, def.Version, got.PolicyVersion)
		assert.Equal(t, 2, got.ProvisionStatus)
		assert.WithinDuration(t, time.Now(), got.ProvisionedAt, time.Minute)

		_, err = s.ConfirmPolicyKey(ctx, d.ID, 222, 444, 1, time.Time{})
		assert.ErrorIs(t, err, store.ErrConflict, "a second acknowledgement")
		_, err = s.ConfirmPolicyKey(ctx, 9999, 222, 444, 1, time.Time{})
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestPolicies(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		def, err := s.DefaultPolicy(ctx)
		require.NoError(t, err)
		assert.Equal(t, "Default", def.Name)
		assert.True(t, def.IsDefault)
		assert.Equal(t, int64(1), def.Version)
		assert.Equal(t, "{}", def.Settings)

		p, err := s.CreatePolicy(ctx, " Strict ", `{"DevicePasswordEnabled":true}`)
		require.NoError(t, err)
		assert.Equal(t, "Strict", p.Name)
		assert.Equal(t, int64(1), p.Version)
		assert.False(t, p.IsDefault)
		_, err = s.CreatePolicy(ctx, "Strict", "")
		assert.ErrorIs(t, err, store.ErrExists)
		_, err = s.CreatePolicy(ctx, " ", "")
		assert.ErrorIs(t, err, store.ErrInvalidArgument)

		p2, err := s.UpdatePolicy(ctx, p.ID, `{"DevicePasswordEnabled":false}`)
		require.NoError(t, err)
		assert.Equal(t, int64(2), p2.Version)
		assert.Equal(t, `{"DevicePasswordEnabled":false}`, p2.Settings)
		_, err = s.UpdatePolicy(ctx, 9999, "{}")
		assert.ErrorIs(t, err, store.ErrNotFound)

		byName, err := s.PolicyByName(ctx, "Strict")
		require.NoError(t, err)
		assert.Equal(t, p2, byName)
		list, err := s.Policies(ctx)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, "Default", list[0].Name)

		u, err := s.CreateUser(ctx, store.NewUser{Address: "pol@example.org", Password: "pw"})
		require.NoError(t, err)
		up, err := s.UserPolicy(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, def.ID, up.ID, "unassigned: the default")
		require.NoError(t, s.AssignPolicy(ctx, u.ID, p.ID))
		up, err = s.UserPolicy(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, p.ID, up.ID)
		assert.ErrorIs(t, s.AssignPolicy(ctx, u.ID, 9999), store.ErrNotFound)
		assert.ErrorIs(t, s.AssignPolicy(ctx, 9999, p.ID), store.ErrNotFound)
		_, err = s.UserPolicy(ctx, 9999)
		assert.ErrorIs(t, err, store.ErrNotFound)

		// The default cannot be deleted; deleting an assigned policy returns its users to the default.
		assert.ErrorIs(t, s.DeletePolicy(ctx, def.ID), store.ErrConflict)
		require.NoError(t, s.DeletePolicy(ctx, p.ID))
		assert.ErrorIs(t, s.DeletePolicy(ctx, p.ID), store.ErrNotFound)
		up, err = s.UserPolicy(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, def.ID, up.ID)

		// Another default.
		q, err := s.CreatePolicy(ctx, "Other", "{}")
		require.NoError(t, err)
		require.NoError(t, s.SetDefaultPolicy(ctx, q.ID))
		nd, err := s.DefaultPolicy(ctx)
		require.NoError(t, err)
		assert.Equal(t, q.ID, nd.ID)
		old, err := s.PolicyByID(ctx, def.ID)
		require.NoError(t, err)
		assert.False(t, old.IsDefault)
		assert.ErrorIs(t, s.SetDefaultPolicy(ctx, 9999), store.ErrNotFound)
	})
}

func TestTraces(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u, err := s.CreateUser(ctx, store.NewUser{Address: "tr@example.org", Password: "pw"})
		require.NoError(t, err)
		d, err := s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: "t1"})
		require.NoError(t, err)
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		for i := range 5 {
			require.NoError(t, s.AppendTrace(ctx, store.TraceRecord{Device: d.ID, At: t0.Add(time.Duration(i) * time.Second),
				Command: fmt.Sprintf("Cmd%d", i), ProtocolVersion: "16.1", HTTPStatus: 200, Status: i,
				Duration: 1500 * time.Microsecond, Request: "<req/>", Response: "<resp/>"}, 3))
		}
		tr, err := s.Traces(ctx, d.ID, 0)
		require.NoError(t, err)
		require.Len(t, tr, 3, "a ring of 3")
		assert.Equal(t, []string{"Cmd4", "Cmd3", "Cmd2"}, []string{tr[0].Command, tr[1].Command, tr[2].Command})
		assert.Equal(t, t0.Add(4*time.Second), tr[0].At)
		assert.Equal(t, 1500*time.Microsecond, tr[0].Duration)
		assert.Equal(t, "<req/>", tr[0].Request)
		assert.Equal(t, 4, tr[0].Status)
		one, err := s.Traces(ctx, d.ID, 1)
		require.NoError(t, err)
		require.Len(t, one, 1)

		assert.ErrorIs(t, s.AppendTrace(ctx, store.TraceRecord{Device: 9999, Command: "Sync", HTTPStatus: 200}, 0), store.ErrNotFound)

		require.NoError(t, s.RemoveDevice(ctx, d.ID))
		tr, err = s.Traces(ctx, d.ID, 0)
		require.NoError(t, err)
		assert.Empty(t, tr)
	})
}

// TestTouchDeviceConcurrentFirstContact: many requests of a new device at once create one
// partnership (INSERT ... ON CONFLICT), on both databases.
func TestTouchDeviceConcurrentFirstContact(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u, err := s.CreateUser(ctx, store.NewUser{Address: "race@example.org", Password: "pw"})
		require.NoError(t, err)
		const n = 24
		var wg sync.WaitGroup
		ids := make([]store.PartnershipID, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				d, err := s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: "SameDevice", DeviceType: "Android",
					ProtocolVersion: "16.1"})
				ids[i], errs[i] = d.ID, err
			})
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i])
			assert.Equal(t, ids[0], ids[i])
		}
		all, err := s.Devices(ctx, store.DeviceFilter{User: u.ID})
		require.NoError(t, err)
		assert.Len(t, all, 1)
	})
}
