package devices_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func likelyIDs(ls []devices.Likely) map[string]string {
	out := map[string]string{}
	for _, l := range ls {
		out[l.DeviceID] = l.Reason
	}
	return out
}

func likelyOrder(ls []devices.Likely) []string {
	out := []string{}
	for _, l := range ls {
		out = append(out, l.DeviceID)
	}
	return out
}

func TestSuccessors(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		clk := &clock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
		reg := devices.New(s, devices.Options{Now: clk.now, TouchInterval: -1})
		alice := newUser(t, s, "alice@example.org")
		bob := newUser(t, s, "bob@example.org")
		dev := func(u store.User, id, model, imei string) store.Device {
			t.Helper()
			k := devices.Key{User: u.ID, DeviceID: id}
			_, err := reg.Touch(ctx, k, devices.Contact{DeviceType: "iPhone", ProtocolVersion: "16.1"})
			require.NoError(t, err)
			require.NoError(t, reg.SetInfo(ctx, k, devices.Info{Model: model, IMEI: imei}))
			d, err := reg.Get(ctx, k)
			require.NoError(t, err)
			return d
		}

		must := func(ls []devices.Likely, err error) []devices.Likely {
			t.Helper()
			require.NoError(t, err)
			return ls
		}

		old := dev(alice, "OLD", "iPhone15,2", "356000000000001")
		before := dev(alice, "BEFORE", "iPhone15,2", "") // seen before the wipe
		clk.advance(time.Hour)
		lost, err := reg.RequestWipe(ctx, old.ID, false, "admin:root")
		require.NoError(t, err)
		assert.Empty(t, must(reg.Successors(ctx, before.ID)), "no wipe, no successor")

		clk.advance(time.Hour)
		sameModel := dev(alice, "NEWMODEL", "iPHONE15,2", "")
		clk.advance(time.Minute)
		sameIMEI := dev(alice, "NEWIMEI", "iPhone15,2", "356000000000001")
		otherIMEI := dev(alice, "OTHERIMEI", "iPhone15,2", "356000000000009")
		imeiOnly := dev(alice, "IMEIONLY", "", "356000000000001")
		dev(alice, "OTHERMODEL", "Pixel 8", "")
		dev(alice, "NOMODEL", "", "")
		dev(bob, "BOBS", "iPhone15,2", "356000000000001") // another user's

		got, err := reg.Successors(ctx, lost.ID)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{
			"NEWIMEI":  devices.LikelyIMEIAndModel,
			"IMEIONLY": devices.LikelyIMEI,
			"NEWMODEL": devices.LikelyModel,
		}, likelyIDs(got))
		assert.Equal(t, []string{"NEWIMEI", "IMEIONLY", "NEWMODEL"}, likelyOrder(got), "IMEI matches first")

		// The reverse direction.
		for _, tc := range []struct {
			id   store.PartnershipID
			want map[string]string
		}{
			{sameIMEI.ID, map[string]string{"OLD": devices.LikelyIMEIAndModel}},
			{sameModel.ID, map[string]string{"OLD": devices.LikelyModel}},
			{imeiOnly.ID, map[string]string{"OLD": devices.LikelyIMEI}},
			{otherIMEI.ID, map[string]string{}},
			{before.ID, map[string]string{}}, // first seen before the wipe request
			{lost.ID, map[string]string{}},
		} {
			ps, err := reg.Predecessors(ctx, tc.id)
			require.NoError(t, err)
			assert.Equal(t, tc.want, likelyIDs(ps), "predecessors of %d", tc.id)
		}

		// Still a successor after the wipe was acknowledged; not after a cancel.
		_, err = reg.WipeSent(ctx, devices.Key{User: alice.ID, DeviceID: "OLD"}, "192.0.2.1")
		require.NoError(t, err)
		_, err = reg.WipeAcknowledged(ctx, devices.Key{User: alice.ID, DeviceID: "OLD"}, 1, "192.0.2.1")
		require.NoError(t, err)
		got, err = reg.Successors(ctx, lost.ID)
		require.NoError(t, err)
		assert.Len(t, got, 3)

		other := dev(bob, "B-OLD", "Pixel 8", "")
		_, err = reg.RequestWipe(ctx, other.ID, false, "admin:root")
		require.NoError(t, err)
		clk.advance(time.Minute)
		dev(bob, "B-NEW", "Pixel 8", "")
		require.Len(t, must(reg.Successors(ctx, other.ID)), 1)
		_, err = reg.CancelWipe(ctx, other.ID, "admin:root")
		require.NoError(t, err)
		assert.Empty(t, must(reg.Successors(ctx, other.ID)), "a cancelled wipe has no successor")

		_, err = reg.Successors(ctx, 999999)
		assert.ErrorIs(t, err, store.ErrNotFound)
		_, err = reg.Predecessors(ctx, 999999)
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}
