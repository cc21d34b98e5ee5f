package eas_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/submission"
	"github.com/easd/easd/wbxml"
)

// mailEnv is the real server over a real store with the folder hierarchy commands, Ping and
// the mail commands registered, behind HTTPS; its request contexts derive from base, which
// a test cancels to stop the server the way a shutdown does.
type mailEnv struct {
	st     *store.Store
	srv    *eas.Server
	ping   *eas.Ping
	mail   *eas.Mail
	https  *httptest.Server
	cancel context.CancelFunc
	user   store.User
	logs   *syncBuffer
}

type mailEnvOption func(*eas.PingOptions)

func newMailEnv(t *testing.T, st *store.Store, opts ...mailEnvOption) *mailEnv {
	t.Helper()
	u, err := st.CreateUser(t.Context(), store.NewUser{Address: "alice@example.com", DisplayName: "Alice", Password: "secret"})
	require.NoError(t, err)
	return newMailServer(t, st, u, opts...)
}

// newMailServer is newMailEnv for a user that exists: another node over the same database.
func newMailServer(t *testing.T, st *store.Store, u store.User, opts ...mailEnvOption) *mailEnv {
	t.Helper()
	env := &mailEnv{st: st, user: u, logs: new(syncBuffer)}
	env.srv = eas.New(eas.Options{
		Logger:        slog.New(slog.NewTextHandler(env.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Auth:          st,
		DefaultDomain: "example.com",
	})
	h := eas.NewHierarchy(eas.HierarchyOptions{Store: st})
	for _, c := range h.Commands() {
		env.srv.Handle(c)
	}
	po := eas.PingOptions{Store: st, Hierarchy: h, MinHeartbeat: time.Second, MaxHeartbeat: 100 * time.Second, MaxFolders: 5}
	for _, f := range opts {
		f(&po)
	}
	for _, c := range eas.NewSync(eas.SyncOptions{Store: st}).Commands() {
		env.srv.Handle(c)
	}
	env.ping = eas.NewPing(po)
	env.srv.Handle(env.ping.Command())
	registerMailCommands(t, env)
	e := echo.New()
	env.srv.Register(e)
	base, cancel := context.WithCancel(context.Background())
	env.cancel = cancel
	env.https = httptest.NewUnstartedServer(e)
	env.https.Config.BaseContext = func(net.Listener) context.Context { return base }
	env.https.StartTLS()
	t.Cleanup(func() {
		cancel()
		env.https.Close()
	})
	return env
}

func (env *mailEnv) client(device string) *easclient.Client {
	return &easclient.Client{HTTP: env.https.Client(), URL: env.https.URL, Username: env.user.Address, Password: "secret",
		User: env.user.Address, DeviceID: device, DeviceType: "iPhone"}
}

// folderID returns the user's folder of type typ.
func (env *mailEnv) folderID(t *testing.T, typ store.FolderType) store.FolderID {
	t.Helper()
	f, err := env.st.FolderByType(t.Context(), env.user.Mailbox, typ)
	require.NoError(t, err)
	return f.ID
}

func xmlBody(t testing.TB, x string) []byte {
	t.Helper()
	b, err := wbxml.FromXML(nil, strings.NewReader(x))
	require.NoError(t, err)
	return b
}

func pingBody(t testing.TB, heartbeat int, folders ...store.FolderID) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString(`<Ping xmlns="Ping">`)
	if heartbeat >= 0 {
		fmt.Fprintf(&b, "<HeartbeatInterval>%d</HeartbeatInterval>", heartbeat)
	}
	if len(folders) > 0 {
		b.WriteString("<Folders>")
		for _, f := range folders {
			fmt.Fprintf(&b, "<Folder><Id>%d</Id><Class>Email</Class></Folder>", f)
		}
		b.WriteString("</Folders>")
	}
	b.WriteString("</Ping>")
	return xmlBody(t, b.String())
}

// pingResult is a decoded Ping response.
type pingResult struct {
	Status     int
	Folders    []string
	Heartbeat  int
	MaxFolders int
}

func doPing(ctx context.Context, c *easclient.Client, body []byte) (pingResult, error) {
	resp, err := c.Do(ctx, &easclient.Request{Cmd: eas.CmdPing, Body: body})
	if err != nil {
		return pingResult{}, err
	}
	if resp.StatusCode != 200 {
		return pingResult{}, fmt.Errorf("http %d", resp.StatusCode)
	}
	toks, err := resp.Tokens()
	if err != nil {
		return pingResult{}, err
	}
	var r pingResult
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].Kind != wbxml.KindStart || toks[i+1].Kind != wbxml.KindString {
			continue
		}
		v := string(toks[i+1].Data)
		switch toks[i].Tag {
		case wbxml.PingStatus:
			fmt.Sscan(v, &r.Status)
		case wbxml.PingFolder:
			r.Folders = append(r.Folders, v)
		case wbxml.PingHeartbeatInterval:
			fmt.Sscan(v, &r.Heartbeat)
		case wbxml.PingMaxFolders:
			fmt.Sscan(v, &r.MaxFolders)
		}
	}
	return r, nil
}

