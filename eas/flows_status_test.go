package eas_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/wbxml"
)

// flowDevice is a provisioned device of alice on a setupEnv whose FolderSync is done.
type flowDevice struct {
	c       *easclient.Client
	folders map[store.FolderType]string // ServerIds of the default folders
}

func newFlowDevice(t *testing.T, env *setupEnv, id string, v eas.Version) *flowDevice {
	t.Helper()
	c := &easclient.Client{HTTP: env.https.Client(), URL: env.https.URL, Username: "alice@example.com",
		Password: "secret", DeviceID: id, DeviceType: "SmartPhone", Version: v}
	handshake(t, c)
	fs := doFolderSync(t, c, "0")
	require.Equal(t, 1, fs.Status)
	d := &flowDevice{c: c, folders: map[store.FolderType]string{}}
	folders, err := env.st.Folders(t.Context(), env.alice.Mailbox)
	require.NoError(t, err)
	for _, f := range folders {
		if f.Type.IsDefault() {
			d.folders[f.Type] = strconv.FormatInt(int64(f.ID), 10)
		}
	}
	return d
}

// do sends an XML request body and returns the answer as a tree (nil for an empty body).
func (d *flowDevice) do(t *testing.T, cmd eas.CommandCode, x string) (*easclient.Response, *easclient.Node) {
	t.Helper()
	resp, err := d.c.Do(t.Context(), &easclient.Request{Cmd: cmd, Body: xmlBody(t, x)})
	require.NoError(t, err)
	if len(resp.Body) == 0 || resp.Header.Get("Content-Type") != eas.ContentTypeWBXML {
		return resp, nil
	}
	return resp, parseWBXML(t, resp.Body)
}

// sync runs one Sync of one collection with the given inner XML (after CollectionId) and
// returns the Collection's answer.
func (d *flowDevice) sync(t *testing.T, key, coll, inner string) *easclient.Node {
	t.Helper()
	_, root := d.do(t, eas.CmdSync, `<Sync xmlns="AirSync"><Collections><Collection><SyncKey>`+key+
		`</SyncKey><CollectionId>`+coll+`</CollectionId>`+inner+`</Collection></Collections></Sync>`)
	require.NotNil(t, root)
	return seqLookup(root, "Sync/Collections/Collection")
}

// primed syncs a collection from key 0 to its current items and returns the key.
func (d *flowDevice) primed(t *testing.T, coll string) string {
	t.Helper()
	key := seqTextAt(t, d.sync(t, "0", coll, ""), "Collection/SyncKey")
	got := d.sync(t, key, coll, `<GetChanges>1</GetChanges><WindowSize>100</WindowSize>`)
	require.Equal(t, "1", seqTextAt(t, got, "Collection/Status"))
	return seqTextAt(t, got, "Collection/SyncKey")
}

// draftAdd is a Sync Add of a draft email (MS-ASEMAIL 2.2.2 in a Drafts folder, 16.0+).
const draftAdd = `<Commands><Add><ClientId>%s</ClientId><ApplicationData>` +
	`<To xmlns="Email">bob@example.com</To><Subject xmlns="Email">Draft %s</Subject>` +
	`<Body xmlns="AirSyncBase"><Type>1</Type><Data>unfinished</Data></Body>` +
	`</ApplicationData></Add></Commands>`

