package main

// These tests run the built binary as a person or an MTA would: separate
// processes, real files, a real TLS listener, real signals.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/internal/tlscert"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

var easdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "easd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	easdBin = filepath.Join(dir, "easd")
	build := exec.Command("go", "build", "-o", easdBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build easd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is one data directory and database the binary runs against.
type instance struct {
	t    *testing.T
	data string
	db   string
	env  []string // added to every command's environment, after the defaults
}

// forEachDB runs fn once on SQLite and once on PostgreSQL (when
// EASD_TEST_DATABASE_URL is set), each with a fresh data directory and an
// empty database.
func forEachDB(t *testing.T, fn func(t *testing.T, in *instance)) {
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		fn(t, &instance{t: t, data: filepath.Join(t.TempDir(), "data"), db: dsn})
	})
}

// newInstance is an instance on the default database: the SQLite file in
// the data directory.
func newInstance(t *testing.T) *instance {
	data := filepath.Join(t.TempDir(), "data")
	return &instance{t: t, data: data, db: "sqlite://" + filepath.Join(data, "easd.db")}
}

func (in *instance) cmd(stdin string, args ...string) *exec.Cmd {
	c := exec.Command(easdBin, args...)
	c.Env = append(os.Environ(), "EASD_DATA="+in.data, "EASD_DB="+in.db, "EASD_ADMIN_PASSWORD=", "EASD_LOG_LEVEL=info", "GOGC=")
	c.Env = append(c.Env, in.env...)
	c.Stdin = strings.NewReader(stdin)
	return c
}

// run runs one command to completion and returns its output and exit code.
func (in *instance) run(stdin string, args ...string) (stdout, stderr string, code int) {
	in.t.Helper()
	c := in.cmd(stdin, args...)
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err := c.Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	require.NoError(in.t, err)
	return o.String(), e.String(), 0
}

func (in *instance) mustRun(stdin string, args ...string) string {
	in.t.Helper()
	out, errOut, code := in.run(stdin, args...)
	require.Equal(in.t, 0, code, "easd %s: %s", strings.Join(args, " "), errOut)
	return out
}

func (in *instance) open() *store.Store {
	in.t.Helper()
	st, err := store.Open(context.Background(), in.db, store.Options{})
	require.NoError(in.t, err)
	in.t.Cleanup(func() { st.Close() })
	return st
}

func TestUserCommands(t *testing.T) {
	forEachDB(t, func(t *testing.T, in *instance) { testUserCommands(t, in) })
}

func testUserCommands(t *testing.T, in *instance) {

	out := in.mustRun("s3cret-Passw0rd\n", "user", "add", "Alice@Example.com", "--name", "Alice Liddell", "--password-stdin")
	assert.Contains(t, out, "alice@example.com")

	cases := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"duplicate", "pw\n", []string{"user", "add", "alice@example.com", "--password-stdin"}, 1, "already exists"},
		{"duplicate other case", "pw\n", []string{"user", "add", "ALICE@example.com", "--password-stdin"}, 1, "already exists"},
		{"malformed address", "pw\n", []string{"user", "add", "not-an-address", "--password-stdin"}, exitUsage, "not a valid email address"},
		{"empty password", "\n", []string{"user", "add", "bob@example.com", "--password-stdin"}, exitUsage, "empty password"},
		{"password on the command line", "", []string{"user", "add", "bob@example.com"}, exitUsage, "--password-stdin"},
		{"unknown user passwd", "pw\n", []string{"user", "passwd", "nobody@example.com", "--password-stdin"}, 1, "no such user"},
		{"unknown user disable", "", []string{"user", "disable", "nobody@example.com"}, 1, "no such user"},
		{"protocols without flags", "", []string{"user", "protocols", "alice@example.com"}, exitUsage, "at least one"},
		{"protocols bad value", "", []string{"user", "protocols", "alice@example.com", "--pop", "maybe"}, exitUsage, "want on or off"},
		{"unknown subcommand", "", []string{"user", "frobnicate", "x"}, exitUsage, "unknown user command"},
		{"unknown command", "", []string{"frobnicate"}, exitUsage, "unknown command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := in.run(tc.stdin, tc.args...)
			assert.Equal(t, tc.code, code, errOut)
			assert.Contains(t, errOut, tc.stderr)
		})
	}

	out = in.mustRun("", "user", "list")
	assert.Regexp(t, `alice@example.com\s+Alice Liddell\s+enabled\s+eas imap pop smtp`, out, "every protocol is on for a new user, POP3 included")
	assert.NotContains(t, out, "bob@", "failed adds leave nothing behind")

	out = in.mustRun("", "user", "protocols", "alice@example.com", "--pop", "off", "--imap", "off")
	assert.Contains(t, out, "eas smtp")
	in.mustRun("", "user", "disable", "alice@example.com")
	out = in.mustRun("", "user", "list")
	assert.Regexp(t, `alice@example.com\s+Alice Liddell\s+disabled\s+eas smtp`, out)
	in.mustRun("", "user", "enable", "alice@example.com")

	in.mustRun("n3w-password\n", "user", "passwd", "alice@example.com", "--password-stdin")
	st := in.open()
	_, err := st.Authenticate(context.Background(), "alice@example.com", "n3w-password")
	assert.NoError(t, err, "the new password works")
	_, err = st.Authenticate(context.Background(), "alice@example.com", "s3cret-Passw0rd")
	assert.ErrorIs(t, err, store.ErrBadCredentials, "the old one does not")
}

