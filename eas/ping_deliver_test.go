package eas_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
)

// TestPingWakesOnEasdDeliver builds easd and delivers with `easd deliver` in its own process
// on the SQLite file the server uses: the store's poller wakes the waiting Ping well under a
// second later.
func TestPingWakesOnEasdDeliver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the easd binary")
	}
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "easd")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "../cmd/easd")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	dsn := "sqlite://" + filepath.Join(dir, "easd.db")
	st, err := store.Open(t.Context(), dsn, store.Options{KDF: store.TestKDF})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.Migrate(t.Context()))
	st.PollOtherWriters(0)
	env := newMailEnv(t, st)
	c := env.client("dev1")
	doFolderSync(t, c, "0")
	inbox := env.folderID(t, store.FolderInbox)

	ch := asyncPing(t, env, c, pingBody(t, 90, inbox))
	deliver := exec.CommandContext(t.Context(), bin, "--data", dir, "--db", dsn, "deliver", env.user.Address)
	deliver.Stdin = bytes.NewReader(testMessage)
	var stderr strings.Builder
	deliver.Stderr = &stderr
	require.NoError(t, deliver.Run(), "easd deliver: %s", stderr.String())
	done := time.Now()
	r := waitPing(t, ch, time.Second)
	t.Logf("Ping answered %s after easd deliver exited", time.Since(done))
	assert.Equal(t, pingResult{Status: 2, Folders: []string{fmt.Sprint(inbox)}}, r)
}
