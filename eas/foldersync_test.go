package eas_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// fakeDevices records SetInfo calls.
type fakeDevices struct {
	mu   sync.Mutex
	got  map[devices.Key]devices.Info
	fail bool
}

func (f *fakeDevices) SetInfo(_ context.Context, k devices.Key, info devices.Info) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("registry down")
	}
	if f.got == nil {
		f.got = map[devices.Key]devices.Info{}
	}
	f.got[k] = info
	return nil
}

func (f *fakeDevices) info(k devices.Key) (devices.Info, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.got[k]
	return i, ok
}

// hierEnv is the real HTTPS server with the hierarchy and Settings commands on a real store.
type hierEnv struct {
	st      *store.Store
	https   *httptest.Server
	devices *fakeDevices
	box     *store.SecretBox
	alice   store.User
	bob     store.User
}

func newHierEnv(t *testing.T, st *store.Store) *hierEnv {
	t.Helper()
	ctx := t.Context()
	env := &hierEnv{st: st, devices: &fakeDevices{}}
	var err error
	env.alice, err = st.CreateUser(ctx, store.NewUser{Address: "alice@example.com", DisplayName: "Alice Liddell", Password: "secret"})
	require.NoError(t, err)
	env.bob, err = st.CreateUser(ctx, store.NewUser{Address: "bob@example.com", Password: "secret"})
	require.NoError(t, err)
	env.box, err = store.NewSecretBox([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)

	srv := eas.New(eas.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Auth: st, DefaultDomain: "example.com"})
	for _, c := range eas.NewHierarchy(eas.HierarchyOptions{Store: st}).Commands() {
		srv.Handle(c)
	}
	srv.Handle(eas.NewSettings(eas.SettingsOptions{Store: st, Devices: env.devices, Secrets: env.box}).Command())
	e := echo.New()
	srv.Register(e)
	env.https = httptest.NewTLSServer(e)
	t.Cleanup(env.https.Close)
	return env
}

func (env *hierEnv) client(user, deviceID, deviceType, userAgent string) *easclient.Client {
	return &easclient.Client{HTTP: env.https.Client(), URL: env.https.URL, Username: user, Password: "secret",
		User: user, DeviceID: deviceID, DeviceType: deviceType, UserAgent: userAgent, Version: eas.Version161}
}

type fsFolder struct {
	ServerID, ParentID, Name string
	Type                     int
}

// fsResult is a parsed FolderSync, FolderCreate, FolderUpdate or FolderDelete response.
type fsResult struct {
	Status   int
	Key      string
	ServerID string
	Count    int
	Add      []fsFolder
	Update   []fsFolder
	Delete   []string
}

func parseHierarchy(t *testing.T, resp *easclient.Response) fsResult {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, eas.ContentTypeWBXML, resp.Header.Get("Content-Type"))
	toks, err := resp.Tokens()
	require.NoError(t, err)
	var (
		r     fsResult
		cur   *fsFolder
		stack []wbxml.Tag
	)
	for i, tok := range toks {
		switch tok.Kind {
		case wbxml.KindStart:
			switch tok.Tag {
			case wbxml.FolderHierarchyAdd, wbxml.FolderHierarchyUpdate, wbxml.FolderHierarchyDelete:
				cur = &fsFolder{}
			}
			if tok.Content {
				stack = append(stack, tok.Tag)
			}
		case wbxml.KindEnd:
			switch tok.Tag {
			case wbxml.FolderHierarchyAdd:
				r.Add = append(r.Add, *cur)
			case wbxml.FolderHierarchyUpdate:
				r.Update = append(r.Update, *cur)
			case wbxml.FolderHierarchyDelete:
				r.Delete = append(r.Delete, cur.ServerID)
			}
			stack = stack[:len(stack)-1]
		case wbxml.KindString:
			require.NotEmpty(t, stack, "text at %d", i)
			v := string(tok.Data)
			n, _ := strconv.Atoi(v)
			switch stack[len(stack)-1] {
			case wbxml.FolderHierarchyStatus:
				r.Status = n
			case wbxml.FolderHierarchySyncKey:
				r.Key = v
			case wbxml.FolderHierarchyCount:
				r.Count = n
			case wbxml.FolderHierarchyServerId:
				if cur != nil {
					cur.ServerID = v
				} else {
					r.ServerID = v
				}
			case wbxml.FolderHierarchyParentId:
				cur.ParentID = v
			case wbxml.FolderHierarchyDisplayName:
				cur.Name = v
			case wbxml.FolderHierarchyType:
				cur.Type = n
			}
		}
	}
	return r
}

