package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ErrAlreadySent: a submission names a client id (EAS ComposeMail ClientId) that the same
// device of the same user already used. Nothing was queued or delivered again; EAS answers
// MessagePreviouslySent (118).
var ErrAlreadySent = errors.New("store: message previously sent")

// Outbound recipient states.
const (
	// OutboundQueued: waiting to be delivered (a local recipient until its Inbox has the
	// message; a remote one until the SMTP relay hands it on).
	OutboundQueued = "queued"
	// OutboundDelivered: done.
	OutboundDelivered = "delivered"
	// OutboundFailed: given up; LastError says why.
	OutboundFailed = "failed"
)

// NewOutbound is a submitted message for EnqueueOutbound.
type NewOutbound struct {
	User UserID // the sender; required
	// DeviceID and ClientID, when ClientID is not empty, make the submission idempotent: a
	// second one with the same (User, DeviceID, ClientID) fails with ErrAlreadySent.
	DeviceID, ClientID string
	EnvelopeFrom       string // SMTP MAIL FROM; required
	MessageID          string // Message-ID header without angle brackets, for the admin view
	Raw                []byte // the message as it is sent (no Bcc header); required
	Local              []string
	Remote             []string // at least one of Local and Remote
}

// OutboundRecipient is one recipient of a queued message.
type OutboundRecipient struct {
	Address   string
	Local     bool   // a user of this server: delivered by the submitter at once
	Status    string // OutboundQueued, OutboundDelivered or OutboundFailed
	Attempts  int
	LastError string
	UpdatedAt time.Time
}

// OutboundMessage is a submitted message and its recipients.
type OutboundMessage struct {
	ID           int64
	User         UserID
	EnvelopeFrom string
	MessageID    string
	Size         int64
	CreatedAt    time.Time
	Recipients   []OutboundRecipient
}

// maxClientIDLen bounds a client id (MS-ASCMD 2.2.3.29.1 ClientId: up to 40 characters; we
// allow more for clients that exceed it).
const maxClientIDLen = 128

// EnqueueOutbound records a submission in one transaction: the client id (when given), the
// message and every recipient with status OutboundQueued. The caller then delivers to the
// local recipients and marks them with OutboundRecipientDone; the remote ones wait for the
// SMTP relay. A crash after the commit leaves undelivered recipients queued, never lost, and a
// resent submission with the same client id is refused with ErrAlreadySent, so nothing is sent
// twice. Errors: ErrAlreadySent, ErrInvalidArgument, ErrNotFound (no such user).
func (s *Store) EnqueueOutbound(ctx context.Context, m NewOutbound) (OutboundMessage, error) {
	if m.EnvelopeFrom == "" || len(m.Raw) == 0 || len(m.Local)+len(m.Remote) == 0 {
		return OutboundMessage{}, fmt.Errorf("enqueue outbound: %w: sender, message and a recipient are required", ErrInvalidArgument)
	}
	if len(m.ClientID) > maxClientIDLen {
		return OutboundMessage{}, fmt.Errorf("enqueue outbound: %w: client id of %d bytes", ErrInvalidArgument, len(m.ClientID))
	}
	if len(m.Raw) > MaxMessageSize {
		return OutboundMessage{}, fmt.Errorf("enqueue outbound: %w: %d bytes is over the %d byte limit", ErrInvalidMessage, len(m.Raw), MaxMessageSize)
	}
	t := now()
	out := OutboundMessage{User: m.User, EnvelopeFrom: m.EnvelopeFrom, MessageID: m.MessageID, Size: int64(len(m.Raw)), CreatedAt: t}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if m.ClientID != "" {
			if err := validDeviceID(m.DeviceID); err != nil {
				return err
			}
			// The primary key makes a second insert fail; checking first keeps the common
			// resend case out of the error path (and PostgreSQL's aborted transaction).
			var n int64
			if err := tx.Raw(`SELECT COUNT(*) FROM sent_client_ids WHERE user_id = ? AND device_id = ? AND client_id = ?`,
				int64(m.User), m.DeviceID, m.ClientID).Scan(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return ErrAlreadySent
			}
		}
		if err := tx.Raw(`INSERT INTO outbound_messages (user_id, envelope_from, message_id, size, data, created_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, int64(m.User), m.EnvelopeFrom, m.MessageID, out.Size, m.Raw, timestamp(t)).
			Scan(&out.ID).Error; err != nil {
			if isForeignKeyViolation(err) {
				return fmt.Errorf("user %d: %w", m.User, ErrNotFound)
			}
			return fmt.Errorf("insert message: %w", err)
		}
		add := func(addr string, local bool) error {
			for _, r := range out.Recipients {
				if r.Address == addr {
					return nil // one delivery per address
				}
			}
			if err := tx.Exec(`INSERT INTO outbound_recipients (message_id, address, local, status, next_attempt_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)`, out.ID, addr, local, OutboundQueued, timestamp(t), timestamp(t)).Error; err != nil {
				return fmt.Errorf("insert recipient: %w", err)
			}
			out.Recipients = append(out.Recipients, OutboundRecipient{Address: addr, Local: local, Status: OutboundQueued, UpdatedAt: t})
			return nil
		}
		for _, a := range m.Local {
			if err := add(a, true); err != nil {
				return err
			}
		}
		for _, a := range m.Remote {
			if err := add(a, false); err != nil {
				return err
			}
		}
		if m.ClientID != "" {
			if err := tx.Exec(`INSERT INTO sent_client_ids (user_id, device_id, client_id, outbound_id, created_at) VALUES (?, ?, ?, ?, ?)`,
				int64(m.User), m.DeviceID, m.ClientID, out.ID, timestamp(t)).Error; err != nil {
				if isDuplicate(err) {
					return ErrAlreadySent // a concurrent resend won
				}
				return fmt.Errorf("record client id: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return OutboundMessage{}, fmt.Errorf("enqueue outbound from %s: %w", m.EnvelopeFrom, err)
	}
	return out, nil
}

// ClientIDUsed reports whether the device of the user already submitted a message with
// clientID.
func (s *Store) ClientIDUsed(ctx context.Context, user UserID, deviceID, clientID string) (bool, error) {
	var n int64
	if err := s.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM sent_client_ids WHERE user_id = ? AND device_id = ? AND client_id = ?`,
		int64(user), deviceID, clientID).Scan(&n).Error; err != nil {
		return false, fmt.Errorf("client id %q of user %d device %q: %w", clientID, user, deviceID, err)
	}
	return n > 0, nil
}

