package eas_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/internal/httpd"
	"github.com/easd/easd/internal/tlscert"
	"github.com/easd/easd/store"
)

// parkClientEnv makes the test binary a parking client (see runParkClient) instead of running
// tests: the benchmarks below park their requests from a child process, so that the memory
// they read is the server's alone.
const parkClientEnv = "EASD_TEST_PARK_CLIENT"

func TestMain(m *testing.M) {
	if os.Getenv(parkClientEnv) != "" {
		os.Exit(runParkClient(os.Stdin, os.Stderr))
	}
	os.Exit(m.Run())
}

// parkSpec is what the parent tells a parking client on its stdin.
type parkSpec struct {
	URL     string
	Devices []parkDevice
}

type parkDevice struct {
	User, Password, DeviceID string
	Body                     []byte
}

// runParkClient reads a parkSpec from in, sends one Ping per device, each on its own TLS
// connection, and keeps them open until in reaches EOF; then it closes them all. A request
// answered before that is reported on errw.
func runParkClient(in io.Reader, errw io.Writer) int {
	br := bufio.NewReader(in)
	line, err := br.ReadBytes('\n')
	if err != nil {
		fmt.Fprintln(errw, "park client: read spec:", err)
		return 1
	}
	var spec parkSpec
	if err := json.Unmarshal(line, &spec); err != nil {
		fmt.Fprintln(errw, "park client: spec:", err)
		return 1
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: -1}
	hc := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(context.Background())
	dial := make(chan struct{}, 32) // connection set-ups at once
	var early atomic.Int64
	for _, d := range spec.Devices {
		go func() {
			dial <- struct{}{}
			c := easclient.Client{HTTP: hc, URL: spec.URL, Username: d.User, Password: d.Password,
				DeviceID: d.DeviceID, DeviceType: "iPhone"}
			go func() {
				time.Sleep(20 * time.Millisecond) // the request is written by then, or waits its turn
				<-dial
			}()
			resp, err := c.Do(ctx, &easclient.Request{Cmd: eas.CmdPing, Body: d.Body})
			if ctx.Err() == nil {
				early.Add(1)
				if err != nil {
					fmt.Fprintf(errw, "park client: %s: %v\n", d.DeviceID, err)
				} else {
					fmt.Fprintf(errw, "park client: %s answered early: HTTP %d\n", d.DeviceID, resp.StatusCode)
				}
			}
		}()
	}
	_, _ = io.Copy(io.Discard, br)
	cancel()
	tr.CloseIdleConnections()
	if early.Load() > 0 {
		return 1
	}
	return 0
}

// parkClient is a running parking client process.
type parkClient struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startParkClient(tb testing.TB, spec parkSpec) *parkClient {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), parkClientEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	line, err := json.Marshal(spec)
	require.NoError(tb, err)
	_, err = stdin.Write(append(line, '\n'))
	require.NoError(tb, err)
	return &parkClient{cmd: cmd, stdin: stdin}
}

// stop closes the client's requests and waits for it to exit; it fails tb when a request
// was answered while parked.
func (c *parkClient) stop(tb testing.TB) {
	tb.Helper()
	_ = c.stdin.Close()
	require.NoError(tb, c.cmd.Wait(), "park client")
}

// parkServer is an httpd.Server (the listener setup of easd serve) on a loopback port.
type parkServer struct {
	url    string
	parked func() int
	stop   func()
}

func startParkServer(tb testing.TB, srv *httpd.Server, parked func() int) *parkServer {
	tb.Helper()
	cert, _, err := tlscert.LoadOrCreate(tb.TempDir(), "localhost", time.Now())
	require.NoError(tb, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, cert) }()
	return &parkServer{url: "https://" + ln.Addr().String(), parked: parked, stop: func() {
		cancel()
		<-done
	}}
}

// memNow is the Go heap and stacks in use after a collection, and the process's VmRSS; with
// free set, after returning free memory to the operating system.
func memNow(tb testing.TB, free bool) (heap, stack, rss, alloc int64) {
	tb.Helper()
	runtime.GC()
	if free {
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				rss = kb << 10
			}
		}
	}
	return int64(ms.HeapInuse), int64(ms.StackInuse), rss, int64(ms.TotalAlloc)
}

// parkMem is the growth of a server per parked request, in bytes.
type parkMem struct{ heap, stack, rss, alloc float64 }

func (m *parkMem) add(o parkMem) {
	m.heap, m.stack, m.rss, m.alloc = m.heap+o.heap, m.stack+o.stack, m.rss+o.rss, m.alloc+o.alloc
}

// parkCost parks spec's requests on s from a child process and returns the growth of the
// server process per parked request: Go heap+stacks in use, and VmRSS. With profile set it
// writes a heap profile while they are parked.
func parkCost(tb testing.TB, s *parkServer, spec parkSpec, profile string) parkMem {
	tb.Helper()
	spec.URL = s.url
	n := len(spec.Devices)
	heap0, stack0, rss0, alloc0 := memNow(tb, true)
	c := startParkClient(tb, spec)
	deadline := time.Now().Add(5 * time.Minute)
	for s.parked() < n {
		require.True(tb, time.Now().Before(deadline), "%d of %d requests parked", s.parked(), n)
		time.Sleep(20 * time.Millisecond)
	}
	heap1, stack1, rss1, alloc1 := memNow(tb, false)
	if profile != "" {
		f, err := os.Create(profile)
		require.NoError(tb, err)
		require.NoError(tb, pprof.Lookup("heap").WriteTo(f, 0))
		require.NoError(tb, f.Close())
	}
	c.stop(tb)
	for s.parked() > 0 {
		require.True(tb, time.Now().Before(deadline.Add(time.Minute)), "%d requests still parked", s.parked())
		time.Sleep(20 * time.Millisecond)
	}
	f := float64(n)
	return parkMem{heap: float64(heap1-heap0) / f, stack: float64(stack1-stack0) / f, rss: float64(rss1-rss0) / f, alloc: float64(alloc1-alloc0) / f}
}