func encode(t *testing.T, fn func(enc *wbxml.Encoder)) []byte {
	t.Helper()
	enc := wbxml.NewEncoder(nil)
	fn(enc)
	require.NoError(t, enc.Err())
	return enc.Bytes()
}

func doFolderSync(t *testing.T, c *easclient.Client, key string) fsResult {
	t.Helper()
	return parseHierarchy(t, folderSync(t, c, key))
}

func folderCmd(t *testing.T, c *easclient.Client, cmd eas.CommandCode, root wbxml.Tag, fields ...any) fsResult {
	t.Helper()
	body := encode(t, func(enc *wbxml.Encoder) {
		enc.Start(root)
		for i := 0; i < len(fields); i += 2 {
			enc.String(fields[i].(wbxml.Tag), fields[i+1].(string))
		}
		enc.End()
	})
	resp, err := c.Do(t.Context(), &easclient.Request{Cmd: cmd, Body: body})
	require.NoError(t, err)
	return parseHierarchy(t, resp)
}

func folderCreate(t *testing.T, c *easclient.Client, key, parent, name string, typ int) fsResult {
	t.Helper()
	return folderCmd(t, c, eas.CmdFolderCreate, wbxml.FolderHierarchyFolderCreate,
		wbxml.FolderHierarchySyncKey, key, wbxml.FolderHierarchyParentId, parent,
		wbxml.FolderHierarchyDisplayName, name, wbxml.FolderHierarchyType, strconv.Itoa(typ))
}

func folderUpdate(t *testing.T, c *easclient.Client, key, id, parent, name string) fsResult {
	t.Helper()
	return folderCmd(t, c, eas.CmdFolderUpdate, wbxml.FolderHierarchyFolderUpdate,
		wbxml.FolderHierarchySyncKey, key, wbxml.FolderHierarchyServerId, id,
		wbxml.FolderHierarchyParentId, parent, wbxml.FolderHierarchyDisplayName, name)
}

func folderDelete(t *testing.T, c *easclient.Client, key, id string) fsResult {
	t.Helper()
	return folderCmd(t, c, eas.CmdFolderDelete, wbxml.FolderHierarchyFolderDelete,
		wbxml.FolderHierarchySyncKey, key, wbxml.FolderHierarchyServerId, id)
}

func names(fs []fsFolder) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