// OutboundRecipientDone records the outcome of one delivery attempt: status is
// OutboundDelivered, OutboundFailed or (a temporary failure, to retry) OutboundQueued, with
// the error text for the admin. It counts the attempt. When no recipient of the message is
// queued any more and every one was delivered, the message is removed from the queue; failed
// ones stay visible. Errors: ErrNotFound, ErrInvalidArgument.
func (s *Store) OutboundRecipientDone(ctx context.Context, id int64, addr, status, lastError string) error {
	switch status {
	case OutboundDelivered, OutboundFailed, OutboundQueued:
	default:
		return fmt.Errorf("outbound %d recipient %s: %w: status %q", id, addr, ErrInvalidArgument, status)
	}
	t := now()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec(`UPDATE outbound_recipients SET status = ?, attempts = attempts + 1, last_error = ?, updated_at = ?
			WHERE message_id = ? AND address = ?`, status, lastError, timestamp(t), id, addr)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		var open int64
		if err := tx.Raw(`SELECT COUNT(*) FROM outbound_recipients WHERE message_id = ? AND status <> ?`, id, OutboundDelivered).
			Scan(&open).Error; err != nil {
			return err
		}
		if open == 0 {
			return tx.Exec(`DELETE FROM outbound_messages WHERE id = ?`, id).Error
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbound %d recipient %s: %w", id, addr, err)
	}
	return nil
}

type outboundRow struct {
	ID           int64
	UserID       int64
	EnvelopeFrom string
	MessageID    string
	Size         int64
	CreatedAt    timestamp
}

type outboundRecipientRow struct {
	MessageID int64
	Address   string
	Local     bool
	Status    string
	Attempts  int
	LastError string
	UpdatedAt timestamp
}

// OutboundQueue returns the messages still in the outbound queue, oldest first, at most limit
// (zero: 1000), with their recipients: what an administrator sees waiting.
func (s *Store) OutboundQueue(ctx context.Context, limit int) ([]OutboundMessage, error) {
	if limit <= 0 {
		limit = 1000
	}
	db := s.db.WithContext(ctx)
	var rows []outboundRow
	if err := db.Raw(`SELECT id, user_id, envelope_from, message_id, size, created_at FROM outbound_messages ORDER BY id LIMIT ?`, limit).
		Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("outbound queue: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(rows))
	byID := make(map[int64]int, len(rows))
	out := make([]OutboundMessage, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
		byID[r.ID] = i
		out[i] = OutboundMessage{ID: r.ID, User: UserID(r.UserID), EnvelopeFrom: r.EnvelopeFrom, MessageID: r.MessageID,
			Size: r.Size, CreatedAt: timeOf(r.CreatedAt)}
	}
	var rcpts []outboundRecipientRow
	if err := db.Raw(`SELECT message_id, address, local, status, attempts, last_error, updated_at FROM outbound_recipients
		WHERE message_id IN ? ORDER BY message_id, local DESC, address`, ids).Scan(&rcpts).Error; err != nil {
		return nil, fmt.Errorf("outbound queue recipients: %w", err)
	}
	for _, r := range rcpts {
		m := &out[byID[r.MessageID]]
		m.Recipients = append(m.Recipients, OutboundRecipient{Address: r.Address, Local: r.Local, Status: r.Status,
			Attempts: r.Attempts, LastError: r.LastError, UpdatedAt: timeOf(r.UpdatedAt)})
	}
	return out, nil
}

// OutboundData returns the bytes of a queued message.
func (s *Store) OutboundData(ctx context.Context, id int64) ([]byte, error) {
	var rows []struct{ Data []byte }
	if err := s.db.WithContext(ctx).Raw(`SELECT data FROM outbound_messages WHERE id = ?`, id).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("outbound %d: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("outbound %d: %w", id, ErrNotFound)
	}
	return rows[0].Data, nil
}