const sampleMessage = "From: Bob <bob@example.org>\r\n" +
	"To: Alice <alice@example.com>\r\n" +
	"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n" +
	"Date: Fri, 27 Nov 2026 09:00:00 +0100\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Hello Alice.\r\n"

func TestDeliver(t *testing.T) {
	forEachDB(t, func(t *testing.T, in *instance) { testDeliver(t, in) })
}

func testDeliver(t *testing.T, in *instance) {
	in.mustRun("pw-alice\n", "user", "add", "alice@example.com", "--password-stdin")

	in.mustRun(sampleMessage, "deliver", "alice@example.com")

	_, errOut, code := in.run(sampleMessage, "deliver", "nobody@example.com")
	assert.Equal(t, exitNoUser, code, "an MTA bounces unknown users: %s", errOut)
	assert.Contains(t, errOut, "no such user")

	_, errOut, code = in.run("", "deliver", "alice@example.com")
	assert.Equal(t, exitDataErr, code, "empty input is not a message: %s", errOut)
	_, errOut, code = in.run("\x00\x01\x02 this is no message", "deliver", "alice@example.com")
	assert.Equal(t, exitDataErr, code, "garbage is not a message: %s", errOut)
	_, errOut, code = in.run(strings.Repeat("x", 2048), "deliver", "--max-size", "1024", "alice@example.com")
	assert.Equal(t, exitDataErr, code, "oversized: %s", errOut)
	assert.Contains(t, errOut, "larger than 1024 bytes")

	st := in.open()
	ctx := context.Background()
	u, err := st.UserByAddress(ctx, "alice@example.com")
	require.NoError(t, err)
	inbox, err := st.FolderByType(ctx, u.Mailbox, store.FolderInbox)
	require.NoError(t, err)
	items, err := st.Items(ctx, inbox.ID)
	require.NoError(t, err)
	require.Len(t, items, 1, "only the good message arrived")
	assert.Equal(t, "Grüße", items[0].Subject)
	body, err := st.ItemBody(ctx, items[0].ID)
	require.NoError(t, err)
	assert.Equal(t, sampleMessage, string(body), "the original bytes are kept exactly")
}

// TestDeliverSIGKILL kills `easd deliver` at random points while it writes a
// large message and checks after every kill that the mailbox holds only whole
// messages and a consistent modification sequence.
func TestDeliverSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: SIGKILL loop skipped")
	}
	forEachDB(t, testDeliverSIGKILL)
}