// TestFolderSyncTwoDevices is the transcript of two devices of one user: the initial
// hierarchy, incremental syncs, each device's own changes not echoed to it but seen by the
// other, a lost response, and keys the server does not know.
func TestFolderSyncTwoDevices(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newHierEnv(t, st)
		a := env.client("alice@example.com", "DevA", "iPhone", "Apple-iPhone11C8/2007.75")
		b := env.client("alice@example.com", "DevB", "Android", "Android-Mail/2024.07.28.660409857.Release")

		// FolderSync 0: every default folder, top level, with its MS-ASCMD 2.2.3.186.3 type.
		first := doFolderSync(t, a, "0")
		require.Equal(t, 1, first.Status)
		require.NotEmpty(t, first.Key)
		assert.NotEqual(t, "0", first.Key)
		want := map[int]string{2: "Inbox", 3: "Drafts", 4: "Deleted Items", 5: "Sent Items", 6: "Outbox",
			7: "Tasks", 8: "Calendar", 9: "Contacts", 10: "Notes", 11: "Journal"}
		require.Len(t, first.Add, len(want))
		assert.Equal(t, len(want), first.Count)
		for _, f := range first.Add {
			assert.Equal(t, want[f.Type], f.Name, "type %d", f.Type)
			assert.Equal(t, "0", f.ParentID)
			assert.NotEmpty(t, f.ServerID)
		}
		inbox := first.Add[0].ServerID

		// Nothing changed: same key, Count 0, no entries.
		again := doFolderSync(t, a, first.Key)
		assert.Equal(t, fsResult{Status: 1, Key: first.Key, Count: 0}, again)

		bKey := doFolderSync(t, b, "0").Key

		// A creates a folder: A's next FolderSync does not echo it, B's shows it as an Add.
		cr := folderCreate(t, a, first.Key, "0", "Projects", 12)
		require.Equal(t, 1, cr.Status)
		require.NotEmpty(t, cr.ServerID)
		require.NotEqual(t, first.Key, cr.Key)
		aKey := cr.Key
		assert.Equal(t, fsResult{Status: 1, Key: aKey}, doFolderSync(t, a, aKey))
		bRes := doFolderSync(t, b, bKey)
		assert.Equal(t, 1, bRes.Count)
		assert.Equal(t, []fsFolder{{ServerID: cr.ServerID, ParentID: "0", Name: "Projects", Type: 12}}, bRes.Add)
		bPrev, bKey := bKey, bRes.Key

		// B's response was lost: it resends the previous key and gets the same answer.
		assert.Equal(t, bRes, doFolderSync(t, b, bPrev))
		assert.Equal(t, fsResult{Status: 1, Key: bKey}, doFolderSync(t, b, bKey))

		// A subfolder, then a rename and move by A: B sees an Add with ParentId, then an Update.
		sub := folderCreate(t, a, aKey, cr.ServerID, "Sub", 12)
		require.Equal(t, 1, sub.Status)
		aKey = sub.Key
		bRes = doFolderSync(t, b, bKey)
		assert.Equal(t, []fsFolder{{ServerID: sub.ServerID, ParentID: cr.ServerID, Name: "Sub", Type: 12}}, bRes.Add)
		bKey = bRes.Key

		up := folderUpdate(t, a, aKey, cr.ServerID, inbox, "Work")
		require.Equal(t, 1, up.Status)
		aKey = up.Key
		assert.Equal(t, fsResult{Status: 1, Key: aKey}, doFolderSync(t, a, aKey))
		bRes = doFolderSync(t, b, bKey)
		assert.Equal(t, []fsFolder{{ServerID: cr.ServerID, ParentID: inbox, Name: "Work", Type: 12}}, bRes.Update)
		assert.Empty(t, bRes.Add)
		bKey = bRes.Key

		// A change made elsewhere (IMAP, the admin) reaches both devices.
		id, err := strconv.ParseInt(sub.ServerID, 10, 64)
		require.NoError(t, err)
		_, err = st.RenameFolder(t.Context(), store.FolderID(id), store.FolderID(mustAtoi(t, cr.ServerID)), "Renamed")
		require.NoError(t, err)
		aRes := doFolderSync(t, a, aKey)
		assert.Equal(t, []fsFolder{{ServerID: sub.ServerID, ParentID: cr.ServerID, Name: "Renamed", Type: 12}}, aRes.Update)
		aKey = aRes.Key

		// A deletes the folder with its subfolder: B gets both Deletes, child first.
		del := folderDelete(t, a, aKey, cr.ServerID)
		require.Equal(t, 1, del.Status)
		aKey = del.Key
		assert.Equal(t, fsResult{Status: 1, Key: aKey}, doFolderSync(t, a, aKey))
		bRes = doFolderSync(t, b, bKey)
		assert.Equal(t, []string{sub.ServerID, cr.ServerID}, bRes.Delete)
		assert.Equal(t, 2, bRes.Count)
		bKey = bRes.Key

		// Keys the server never gave, or no longer accepts: 9 (MS-ASCMD 2.2.3.177.5).
		for _, k := range []string{"999", "abc", "{39766599-af31-49fb-844d-ff68557012d8}1", "-1", "01", bPrev} {
			assert.Equal(t, 9, doFolderSync(t, b, k).Status, "key %q", k)
		}
		// A device that never synced has no key at all.
		c := env.client("alice@example.com", "DevC", "iPhone", "")
		assert.Equal(t, 9, doFolderSync(t, c, "1").Status)
		// Starting over works at any time and invalidates the old keys.
		re := doFolderSync(t, b, "0")
		assert.Equal(t, 1, re.Status)
		assert.Len(t, re.Add, len(want))
		assert.Equal(t, 9, doFolderSync(t, b, bKey).Status)

		// Bob's devices never see Alice's folders.
		bob := env.client("bob@example.com", "DevA", "iPhone", "")
		bobRes := doFolderSync(t, bob, "0")
		assert.Len(t, bobRes.Add, len(want))
		for _, f := range bobRes.Add {
			assert.NotEqual(t, inbox, f.ServerID)
		}
	})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// TestFolderCommandStatuses checks each error status of FolderCreate, FolderUpdate,