func mustPing(t *testing.T, c *easclient.Client, body []byte) pingResult {
	t.Helper()
	r, err := doPing(t.Context(), c, body)
	require.NoError(t, err)
	return r
}

// asyncPing starts a Ping of c and returns its result channel once it is parked: armed with
// its baselines read, so a change committed after asyncPing returns answers it.
func asyncPing(t *testing.T, env *mailEnv, c *easclient.Client, body []byte) <-chan pingResult {
	t.Helper()
	u, err := env.st.UserByAddress(t.Context(), c.Username)
	require.NoError(t, err)
	ch := startPing(c, body)
	require.Eventually(t, func() bool { return env.ping.Parked(u.ID, c.DeviceID) }, 5*time.Second, 5*time.Millisecond, "ping not waiting")
	return ch
}

// startPing starts a Ping of c and returns its result channel at once.
func startPing(c *easclient.Client, body []byte) <-chan pingResult {
	ch := make(chan pingResult, 1)
	go func() {
		r, err := doPing(context.Background(), c, body)
		if err != nil {
			r.Status = -1
		}
		ch <- r
	}()
	return ch
}

func waitPing(t *testing.T, ch <-chan pingResult, within time.Duration) pingResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		t.Fatalf("no Ping answer within %s", within)
		return pingResult{}
	}
}

// wakeWait is how long a test waits for a Ping answer that must come from a wake-up, not from
// its 90 s heartbeat: generous, because these tests check that the answer comes and what it
// says, not how fast (easbench measures wake latency), and the race detector on a loaded
// machine is slow. notHeartbeat bounds an answer that must not be the heartbeat's.
const (
	wakeWait     = 15 * time.Second
	notHeartbeat = 30 * time.Second
)

var testMessage = []byte("From: Bob <bob@example.org>\r\nTo: alice@example.com\r\nSubject: hello\r\nMessage-ID: <m1@example.org>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\nHello Alice.\r\n")

func TestPingWakesOnDelivery(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newMailEnv(t, st)
		c := env.client("dev1")
		doFolderSync(t, c, "0")
		inbox := env.folderID(t, store.FolderInbox)
		sent := env.folderID(t, store.FolderSent)

		ch := asyncPing(t, env, c, pingBody(t, 90, inbox, sent))
		start := time.Now()
		_, err := st.Deliver(t.Context(), env.user.Address, testMessage)
		require.NoError(t, err)
		r := waitPing(t, ch, wakeWait)
		t.Logf("woken %s after the delivery", time.Since(start))
		assert.Equal(t, pingResult{Status: 2, Folders: []string{fmt.Sprint(inbox)}}, r)

		// The parameters were cached: an empty Ping watches the same folders.
		ch = asyncPing(t, env, c, nil)
		_, err = st.Deliver(t.Context(), env.user.Address, testMessage)
		require.NoError(t, err)
		assert.Equal(t, pingResult{Status: 2, Folders: []string{fmt.Sprint(inbox)}}, waitPing(t, ch, wakeWait))

		// A change in a folder nobody watches does not answer; the heartbeat does.
		ch = asyncPing(t, env, c, pingBody(t, 1, sent))
		_, err = st.Deliver(t.Context(), env.user.Address, testMessage)
		require.NoError(t, err)
		assert.Equal(t, pingResult{Status: 1}, waitPing(t, ch, 5*time.Second))
	})
}

