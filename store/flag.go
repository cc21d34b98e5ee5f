package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// Follow-up flags and the last reply or forward of a message, as EAS keeps
// them (MS-ASEMAIL 2.2.2.34 Flag, 2.2.2.44 LastVerbExecuted, 2.2.2.45
// LastVerbExecutionTime).
//
// IMAP sees one bit of the flag, \Flagged, kept in Flags.Flagged. The
// invariant is Flags.Flagged == (Flag.Status == FlagActive): an active
// flag is \Flagged, a completed one is not flagged for IMAP but keeps its
// details for EAS. SetFlags keeps it when either side writes: an EAS Flag
// sets \Flagged from its status, an IMAP \Flagged on a message without an
// active flag makes it active (keeping type and dates, dropping the
// completion), and \Flagged removed from an active flag clears it.
//
// Storage: items.flag holds the Flag as JSON (empty for none), items.last_verb
// the Verb and items.last_verb_at its time in microseconds since the Unix
// epoch (migration 9).

// FlagStatus is the status of a follow-up flag (MS-ASEMAIL 2.2.2.74 Status).
type FlagStatus int

// Flag statuses (MS-ASEMAIL 2.2.2.74).
const (
	FlagCleared  FlagStatus = 0 // no flag
	FlagComplete FlagStatus = 1 // marked complete
	FlagActive   FlagStatus = 2 // flagged for follow-up
)

// Flag is a message's follow-up flag with all that MS-ASEMAIL 2.2.2.34
// lets a client set. StartDate, DueDate and OrdinalDate are local times
// written as if UTC, as the client sends them (tasks:StartDate 2.2.2.72,
// tasks:DueDate 2.2.2.31); the Utc fields are UTC (2.2.2.87, 2.2.2.86).
// The zero Flag is no flag.
type Flag struct {
	Status         FlagStatus `json:"status,omitzero"`
	Type           string     `json:"type,omitzero"`    // FlagType 2.2.2.35, "Flag for follow up"
	Subject        string     `json:"subject,omitzero"` // tasks:Subject 2.2.2.75.2
	StartDate      time.Time  `json:"start,omitzero"`
	UTCStartDate   time.Time  `json:"utcStart,omitzero"`
	DueDate        time.Time  `json:"due,omitzero"`
	UTCDueDate     time.Time  `json:"utcDue,omitzero"`
	DateCompleted  time.Time  `json:"dateCompleted,omitzero"` // tasks:DateCompleted 2.2.2.23
	CompleteTime   time.Time  `json:"completeTime,omitzero"`  // CompleteTime 2.2.2.19
	ReminderSet    bool       `json:"reminderSet,omitzero"`   // tasks:ReminderSet 2.2.2.64
	ReminderTime   time.Time  `json:"reminderTime,omitzero"`  // tasks:ReminderTime 2.2.2.65
	OrdinalDate    time.Time  `json:"ordinal,omitzero"`       // tasks:OrdinalDate 2.2.2.56
	SubOrdinalDate string     `json:"subOrdinal,omitzero"`    // tasks:SubOrdinalDate 2.2.2.76
}

// Validate reports a status outside 0–2 (MS-ASEMAIL 2.2.2.74: the server
// answers Sync status 6 for it) as ErrInvalidArgument.
func (f Flag) Validate() error {
	if f.Status < FlagCleared || f.Status > FlagActive {
		return fmt.Errorf("%w: flag status %d", ErrInvalidArgument, f.Status)
	}
	return nil
}

// normalize returns f with its times in UTC at microsecond precision (what
// both databases keep), and the zero Flag for a cleared one.
func (f Flag) normalize() Flag {
	if f.Status == FlagCleared {
		return Flag{}
	}
	for _, t := range []*time.Time{&f.StartDate, &f.UTCStartDate, &f.DueDate, &f.UTCDueDate,
		&f.DateCompleted, &f.CompleteTime, &f.ReminderTime, &f.OrdinalDate} {
		if !t.IsZero() {
			*t = t.UTC().Truncate(time.Microsecond)
		}
	}
	return f
}

