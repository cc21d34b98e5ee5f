package devices

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// A row read before an admin change was signalled is not trusted after it: it is cached as
// expired, so the next Touch reads the database again.
func TestReadsRacingAdminChangesAreNotKept(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, storetest.SQLiteURL(t))
	require.NoError(t, st.Migrate(t.Context()))
	r := New(st, Options{TouchInterval: time.Hour})
	t.Cleanup(r.Close)
	k := Key{User: 1, DeviceID: "X"}
	now := time.Now()

	r.mu.Lock()
	gen := r.gen
	r.mu.Unlock()
	r.adminChanged(store.AdminChange{Kind: store.AdminChangeDevice, User: 1, DeviceID: "X"}) // arrives during the read
	r.putRead(k, Device{DeviceID: "X"}, now, gen)
	require.Contains(t, r.cache, k)
	assert.True(t, r.cache[k].written.IsZero(), "kept as expired")

	r.mu.Lock()
	gen = r.gen
	r.mu.Unlock()
	r.putRead(k, Device{DeviceID: "X"}, now, gen)
	assert.Equal(t, now, r.cache[k].written, "no signal in between: kept")

	// Rules: kept once read, dropped with every partnership by a rule change.
	rules, err := r.rulesNow(t.Context())
	require.NoError(t, err)
	assert.Empty(t, rules)
	assert.NotNil(t, r.rules, "kept")
	r.adminChanged(store.AdminChange{Kind: store.AdminChangeRules})
	assert.Nil(t, r.rules, "dropped by the rule change")
	assert.Empty(t, r.cache, "and every partnership with it")
}