// FolderDelete and FolderSync (MS-ASCMD 2.2.3.177.3-6).
func TestFolderCommandStatuses(t *testing.T) {
	t.Parallel()
	env := newHierEnv(t, openStore(t))
	a := env.client("alice@example.com", "DevA", "iPhone", "")
	init := doFolderSync(t, a, "0")
	require.Equal(t, 1, init.Status)
	byType := map[int]string{}
	for _, f := range init.Add {
		byType[f.Type] = f.ServerID
	}
	cr := folderCreate(t, a, init.Key, "0", "Existing", 12)
	require.Equal(t, 1, cr.Status)
	other := folderCreate(t, a, cr.Key, "0", "Other", 12)
	require.Equal(t, 1, other.Status)
	key := other.Key

	bob := env.client("bob@example.com", "DevBob", "iPhone", "")
	bobInit := doFolderSync(t, bob, "0")
	bobInbox := bobInit.Add[0].ServerID

	tests := []struct {
		name string
		do   func() fsResult
		want int
	}{
		{"create exists", func() fsResult { return folderCreate(t, a, key, "0", "Existing", 12) }, 2},
		{"create parent not found", func() fsResult { return folderCreate(t, a, key, "99999", "X", 12) }, 5},
		{"create parent of another user", func() fsResult { return folderCreate(t, a, key, bobInbox, "X", 12) }, 5},
		{"create bad key", func() fsResult { return folderCreate(t, a, "12345", "0", "X", 12) }, 9},
		{"create key 0", func() fsResult { return folderCreate(t, a, "0", "0", "X", 12) }, 9},
		{"create default type", func() fsResult { return folderCreate(t, a, key, "0", "X", 2) }, 10},
		{"create empty name", func() fsResult { return folderCreate(t, a, key, "0", " ", 12) }, 10},
		{"create without name", func() fsResult {
			return folderCmd(t, a, eas.CmdFolderCreate, wbxml.FolderHierarchyFolderCreate,
				wbxml.FolderHierarchySyncKey, key, wbxml.FolderHierarchyParentId, "0", wbxml.FolderHierarchyType, "12")
		}, 10},
		{"update default folder", func() fsResult { return folderUpdate(t, a, key, byType[2], "0", "Posteingang") }, 2},
		{"update to existing name", func() fsResult { return folderUpdate(t, a, key, other.ServerID, "0", "Existing") }, 2},
		{"update not found", func() fsResult { return folderUpdate(t, a, key, "99999", "0", "X") }, 4},
		{"update folder of another user", func() fsResult { return folderUpdate(t, a, key, bobInbox, "0", "X") }, 4},
		{"update parent not found", func() fsResult { return folderUpdate(t, a, key, other.ServerID, "99999", "X") }, 5},
		{"update under itself", func() fsResult { return folderUpdate(t, a, key, other.ServerID, other.ServerID, "X") }, 10},
		{"update bad key", func() fsResult { return folderUpdate(t, a, init.Key, other.ServerID, "0", "X") }, 9},
		{"update without parent", func() fsResult {
			return folderCmd(t, a, eas.CmdFolderUpdate, wbxml.FolderHierarchyFolderUpdate,
				wbxml.FolderHierarchySyncKey, key, wbxml.FolderHierarchyServerId, other.ServerID, wbxml.FolderHierarchyDisplayName, "X")
		}, 10},
		{"delete default folder", func() fsResult { return folderDelete(t, a, key, byType[6]) }, 3},
		{"delete not found", func() fsResult { return folderDelete(t, a, key, "99999") }, 4},
		{"delete folder of another user", func() fsResult { return folderDelete(t, a, key, bobInbox) }, 4},
		{"delete bad key", func() fsResult { return folderDelete(t, a, "777", other.ServerID) }, 9},
		{"delete without server id", func() fsResult {
			return folderCmd(t, a, eas.CmdFolderDelete, wbxml.FolderHierarchyFolderDelete, wbxml.FolderHierarchySyncKey, key)
		}, 10},
		{"sync without key", func() fsResult {
			return folderCmd(t, a, eas.CmdFolderSync, wbxml.FolderHierarchyFolderSync)
		}, 10},
		{"sync with the wrong root", func() fsResult {
			return folderCmd(t, a, eas.CmdFolderSync, wbxml.FolderHierarchyFolderCreate, wbxml.FolderHierarchySyncKey, "0")
		}, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.do()
			assert.Equal(t, tc.want, got.Status)
			assert.Empty(t, got.Key, "a failed command returns no key")
		})
	}
	// None of the failures changed the state: the key still works and nothing was created.
	res := doFolderSync(t, a, key)
	assert.Equal(t, fsResult{Status: 1, Key: key}, res)
	assert.Equal(t, 1, doFolderSync(t, bob, bobInit.Key).Status)
	assert.Equal(t, 0, doFolderSync(t, bob, bobInit.Key).Count)
}

