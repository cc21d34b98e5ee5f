package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
)

// `easd device block` and `easd device allow`, run as separate processes while `easd serve`
// runs, bite at the device's next request (the registry caches partnerships for a minute,
// longer than this test waits): the server logs that it observed the change, and the next
// FolderSync is refused with 129, then answered again.
func TestDeviceBlockReachesRunningServer(t *testing.T) {
	forEachDB(t, func(t *testing.T, in *instance) { testDeviceBlockReachesRunningServer(t, in) })
}

func testDeviceBlockReachesRunningServer(t *testing.T, in *instance) {
	in.mustRun("pw-alice\n", "user", "add", "alice@example.com", "--password-stdin")
	srv := in.startServe("--hostname", "mail.example.test", "--log-level", "debug")

	c := &easclient.Client{
		HTTP: in.httpClient("mail.example.test"),
		URL:  "https://" + srv.addr, Username: "alice@example.com", Password: "pw-alice", User: "alice@example.com",
		DeviceID: "PropPhone1", DeviceType: "iPhone", UserAgent: "iPhone/1.0", Version: eas.Version161,
	}
	folderSync := func() int {
		t.Helper()
		fs, err := c.FolderSync(t.Context(), "0")
		require.NoError(t, err)
		return fs.Status
	}
	// No policy key yet: the device is created (and cached) and told to provision.
	require.Equal(t, int(eas.StatusDeviceNotProvisioned), folderSync())

	var list []struct {
		ID       int64
		DeviceID string
	}
	require.NoError(t, json.Unmarshal([]byte(in.mustRun("", "device", "list", "--json")), &list))
	require.Len(t, list, 1)
	require.Equal(t, "PropPhone1", list[0].DeviceID)
	id := fmt.Sprint(list[0].ID)

	in.mustRun("", "device", "block", id)
	srv.waitLog(t, `msg="admin change"`, "device_id=PropPhone1")
	assert.Equal(t, int(eas.StatusDeviceIsBlockedForThisUser), folderSync())

	in.mustRun("", "device", "allow", id)
	srv.waitLog(t, `msg="admin change"`, "device_id=PropPhone1")
	assert.Equal(t, int(eas.StatusDeviceNotProvisioned), folderSync(), "allowed again: back to provisioning")

	log, err := srv.stop()
	require.NoError(t, err, log)
}

// waitLog waits for a log line of the server that contains every one of parts.
func (s *server) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	deadline := time.After(60 * time.Second) // a hang guard, not a latency assertion
	for {
		select {
		case l, ok := <-s.lines:
			require.True(t, ok, "serve exited:\n%s", s.log.String())
			s.log.WriteString(l + "\n")
			all := true
			for _, p := range parts {
				all = all && strings.Contains(l, p)
			}
			if all {
				return
			}
		case <-deadline:
			t.Fatalf("no log line with %q:\n%s", parts, s.log.String())
		}
	}
}
