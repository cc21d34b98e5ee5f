package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestFlagRoundTrip sets a follow-up flag with every field, completes it and clears it, and
// checks each state reads back whole, takes one modseq and change row, and agrees with the
// IMAP \Flagged bit.
func TestFlagRoundTrip(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "flags@example.org")
		inbox, err := s.FolderByType(ctx, u.Mailbox, store.FolderInbox)
		require.NoError(t, err)
		it, err := s.Deliver(ctx, u.Address, msg("flag me"))
		require.NoError(t, err)
		assert.Equal(t, store.Flag{}, it.Flag)
		m := it.ModSeq
		change := store.Change{Kind: store.KindItem, Op: store.OpChange, Folder: inbox.ID, Item: it.ID, UID: it.UID}

		active := store.Flag{
			Status: store.FlagActive, Type: "Flag for follow up", Subject: "call back",
			StartDate: date("2026-11-27T00:00:00Z"), UTCStartDate: date("2026-11-26T23:00:00Z"),
			DueDate: date("2026-12-04T00:00:00Z"), UTCDueDate: date("2026-12-03T23:00:00Z"),
			ReminderSet: true, ReminderTime: date("2026-12-03T08:30:00.123Z"),
			OrdinalDate: date("2026-11-27T10:11:12.5Z"), SubOrdinalDate: "5555555",
		}
		got, err := s.SetFlags(ctx, it.ID, store.FlagsUpdate{Flag: &active})
		require.NoError(t, err)
		assert.Equal(t, active, got.Flag)
		assert.True(t, got.Flagged, "an active flag is IMAP \\Flagged")
		m = requireChanges(t, s, u.Mailbox, m, change)
		again, err := s.Item(ctx, it.ID)
		require.NoError(t, err)
		assert.Equal(t, got, again)

		// the same flag again takes no modseq
		_, err = s.SetFlags(ctx, it.ID, store.FlagsUpdate{Flag: &active})
		require.NoError(t, err)
		m = requireChanges(t, s, u.Mailbox, m)

		// complete: not IMAP-flagged, the details kept
		done := active
		done.Status = store.FlagComplete
		done.DateCompleted = date("2026-11-28T00:00:00Z")
		done.CompleteTime = date("2026-11-28T09:15:00Z")
		got, err = s.SetFlags(ctx, it.ID, store.FlagsUpdate{Flag: &done})
		require.NoError(t, err)
		assert.Equal(t, done, got.Flag)
		assert.False(t, got.Flagged)
		m = requireChanges(t, s, u.Mailbox, m, change)
		list, err := s.ItemsByID(ctx, []store.ItemID{it.ID})
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, done, list[0].Flag)

		// IMAP \Flagged on a completed flag makes it active again, keeping type and dates
		got, err = s.SetFlags(ctx, it.ID, store.FlagsUpdate{Flagged: ptr(true)})
		require.NoError(t, err)
		assert.Equal(t, active, got.Flag)
		m = requireChanges(t, s, u.Mailbox, m, change)
		// and removing \Flagged clears it
		got, err = s.SetFlags(ctx, it.ID, store.FlagsUpdate{Flagged: ptr(false)})
		require.NoError(t, err)
		assert.Equal(t, store.Flag{}, got.Flag)
		m = requireChanges(t, s, u.Mailbox, m, change)

		// \Flagged on a message never flagged by EAS reads as an active flag
		got, err = s.SetFlags(ctx, it.ID, store.FlagsUpdate{Flagged: ptr(true)})
		require.NoError(t, err)
		assert.Equal(t, store.Flag{Status: store.FlagActive}, got.Flag)
		m = requireChanges(t, s, u.Mailbox, m, change)

		// a cleared status removes the flag and its details
		got, err = s.SetFlags(ctx, it.ID, store.FlagsUpdate{Flag: &done})
		require.NoError(t, err)
		require.Equal(t, done, got.Flag)
		got, err = s.SetFlags(ctx, it.ID, store.FlagsUpdate{Flag: &store.Flag{Type: "ignored"}})
		require.NoError(t, err)
		assert.Equal(t, store.Flag{}, got.Flag)
		assert.False(t, got.Flagged)
		m = requireChanges(t, s, u.Mailbox, m, change, change)

		// bad input changes nothing
		before, err := s.Item(ctx, it.ID)
		require.NoError(t, err)
		for name, f := range map[string]store.FlagsUpdate{
			"status 3":          {Flag: &store.Flag{Status: 3}},
			"status -1":         {Flag: &store.Flag{Status: -1}},
			"flagged disagrees": {Flag: &active, Flagged: ptr(false)},
			"verb 4":            {LastVerb: &store.LastVerb{Verb: 4, At: date("2026-11-28T00:00:00Z")}},
			"verb 0":            {LastVerb: &store.LastVerb{At: date("2026-11-28T00:00:00Z")}},
			"verb without time": {LastVerb: &store.LastVerb{Verb: store.VerbForward}},
		} {
			_, err := s.SetFlags(ctx, it.ID, f)
			assert.ErrorIs(t, err, store.ErrInvalidArgument, name)
		}
		after, err := s.Item(ctx, it.ID)
		require.NoError(t, err)
		assert.Equal(t, before, after)
		requireChanges(t, s, u.Mailbox, m)
		require.NoError(t, s.Check(ctx))
	})
}