// TestFolderSyncQuirks: what each client family sees of a user with several calendars,
// contacts, task lists and notes (docs/quirks.md).
func TestFolderSyncQuirks(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	env := newHierEnv(t, st)
	ctx := t.Context()
	mb := env.alice.Mailbox
	for _, f := range []struct {
		name string
		typ  store.FolderType
	}{
		{"Family", store.FolderUserCalendar}, {"Club", store.FolderUserContacts},
		{"Chores", store.FolderUserTasks}, {"Ideas", store.FolderUserNotes}, {"Archive", store.FolderUserMail},
	} {
		_, err := st.CreateFolder(ctx, mb, 0, f.name, f.typ)
		require.NoError(t, err)
	}
	fam, err := st.FolderByType(ctx, mb, store.FolderUserCalendar)
	require.NoError(t, err)
	// A mail folder below a hidden calendar is hidden with it.
	_, err = st.CreateFolder(ctx, mb, fam.ID, "Below family", store.FolderUserMail)
	require.NoError(t, err)

	all := []string{"Family", "Club", "Chores", "Ideas", "Archive", "Below family"}
	tests := []struct {
		name, deviceType, userAgent string
		hidden                      []string
	}{
		{"iPhone hides extra notes", "iPhone", "Apple-iPhone11C8/2007.75", []string{"Ideas"}},
		{"Android 4.2 hides extra PIM folders", "Android", "Android/4.2.2-EAS-1.3", []string{"Family", "Club", "Chores", "Below family"}},
		{"Android 5 sees everything", "Android", "Android/5.0.1-EAS-2.0", nil},
		{"Gmail sees everything", "Android", "Android-Mail/2024.07.28.660409857.Release", nil},
		{"old Samsung", "SAMSUNGGTI9100", "SAMSUNG-GT-I9100/100.20304", []string{"Family", "Club", "Chores", "Ideas", "Below family"}},
		{"Outlook hides extra contacts", "WindowsOutlook15", "Outlook/16.0 (16.0.7167.6539; C2R; x86)", []string{"Club"}},
		{"Windows Mail sees everything", "WindowsMail", "", nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := env.client("alice@example.com", "Quirk"+strconv.Itoa(i), tc.deviceType, tc.userAgent)
			res := doFolderSync(t, c, "0")
			require.Equal(t, 1, res.Status)
			got := names(res.Add)
			// The defaults, Outbox and Drafts included (horde/horde#120), are always there.
			for _, n := range []string{"Inbox", "Drafts", "Outbox", "Calendar", "Contacts", "Tasks", "Notes"} {
				assert.Contains(t, got, n)
			}
			for _, n := range all {
				if contains(tc.hidden, n) {
					assert.NotContains(t, got, n)
				} else {
					assert.Contains(t, got, n)
				}
			}
			// Hidden folders stay hidden in incremental syncs too.
			assert.Equal(t, 0, doFolderSync(t, c, res.Key).Count)
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestQuirksFor(t *testing.T) {
	t.Parallel()
	q := eas.DefaultQuirks()
	tests := []struct {
		deviceType, userAgent string
		rules                 []string
		single                []eas.FolderClass
	}{
		{"iPhone", "Apple-iPhone11C8/2007.75", []string{"iOS Notes"}, []eas.FolderClass{eas.ClassNotes}},
		{"iPad", "Apple-iPad4C1/1104.257", []string{"iOS Notes"}, []eas.FolderClass{eas.ClassNotes}},
		{"Android", "Android/4.4.2-EAS-1.3", nil, nil},
		{"Android", "Android/4.3-EAS-1.3", []string{"Android before 4.4"}, []eas.FolderClass{eas.ClassCalendar, eas.ClassContacts, eas.ClassTasks}},
		{"Android", "Android/4.10-EAS", nil, nil},
		{"SAMSUNGSMN900V", "SAMSUNG-SM-N900V/101.403", []string{"Samsung native Exchange client"}, []eas.FolderClass{eas.ClassCalendar, eas.ClassContacts, eas.ClassTasks, eas.ClassNotes}},
		{"WindowsOutlook15", "", []string{"Outlook desktop contacts"}, []eas.FolderClass{eas.ClassContacts}},
		{"WP8", "", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.deviceType+" "+tc.userAgent, func(t *testing.T) {
			t.Parallel()
			cq := q.For(tc.deviceType, tc.userAgent)
			assert.Equal(t, tc.rules, cq.Rules)
			for cl := eas.ClassOther; cl <= eas.ClassJournal; cl++ {
				want := false
				for _, s := range tc.single {
					want = want || s == cl
				}
				assert.Equal(t, want, cq.SingleFolder(cl), "class %d", cl)
			}
		})
	}
	// A rule without patterns matches nothing rather than everything.
	empty := eas.NewQuirks([]eas.QuirkRule{{Name: "empty", SingleFolder: []eas.FolderClass{eas.ClassMail}}})
	assert.Empty(t, empty.For("iPhone", "x").Rules)
}

// TestFolderSyncCorruptState: a stored snapshot that no longer decodes makes the device
// start over (status 9) rather than fail for ever; FolderSync 0 replaces it.
func TestFolderSyncCorruptState(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	env := newHierEnv(t, st)
	a := env.client("alice@example.com", "DevCorrupt", "iPhone", "")
	first := doFolderSync(t, a, "0")
	require.Equal(t, 1, first.Status)
	require.NoError(t, st.DB().Exec(`UPDATE folder_sync_states SET folders = 'not a snapshot' WHERE device_id = ?`, "DevCorrupt").Error)
	assert.Equal(t, 9, doFolderSync(t, a, first.Key).Status)
	assert.Equal(t, 9, folderCreate(t, a, first.Key, "0", "X", 12).Status)
	again := doFolderSync(t, a, "0")
	assert.Equal(t, 1, again.Status)
	assert.Len(t, again.Add, len(first.Add))
	assert.Equal(t, fsResult{Status: 1, Key: again.Key}, doFolderSync(t, a, again.Key))
}

// TestHierarchyChanged: what Ping and Sync ask before telling a device to FolderSync.
func TestHierarchyChanged(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	env := newHierEnv(t, st)
	h := eas.NewHierarchy(eas.HierarchyOptions{Store: st})
	ctx := t.Context()
	r := &eas.Request{Account: env.alice, DeviceID: "DevChg", DeviceType: "iPhone"}
	changed, err := h.Changed(ctx, r)
	require.NoError(t, err)
	assert.True(t, changed, "never synced")

	a := env.client("alice@example.com", "DevChg", "iPhone", "")
	key := doFolderSync(t, a, "0").Key
	changed, err = h.Changed(ctx, r)
	require.NoError(t, err)
	assert.False(t, changed)

	// A folder the iPhone is not shown (a second notes folder) is no change for it.
	_, err = st.CreateFolder(ctx, env.alice.Mailbox, 0, "More notes", store.FolderUserNotes)
	require.NoError(t, err)
	changed, err = h.Changed(ctx, r)
	require.NoError(t, err)
	assert.False(t, changed)

	_, err = st.CreateFolder(ctx, env.alice.Mailbox, 0, "Mail", store.FolderUserMail)
	require.NoError(t, err)
	changed, err = h.Changed(ctx, r)
	require.NoError(t, err)
	assert.True(t, changed)
	doFolderSync(t, a, key)
	changed, err = h.Changed(ctx, r)
	require.NoError(t, err)
	assert.False(t, changed, "after the FolderSync")
}