func testDeliverSIGKILL(t *testing.T, in *instance) {
	in.mustRun("pw-alice\n", "user", "add", "alice@example.com", "--password-stdin")

	// A 4 MB message makes the write take long enough to be interrupted.
	var big strings.Builder
	big.WriteString("From: bob@example.org\r\nTo: alice@example.com\r\nSubject: big\r\n\r\n")
	for big.Len() < 4<<20 {
		big.WriteString("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n")
	}
	msg := big.String()

	// Time one whole delivery, then kill later ones at points spread from
	// 30% to 200% of that time, so kills land before, inside and after the
	// write transaction.
	began := time.Now()
	in.mustRun(msg, "deliver", "alice@example.com")
	whole := time.Since(began)
	delivered := 1
	const rounds = 16
	for i := range rounds {
		c := in.cmd(msg, "deliver", "alice@example.com")
		require.NoError(t, c.Start())
		time.Sleep(whole * time.Duration(30+i*170/rounds) / 100)
		c.Process.Signal(syscall.SIGKILL)
		if err := c.Wait(); err == nil {
			delivered++ // finished before the kill
		}
	}
	t.Logf("a delivery takes %v; %d of %d finished before SIGKILL", whole, delivered-1, rounds)

	st := in.open()
	ctx := context.Background()
	u, err := st.UserByAddress(ctx, "alice@example.com")
	require.NoError(t, err)
	inbox, err := st.FolderByType(ctx, u.Mailbox, store.FolderInbox)
	require.NoError(t, err)
	items, err := st.Items(ctx, inbox.ID)
	require.NoError(t, err)
	// A process killed after its commit but before it exited counts as not
	// delivered here, so the mailbox may hold more, never fewer.
	assert.GreaterOrEqual(t, len(items), delivered)
	for _, it := range items {
		body, err := st.ItemBody(ctx, it.ID)
		require.NoError(t, err)
		assert.Equal(t, len(msg), len(body), "item %d is whole", it.ID)
	}
	assertModSeqConsistent(t, st, u.Mailbox)

	// The store keeps working after the kills.
	in.mustRun(sampleMessage, "deliver", "alice@example.com")
	assertModSeqConsistent(t, st, u.Mailbox)
}

// assertModSeqConsistent checks the change-tracking invariant: the mailbox's
// modseq is the highest change's, and change modseqs are distinct and
// increasing.
func assertModSeqConsistent(t *testing.T, st *store.Store, mb store.MailboxID) {
	t.Helper()
	ctx := context.Background()
	top, err := st.ModSeq(ctx, mb)
	require.NoError(t, err)
	changes, err := st.ChangesSince(ctx, mb, 0)
	require.NoError(t, err)
	require.NotEmpty(t, changes)
	for i := 1; i < len(changes); i++ {
		assert.Greater(t, changes[i].ModSeq, changes[i-1].ModSeq, "change modseqs increase")
	}
	assert.Equal(t, top, changes[len(changes)-1].ModSeq, "mailbox modseq is the last change's")
}

// serveLine matches the startup log line that names the listener.
var serveLine = regexp.MustCompile(`https=https://(\S+)`)

// server is a running `easd serve`.
type server struct {
	t     *testing.T
	cmd   *exec.Cmd
	addr  string
	lines chan string
	log   strings.Builder
}

// startServe starts `easd serve` on a free port and waits until it logs its
// address.
func (in *instance) startServe(args ...string) *server {
	in.t.Helper()
	c := in.cmd("", append([]string{"serve", "--http", "127.0.0.1:0"}, args...)...)
	stderr, err := c.StderrPipe()
	require.NoError(in.t, err)
	require.NoError(in.t, c.Start())
	in.t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	s := &server{t: in.t, cmd: c, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	deadline := time.After(60 * time.Second)
	for s.addr == "" {
		select {
		case l, ok := <-s.lines:
			require.True(in.t, ok, "serve exited early:\n%s", s.log.String())
			s.log.WriteString(l + "\n")
			if m := serveLine.FindStringSubmatch(l); m != nil {
				s.addr = m[1]
			}
		case <-deadline:
			in.t.Fatalf("serve did not start:\n%s", s.log.String())
		}
	}
	return s
}

// stop sends SIGTERM, waits for the exit and returns the whole log.
func (s *server) stop() (string, error) {
	require.NoError(s.t, s.cmd.Process.Signal(syscall.SIGTERM))
	for l := range s.lines {
		s.log.WriteString(l + "\n")
	}
	err := s.cmd.Wait()
	return s.log.String(), err
}

// httpClient trusts exactly the certificate kept in the data directory, for serverName.
func (in *instance) httpClient(serverName string) *http.Client {
	in.t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(in.data, tlscert.CertFile))
	require.NoError(in.t, err)
	pool := x509.NewCertPool()
	require.True(in.t, pool.AppendCertsFromPEM(pemBytes))
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName}}}
}

// GOGC in the environment beats serve's own default (app.ServeGCPercent).
func TestServeKeepsGOGC(t *testing.T) {
	in := newInstance(t)
	in.env = []string{"GOGC=80"}
	srv := in.startServe()
	assert.Contains(t, srv.log.String(), "gogc=80")
	resp, err := in.httpClient("localhost").Get("https://" + srv.addr + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(body), "\ngo_gc_gogc_percent 80\n")
}

func TestServe(t *testing.T) {
	forEachDB(t, func(t *testing.T, in *instance) { testServe(t, in) })
}

