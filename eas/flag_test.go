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

// flagChange is a Sync Change of one item's Flag (inner: the Flag's children).
func flagChange(sid, inner string) string {
	return `<Commands><Change><ServerId>` + sid + `</ServerId><ApplicationData><Flag xmlns="Email">` + inner +
		`</Flag></ApplicationData></Change></Commands>`
}

// TestFlowFlagDetails: a phone (16.1) flags a message with every MS-ASEMAIL 2.2.2.34 field,
// completes it and clears it; after each step a tablet (14.1) of the same account gets one
// Change holding the whole Flag, and IMAP's \Flagged follows (set while active only). A Flag
// Status of 3 is answered 6 and changes nothing.
func TestFlowFlagDetails(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newSetupEnv(t, st)
		phone := newFlowDevice(t, env, "FLAGPHONE", eas.Version161)
		tablet := newFlowDevice(t, env, "FLAGTABLET", eas.Version141)
		inbox := phone.folders[store.FolderInbox]
		pKey, tKey := phone.primed(t, inbox), tablet.primed(t, inbox)
		step := func(d *flowDevice, key *string, cmds string) *easclient.Node {
			t.Helper()
			got := d.sync(t, *key, inbox, flowSyncOpts+cmds)
			require.Equal(t, "1", seqTextAt(t, got, "Collection/Status"))
			*key = seqTextAt(t, got, "Collection/SyncKey")
			return got
		}
		env.deliver(t, "Follow this up")
		sid := seqTextAt(t, step(phone, &pKey, ""), "Collection/Commands/Add/ServerId")
		require.Equal(t, sid, seqTextAt(t, step(tablet, &tKey, ""), "Collection/Commands/Add/ServerId"))
		item := func() store.Item {
			t.Helper()
			var id int64
			_, err := fmt.Sscan(sid, &id)
			require.NoError(t, err)
			it, err := st.Item(t.Context(), store.ItemID(id))
			require.NoError(t, err)
			return it
		}
		// tabletFlag syncs the tablet and returns the Flag of the one Change it gets.
		tabletFlag := func() *easclient.Node {
			t.Helper()
			got := step(tablet, &tKey, "")
			require.Len(t, seqLookupAll(got, "Collection/Commands/Change"), 1)
			assert.Equal(t, sid, seqTextAt(t, got, "Collection/Commands/Change/ServerId"))
			f := seqLookup(got, "Collection/Commands/Change/ApplicationData/Flag")
			require.NotNil(t, f)
			return f
		}

		// Flag with every field.
		got := step(phone, &pKey, flagChange(sid, `<Subject xmlns="Tasks">Call Bob back</Subject><Status>2</Status>`+
			`<FlagType>Flag for follow up</FlagType>`+
			`<StartDate xmlns="Tasks">2026-11-30T00:00:00.000Z</StartDate><DueDate xmlns="Tasks">2026-12-04T00:00:00.000Z</DueDate>`+
			`<UtcStartDate xmlns="Tasks">2026-11-29T23:00:00.000Z</UtcStartDate><UtcDueDate xmlns="Tasks">2026-12-03T23:00:00.000Z</UtcDueDate>`+
			`<ReminderSet xmlns="Tasks">1</ReminderSet><ReminderTime xmlns="Tasks">2026-12-03T08:30:00.000Z</ReminderTime>`+
			`<OrdinalDate xmlns="Tasks">2026-11-27T10:11:12.345Z</OrdinalDate><SubOrdinalDate xmlns="Tasks">5555555</SubOrdinalDate>`))
		assert.Empty(t, seqLookupAll(got, "Collection/Responses"))
		f := tabletFlag()
		for path, want := range map[string]string{
			"Flag/Subject":        "Call Bob back",
			"Flag/Status":         "2",
			"Flag/FlagType":       "Flag for follow up",
			"Flag/StartDate":      "2026-11-30T00:00:00.000Z",
			"Flag/DueDate":        "2026-12-04T00:00:00.000Z",
			"Flag/UtcStartDate":   "2026-11-29T23:00:00.000Z",
			"Flag/UtcDueDate":     "2026-12-03T23:00:00.000Z",
			"Flag/ReminderSet":    "1",
			"Flag/ReminderTime":   "2026-12-03T08:30:00.000Z",
			"Flag/OrdinalDate":    "2026-11-27T10:11:12.345Z",
			"Flag/SubOrdinalDate": "5555555",
		} {
			assert.Equal(t, want, seqTextAt(t, f, path), path)
		}
		assert.Empty(t, seqLookupAll(f, "Flag/CompleteTime"))
		assert.True(t, item().Flagged, "IMAP sees an active flag as \\Flagged")
		assert.Empty(t, seqLookupAll(step(phone, &pKey, ""), "Collection/Commands"), "the phone's own change is not sent back")

		// Complete it, as MS-ASEMAIL 3.2.5.4.2 does: Status 1, CompleteTime, DateCompleted.
		got = step(phone, &pKey, flagChange(sid, `<Status>1</Status><CompleteTime>2026-12-01T16:45:00.000Z</CompleteTime>`+
			`<DateCompleted xmlns="Tasks">2026-12-01T00:00:00.000Z</DateCompleted>`))
		assert.Empty(t, seqLookupAll(got, "Collection/Responses"))
		f = tabletFlag()
		for path, want := range map[string]string{
			"Flag/Status":        "1",
			"Flag/CompleteTime":  "2026-12-01T16:45:00.000Z",
			"Flag/DateCompleted": "2026-12-01T00:00:00.000Z",
			"Flag/FlagType":      "Flag for follow up",
			"Flag/Subject":       "Call Bob back",
			"Flag/StartDate":     "2026-11-30T00:00:00.000Z",
			"Flag/DueDate":       "2026-12-04T00:00:00.000Z",
			"Flag/UtcStartDate":  "2026-11-29T23:00:00.000Z",
			"Flag/UtcDueDate":    "2026-12-03T23:00:00.000Z",
		} {
			assert.Equal(t, want, seqTextAt(t, f, path), path)
		}
		assert.Empty(t, seqLookupAll(f, "Flag/ReminderSet"), "a completed flag reminds of nothing")
		it := item()
		assert.False(t, it.Flagged, "a completed flag is not \\Flagged")
		assert.Equal(t, store.FlagComplete, it.Flag.Status)

		// A Flag Status outside 0-2 is answered 6 and changes nothing.
		got = step(phone, &pKey, flagChange(sid, `<Status>3</Status>`))
		assert.Equal(t, "6", seqTextAt(t, got, "Collection/Responses/Change/Status"))
		assert.Equal(t, sid, seqTextAt(t, got, "Collection/Responses/Change/ServerId"))
		assert.Equal(t, it, item())
		// So is a date that is not a dateTime.
		got = step(phone, &pKey, flagChange(sid, `<Status>2</Status><DueDate xmlns="Tasks">next week</DueDate>`))
		assert.Equal(t, "6", seqTextAt(t, got, "Collection/Responses/Change/Status"))
		assert.Equal(t, it, item())
		assert.Empty(t, seqLookupAll(step(tablet, &tKey, ""), "Collection/Commands"), "refused changes reach no one")

		// Clear it with an empty Flag (MS-ASEMAIL 3.2.5.4.2): the tablet gets an empty Flag.
		got = step(phone, &pKey, `<Commands><Change><ServerId>`+sid+`</ServerId><ApplicationData><Flag xmlns="Email"/>`+
			`</ApplicationData></Change></Commands>`)
		assert.Empty(t, seqLookupAll(got, "Collection/Responses"))
		f = tabletFlag()
		assert.Empty(t, f.Children, "no flag is an empty Flag")
		it = item()
		assert.False(t, it.Flagged)
		assert.Equal(t, store.Flag{}, it.Flag)
		require.NoError(t, st.Check(t.Context()))
	})
}