// syncKey runs a Sync of one collection with key and returns the new key.
func syncKey(t *testing.T, c *easclient.Client, folder store.FolderID, key string) string {
	t.Helper()
	body := xmlBody(t, fmt.Sprintf(`<Sync xmlns="AirSync"><Collections><Collection><SyncKey>%s</SyncKey>`+
		`<CollectionId>%d</CollectionId><GetChanges/><WindowSize>100</WindowSize></Collection></Collections></Sync>`, key, folder))
	resp, err := c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdSync, Body: body})
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	toks, err := resp.Tokens()
	require.NoError(t, err)
	for i, tok := range toks {
		if tok.Kind == wbxml.KindStart && tok.Tag == wbxml.AirSyncSyncKey && i+1 < len(toks) {
			return string(toks[i+1].Data)
		}
	}
	t.Fatalf("no SyncKey in Sync response")
	return ""
}

// TestPingSyncBaseline: mail delivered between the device's last Sync and its Ping answers
// the Ping at once (the baseline is the Sync state, not the moment the Ping arrived).
func TestPingSyncBaseline(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	env := newMailEnv(t, st)
	c := env.client("dev1")
	doFolderSync(t, c, "0")
	inbox := env.folderID(t, store.FolderInbox)
	key := syncKey(t, c, inbox, "0")
	key = syncKey(t, c, inbox, key)
	// Synced and nothing new: the Ping waits for its heartbeat.
	assert.Equal(t, pingResult{Status: 1}, mustPing(t, c, pingBody(t, 1, inbox)))

	_, err := st.Deliver(t.Context(), env.user.Address, testMessage)
	require.NoError(t, err)
	start := time.Now()
	assert.Equal(t, pingResult{Status: 2, Folders: []string{fmt.Sprint(inbox)}}, mustPing(t, c, pingBody(t, 90, inbox)))
	assert.Less(t, time.Since(start), notHeartbeat, "answered at once, not at the 90 s heartbeat")
	// After the Sync that fetches it, the Ping waits again.
	syncKey(t, c, inbox, key)
	assert.Equal(t, pingResult{Status: 1}, mustPing(t, c, pingBody(t, 1, inbox)))
}

// TestPingWakesOnOtherProcess delivers through a second store on the same database, as
// `easd deliver` does: the SQLite poller (or PostgreSQL's LISTEN/NOTIFY) wakes the Ping.
func TestPingWakesOnOtherProcess(t *testing.T) {
	t.Parallel()
	storetest.ForEachURL(t, func(t *testing.T, dsn string) {
		st := storetest.Open(t, dsn)
		require.NoError(t, st.Migrate(t.Context()))
		st.PollOtherWriters(0)
		env := newMailEnv(t, st)
		other := storetest.Open(t, dsn)
		c := env.client("dev1")
		doFolderSync(t, c, "0")
		inbox := env.folderID(t, store.FolderInbox)

		ch := asyncPing(t, env, c, pingBody(t, 90, inbox))
		start := time.Now()
		_, err := other.Deliver(t.Context(), env.user.Address, testMessage)
		require.NoError(t, err)
		r := waitPing(t, ch, wakeWait)
		t.Logf("woken %s after the other process's delivery", time.Since(start))
		assert.Equal(t, pingResult{Status: 2, Folders: []string{fmt.Sprint(inbox)}}, r)
	})
}

func TestPingSupersededAndShutdown(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	env := newMailEnv(t, st)
	c := env.client("dev1")
	doFolderSync(t, c, "0")
	inbox := env.folderID(t, store.FolderInbox)

	first := asyncPing(t, env, c, pingBody(t, 90, inbox))
	second := startPing(c, pingBody(t, 90, inbox))
	assert.Equal(t, pingResult{Status: 1}, waitPing(t, first, wakeWait), "the older Ping answers 1")
	// The first has answered, so the device's Ping is the second now: wait until it is parked.
	require.Eventually(t, func() bool { return env.ping.Parked(env.user.ID, "dev1") }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, 1, env.ping.Waiting())
	select {
	case r := <-second:
		t.Fatalf("the newer Ping answered %+v", r)
	case <-time.After(100 * time.Millisecond):
	}

	// Another device's Ping does not supersede.
	c2 := env.client("dev2")
	doFolderSync(t, c2, "0")
	third := asyncPing(t, env, c2, pingBody(t, 90, inbox))
	assert.Equal(t, 2, env.ping.Waiting())

	// Cancelling the request contexts (server stopping) answers 1 at once.
	env.cancel()
	assert.Equal(t, pingResult{Status: 1}, waitPing(t, second, wakeWait))
	assert.Equal(t, pingResult{Status: 1}, waitPing(t, third, wakeWait))
}

