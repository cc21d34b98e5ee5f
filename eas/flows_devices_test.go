package eas_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// flowSyncOpts are the collection settings both devices send (GetChanges, plain text).
const flowSyncOpts = `<DeletesAsMoves>1</DeletesAsMoves><GetChanges>1</GetChanges><WindowSize>50</WindowSize>` +
	`<Options><FilterType>0</FilterType><BodyPreference xmlns="AirSyncBase"><Type>1</Type>` +
	`<TruncationSize>5120</TruncationSize></BodyPreference></Options>`

// TestFlowTwoDevices: what one device does to the mail, the other device of the same account
// learns in its next Sync, each change once: a phone (16.1) reads and flags a message and the
// tablet (14.1) gets a Change with Read 1 and FlagStatus 2; the tablet moves it to a folder it
// created and the phone gets a Delete in the Inbox and an Add in that folder; the phone sends
// a message and the tablet finds it in Sent Items; the tablet deletes the moved message and the
// phone gets a Delete there. Neither device is sent back its own change.
func TestFlowTwoDevices(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newSetupEnv(t, st)
		phone := newFlowDevice(t, env, "FLOWPHONE", eas.Version161)
		tablet := newFlowDevice(t, env, "FLOWTABLET", eas.Version141)
		inbox, sent := phone.folders[store.FolderInbox], phone.folders[store.FolderSent]
		pKey, tKey := phone.primed(t, inbox), tablet.primed(t, inbox)

		// A delivery reaches both.
		env.deliver(t, "Quarterly numbers")
		step := func(d *flowDevice, key *string, coll, cmds string) *easclient.Node {
			t.Helper()
			got := d.sync(t, *key, coll, flowSyncOpts+cmds)
			require.Equal(t, "1", seqTextAt(t, got, "Collection/Status"))
			*key = seqTextAt(t, got, "Collection/SyncKey")
			return got
		}
		got := step(phone, &pKey, inbox, "")
		require.Len(t, seqLookupAll(got, "Collection/Commands/Add"), 1)
		sid := seqTextAt(t, got, "Collection/Commands/Add/ServerId")
		got = step(tablet, &tKey, inbox, "")
		require.Len(t, seqLookupAll(got, "Collection/Commands/Add"), 1)
		assert.Equal(t, sid, seqTextAt(t, got, "Collection/Commands/Add/ServerId"), "one ServerId for every device")

		// The phone reads and flags it; the tablet gets one Change with both.
		got = step(phone, &pKey, inbox, `<Commands><Change><ServerId>`+sid+`</ServerId><ApplicationData>`+
			`<Read xmlns="Email">1</Read><Flag xmlns="Email"><Status>2</Status><FlagType>Follow up</FlagType></Flag>`+
			`</ApplicationData></Change></Commands>`)
		assert.Empty(t, seqLookupAll(got, "Collection/Responses"))
		got = step(tablet, &tKey, inbox, "")
		assert.Len(t, seqLookupAll(got, "Collection/Commands/Change"), 1)
		assert.Equal(t, sid, seqTextAt(t, got, "Collection/Commands/Change/ServerId"))
		assert.Equal(t, "1", seqTextAt(t, got, "Collection/Commands/Change/ApplicationData/Read"))
		assert.Equal(t, "2", seqTextAt(t, got, "Collection/Commands/Change/ApplicationData/Flag/Status"))
		assert.Empty(t, seqLookupAll(step(phone, &pKey, inbox, ""), "Collection/Commands"), "the phone's own change is not sent back")

		// The tablet creates a folder and moves the message there; the phone learns both.
		fs := doFolderSync(t, tablet.c, "0")
		_, root := tablet.do(t, eas.CmdFolderCreate, `<FolderCreate xmlns="FolderHierarchy"><SyncKey>`+fs.Key+
			`</SyncKey><ParentId>0</ParentId><DisplayName>Finance</DisplayName><Type>12</Type></FolderCreate>`)
		require.NotNil(t, root)
		require.Equal(t, "1", seqTextAt(t, root, "FolderCreate/Status"))
		finance := seqTextAt(t, root, "FolderCreate/ServerId")
		_, root = tablet.do(t, eas.CmdMoveItems, `<MoveItems xmlns="Move"><Move><SrcMsgId>`+sid+`</SrcMsgId><SrcFldId>`+inbox+
			`</SrcFldId><DstFldId>`+finance+`</DstFldId></Move></MoveItems>`)
		require.NotNil(t, root)
		require.Equal(t, "3", seqTextAt(t, root, "MoveItems/Response/Status"))
		moved := seqTextAt(t, root, "MoveItems/Response/DstMsgId")

		got = step(phone, &pKey, inbox, "")
		assert.Equal(t, []string{sid}, seqTexts(seqLookupAll(got, "Collection/Commands/Delete/ServerId")))
		assert.Empty(t, seqLookupAll(got, "Collection/Commands/Add"))
		got = phone.sync(t, "0", finance, "")
		fKey := seqTextAt(t, got, "Collection/SyncKey")
		got = step(phone, &fKey, finance, "")
		require.Len(t, seqLookupAll(got, "Collection/Commands/Add"), 1)
		assert.Equal(t, moved, seqTextAt(t, got, "Collection/Commands/Add/ServerId"))
		assert.Equal(t, "1", seqTextAt(t, got, "Collection/Commands/Add/ApplicationData/Read"), "Read moved with it")
		assert.Equal(t, "2", seqTextAt(t, got, "Collection/Commands/Add/ApplicationData/Flag/Status"), "and the Flag")

		// The phone sends a message; the tablet finds it in Sent Items.
		sKey := tablet.primed(t, sent)
		mime := fmt.Sprintf("From: alice@example.com\r\nTo: bob@example.com\r\nSubject: Numbers look fine\r\nDate: %s\r\n\r\nOK\r\n",
			time.Now().Format(time.RFC1123Z))
		resp, root := phone.do(t, eas.CmdSendMail, `<SendMail xmlns="ComposeMail"><ClientId>flow-two-1</ClientId><SaveInSentItems/>`+
			`<Mime wbxml="opaque">`+xmlEscape(mime)+`</Mime></SendMail>`)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Nil(t, root, "an empty answer")
		got = step(tablet, &sKey, sent, "")
		require.Len(t, seqLookupAll(got, "Collection/Commands/Add"), 1)
		assert.Equal(t, "Numbers look fine", seqTextAt(t, got, "Collection/Commands/Add/ApplicationData/Subject"))

		// The tablet deletes the moved message in Finance; the phone gets the Delete there.
		tfKey := tablet.primed(t, finance)
		got = step(tablet, &tfKey, finance, `<Commands><Delete><ServerId>`+moved+`</ServerId></Delete></Commands>`)
		assert.Empty(t, seqLookupAll(got, "Collection/Responses"))
		got = step(phone, &fKey, finance, "")
		assert.Equal(t, []string{moved}, seqTexts(seqLookupAll(got, "Collection/Commands/Delete/ServerId")))
		assert.Equal(t, 1, countSubject(t, st, env.alice, store.FolderDeleted, "Quarterly numbers"))
	})
}

// xmlEscape escapes text for an XML element body.
func xmlEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '&':
			b = append(b, "&amp;"...)
		case '\r':
			b = append(b, "&#13;"...)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}
