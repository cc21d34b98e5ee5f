package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/easd/easd/store"
)

// benchPassword is every simulated user's password.
const benchPassword = "easbench-password"

// server is an `easd serve` child process on a temporary data directory, and a second store
// connection to its database for setting up users and delivering mail.
type server struct {
	cmd    *exec.Cmd
	URL    string
	Data   string
	St     *store.Store
	log    *lockedWriter
	done   chan error
	exited atomic.Bool // Wait returned
}

// buildEasd builds cmd/easd into dir with the go command and returns the binary's path.
func buildEasd(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "easd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/easd/easd/cmd/easd")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build easd: %w", err)
	}
	return bin, nil
}

// startServer opens the store in data (migrating it), then starts bin serve on it on a port
// the kernel picks, reads the address from its "easd serving" log line and waits until
// /healthz answers.
func startServer(ctx context.Context, bin, data string) (*server, error) {
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(data, "easd.db"), store.Options{})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	s := &server{Data: data, St: st, log: &lockedWriter{w: new(bytes.Buffer)}, done: make(chan error, 1)}
	// Not CommandContext: stop ends it with SIGTERM so that it shuts down cleanly.
	s.cmd = exec.Command(bin, "serve", "--data", data, "--http", "127.0.0.1:0", "--log-level", "info")
	s.cmd.Env = append(os.Environ(), "EASD_ADMIN_PASSWORD="+benchPassword)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		st.Close()
		return nil, fmt.Errorf("start easd: %w", err)
	}
	go func() {
		err := s.cmd.Wait()
		s.exited.Store(true)
		s.done <- err
	}()
	err = s.waitURL(ctx)
	if err == nil {
		err = waitHealthy(ctx, s.URL, s.done)
	}
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("%w; easd output:\n%s", err, s.output())
	}
	return s, nil
}

// waitURL waits up to a minute for the "easd serving" log line and takes the URL from it.
func (s *server) waitURL(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		out := s.output()
		if i := strings.Index(out, "https=https://"); i >= 0 {
			if f := strings.Fields(out[i+len("https="):]); len(f) > 0 {
				s.URL = f[0]
				return nil
			}
		}
		if s.exited.Load() {
			return errors.New("easd exited at start")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("easd did not log its address within a minute")
}

// waitHealthy polls GET /healthz for up to a minute.
func waitHealthy(ctx context.Context, url string, exited <-chan error) error {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		resp, err := hc.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("server exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("server not healthy after a minute")
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) output() string {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	return s.log.w.(*bytes.Buffer).String()
}

// stop sends SIGTERM, waits up to 40 s (easd's shutdown grace is 30 s), then kills.
func (s *server) stop() error {
	if s.St != nil {
		s.St.Close()
	}
	if s.exited.Load() {
		select {
		case err := <-s.done:
			return err
		default:
			return nil
		}
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		return err
	case <-time.After(40 * time.Second):
	}
	// SIGQUIT makes the Go runtime print every goroutine's stack and exit: where it hangs.
	s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	return errors.New("easd did not stop within 40s of SIGTERM; sent SIGQUIT (goroutine dump in its log)")
}

// saveLog writes easd's output to a file in the temporary directory and returns its path
// and its last lines.
func (s *server) saveLog() (path, tail string) {
	out := s.output()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	tail = strings.Join(lines[max(len(lines)-20, 0):], "\n")
	f, err := os.CreateTemp("", "easbench-easd-*.log")
	if err != nil {
		return "", tail
	}
	defer f.Close()
	if _, err := f.WriteString(out); err != nil {
		return "", tail
	}
	return f.Name(), tail
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// userAddr names simulated user i.
func userAddr(i int) string { return fmt.Sprintf("bench%05d@example.com", i) }

// createUsers adds users 0..n-1 through the second store connection.
func createUsers(ctx context.Context, st *store.Store, n int) error {
	for i := range n {
		if _, err := st.CreateUser(ctx, store.NewUser{Address: userAddr(i), Password: benchPassword}); err != nil {
			return fmt.Errorf("create user %s: %w", userAddr(i), err)
		}
	}
	return nil
}

// message is a plain-text message of about 2 KB, like a short real mail.
func message(to string, i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.org>\r\nTo: <%s>\r\nSubject: easbench message %d\r\n", i%37, i%37, to, i)
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <easbench.%d.%d@example.org>\r\nMIME-Version: 1.0\r\n", time.Now().UTC().Format(time.RFC1123Z), time.Now().UnixNano(), i)
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	for l := range 30 {
		fmt.Fprintf(&b, "Line %d of message %d: the quick brown fox jumps over the lazy dog.\r\n", l, i)
	}
	return b.Bytes()
}

// deliver puts n messages into the Inbox of addr.
func deliver(ctx context.Context, st *store.Store, addr string, n int) error {
	for i := range n {
		if _, err := st.Deliver(ctx, addr, message(addr, i)); err != nil {
			return fmt.Errorf("deliver to %s: %w", addr, err)
		}
	}
	return nil
}

// sourceAddrs are the loopback addresses connections come from: one source address has only
// about 28,000 ephemeral ports (net.ipv4.ip_local_port_range).
var sourceAddrs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8", "127.0.0.9"}

// newHTTPClient returns a client for many devices: HTTP/1.1 as phones use it (one connection
// per outstanding request), no idle limit, no certificate check (loopback, self-signed), and
// connections spread over sourceAddrs.
func newHTTPClient(timeout time.Duration) *http.Client {
	var next atomic.Uint32
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		src := sourceAddrs[int(next.Add(1))%len(sourceAddrs)]
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 30 * time.Second}
		return d.DialContext(ctx, network, addr)
	}
	tr := &http.Transport{
		DialContext:         dial,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1 only
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 100_000,
		IdleConnTimeout:     10 * time.Minute,
		DisableCompression:  true,
		TLSHandshakeTimeout: 60 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// raiseNoFile raises RLIMIT_NOFILE to the hard limit; child processes inherit it.
func raiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

// rssKB reads VmRSS of process pid in kB.
func rssKB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS")
}

// goMem is what a process's /metrics (internal/httpd registers the Go and process
// collectors) says about its memory: a cross-check of VmRSS that does not count heap the Go
// runtime has freed but not yet returned to the OS.
type goMem struct {
	HeapInuse, StackInuse, Goroutines float64
	PingWaiting                       float64 // easd_ping_waiting; -1 when the server has no such gauge
	GCs                               float64 // go_gc_duration_seconds_count: collections so far
}

// scrapeGoMem reads goMem from url's /metrics.
func scrapeGoMem(ctx context.Context, hc *http.Client, url string) (goMem, error) {
	m := goMem{PingWaiting: -1}
	err := scrapeMetrics(ctx, hc, url, map[string]*float64{
		"go_memstats_heap_inuse_bytes":  &m.HeapInuse,
		"go_memstats_stack_inuse_bytes": &m.StackInuse,
		"go_goroutines":                 &m.Goroutines,
		"easd_ping_waiting":             &m.PingWaiting,
		"go_gc_duration_seconds_count":  &m.GCs,
	})
	return m, err
}

// scrapeMetrics reads url's /metrics (Prometheus text format) and sets each value of want to
// the sample of its name; names not present leave their value as it was.
func scrapeMetrics(ctx context.Context, hc *http.Client, url string, want map[string]*float64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if p := want[name]; ok && p != nil {
			if *p, err = strconv.ParseFloat(strings.TrimSpace(val), 64); err != nil {
				return fmt.Errorf("metric %s: %w", name, err)
			}
		}
	}
	return sc.Err()
}