// countingPingStore counts the writes of Ping parameters.
type countingPingStore struct {
	*store.Store
	writes *atomic.Int64
}

func (s countingPingStore) SetPingState(ctx context.Context, user store.UserID, deviceID string, st store.PingState) error {
	s.writes.Add(1)
	return s.Store.SetPingState(ctx, user, deviceID, st)
}

// MS-ASCMD 3.1.5.8: the parameters are cached; a Ping that repeats them writes nothing, one
// that changes them is stored, and an empty Ping uses what was stored last.
func TestPingStoresChangedParamsOnly(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		var writes atomic.Int64
		env := newMailEnv(t, st, func(po *eas.PingOptions) { po.Store = countingPingStore{st, &writes} })
		c := env.client("dev1")
		doFolderSync(t, c, "0")
		inbox := env.folderID(t, store.FolderInbox)
		sent := env.folderID(t, store.FolderSent)

		first := asyncPing(t, env, c, pingBody(t, 90, inbox))
		assert.EqualValues(t, 1, writes.Load(), "the first Ping's parameters are stored")
		second := asyncPing(t, env, c, pingBody(t, 90, inbox))
		assert.Equal(t, pingResult{Status: 1}, waitPing(t, first, wakeWait))
		assert.EqualValues(t, 1, writes.Load(), "the same parameters again: nothing written")
		third := asyncPing(t, env, c, pingBody(t, 90, inbox, sent))
		assert.Equal(t, pingResult{Status: 1}, waitPing(t, second, wakeWait))
		assert.EqualValues(t, 2, writes.Load(), "another folder list is stored")
		fourth := asyncPing(t, env, c, pingBody(t, 95))
		assert.Equal(t, pingResult{Status: 1}, waitPing(t, third, wakeWait))
		assert.EqualValues(t, 3, writes.Load(), "another heartbeat is stored")
		got, err := st.PingState(t.Context(), env.user.ID, "dev1")
		require.NoError(t, err)
		assert.Equal(t, store.PingState{Heartbeat: 95, Folders: []store.PingFolder{{ID: inbox, Class: "Email"}, {ID: sent, Class: "Email"}}}, got)

		// An empty Ping waits on what was stored: a delivery to the Inbox answers it.
		fifth := asyncPing(t, env, c, nil)
		assert.Equal(t, pingResult{Status: 1}, waitPing(t, fourth, wakeWait))
		assert.EqualValues(t, 3, writes.Load())
		_, err = st.Deliver(t.Context(), env.user.Address, testMessage)
		require.NoError(t, err)
		assert.Equal(t, pingResult{Status: 2, Folders: []string{fmt.Sprint(inbox)}}, waitPing(t, fifth, wakeWait))
	})
}

func TestPingClose(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	env := newMailEnv(t, st)
	c := env.client("dev1")
	doFolderSync(t, c, "0")
	inbox := env.folderID(t, store.FolderInbox)
	ch := asyncPing(t, env, c, pingBody(t, 90, inbox))
	env.ping.Close()
	assert.Equal(t, pingResult{Status: 1}, waitPing(t, ch, wakeWait))
	assert.Equal(t, 0, env.ping.Waiting())
	start := time.Now()
	assert.Equal(t, pingResult{Status: 1}, mustPing(t, c, pingBody(t, 90, inbox)), "after Close a Ping answers 1 at once")
	assert.Less(t, time.Since(start), notHeartbeat, "answered at once, not at the 90 s heartbeat")
}

