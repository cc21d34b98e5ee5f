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

func TestTouchDeviceCap(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u, err := s.CreateUser(ctx, store.NewUser{Address: "cap@example.org", Password: "pw"})
		require.NoError(t, err)
		const limit = 5
		touch := func(id string) (store.Device, error) {
			return s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: id, DeviceType: "iPhone", Max: limit})
		}
		for i := range limit - 1 {
			_, err := touch(fmt.Sprint("D", i))
			require.NoError(t, err)
		}

		// 20 new devices at once at limit-1: exactly one gets in.
		var wg sync.WaitGroup
		errs := make([]error, 20)
		for i := range errs {
			wg.Go(func() { _, errs[i] = touch(fmt.Sprint("New", i)) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				assert.ErrorIs(t, err, store.ErrDeviceLimit)
			}
		}
		assert.Equal(t, 1, ok)
		n, err := s.CountDevices(ctx, u.ID)
		require.NoError(t, err)
		assert.Equal(t, limit, n)

		// Known devices keep working at the cap; a new one does not get in.
		d, err := touch("D0")
		require.NoError(t, err)
		_, err = touch("Another")
		require.ErrorIs(t, err, store.ErrDeviceLimit)
		_, err = s.DeviceOf(ctx, u.ID, "Another")
		require.ErrorIs(t, err, store.ErrNotFound, "nothing is created beyond the cap")

		// Removing one frees a slot.
		require.NoError(t, s.RemoveDevice(ctx, d.ID))
		_, err = touch("Another")
		require.NoError(t, err)

		// No cap: unlimited.
		_, err = s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: "Free"})
		require.NoError(t, err)
		_, err = s.TouchDevice(ctx, store.DeviceContact{User: 999999, DeviceID: "X", Max: limit})
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestDeviceAccessAndWipe(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u, err := s.CreateUser(ctx, store.NewUser{Address: "wipe@example.org", Password: "pw"})
		require.NoError(t, err)
		d, err := s.TouchDevice(ctx, store.DeviceContact{User: u.ID, DeviceID: "W1"})
		require.NoError(t, err)
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

		changed, got, err := s.SetDeviceAccess(ctx, d.ID, store.DeviceAccess{State: store.AccessQuarantined,
			Reason: store.ReasonRule, By: "rule 1", At: t0}, true)
		require.NoError(t, err)
		assert.True(t, changed)
		assert.Equal(t, store.AccessQuarantined, got.AccessState)
		assert.Equal(t, "rule 1", got.AccessSetBy)
		assert.True(t, got.AccessSetAt.Equal(t0))
		changed, _, err = s.SetDeviceAccess(ctx, d.ID, store.DeviceAccess{State: store.AccessQuarantined,
			Reason: store.ReasonRule, By: "rule 1"}, true)
		require.NoError(t, err)
		assert.False(t, changed, "the same decision again is no change")

		// An individual decision is not overridden by a computed one.
		_, _, err = s.SetDeviceAccess(ctx, d.ID, store.DeviceAccess{State: store.AccessAllowed,
			Reason: store.ReasonIndividual, By: "cli:root"}, false)
		require.NoError(t, err)
		changed, got, err = s.SetDeviceAccess(ctx, d.ID, store.DeviceAccess{State: store.AccessBlocked,
			Reason: store.ReasonRule, By: "rule 2"}, true)
		require.NoError(t, err)
		assert.False(t, changed)
		assert.Equal(t, store.AccessAllowed, got.AccessState)
		_, _, err = s.SetDeviceAccess(ctx, d.ID, store.DeviceAccess{State: "bogus"}, false)
		require.ErrorIs(t, err, store.ErrInvalidArgument)

		// Wipe: requested → cancelled; requested → sent → acknowledged.
		_, err = s.CancelDeviceWipe(ctx, d.ID)
		require.ErrorIs(t, err, store.ErrConflict, "nothing to cancel")
		got, err = s.RequestDeviceWipe(ctx, d.ID, true, "cli:root", t0)
		require.NoError(t, err)
		assert.Equal(t, store.WipeRequested, got.WipeState)
		assert.True(t, got.WipeAccountOnly)
		assert.True(t, got.WipePending())
		_, err = s.RequestDeviceWipe(ctx, d.ID, false, "cli:root", t0)
		require.ErrorIs(t, err, store.ErrConflict, "already pending")
		got, err = s.CancelDeviceWipe(ctx, d.ID)
		require.NoError(t, err)
		assert.Equal(t, store.WipeCancelled, got.WipeState)
		assert.False(t, got.WipePending())

		_, err = s.RequestDeviceWipe(ctx, d.ID, false, "cli:root", t0)
		require.NoError(t, err)
		got, err = s.MarkDeviceWipeSent(ctx, d.ID, t0.Add(time.Minute))
		require.NoError(t, err)
		assert.Equal(t, store.WipeSent, got.WipeState)
		assert.True(t, got.WipeSentAt.Equal(t0.Add(time.Minute)))
		got, err = s.MarkDeviceWipeSent(ctx, d.ID, t0.Add(2*time.Minute))
		require.NoError(t, err)
		assert.True(t, got.WipeSentAt.Equal(t0.Add(time.Minute)), "resending keeps the first time")
		_, err = s.CancelDeviceWipe(ctx, d.ID)
		require.ErrorIs(t, err, store.ErrConflict, "too late to cancel once sent")
		got, err = s.AckDeviceWipe(ctx, d.ID, 1, t0.Add(3*time.Minute))
		require.NoError(t, err)
		assert.Equal(t, store.WipeAcknowledged, got.WipeState)
		assert.Equal(t, 1, got.WipeAckStatus)
		assert.True(t, got.WipeAckedAt.Equal(t0.Add(3*time.Minute)))
		assert.Equal(t, store.AccessBlocked, got.AccessState)
		assert.Equal(t, store.ReasonWipe, got.AccessReason)
		_, err = s.RequestDeviceWipe(ctx, d.ID, false, "cli:root", t0)
		require.ErrorIs(t, err, store.ErrConflict, "wiped until removed")
	})
}

