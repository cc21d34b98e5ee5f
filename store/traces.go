package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// DefaultTraceLimit is how many traces AppendTrace keeps per device when
// its limit is 0.
const DefaultTraceLimit = 200

// TraceRecord is one stored request/response exchange of a traced device:
// decoded to XML and redacted before it reaches the store.
type TraceRecord struct {
	ID              int64
	Device          PartnershipID
	At              time.Time
	Command         string
	ProtocolVersion string
	HTTPStatus      int
	Status          int // protocol status of a status-only answer, 0 otherwise
	Duration        time.Duration
	Request         string
	Response        string
}

type traceRow struct {
	ID              int64
	Device          int64
	At              timestamp
	Command         string
	ProtocolVersion string
	HTTPStatus      int `gorm:"column:http_status"`
	Status          int
	DurationUs      int64 `gorm:"column:duration_us"`
	Request         string
	Response        string
}

// AppendTrace stores a trace and deletes the device's oldest ones beyond
// limit (0: DefaultTraceLimit), in one transaction: the traces of a device
// are a ring. Errors: ErrNotFound for an unknown device.
func (s *Store) AppendTrace(ctx context.Context, t TraceRecord, limit int) error {
	if limit <= 0 {
		limit = DefaultTraceLimit
	}
	at := t.At
	if at.IsZero() {
		at = now()
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`INSERT INTO device_traces (device, at, command, protocol_version, http_status, status, duration_us, request, response)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, int64(t.Device), timestamp(at), t.Command, t.ProtocolVersion,
			t.HTTPStatus, t.Status, t.Duration.Microseconds(), cleanText(t.Request), cleanText(t.Response)).Error; err != nil {
			return err
		}
		// Everything older than the limit-th newest goes.
		return tx.Exec(`DELETE FROM device_traces WHERE device = ? AND id <= (
			SELECT id FROM device_traces WHERE device = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
			int64(t.Device), int64(t.Device), limit).Error
	})
	if isForeignKeyViolation(err) {
		return fmt.Errorf("append trace of device %d: %w", t.Device, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("append trace of device %d: %w", t.Device, err)
	}
	return nil
}

// Traces returns a device's traces, newest first, at most limit (0: all
// kept).
func (s *Store) Traces(ctx context.Context, device PartnershipID, limit int) ([]TraceRecord, error) {
	q := s.db.WithContext(ctx).Raw(`SELECT id, device, at, command, protocol_version, http_status, status, duration_us, request, response
		FROM device_traces WHERE device = ? ORDER BY id DESC`, int64(device))
	if limit > 0 {
		q = s.db.WithContext(ctx).Raw(`SELECT id, device, at, command, protocol_version, http_status, status, duration_us, request, response
		FROM device_traces WHERE device = ? ORDER BY id DESC LIMIT ?`, int64(device), limit)
	}
	var rows []traceRow
	if err := q.Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("traces of device %d: %w", device, err)
	}
	out := make([]TraceRecord, len(rows))
	for i, r := range rows {
		out[i] = TraceRecord{ID: r.ID, Device: PartnershipID(r.Device), At: timeOf(r.At), Command: r.Command,
			ProtocolVersion: r.ProtocolVersion, HTTPStatus: r.HTTPStatus, Status: r.Status,
			Duration: time.Duration(r.DurationUs) * time.Microsecond, Request: r.Request, Response: r.Response}
	}
	return out, nil
}