func TestPingStatuses(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	env := newMailEnv(t, st)
	inbox := env.folderID(t, store.FolderInbox)
	fresh := env.client("fresh")

	// 3: nothing cached for an empty Ping, nor for one without Folders or HeartbeatInterval.
	assert.Equal(t, pingResult{Status: 3}, mustPing(t, fresh, nil))
	assert.Equal(t, pingResult{Status: 3}, mustPing(t, fresh, pingBody(t, 90)))
	assert.Equal(t, pingResult{Status: 3}, mustPing(t, fresh, pingBody(t, -1, inbox)))
	// 7: the device never ran FolderSync.
	assert.Equal(t, pingResult{Status: 7}, mustPing(t, fresh, pingBody(t, 90, inbox)))

	c := env.client("dev1")
	doFolderSync(t, c, "0")
	// 5 with the limit that was crossed.
	assert.Equal(t, pingResult{Status: 5, Heartbeat: 1}, mustPing(t, c, pingBody(t, 0, inbox)))
	assert.Equal(t, pingResult{Status: 5, Heartbeat: 100}, mustPing(t, c, pingBody(t, 101, inbox)))
	assert.Equal(t, pingResult{Status: 5, Heartbeat: 100}, mustPing(t, c, pingBody(t, 1<<40, inbox)))
	// 6 with MaxFolders (5 in this env).
	ids := []store.FolderID{inbox, inbox + 1, inbox + 2, inbox + 3, inbox + 4, inbox + 5}
	assert.Equal(t, pingResult{Status: 6, MaxFolders: 5}, mustPing(t, c, pingBody(t, 90, ids...)))
	// 7: a folder that does not exist; a folder created since the device's FolderSync.
	assert.Equal(t, pingResult{Status: 7}, mustPing(t, c, pingBody(t, 90, 999999)))
	assert.Equal(t, pingResult{Status: 7}, mustPing(t, c, xmlBody(t,
		`<Ping xmlns="Ping"><HeartbeatInterval>90</HeartbeatInterval><Folders><Folder><Id>x:1</Id><Class>Email</Class></Folder></Folders></Ping>`)))
	_, err := st.CreateFolder(t.Context(), env.user.Mailbox, 0, "Projects", store.FolderUserMail)
	require.NoError(t, err)
	assert.Equal(t, pingResult{Status: 7}, mustPing(t, c, pingBody(t, 1, inbox)))
	// After FolderSync the Ping waits and expires: 1.
	doFolderSync(t, c, "0")
	assert.Equal(t, pingResult{Status: 1}, mustPing(t, c, pingBody(t, 1, inbox)))
	// A folder created while the Ping waits answers 7.
	ch := asyncPing(t, env, c, pingBody(t, 90, inbox))
	_, err = st.CreateFolder(t.Context(), env.user.Mailbox, 0, "Later", store.FolderUserMail)
	require.NoError(t, err)
	assert.Equal(t, pingResult{Status: 7}, waitPing(t, ch, wakeWait))
	// 4: not a Ping.
	assert.Equal(t, pingResult{Status: 4}, mustPing(t, c, xmlBody(t, `<Folders xmlns="Ping"/>`)))
	assert.Equal(t, pingResult{Status: 4}, mustPing(t, c, xmlBody(t, `<Ping xmlns="Ping"><Folders/></Ping>`)))
}

// TestPingServerError: a store failure answers 8.
func TestPingServerError(t *testing.T) {
	t.Parallel()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "easd.db")
	st, err := store.Open(t.Context(), dsn, store.Options{KDF: store.TestKDF})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.Migrate(t.Context()))
	env := newMailEnv(t, st)
	c := env.client("dev1")
	doFolderSync(t, c, "0")
	inbox := env.folderID(t, store.FolderInbox)
	require.NoError(t, st.DB().Exec(`DROP TABLE ping_states`).Error)
	assert.Equal(t, pingResult{Status: 8}, mustPing(t, c, pingBody(t, 90, inbox)))
	assert.True(t, bytes.Contains([]byte(env.logs.String()), []byte("ping_states")), "the cause is logged")
}

// registerMailCommands registers SendMail, SmartReply, SmartForward, MoveItems,
// ItemOperations and GetAttachment on env, over a real submission.Submitter.
func registerMailCommands(t *testing.T, env *mailEnv) {
	t.Helper()
	sub := submission.New(submission.Options{Store: env.st})
	env.mail = eas.NewMail(eas.MailOptions{Store: env.st, Submitter: sub})
	for _, c := range env.mail.Commands() {
		env.srv.Handle(c)
	}
}
