package eas_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/eas"
	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// A device on the old policy key is made to provision again after a policy change and
// after an assignment, and ends on the policy in force, with the new settings sent.
func TestPolicyChangeForcesReprovisioning(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newMDMEnv(t, st, devices.Options{})
		ctx := t.Context()
		mgr := policy.NewManager(st)
		c := env.client("Comply1", "iPhone", eas.Version161)
		oldKey := handshake(t, c)
		status, _, _ := hierarchy(t, c, "0")
		require.Equal(t, 1, status)

		// The default policy now requires a password.
		def, err := mgr.Default(ctx)
		require.NoError(t, err)
		def.DevicePasswordEnabled = true
		six := uint8(6)
		def.MinDevicePasswordLength = &six
		updated, err := mgr.Update(ctx, def)
		require.NoError(t, err)
		refusedAs(t, c, eas.StatusPolicyRefresh, eas.HTTP449)

		init := provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, "", "", nil))
		require.Equal(t, http.StatusOK, init.http)
		assert.Contains(t, init.doc, "MinDevicePasswordLength")
		ack := provision(t, c, provisionBody(t, eas.PolicyTypeWBXML, strconv.FormatUint(uint64(init.key), 10), "1", nil))
		require.Equal(t, 1, ack.policyStatus)
		assert.NotEqual(t, oldKey, ack.key)
		c.PolicyKey = ack.key
		status, _, _ = hierarchy(t, c, "0")
		assert.Equal(t, 1, status)
		d := env.device(t, "Comply1")
		assert.Equal(t, updated.ID, d.PolicyID)
		assert.Equal(t, updated.Version, d.PolicyVersion, "compliant with the new version")
		assert.Equal(t, 1, d.ProvisionStatus)

		// The old key is no longer any good.
		c.PolicyKey = oldKey
		refusedAs(t, c, eas.StatusInvalidPolicyKey, eas.HTTP449)

		// An assignment of another policy does the same.
		strict := policy.Default()
		strict.Name = "Strict"
		strict.AllowCamera = false
		strictP, err := mgr.Create(ctx, strict)
		require.NoError(t, err)
		require.NoError(t, mgr.Assign(ctx, env.alice.ID, strictP.ID))
		c.PolicyKey = ack.key
		refusedAs(t, c, eas.StatusPolicyRefresh, eas.HTTP449)
		handshake(t, c)
		d = env.device(t, "Comply1")
		assert.Equal(t, strictP.ID, d.PolicyID)
		assert.Equal(t, strictP.Version, d.PolicyVersion)
	})
}