func testServe(t *testing.T, in *instance) {
	in.mustRun("pw-alice\n", "user", "add", "alice@example.com", "--password-stdin")
	srv := in.startServe("--hostname", "mail.example.test", "--public-https-port", "443")
	assert.Regexp(t, `password: \S{20}`, srv.log.String(), "the first start prints the admin password once")
	assert.Contains(t, srv.log.String(), "easd user add", "it says how to add a user")

	// The client trusts exactly the certificate kept in the data directory.
	client := in.httpClient("mail.example.test")
	resp, err := client.Get("https://" + srv.addr + "/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok\n", string(body))

	resp, err = client.Get("https://" + srv.addr + "/metrics")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(body), `easd_http_requests_total{code="200",route="/healthz"} 1`)
	assert.Contains(t, string(body), "\neasd_ping_waiting 0\n", "the load tool tells parked Pings from lost ones by it")
	assert.Contains(t, string(body), "\ngo_gc_gogc_percent 50\n", "serve collects at GOGC=50 when the environment sets none")

	// The front-ends are mounted: ActiveSync answers OPTIONS for a real user, and
	// Autodiscover names the public URL.
	req, err := http.NewRequest(http.MethodOptions, "https://"+srv.addr+"/Microsoft-Server-ActiveSync", nil)
	require.NoError(t, err)
	req.SetBasicAuth("alice@example.com", "pw-alice")
	resp, err = client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("MS-ASProtocolVersions"), "16.1")
	req.SetBasicAuth("alice@example.com", "wrong")
	resp, err = client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, err = client.Get("https://" + srv.addr + "/autodiscover/autodiscover.json?Email=alice@example.com&Protocol=ActiveSync")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), `"Url":"https://mail.example.test/Microsoft-Server-ActiveSync"`)

	// The admin API logs in with the password printed once and lists the user.
	pw := regexp.MustCompile(`password: (\S{20})`).FindStringSubmatch(srv.log.String())
	require.NotNil(t, pw)
	resp, err = client.Post("https://"+srv.addr+"/api/v1/login", "application/json",
		strings.NewReader(`{"name":"admin","password":"`+pw[1]+`"}`))
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	token := regexp.MustCompile(`"token":"([^"]+)"`).FindStringSubmatch(string(body))
	require.NotNil(t, token, string(body))
	req, err = http.NewRequest(http.MethodGet, "https://"+srv.addr+"/api/v1/users", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token[1])
	resp, err = client.Do(req)
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "alice@example.com")

	log, err := srv.stop()
	require.NoError(t, err, "SIGTERM is a clean exit:\n%s", log)
	assert.Contains(t, log, "shutting down")

	// A second start keeps the admin account and the certificate.
	log, err = in.startServe("--hostname", "mail.example.test").stop()
	require.NoError(t, err, log)
	assert.NotContains(t, log, "password:", "the admin password is printed only once")
	assert.NotContains(t, log, "generated a self-signed", "the certificate is kept")
}

func TestServeRejectsBadFlags(t *testing.T) {
	in := newInstance(t)
	_, errOut, code := in.run("", "serve", "--tls-cert", "/nonexistent.pem")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "go together")
	_, errOut, code = in.run("", "serve", "--http", "127.0.0.1:0", "--admin-session-idle", "1m")
	assert.Equal(t, exitUsage, code, "an inactivity timeout under 5 minutes is refused at start")
	assert.Contains(t, errOut, "5m")
	_, errOut, code = in.run("", "serve", "--http", "127.0.0.1:0", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "nonexistent.pem")
}

func TestWBXMLCommand(t *testing.T) {
	in := newInstance(t)
	doc, err := os.ReadFile(filepath.Join("..", "..", "wbxml", "testdata", "bench", "foldersync30.wbxml"))
	require.NoError(t, err)

	xml, errOut, code := in.run(string(doc), "wbxml", "decode")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, xml, `<FolderSync xmlns="FolderHierarchy">`)

	back, errOut, code := in.run(xml, "wbxml", "encode")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, doc, []byte(back), "decode then encode gives the same bytes")

	out, errOut, code := in.run(string(doc[:len(doc)/2]), "wbxml", "decode")
	assert.Equal(t, 1, code)
	assert.Empty(t, out, "no partial XML for a truncated document")
	assert.Contains(t, errOut, "offset")

	_, errOut, code = in.run("<Sync xmlns=\"AirSync\"><NoSuchTag/></Sync>", "wbxml", "encode")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "NoSuchTag")

	_, errOut, code = in.run("", "wbxml", "transmogrify")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "usage")
}