// TestFlowSyncStatuses covers the Sync statuses no other test reaches, on the server as
// easd serve wires it and on each database: 6 for an email Add where the protocol has none
// (a folder other than Drafts, or before 16.0; MS-ASCMD 2.2.3.177.17), 7 for a Change of an
// item the server changed since the device last saw it (Conflict 1, MS-ASCMD 2.2.3.34), and
// 15 for more collections than the server takes. Each refusal changes nothing.
func TestFlowSyncStatuses(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		env := newSetupEnv(t, st)
		env.deliver(t, "Welcome to easd")
		d := newFlowDevice(t, env, "FLOWSTATUS161", eas.Version161)
		inbox, drafts := d.folders[store.FolderInbox], d.folders[store.FolderDrafts]

		t.Run("6 email add outside Drafts", func(t *testing.T) {
			key := d.primed(t, inbox)
			got := d.sync(t, key, inbox, fmt.Sprintf(draftAdd, "c-inbox", "in the Inbox"))
			assert.Equal(t, "1", seqTextAt(t, got, "Collection/Status"))
			assert.Equal(t, "c-inbox", seqTextAt(t, got, "Collection/Responses/Add/ClientId"))
			assert.Equal(t, "6", seqTextAt(t, got, "Collection/Responses/Add/Status"))
			assert.Empty(t, seqLookupAll(got, "Collection/Responses/Add/ServerId"))
			assert.Equal(t, 0, countSubject(t, st, env.alice, store.FolderInbox, "Draft in the Inbox"))
		})
		t.Run("6 email add before 16.0", func(t *testing.T) {
			old := newFlowDevice(t, env, "FLOWSTATUS141", eas.Version141)
			key := old.primed(t, drafts)
			got := old.sync(t, key, drafts, fmt.Sprintf(draftAdd, "c-141", "at 14.1"))
			assert.Equal(t, "6", seqTextAt(t, got, "Collection/Responses/Add/Status"))
			assert.Equal(t, 0, countSubject(t, st, env.alice, store.FolderDrafts, "Draft at 14.1"))
		})
		t.Run("1 draft add at 16.1", func(t *testing.T) {
			// The same Add where it belongs succeeds: the refusals above are about place and
			// version, not the Add itself.
			key := d.primed(t, drafts)
			got := d.sync(t, key, drafts, fmt.Sprintf(draftAdd, "c-draft", "in Drafts"))
			assert.Equal(t, "1", seqTextAt(t, got, "Collection/Responses/Add/Status"))
			assert.NotEmpty(t, seqTextAt(t, got, "Collection/Responses/Add/ServerId"))
			assert.Equal(t, 1, countSubject(t, st, env.alice, store.FolderDrafts, "Draft in Drafts"))
		})
		t.Run("7 conflict", func(t *testing.T) {
			key := d.primed(t, inbox)
			items, err := st.Items(ctx, mustFolderID(t, inbox))
			require.NoError(t, err)
			require.NotEmpty(t, items)
			it := items[0]
			// Another client (IMAP, another phone) reads it after this device synced.
			yes := true
			_, err = st.SetFlags(ctx, it.ID, store.FlagsUpdate{Seen: &yes})
			require.NoError(t, err)
			sid := strconv.FormatInt(int64(it.ID), 10)
			got := d.sync(t, key, inbox, `<Options><Conflict>1</Conflict></Options><Commands><Change><ServerId>`+sid+
				`</ServerId><ApplicationData><Read xmlns="Email">0</Read><Flag xmlns="Email"><Status>2</Status>`+
				`<FlagType>Follow up</FlagType></Flag></ApplicationData></Change></Commands>`)
			assert.Equal(t, "1", seqTextAt(t, got, "Collection/Status"))
			assert.Equal(t, sid, seqTextAt(t, got, "Collection/Responses/Change/ServerId"))
			assert.Equal(t, "7", seqTextAt(t, got, "Collection/Responses/Change/Status"))
			after, err := st.Item(ctx, it.ID)
			require.NoError(t, err)
			assert.True(t, after.Seen, "the server's change wins")
			assert.False(t, after.Flagged, "nothing of the refused change is applied")
		})
		t.Run("15 too many collections", func(t *testing.T) {
			var b strings.Builder
			b.WriteString(`<Sync xmlns="AirSync"><Collections>`)
			for range eas.MaxSyncCollections + 1 {
				b.WriteString(`<Collection><SyncKey>0</SyncKey><CollectionId>` + inbox + `</CollectionId></Collection>`)
			}
			b.WriteString(`</Collections></Sync>`)
			resp, root := d.do(t, eas.CmdSync, b.String())
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.NotNil(t, root)
			assert.Equal(t, "15", seqTextAt(t, root, "Sync/Status"))
		})
	})
}

func mustFolderID(t *testing.T, s string) store.FolderID {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return store.FolderID(n)
}

// sqliteFlowEnv is a setupEnv on a SQLite file of its own, for the tests that break the
// store underneath the server (a dropped table, a trigger that refuses a write) to see the
// server-error statuses.
func sqliteFlowEnv(t *testing.T) *setupEnv {
	t.Helper()
	return newSetupEnv(t, openStore(t))
}

