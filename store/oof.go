package store

import (
	"context"
	"fmt"
	"time"
)

// OofState is the out-of-office state (the OofState element of Settings Oof, MS-ASCMD 2.2.3.122).
type OofState int

// OofState values (MS-ASCMD 2.2.3.122 Oof).
const (
	OofDisabled  OofState = 0 // off
	OofGlobal    OofState = 1 // on, until switched off
	OofScheduled OofState = 2 // on between Start and End
)

// Valid reports whether s is 0, 1 or 2.
func (s OofState) Valid() bool { return s >= OofDisabled && s <= OofScheduled }

// OofMessage is the reply for one audience (an OofMessage element).
type OofMessage struct {
	Enabled  bool
	Message  string // ReplyMessage
	BodyType string // "Text" or "HTML" (the BodyType element); "" before it was set
}

// Oof is a user's out-of-office setting. The store only keeps it: sending
// the replies is the mail delivery path's job (not built yet).
type Oof struct {
	State      OofState
	Start, End time.Time // the window of OofScheduled; zero when not set
	// The three audiences of OofMessage: AppliesToInternal,
	// AppliesToExternalKnown, AppliesToExternalUnknown.
	Internal, ExternalKnown, ExternalUnknown OofMessage
}

type oofRow struct {
	State        int
	StartTime    timestamp
	EndTime      timestamp
	InternalOn   bool
	InternalMsg  string
	InternalType string
	KnownOn      bool
	KnownMsg     string
	KnownType    string
	UnknownOn    bool
	UnknownMsg   string
	UnknownType  string
	HasStart     bool
	HasEnd       bool
}

// Oof returns the user's out-of-office setting; a user who never set one
// gets the zero Oof (disabled, no messages).
func (s *Store) Oof(ctx context.Context, user UserID) (Oof, error) {
	var rows []oofRow
	if err := s.db.WithContext(ctx).Raw(`SELECT state, start_time, end_time, has_start, has_end,
		internal_on, internal_msg, internal_type, known_on, known_msg, known_type, unknown_on, unknown_msg, unknown_type
		FROM oof_settings WHERE user_id = ?`, int64(user)).Scan(&rows).Error; err != nil {
		return Oof{}, fmt.Errorf("oof of user %d: %w", user, err)
	}
	if len(rows) == 0 {
		return Oof{}, nil
	}
	r := rows[0]
	o := Oof{
		State:           OofState(r.State),
		Internal:        OofMessage{Enabled: r.InternalOn, Message: r.InternalMsg, BodyType: r.InternalType},
		ExternalKnown:   OofMessage{Enabled: r.KnownOn, Message: r.KnownMsg, BodyType: r.KnownType},
		ExternalUnknown: OofMessage{Enabled: r.UnknownOn, Message: r.UnknownMsg, BodyType: r.UnknownType},
	}
	if r.HasStart {
		o.Start = timeOf(r.StartTime)
	}
	if r.HasEnd {
		o.End = timeOf(r.EndTime)
	}
	return o, nil
}

// SetOof replaces the user's out-of-office setting. An invalid State, or
// OofScheduled with End not after Start, is ErrInvalidArgument; a user
// that does not exist is ErrNotFound. Times are kept in UTC to the
// microsecond.
func (s *Store) SetOof(ctx context.Context, user UserID, o Oof) error {
	if !o.State.Valid() {
		return fmt.Errorf("set oof of user %d: %w: state %d", user, ErrInvalidArgument, o.State)
	}
	if o.State == OofScheduled && (o.Start.IsZero() || o.End.IsZero() || !o.End.After(o.Start)) {
		return fmt.Errorf("set oof of user %d: %w: scheduled window %v to %v", user, ErrInvalidArgument, o.Start, o.End)
	}
	tx := s.db.WithContext(ctx)
	var n int64
	if err := tx.Raw(`SELECT COUNT(*) FROM users WHERE id = ?`, int64(user)).Scan(&n).Error; err != nil {
		return fmt.Errorf("set oof of user %d: %w", user, err)
	}
	if n == 0 {
		return fmt.Errorf("set oof of user %d: %w", user, ErrNotFound)
	}
	ts := func(t time.Time) timestamp { return timestamp(t.UTC().Truncate(time.Microsecond)) }
	err := tx.Exec(`INSERT INTO oof_settings (user_id, state, start_time, end_time, has_start, has_end,
		internal_on, internal_msg, internal_type, known_on, known_msg, known_type, unknown_on, unknown_msg, unknown_type, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, start_time = excluded.start_time,
		end_time = excluded.end_time, has_start = excluded.has_start, has_end = excluded.has_end,
		internal_on = excluded.internal_on, internal_msg = excluded.internal_msg, internal_type = excluded.internal_type,
		known_on = excluded.known_on, known_msg = excluded.known_msg, known_type = excluded.known_type,
		unknown_on = excluded.unknown_on, unknown_msg = excluded.unknown_msg, unknown_type = excluded.unknown_type,
		updated_at = excluded.updated_at`,
		int64(user), int(o.State), ts(o.Start), ts(o.End), !o.Start.IsZero(), !o.End.IsZero(),
		o.Internal.Enabled, o.Internal.Message, o.Internal.BodyType,
		o.ExternalKnown.Enabled, o.ExternalKnown.Message, o.ExternalKnown.BodyType,
		o.ExternalUnknown.Enabled, o.ExternalUnknown.Message, o.ExternalUnknown.BodyType,
		timestamp(now())).Error
	if err != nil {
		return fmt.Errorf("set oof of user %d: %w", user, err)
	}
	return nil
}
