package main

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the ping scenario start this test binary as its bare-server process.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "bare-server" {
		if err := runBareServer(context.Background(), os.Args[2:]); err != nil {
			os.Stderr.WriteString("bare-server: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if easdDir != "" {
		os.RemoveAll(easdDir)
	}
	os.Exit(code)
}

var (
	easdOnce sync.Once
	easdDir  string // removed by TestMain
	easdBin  string
	easdErr  error
)

// easdBinary builds cmd/easd once per test run.
func easdBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs easd serve; not with -short")
	}
	easdOnce.Do(func() {
		easdDir, easdErr = os.MkdirTemp("", "easbench-test-bin-")
		if easdErr != nil {
			return
		}
		easdBin, easdErr = buildEasd(context.Background(), easdDir)
	})
	require.NoError(t, easdErr)
	return easdBin
}

func testCommon(t *testing.T, out *bytes.Buffer) common {
	t.Helper()
	t.Cleanup(func() { t.Logf("report:\n%s", out) })
	return common{Easd: easdBinary(t), Out: out}
}

func TestSyncScenario(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	rep, err := runSync(ctx, testCommon(t, &out), SyncConfig{Devices: 5, DevicesPerUser: 2, Messages: 50, Window: 20, NoChange: 3})
	require.NoError(t, err)
	require.Len(t, rep.Phases, 5)
	// runSync fails on any Sync status other than 1 and checks that every device got all 50
	// messages; here the request counts show every step ran for every device.
	want := []int{5 * 2, 5, 5 * (1 + 3), 5 * 3, 5 * 3} // initial: key 0 then 50/20 -> 3 windows
	for i, p := range rep.Phases {
		assert.Equal(t, want[i], p.N, p.Name)
	}
	assert.Greater(t, rep.Ratio, 0.0)
	assert.Contains(t, out.String(), "no-change Sync rate / bare rate")
}

func TestInitialScenario(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	rep, err := runInitial(ctx, testCommon(t, &out), InitialConfig{Messages: 50, Window: 10})
	require.NoError(t, err)
	assert.Equal(t, 1+5, rep.Sync.N) // key 0, then five windows of 10
	assert.Equal(t, rep.Sync.Sum, rep.ServerTime)
	assert.Contains(t, out.String(), "total server time")
}

func TestPingScenario(t *testing.T) {
	var out bytes.Buffer
	c := testCommon(t, &out)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	rep, err := runPing(ctx, c, PingConfig{Pings: 20, DevicesPerUser: 10, Heartbeat: 10 * time.Minute,
		SetupWorkers: 4, Dialers: 8, Settle: 200 * time.Millisecond, WakeTimeout: 30 * time.Second, Grace: time.Second})
	require.NoError(t, err)
	assert.Equal(t, 20, rep.Parked)
	assert.Equal(t, 20, rep.Answered, "every Ping answered once, status 2 with the Inbox")
	assert.Zero(t, rep.Lost)
	assert.Zero(t, rep.Duplicated)
	assert.Zero(t, rep.Early)
	assert.Zero(t, rep.Wrong)
	// Both bare processes parked all 20 requests (measureParked fails otherwise).
	assert.Contains(t, out.String(), "bare long poll (TLS)")
	assert.Contains(t, out.String(), "bare long poll (plain HTTP)")
}

func TestPercentile(t *testing.T) {
	lats := make([]time.Duration, 100)
	for i := range lats {
		lats[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name string
		lats []time.Duration
		pct  int
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", lats[:1], 99, time.Millisecond},
		{"p50 of 100", lats, 50, 50 * time.Millisecond},
		{"p99 of 100", lats, 99, 99 * time.Millisecond},
		{"p100", lats, 100, 100 * time.Millisecond},
		{"p99 of 10", lats[:10], 99, 10 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, percentile(tc.lats, tc.pct))
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	assert.NoError(t, checkLoopback("127.0.0.1:0"))
	assert.NoError(t, checkLoopback("[::1]:8443"))
	assert.Error(t, checkLoopback("0.0.0.0:8443"))
	assert.Error(t, checkLoopback("192.0.2.1:8443"))
}