// TestFlowServerErrorStatuses: when the store fails under a command, each command answers
// its own retry-later status and nothing half-done is reported as done: Sync 5 for a Change
// the store refuses and 16 for a state another node changed (MS-ASCMD 2.2.3.177.17), FolderSync 6 (2.2.3.177.5), MoveItems 7 for an
// item it cannot read (2.2.3.177.9), ItemOperations 3 for EmptyFolderContents whose delete
// fails and 17 when only the subfolders could not go (2.2.3.177.8).
func TestFlowServerErrorStatuses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	t.Run("sync 5", func(t *testing.T) {
		env := sqliteFlowEnv(t)
		env.deliver(t, "Welcome to easd")
		d := newFlowDevice(t, env, "FLOWERR1", eas.Version161)
		inbox := d.folders[store.FolderInbox]
		key := d.primed(t, inbox)
		items, err := env.st.Items(ctx, mustFolderID(t, inbox))
		require.NoError(t, err)
		require.NoError(t, env.st.DB().Exec(`CREATE TRIGGER no_flags BEFORE UPDATE ON items BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`).Error)
		sid := strconv.FormatInt(int64(items[0].ID), 10)
		got := d.sync(t, key, inbox, `<Commands><Change><ServerId>`+sid+
			`</ServerId><ApplicationData><Read xmlns="Email">1</Read></ApplicationData></Change></Commands>`)
		assert.Equal(t, "1", seqTextAt(t, got, "Collection/Status"))
		assert.Equal(t, "5", seqTextAt(t, got, "Collection/Responses/Change/Status"))
		after, err := env.st.Item(ctx, items[0].ID)
		require.NoError(t, err)
		assert.False(t, after.Seen)
	})
	t.Run("sync 16", func(t *testing.T) {
		// Another node moved the device's state on between this round's read and its
		// write (here: the write is ignored, as if its version were stale): 16, retry, and
		// the retry with the same key gets everything (MS-ASCMD 2.2.3.177.17).
		env := sqliteFlowEnv(t)
		d := newFlowDevice(t, env, "FLOWERR7", eas.Version161)
		inbox := d.folders[store.FolderInbox]
		key := d.primed(t, inbox)
		env.deliver(t, "While racing")
		require.NoError(t, env.st.DB().Exec(`CREATE TRIGGER other_node BEFORE UPDATE ON sync_states BEGIN SELECT RAISE(IGNORE); END`).Error)
		_, root := d.do(t, eas.CmdSync, `<Sync xmlns="AirSync"><Collections><Collection><SyncKey>`+key+
			`</SyncKey><CollectionId>`+inbox+`</CollectionId><GetChanges>1</GetChanges></Collection></Collections></Sync>`)
		require.NotNil(t, root)
		assert.Equal(t, "16", seqTextAt(t, root, "Sync/Status"))
		assert.Empty(t, seqLookupAll(root, "Sync/Collections/Collection/Commands"))
		require.NoError(t, env.st.DB().Exec(`DROP TRIGGER other_node`).Error)
		got := d.sync(t, key, inbox, `<GetChanges>1</GetChanges>`)
		assert.Equal(t, "1", seqTextAt(t, got, "Collection/Status"))
		assert.Equal(t, "While racing", seqTextAt(t, got, "Collection/Commands/Add/ApplicationData/Subject"))
	})
	t.Run("foldersync 6", func(t *testing.T) {
		env := sqliteFlowEnv(t)
		d := newFlowDevice(t, env, "FLOWERR2", eas.Version161)
		require.NoError(t, env.st.DB().Exec(`DROP TABLE folder_sync_states`).Error)
		assert.Equal(t, 6, doFolderSync(t, d.c, "0").Status)
	})
	t.Run("moveitems 7", func(t *testing.T) {
		env := sqliteFlowEnv(t)
		env.deliver(t, "Welcome to easd")
		d := newFlowDevice(t, env, "FLOWERR3", eas.Version161)
		inbox, deleted := d.folders[store.FolderInbox], d.folders[store.FolderDeleted]
		items, err := env.st.Items(ctx, mustFolderID(t, inbox))
		require.NoError(t, err)
		require.NoError(t, env.st.DB().Exec(`ALTER TABLE items RENAME TO items_away`).Error)
		sid := strconv.FormatInt(int64(items[0].ID), 10)
		_, root := d.do(t, eas.CmdMoveItems, `<MoveItems xmlns="Move"><Move><SrcMsgId>`+sid+`</SrcMsgId><SrcFldId>`+inbox+
			`</SrcFldId><DstFldId>`+deleted+`</DstFldId></Move></MoveItems>`)
		require.NotNil(t, root)
		assert.Equal(t, "7", seqTextAt(t, root, "MoveItems/Response/Status"))
		assert.Empty(t, seqLookupAll(root, "MoveItems/Response/DstMsgId"))
		require.NoError(t, env.st.DB().Exec(`ALTER TABLE items_away RENAME TO items`).Error)
		assert.Equal(t, 1, countSubject(t, env.st, env.alice, store.FolderInbox, "Welcome to easd"), "nothing moved")
	})
	t.Run("settings 4", func(t *testing.T) {
		env := sqliteFlowEnv(t)
		d := newFlowDevice(t, env, "FLOWERR5", eas.Version161)
		require.NoError(t, env.st.DB().Exec(`DROP TABLE oof_settings`).Error)
		require.NoError(t, env.st.DB().Exec(`DROP TABLE device_passwords`).Error)
		_, root := d.do(t, eas.CmdSettings, `<Settings xmlns="Settings"><Oof><Get><BodyType>Text</BodyType></Get></Oof>`+
			`<DevicePassword><Set><Password>1234</Password></Set></DevicePassword></Settings>`)
		require.NotNil(t, root)
		assert.Equal(t, "1", seqTextAt(t, root, "Settings/Status"))
		assert.Equal(t, "4", seqTextAt(t, root, "Settings/Oof/Status"), "MS-ASCMD 2.2.3.177.15: server unavailable")
		assert.Equal(t, "4", seqTextAt(t, root, "Settings/DevicePassword/Status"))
	})
	t.Run("sendmail 110 and 500", func(t *testing.T) {
		env := sqliteFlowEnv(t)
		d := newFlowDevice(t, env, "FLOWERR6", eas.Version161)
		require.NoError(t, env.st.DB().Exec(`DROP TABLE outbound_recipients`).Error)
		mime := "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: lost?\r\n\r\nx\r\n"
		resp, err := d.c.Do(ctx, &easclient.Request{Cmd: eas.CmdSendMail, Body: composeBody(t, wbxml.ComposeMailSendMail,
			"c-fail", true, false, "", "", mime)})
		require.NoError(t, err)
		n, err := resp.Status(wbxml.ComposeMailStatus)
		require.NoError(t, err)
		assert.Equal(t, int(eas.StatusServerError), n, "MS-ASCMD 2.2.2: 110 ServerError, the client retries")
		d.c.Version = eas.Version121
		resp, err = d.c.Do(ctx, &easclient.Request{Cmd: eas.CmdSendMail, ContentType: "message/rfc822", SaveInSent: true, Body: []byte(mime)})
		require.NoError(t, err)
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, "before 14.0 the HTTP status stands for 110")
		assert.Equal(t, 0, countSubject(t, env.st, env.bob, store.FolderInbox, "lost?"))
		assert.Equal(t, 0, countSubject(t, env.st, env.alice, store.FolderSent, "lost?"))
	})
	t.Run("itemoperations 3 and 17", func(t *testing.T) {
		env := sqliteFlowEnv(t)
		d := newFlowDevice(t, env, "FLOWERR4", eas.Version161)
		deleted := d.folders[store.FolderDeleted]
		trash := mustFolderID(t, deleted)
		_, err := env.st.AppendMessage(ctx, trash, []byte("Subject: old\r\n\r\nx\r\n"), store.AppendOptions{})
		require.NoError(t, err)
		_, err = env.st.CreateFolder(ctx, env.alice.Mailbox, trash, "Sub", store.FolderUserMail)
		require.NoError(t, err)
		empty := `<ItemOperations xmlns="ItemOperations"><EmptyFolderContents><CollectionId xmlns="AirSync">` + deleted +
			`</CollectionId><Options><DeleteSubFolders/></Options></EmptyFolderContents></ItemOperations>`

		require.NoError(t, env.st.DB().Exec(`CREATE TRIGGER keep_items BEFORE DELETE ON items BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`).Error)
		_, root := d.do(t, eas.CmdItemOperations, empty)
		require.NotNil(t, root)
		assert.Equal(t, "3", seqTextAt(t, root, "ItemOperations/Response/EmptyFolderContents/Status"))
		assert.Equal(t, 1, countSubject(t, env.st, env.alice, store.FolderDeleted, "old"))

		require.NoError(t, env.st.DB().Exec(`DROP TRIGGER keep_items`).Error)
		require.NoError(t, env.st.DB().Exec(`CREATE TRIGGER keep_folders BEFORE DELETE ON folders BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`).Error)
		_, root = d.do(t, eas.CmdItemOperations, empty)
		require.NotNil(t, root)
		assert.Equal(t, "17", seqTextAt(t, root, "ItemOperations/Response/EmptyFolderContents/Status"))
		assert.Equal(t, 0, countSubject(t, env.st, env.alice, store.FolderDeleted, "old"), "the items went")
	})
}