func TestDeviceRulesAndLists(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		r, err := s.AddDeviceRule(ctx, store.DeviceRule{Field: store.RuleFieldModel, Match: store.RuleMatchPrefix,
			Pattern: "SM-", Action: store.AccessQuarantined, CreatedBy: "cli:root"})
		require.NoError(t, err)
		assert.NotZero(t, r.ID)
		_, err = s.AddDeviceRule(ctx, store.DeviceRule{Field: store.RuleFieldModel, Match: store.RuleMatchPrefix,
			Pattern: "SM-", Action: store.AccessBlocked})
		require.ErrorIs(t, err, store.ErrConflict)
		for _, bad := range []store.DeviceRule{
			{Field: "imei", Match: store.RuleMatchExact, Pattern: "x", Action: store.AccessBlocked},
			{Field: store.RuleFieldOS, Match: "regex", Pattern: "x", Action: store.AccessBlocked},
			{Field: store.RuleFieldOS, Match: store.RuleMatchExact, Pattern: " ", Action: store.AccessBlocked},
			{Field: store.RuleFieldOS, Match: store.RuleMatchExact, Pattern: "x", Action: "wipe"},
		} {
			_, err = s.AddDeviceRule(ctx, bad)
			require.ErrorIs(t, err, store.ErrInvalidArgument, "%+v", bad)
		}
		rules, err := s.DeviceRules(ctx)
		require.NoError(t, err)
		require.Len(t, rules, 1)
		assert.Equal(t, r.Pattern, rules[0].Pattern)
		assert.Equal(t, "cli:root", rules[0].CreatedBy)
		require.NoError(t, s.RemoveDeviceRule(ctx, r.ID))
		require.ErrorIs(t, s.RemoveDeviceRule(ctx, r.ID), store.ErrNotFound)

		u, err := s.CreateUser(ctx, store.NewUser{Address: "list@example.org", Password: "pw"})
		require.NoError(t, err)
		got, err := s.UserDeviceList(ctx, u.ID, "D1")
		require.NoError(t, err)
		assert.Empty(t, got)
		require.NoError(t, s.SetUserDeviceList(ctx, u.ID, "D1", store.AccessBlocked, "cli:root"))
		require.NoError(t, s.SetUserDeviceList(ctx, u.ID, "D1", store.AccessAllowed, "cli:root"))
		got, err = s.UserDeviceList(ctx, u.ID, "D1")
		require.NoError(t, err)
		assert.Equal(t, store.AccessAllowed, got)
		require.NoError(t, s.SetUserDeviceList(ctx, u.ID, "D1", "", "cli:root"))
		got, err = s.UserDeviceList(ctx, u.ID, "D1")
		require.NoError(t, err)
		assert.Empty(t, got)
		require.ErrorIs(t, s.SetUserDeviceList(ctx, u.ID, "D1", store.AccessQuarantined, ""), store.ErrInvalidArgument)
	})
}
