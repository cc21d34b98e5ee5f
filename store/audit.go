package store

import (
	"context"
	"fmt"
)

type auditRemoteKey struct{}

// WithAuditRemote returns ctx carrying addr, the client address of whoever asks for a change:
// an entry appended in it without a RemoteAddr gets addr. The admin API sets it, so that a
// change it asks the device registry for is logged once, by the registry, with the
// administrator's name and address.
func WithAuditRemote(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, auditRemoteKey{}, addr)
}

// AppendAudit appends an entry to the audit log. The log is append-only:
// the store has no method to change or delete entries. A zero At means now.
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) error {
	if e.Action == "" {
		return fmt.Errorf("append audit: %w: empty action", ErrInvalidArgument)
	}
	if e.RemoteAddr == "" {
		e.RemoteAddr, _ = ctx.Value(auditRemoteKey{}).(string)
	}
	at := e.At
	if at.IsZero() {
		at = now()
	}
	err := s.db.WithContext(ctx).Exec(`INSERT INTO audit (at, actor, action, target, detail, remote_addr) VALUES (?, ?, ?, ?, ?, ?)`,
		timestamp(at), cleanText(e.Actor), cleanText(e.Action), cleanText(e.Target), cleanText(e.Detail), cleanText(e.RemoteAddr)).Error
	if err != nil {
		return fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return nil
}

type auditRow struct {
	At         timestamp
	Actor      string
	Action     string
	Target     string
	Detail     string
	RemoteAddr string
}

// Audit returns the entries matching f, newest first.
func (s *Store) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := s.db.WithContext(ctx).Table("audit").Select("at, actor, action, target, detail, remote_addr")
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", timestamp(f.Since))
	}
	if !f.Until.IsZero() {
		q = q.Where("at < ?", timestamp(f.Until))
	}
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.Target != "" {
		q = q.Where("target = ?", f.Target)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	var rows []auditRow
	if err := q.Order("at DESC, id DESC").Limit(limit).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	out := make([]AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = AuditEntry{At: timeOf(r.At), Actor: r.Actor, Action: r.Action, Target: r.Target, Detail: r.Detail, RemoteAddr: r.RemoteAddr}
	}
	return out, nil
}
