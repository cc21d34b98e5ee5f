package store

import (
	"context"
	"database/sql"
	"fmt"
)

// UserAndPolicy returns the user with address addr together with the policy in force for it
// (UserPolicy), in one database read: an EAS request needs both, the account to authenticate
// and the policy for the policy-key check. The policy is the zero PolicyRecord with ok false
// when the user has none (no assignment and no default policy). Errors wrap ErrNotFound for an
// unknown address.
func (s *Store) UserAndPolicy(ctx context.Context, addr string) (u User, p PolicyRecord, ok bool, err error) {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return User{}, PolicyRecord{}, false, fmt.Errorf("user %s: %w", addr, ErrNotFound)
	}
	var (
		r         userRow
		pid, pver sql.NullInt64
		pname     sql.NullString
		pset      sql.NullString
		pdef      sql.NullBool
		pc, pu    nullTimestamp
	)
	err = s.queryRow(ctx, `SELECT u.id, u.address, u.display_name, u.password_hash, u.disabled,
		u.proto_eas, u.proto_imap, u.proto_pop3, u.proto_smtp, u.created_at, m.id,
		p.id, p.name, p.version, p.settings, p.is_default, p.created_at, p.updated_at
		FROM users u JOIN mailboxes m ON m.user_id = u.id
		LEFT JOIN policies p ON p.id = COALESCE(u.policy_id, (SELECT id FROM policies WHERE is_default))
		WHERE u.address = ?`, []any{a},
		&r.ID, &r.Address, &r.DisplayName, &r.PasswordHash, &r.Disabled, &r.ProtoEAS, &r.ProtoIMAP, &r.ProtoPOP3,
		&r.ProtoSMTP, &r.CreatedAt, &r.MailboxID, &pid, &pname, &pver, &pset, &pdef, &pc, &pu)
	if err != nil {
		return User{}, PolicyRecord{}, false, fmt.Errorf("user %s: %w", addr, err)
	}
	if !pid.Valid {
		return r.user(), PolicyRecord{}, false, nil
	}
	pr := policyRow{ID: pid.Int64, Name: pname.String, Version: pver.Int64, Settings: pset.String, IsDefault: pdef.Bool,
		CreatedAt: pc.t, UpdatedAt: pu.t}
	return r.user(), pr.record(), true, nil
}

// nullTimestamp scans a timestamp that may be NULL (the zero time then).
type nullTimestamp struct{ t timestamp }

func (n *nullTimestamp) Scan(v any) error {
	if v == nil {
		n.t = timestamp{}
		return nil
	}
	return n.t.Scan(v)
}