// TestFlowComposeRefusals121: before 14.0 a SendMail, SmartReply or SmartForward has no
// Status element, so its refusals are HTTP statuses (MS-ASCMD 2.2.2): 119 MessageHasNoRecipient
// and 107 InvalidMIME are 400, and nothing is sent or saved.
func TestFlowComposeRefusals121(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newSetupEnv(t, st)
		d := newFlowDevice(t, env, "FLOWCOMPOSE", eas.Version121)
		for name, mime := range map[string]string{
			"no recipient": "From: alice@example.com\r\nSubject: nobody\r\n\r\nx\r\n",
			"invalid mime": "To: <<<\r\nSubject: broken\r\n\r\nx",
		} {
			resp, err := d.c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdSendMail, ContentType: "message/rfc822",
				SaveInSent: true, Body: []byte(mime)})
			require.NoError(t, err)
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
		}
		items, err := st.Items(t.Context(), mustFolderID(t, d.folders[store.FolderSent]))
		require.NoError(t, err)
		assert.Empty(t, items, "nothing saved in Sent Items")
		q, err := st.OutboundQueue(t.Context(), 0)
		require.NoError(t, err)
		assert.Empty(t, q, "nothing queued")
	})
}

// TestFlowGetAttachmentRefusals: GetAttachment (MS-ASCMD 2.2.1.7) has no Status element, so
// its refusals are the HTTP statuses of the common statuses (MS-ASCMD 2.2.2): no
// AttachmentName is 105 InvalidCombinationOfIDs (400), another user's attachment is 150
// ItemNotFound (400) and sends none of its bytes.
func TestFlowGetAttachmentRefusals(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newSetupEnv(t, st)
		it, err := st.Deliver(t.Context(), "bob@example.com", []byte(withAttachment))
		require.NoError(t, err)
		d := newFlowDevice(t, env, "FLOWATT", eas.Version141)
		for name, ref := range map[string]string{"no AttachmentName": "", "bob's attachment": fmt.Sprintf("%d:2", it.ID)} {
			resp, err := d.c.Do(t.Context(), &easclient.Request{Cmd: eas.CmdGetAttachment, AttachmentName: ref})
			require.NoError(t, err)
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
			assert.Empty(t, resp.Body, name)
		}
	})
}

