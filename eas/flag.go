package eas

import (
	"fmt"
	"time"

	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// The follow-up flag of an email (MS-ASEMAIL 2.2.2.34 Flag) read from a Sync Change and
// written into Sync and ItemOperations answers, and the last verb (2.2.2.44
// LastVerbExecuted, 2.2.2.45 LastVerbExecutionTime). The store keeps the whole Flag
// (store.Flag); IMAP sees an active flag as \Flagged.

// defaultFlagType is the FlagType written for a flag set without one (an IMAP \Flagged):
// the type MS-ASEMAIL 3.2.5.4.2 names for flagging an email.
const defaultFlagType = "Flag for follow up"

// readFlag reads the children of an Email:Flag in a Sync Change (the Flag start tag just
// read; content says it has children). MS-ASEMAIL 3.2.5.4.2: an empty Flag or Status 0
// clears the flag, Status 2 with FlagType and dates sets it, Status 1 with CompleteTime and
// tasks:DateCompleted marks it complete. A Flag with children but no Status is taken as
// complete if it carries a completion date, else as active (the table in 3.2.5.4.2 always
// sends Status; this is our reading of the others). bad is set, and the Flag is not to be
// applied, for a Status other than 0-2 (2.2.2.74: Sync status 6) or a date that is not a
// dateTime (MS-ASDTYPE 2.3); err is a malformed request.
func readFlag(dec *wbxml.Decoder, content bool) (f store.Flag, bad, err error) {
	if !content {
		return store.Flag{}, nil, nil
	}
	hasStatus := false
	date := func(dst *time.Time, tag wbxml.Tag) error {
		s, err := dec.String()
		if err != nil {
			return err
		}
		t, ok := parseEASTime(s)
		if !ok {
			if bad == nil {
				bad = fmt.Errorf("flag %s %q is not a dateTime", tag, s)
			}
			return nil
		}
		*dst = t
		return nil
	}
	for {
		t, more, err := dec.Child()
		if err != nil {
			return f, nil, err
		}
		if !more {
			break
		}
		switch t.Tag {
		case wbxml.EmailStatus:
			n, err := dec.Int()
			if err != nil {
				return f, nil, err
			}
			hasStatus = true
			f.Status = store.FlagStatus(n)
			if n < 0 || n > 2 {
				bad = fmt.Errorf("flag status %d", n)
			}
		case wbxml.EmailFlagType:
			if f.Type, err = dec.String(); err != nil {
				return f, nil, err
			}
		case wbxml.TasksSubject:
			if f.Subject, err = dec.String(); err != nil {
				return f, nil, err
			}
		case wbxml.TasksSubOrdinalDate:
			if f.SubOrdinalDate, err = dec.String(); err != nil {
				return f, nil, err
			}
		case wbxml.TasksReminderSet:
			n, err := dec.Int()
			if err != nil {
				return f, nil, err
			}
			f.ReminderSet = n == 1
		case wbxml.TasksStartDate:
			err = date(&f.StartDate, t.Tag)
		case wbxml.TasksUtcStartDate:
			err = date(&f.UTCStartDate, t.Tag)
		case wbxml.TasksDueDate:
			err = date(&f.DueDate, t.Tag)
		case wbxml.TasksUtcDueDate:
			err = date(&f.UTCDueDate, t.Tag)
		case wbxml.TasksDateCompleted:
			err = date(&f.DateCompleted, t.Tag)
		case wbxml.EmailCompleteTime:
			err = date(&f.CompleteTime, t.Tag)
		case wbxml.TasksReminderTime:
			err = date(&f.ReminderTime, t.Tag)
		case wbxml.TasksOrdinalDate:
			err = date(&f.OrdinalDate, t.Tag)
		default:
			err = dec.Skip()
		}
		if err != nil {
			return f, nil, err
		}
	}
	if !hasStatus {
		switch {
		case !f.DateCompleted.IsZero() || !f.CompleteTime.IsZero():
			f.Status = store.FlagComplete
		case f != store.Flag{}:
			f.Status = store.FlagActive
		}
	}
	return f, bad, nil
}

// appendFlag writes Email:Flag (MS-ASEMAIL 2.2.2.34) with the children in the order the
// section lists them: empty for no flag; else Status (2.2.2.74), FlagType (2.2.2.35) and
// whichever of tasks:Subject, the completion (tasks:DateCompleted 2.2.2.23, CompleteTime
// 2.2.2.19), the local and UTC start and due dates (2.2.2.72, 2.2.2.31, 2.2.2.87, 2.2.2.86),
// the reminder (2.2.2.64, 2.2.2.65) and the ordering (2.2.2.56, 2.2.2.76) are set.
func appendFlag(enc *wbxml.Encoder, it store.Item) {
	f := it.Flag
	if f.Status == store.FlagCleared {
		enc.Empty(wbxml.EmailFlag)
		return
	}
	date := func(tag wbxml.Tag, t time.Time) {
		if !t.IsZero() {
			enc.String(tag, t.UTC().Format(dateFormat))
		}
	}
	enc.Start(wbxml.EmailFlag)
	if f.Subject != "" {
		enc.String(wbxml.TasksSubject, f.Subject)
	}
	enc.Int(wbxml.EmailStatus, int64(f.Status))
	typ := f.Type
	if typ == "" {
		typ = defaultFlagType
	}
	enc.String(wbxml.EmailFlagType, typ)
	if f.Status == store.FlagComplete {
		date(wbxml.TasksDateCompleted, f.DateCompleted)
		date(wbxml.EmailCompleteTime, f.CompleteTime)
	}
	date(wbxml.TasksStartDate, f.StartDate)
	date(wbxml.TasksDueDate, f.DueDate)
	date(wbxml.TasksUtcStartDate, f.UTCStartDate)
	date(wbxml.TasksUtcDueDate, f.UTCDueDate)
	if f.ReminderSet {
		enc.Int(wbxml.TasksReminderSet, 1)
	}
	date(wbxml.TasksReminderTime, f.ReminderTime)
	date(wbxml.TasksOrdinalDate, f.OrdinalDate)
	if f.SubOrdinalDate != "" {
		enc.String(wbxml.TasksSubOrdinalDate, f.SubOrdinalDate)
	}
	enc.End()
}

// appendLastVerb writes email2:LastVerbExecuted (MS-ASEMAIL 2.2.2.44) and
// LastVerbExecutionTime (2.2.2.45), 14.0 and later: the latest reply or forward recorded by
// SmartReply or SmartForward, with its time. A message only marked \Answered or $Forwarded
// (by IMAP) has no recorded time: it gets 3 if forwarded, else 1 if answered, and no time.
func appendLastVerb(enc *wbxml.Encoder, it store.Item) {
	switch {
	case it.LastVerb.Verb != store.VerbNone:
		enc.Int(wbxml.Email2LastVerbExecuted, int64(it.LastVerb.Verb))
		enc.String(wbxml.Email2LastVerbExecutionTime, it.LastVerb.At.UTC().Format(dateFormat))
	case it.Forwarded:
		enc.Int(wbxml.Email2LastVerbExecuted, int64(store.VerbForward))
	case it.Answered:
		enc.Int(wbxml.Email2LastVerbExecuted, int64(store.VerbReplyToSender))
	}
}

// completing returns the Flag a Change stores: MS-ASEMAIL 3.2.5.4.2 marks a flag complete
// with only Status 1, CompleteTime and tasks:DateCompleted, so a completion keeps what the
// flag had and the Change leaves out (type, subject, start and due dates, ordering); the
// reminder goes, as nothing is left to remind of. Any other Flag is stored as sent.
func completing(f *store.Flag, cur store.Flag) *store.Flag {
	if f == nil || f.Status != store.FlagComplete || cur.Status == store.FlagCleared {
		return f
	}
	m := *f
	keepS := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	keepT := func(dst *time.Time, v time.Time) {
		if dst.IsZero() {
			*dst = v
		}
	}
	keepS(&m.Type, cur.Type)
	keepS(&m.Subject, cur.Subject)
	keepS(&m.SubOrdinalDate, cur.SubOrdinalDate)
	keepT(&m.StartDate, cur.StartDate)
	keepT(&m.UTCStartDate, cur.UTCStartDate)
	keepT(&m.DueDate, cur.DueDate)
	keepT(&m.UTCDueDate, cur.UTCDueDate)
	keepT(&m.OrdinalDate, cur.OrdinalDate)
	return &m
}