// TestFlowLastVerb: a phone forwards a message and then replies to its sender; a tablet sees
// LastVerbExecuted 3 and then 1, each with its LastVerbExecutionTime, the reply's not before
// the forward's. A reply that goes to a Cc recipient of the original too is 2 (reply to all).
func TestFlowLastVerb(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newSetupEnv(t, st)
		phone := newFlowDevice(t, env, "VERBPHONE", eas.Version161)
		tablet := newFlowDevice(t, env, "VERBTABLET", eas.Version141)
		inbox := phone.folders[store.FolderInbox]
		tKey := tablet.primed(t, inbox)
		step := func() *easclient.Node {
			t.Helper()
			got := tablet.sync(t, tKey, inbox, flowSyncOpts)
			require.Equal(t, "1", seqTextAt(t, got, "Collection/Status"))
			tKey = seqTextAt(t, got, "Collection/SyncKey")
			return got
		}
		raw := fmt.Sprintf("From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>\r\nCc: carol@example.net\r\n"+
			"Subject: Team lunch\r\nDate: %s\r\nMessage-ID: <lunch@example.com>\r\n\r\nFriday?\r\n", time.Now().Format(time.RFC1123Z))
		orig, err := st.Deliver(t.Context(), "alice@example.com", []byte(raw))
		require.NoError(t, err)
		sid := fmt.Sprint(int64(orig.ID))
		got := step()
		require.Equal(t, sid, seqTextAt(t, got, "Collection/Commands/Add/ServerId"))
		assert.Empty(t, seqLookupAll(got, "Collection/Commands/Add/ApplicationData/LastVerbExecuted"))

		smart := func(cmd eas.CommandCode, root, clientID, to, cc string) {
			t.Helper()
			mime := "From: alice@example.com\r\nTo: " + to + "\r\n"
			if cc != "" {
				mime += "Cc: " + cc + "\r\n"
			}
			mime += "Subject: about lunch\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\nsee below\r\n"
			resp, body := phone.do(t, cmd, `<`+root+` xmlns="ComposeMail"><ClientId>`+clientID+`</ClientId><SaveInSentItems/>`+
				`<Source><FolderId>`+inbox+`</FolderId><ItemId>`+sid+`</ItemId></Source>`+
				`<Mime wbxml="opaque">`+xmlEscape(mime)+`</Mime></`+root+`>`)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Nil(t, body, "an empty answer")
		}
		// verb syncs the tablet and returns the LastVerbExecuted and its time from one Change.
		verb := func() (string, time.Time) {
			t.Helper()
			got := step()
			require.Len(t, seqLookupAll(got, "Collection/Commands/Change"), 1)
			when, err := time.Parse("2006-01-02T15:04:05.000Z",
				seqTextAt(t, got, "Collection/Commands/Change/ApplicationData/LastVerbExecutionTime"))
			require.NoError(t, err)
			return seqTextAt(t, got, "Collection/Commands/Change/ApplicationData/LastVerbExecuted"), when
		}

		smart(eas.CmdSmartForward, "SmartForward", "verb-fwd", "dave@example.org", "")
		v, fwdAt := verb()
		assert.Equal(t, "3", v, "forward")
		smart(eas.CmdSmartReply, "SmartReply", "verb-reply", "bob@example.com", "")
		v, replyAt := verb()
		assert.Equal(t, "1", v, "a reply after the forward is the last verb")
		assert.False(t, replyAt.Before(fwdAt), "reply at %s, forward at %s", replyAt, fwdAt)
		it, err := st.Item(t.Context(), orig.ID)
		require.NoError(t, err)
		assert.True(t, it.Answered, "IMAP \\Answered")
		assert.True(t, it.Forwarded, "and $Forwarded both stay")

		smart(eas.CmdSmartReply, "SmartReply", "verb-reply-all", "bob@example.com", "carol@example.net")
		v, allAt := verb()
		assert.Equal(t, "2", v, "a reply that includes the original's Cc is a reply to all")
		assert.False(t, allAt.Before(replyAt))
		require.NoError(t, st.Check(t.Context()))
	})
}