// TestFlowProvisionCorruptPolicy: a stored policy that no longer parses is Policy Status 4
// (MS-ASPROV 2.2.2.54.2: the policy data on the server is corrupted) with no policy key, and
// the device keeps the key it had.
func TestFlowProvisionCorruptPolicy(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newSetupEnv(t, st)
		d := newFlowDevice(t, env, "FLOWPOL", eas.Version161)
		had := d.c.PolicyKey
		require.NoError(t, st.DB().Exec(`UPDATE policies SET settings = ?`, "{not json").Error)
		_, root := d.do(t, eas.CmdProvision, `<Provision xmlns="Provision"><Policies><Policy>`+
			`<PolicyType>MS-EAS-Provisioning-WBXML</PolicyType></Policy></Policies></Provision>`)
		require.NotNil(t, root)
		assert.Equal(t, "1", seqTextAt(t, root, "Provision/Status"))
		assert.Equal(t, "4", seqTextAt(t, root, "Provision/Policies/Policy/Status"))
		assert.Empty(t, seqLookupAll(root, "Provision/Policies/Policy/PolicyKey"))
		dev, err := env.reg.Get(t.Context(), devices.Key{User: env.alice.ID, DeviceID: "FLOWPOL"})
		require.NoError(t, err)
		assert.Equal(t, had, dev.PolicyKey)
	})
}