// newBareParkServer is a bare long poll on the same listener setup: read the body, wait until
// the client goes away.
func newBareParkServer(tb testing.TB) *parkServer {
	srv := httpd.New(httpd.Options{Logger: slog.New(slog.DiscardHandler), Health: func(context.Context) error { return nil }})
	var parked atomic.Int64
	srv.Echo.POST(eas.Path, func(c echo.Context) error {
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(c.Response(), c.Request().Body, 1<<20)); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest)
		}
		parked.Add(1)
		defer parked.Add(-1)
		t := time.NewTimer(time.Hour)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.Request().Context().Done():
			return nil
		}
		return c.NoContent(http.StatusOK)
	})
	return startParkServer(tb, srv, func() int { return int(parked.Load()) })
}

// newPingParkServer is easd's ActiveSync server with the folder hierarchy commands and Ping over
// a SQLite store, with users of perUser devices each that ran FolderSync; it returns the spec of
// their Pings.
func newPingParkServer(tb testing.TB, devices, perUser int) (*parkServer, parkSpec) {
	tb.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(tb.TempDir(), "easd.db"), store.Options{KDF: store.TestKDF})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = st.Close() })
	require.NoError(tb, st.Migrate(ctx))
	st.PollOtherWriters(0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httpd.New(httpd.Options{Logger: log, Health: st.Ping})
	easSrv := eas.New(eas.Options{Logger: log, Auth: st})
	hier := eas.NewHierarchy(eas.HierarchyOptions{Store: st})
	for _, c := range hier.Commands() {
		easSrv.Handle(c)
	}
	ping := eas.NewPing(eas.PingOptions{Store: st, Hierarchy: hier})
	easSrv.Handle(ping.Command())
	easSrv.Register(srv.Echo)
	var spec parkSpec
	var u store.User
	var hf []store.HierarchyFolder
	var inbox store.Folder
	for i := range devices {
		if i%perUser == 0 {
			u, err = st.CreateUser(ctx, store.NewUser{Address: fmt.Sprintf("u%d@example.com", i/perUser), Password: "pw"})
			require.NoError(tb, err)
			fs, err := st.Folders(ctx, u.Mailbox)
			require.NoError(tb, err)
			hf = store.HierarchyOf(fs)
			inbox, err = st.FolderByType(ctx, u.Mailbox, store.FolderInbox)
			require.NoError(tb, err)
		}
		dev := fmt.Sprintf("dev%05d", i)
		_, err = st.AdvanceFolderSync(ctx, u.ID, dev, 0, hf)
		require.NoError(tb, err)
		body := pingBody(tb, 3000, inbox.ID)
		spec.Devices = append(spec.Devices, parkDevice{User: u.Address, Password: "pw", DeviceID: dev, Body: body})
	}
	s := startParkServer(tb, srv, ping.Waiting)
	tb.Cleanup(s.stop)
	return s, spec
}

// BenchmarkPingParked parks 2,000 Pings (100 devices per user) over TLS on the server easd
// serves (internal/httpd, eas.Server, Ping over SQLite), then as many requests on a bare long
// poll with the same listener setup, each from a child process so that only the server's
// memory counts, and reports what one parked request costs the server: Go heap+stacks in use
// after a collection (inuse-B/ping, inuse-B/bare) and VmRSS growth (rss-B/…), and the ratios.
// EASD_PING_HEAPPROFILE=file writes a heap profile while the Pings are parked.
func BenchmarkPingParked(b *testing.B) {
	const n, perUser = 2000, 100
	ps, spec := newPingParkServer(b, n, perUser)
	bare := newBareParkServer(b)
	b.Cleanup(bare.stop)
	profile := os.Getenv("EASD_PING_HEAPPROFILE")
	if profile != "" {
		runtime.MemProfileRate = 1 // every allocation, for a profile of 2,000 Pings to say anything
	}
	var pm, bm parkMem
	for b.Loop() {
		bm.add(parkCost(b, bare, spec, ""))
		pm.add(parkCost(b, ps, spec, profile))
	}
	k := float64(b.N)
	b.ReportMetric(pm.heap/k, "heap-B/ping")
	b.ReportMetric(pm.stack/k, "stack-B/ping")
	b.ReportMetric(bm.heap/k, "heap-B/bare")
	b.ReportMetric(bm.stack/k, "stack-B/bare")
	b.ReportMetric((pm.heap+pm.stack)/(bm.heap+bm.stack), "inuse-ratio")
	b.ReportMetric(pm.rss/k, "rss-B/ping")
	b.ReportMetric(bm.rss/k, "rss-B/bare")
	b.ReportMetric(pm.rss/bm.rss, "rss-ratio")
	b.ReportMetric(pm.alloc/k, "alloc-B/ping")
	b.ReportMetric(bm.alloc/k, "alloc-B/bare")
}