// encodeFlag is the items.flag column of f: empty for no flag.
func encodeFlag(f Flag) string {
	if f.Status == FlagCleared {
		return ""
	}
	b, _ := json.Marshal(f.normalize()) // a Flag always marshals
	return string(b)
}

// decodeFlag reads items.flag; flagged is items.flagged, which wins where
// the two disagree (a row written before migration 9, or by hand).
func decodeFlag(s string, flagged bool) Flag {
	var f Flag
	if s != "" {
		_ = json.Unmarshal([]byte(s), &f) // written by encodeFlag
	}
	switch {
	case flagged && f.Status != FlagActive:
		f = activate(f)
	case !flagged && f.Status == FlagActive:
		f = Flag{}
	}
	return f
}

// activate makes f an active flag, keeping its type and dates and dropping
// a completion.
func activate(f Flag) Flag {
	f.Status = FlagActive
	f.DateCompleted, f.CompleteTime = time.Time{}, time.Time{}
	return f
}

// Verb is the last action taken on a message (MS-ASEMAIL 2.2.2.44
// LastVerbExecuted).
type Verb int

// Verbs (MS-ASEMAIL 2.2.2.44).
const (
	VerbNone          Verb = 0 // "Unknown": never replied to or forwarded
	VerbReplyToSender Verb = 1
	VerbReplyToAll    Verb = 2
	VerbForward       Verb = 3
)

// LastVerb is a message's latest reply or forward and when it happened
// (MS-ASEMAIL 2.2.2.44, 2.2.2.45). The zero LastVerb is none.
type LastVerb struct {
	Verb Verb
	At   time.Time
}

// Validate reports a verb outside 1–3 or a zero time as ErrInvalidArgument.
func (v LastVerb) Validate() error {
	if v.Verb < VerbReplyToSender || v.Verb > VerbForward {
		return fmt.Errorf("%w: verb %d", ErrInvalidArgument, v.Verb)
	}
	if v.At.IsZero() {
		return fmt.Errorf("%w: verb %d without a time", ErrInvalidArgument, v.Verb)
	}
	return nil
}

// validate checks Flag and LastVerb before anything is written.
func (f FlagsUpdate) validate() error {
	if f.Flag != nil {
		if err := f.Flag.Validate(); err != nil {
			return err
		}
		if f.Flagged != nil && *f.Flagged != (f.Flag.Status == FlagActive) {
			return fmt.Errorf("%w: flagged %t with flag status %d", ErrInvalidArgument, *f.Flagged, f.Flag.Status)
		}
	}
	if f.LastVerb != nil {
		return f.LastVerb.Validate()
	}
	return nil
}

// applyFlag sets r's flag and flagged columns from f.
func (f FlagsUpdate) applyFlag(r *itemRow) {
	switch {
	case f.Flag != nil:
		r.Flag = encodeFlag(*f.Flag)
		r.Flagged = f.Flag.Status == FlagActive
	case f.Flagged != nil:
		cur := decodeFlag(r.Flag, r.Flagged)
		switch {
		case *f.Flagged && cur.Status != FlagActive:
			r.Flag = encodeFlag(activate(cur))
		case !*f.Flagged && cur.Status == FlagActive:
			r.Flag = ""
		}
		r.Flagged = *f.Flagged
	}
}

// applyVerb records f.LastVerb in r unless r holds a later one; the
// answered or forwarded flag is set either way.
func (f FlagsUpdate) applyVerb(r *itemRow) {
	if f.LastVerb == nil {
		return
	}
	v := *f.LastVerb
	if v.Verb == VerbForward {
		r.Forwarded = true
	} else {
		r.Answered = true
	}
	at := v.At.UnixMicro()
	if r.LastVerb == int(VerbNone) || at >= r.LastVerbAt {
		r.LastVerb, r.LastVerbAt = int(v.Verb), at
	}
}