// TestLastVerb records a forward and then a reply: the later one wins, whatever order the
// calls come in, and both IMAP flags stay set. A copy keeps flag and verb.
func TestLastVerb(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := newUser(t, s, "verbs@example.org")
		it, err := s.Deliver(ctx, u.Address, msg("reply to me"))
		require.NoError(t, err)
		assert.Equal(t, store.LastVerb{}, it.LastVerb)

		fwd := store.LastVerb{Verb: store.VerbForward, At: date("2026-11-27T10:00:00.000001Z")}
		got, err := s.SetFlags(ctx, it.ID, store.FlagsUpdate{LastVerb: &fwd})
		require.NoError(t, err)
		assert.Equal(t, fwd, got.LastVerb)
		assert.True(t, got.Forwarded)
		assert.False(t, got.Answered)

		reply := store.LastVerb{Verb: store.VerbReplyToAll, At: date("2026-11-27T10:05:00Z")}
		got, err = s.SetFlags(ctx, it.ID, store.FlagsUpdate{LastVerb: &reply})
		require.NoError(t, err)
		assert.Equal(t, reply, got.LastVerb)
		assert.True(t, got.Forwarded)
		assert.True(t, got.Answered)

		// an older verb arriving late does not replace the newer one
		m := got.ModSeq
		got, err = s.SetFlags(ctx, it.ID, store.FlagsUpdate{LastVerb: &fwd})
		require.NoError(t, err)
		assert.Equal(t, reply, got.LastVerb)
		requireChanges(t, s, u.Mailbox, m)

		// a copy (IMAP COPY) keeps the flag details and the verb
		flag := store.Flag{Status: store.FlagComplete, Type: "Flag for follow up", CompleteTime: date("2026-11-28T09:00:00Z")}
		got, err = s.SetFlags(ctx, it.ID, store.FlagsUpdate{Flag: &flag})
		require.NoError(t, err)
		trash, err := s.FolderByType(ctx, u.Mailbox, store.FolderDeleted)
		require.NoError(t, err)
		cp, err := s.CopyItem(ctx, it.ID, trash.ID)
		require.NoError(t, err)
		cp, err = s.Item(ctx, cp.ID)
		require.NoError(t, err)
		assert.Equal(t, got.Flag, cp.Flag)
		assert.Equal(t, got.LastVerb, cp.LastVerb)

		// IMAP removing \Answered hides a reply verb
		got, err = s.SetFlags(ctx, it.ID, store.FlagsUpdate{Answered: ptr(false)})
		require.NoError(t, err)
		assert.Equal(t, store.LastVerb{}, got.LastVerb)
		require.NoError(t, s.Check(ctx))
	})
}
