package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"gorm.io/gorm"
)

// defaultFolders are created for every new user, in this order
// (MS-ASCMD 2.2.3.186.3 types 2–11).
var defaultFolders = []struct {
	name string
	typ  FolderType
}{
	{"Inbox", FolderInbox},
	{"Drafts", FolderDrafts},
	{"Deleted Items", FolderDeleted},
	{"Sent Items", FolderSent},
	{"Outbox", FolderOutbox},
	{"Tasks", FolderTasks},
	{"Calendar", FolderCalendar},
	{"Contacts", FolderContacts},
	{"Notes", FolderNotes},
	{"Journal", FolderJournal},
}

// NormalizeAddress checks that addr is a bare RFC 5322 addr-spec
// (local@domain: no display name, no angle brackets, no comments) and
// returns it lower-cased. Otherwise it returns ErrInvalidAddress.
func NormalizeAddress(addr string) (string, error) {
	a := strings.ToLower(strings.TrimSpace(addr))
	if a == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidAddress)
	}
	p, err := mail.ParseAddress(a)
	if err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrInvalidAddress, addr, err)
	}
	// RFC 5322 3.4.1 addr-spec only: ParseAddress also accepts
	// "Name <a@b>" and "a@b (comment)".
	if p.Name != "" || p.Address != a {
		return "", fmt.Errorf("%w %q: not a bare addr-spec", ErrInvalidAddress, addr)
	}
	local, domain, _ := strings.Cut(a, "@")
	if local == "" || domain == "" || !strings.Contains(domain, ".") && domain != "localhost" {
		return "", fmt.Errorf("%w %q: domain must be fully qualified", ErrInvalidAddress, addr)
	}
	return a, nil
}

type userRow struct {
	ID           int64
	Address      string
	DisplayName  string
	PasswordHash string
	Disabled     bool
	ProtoEAS     bool `gorm:"column:proto_eas"`
	ProtoIMAP    bool `gorm:"column:proto_imap"`
	ProtoPOP3    bool `gorm:"column:proto_pop3"`
	ProtoSMTP    bool `gorm:"column:proto_smtp"`
	CreatedAt    timestamp
	MailboxID    int64
}

func (r userRow) user() User {
	return User{
		ID:            UserID(r.ID),
		Address:       r.Address,
		DisplayName:   r.DisplayName,
		Disabled:      r.Disabled,
		Protocols:     Protocols{EAS: r.ProtoEAS, IMAP: r.ProtoIMAP, POP3: r.ProtoPOP3, SMTP: r.ProtoSMTP},
		Mailbox:       MailboxID(r.MailboxID),
		CreatedAt:     timeOf(r.CreatedAt),
		PasswordStamp: passwordStamp(r.PasswordHash),
	}
}

// passwordStamp derives User.PasswordStamp from the stored hash: every
// SetPassword draws a new salt, so the stamp changes with every password
// change, and it reveals nothing about the password.
func passwordStamp(hash string) uint64 {
	sum := sha256.Sum256([]byte(hash))
	return binary.BigEndian.Uint64(sum[:8])
}

const userSelect = `SELECT u.id, u.address, u.display_name, u.password_hash, u.disabled,
	u.proto_eas, u.proto_imap, u.proto_pop3, u.proto_smtp, u.created_at, m.id AS mailbox_id
FROM users u JOIN mailboxes m ON m.user_id = u.id`

// CreateUser validates and creates a user with every protocol enabled, its
// mailbox and the default folders, in one transaction. The password is
// hashed with argon2id. Errors: ErrInvalidAddress, ErrEmptyPassword,
// ErrExists.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	addr, err := NormalizeAddress(nu.Address)
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	if nu.Password == "" {
		return User{}, fmt.Errorf("create user %s: %w", addr, ErrEmptyPassword)
	}
	hash, err := hashPassword(nu.Password, s.kdf)
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", addr, err)
	}
	t := now()
	var (
		row    userRow
		events []FolderID
		mbID   int64
		modseq int64
	)
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var userID int64
		if err := tx.Raw(`INSERT INTO users (address, display_name, password_hash, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?) RETURNING id`, addr, strings.TrimSpace(nu.DisplayName), hash, timestamp(t), timestamp(t)).
			Scan(&userID).Error; err != nil {
			return err
		}
		if err := tx.Raw(`INSERT INTO mailboxes (user_id, modseq, created_at) VALUES (?, 0, ?) RETURNING id`,
			userID, timestamp(t)).Scan(&mbID).Error; err != nil {
			return err
		}
		for _, df := range defaultFolders {
			f, err := s.insertFolder(tx, MailboxID(mbID), 0, df.name, df.typ, t)
			if err != nil {
				return err
			}
			events = append(events, f.ID)
			modseq = f.ModSeq
		}
		return tx.Raw(userSelect+` WHERE u.id = ?`, userID).Scan(&row).Error
	})
	if isDuplicate(err) {
		return User{}, fmt.Errorf("create user %s: %w", addr, ErrExists)
	} else if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", addr, err)
	}
	s.publish(ctx, Event{Mailbox: MailboxID(mbID), ModSeq: modseq, Folders: events})
	return row.user(), nil
}

func (s *Store) userRow(ctx context.Context, addr string) (userRow, error) {
	a, err := NormalizeAddress(addr)
	if err != nil {
		// No such account can exist.
		return userRow{}, ErrNotFound
	}
	// Every EAS request reads its account here: a prepared statement (prepared.go).
	var r userRow
	err = s.queryRow(ctx, userSelect+` WHERE u.address = ?`, []any{a}, &r.ID, &r.Address, &r.DisplayName,
		&r.PasswordHash, &r.Disabled, &r.ProtoEAS, &r.ProtoIMAP, &r.ProtoPOP3, &r.ProtoSMTP, &r.CreatedAt, &r.MailboxID)
	return r, err
}

// UserByAddress returns the user with this address (compared
// case-insensitively), or ErrNotFound.
func (s *Store) UserByAddress(ctx context.Context, addr string) (User, error) {
	r, err := s.userRow(ctx, addr)
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", addr, err)
	}
	return r.user(), nil
}

// UserByID returns the user with this ID, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id UserID) (User, error) {
	var rows []userRow
	if err := s.db.WithContext(ctx).Raw(userSelect+` WHERE u.id = ?`, int64(id)).Scan(&rows).Error; err != nil {
		return User{}, fmt.Errorf("user %d: %w", id, err)
	}
	if len(rows) == 0 {
		return User{}, fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	return rows[0].user(), nil
}

// Users returns every user ordered by address.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	var rows []userRow
	if err := s.db.WithContext(ctx).Raw(userSelect + ` ORDER BY u.address`).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	users := make([]User, len(rows))
	for i, r := range rows {
		users[i] = r.user()
	}
	return users, nil
}

// updateUser runs an UPDATE on the user with address addr and maps "no
// row" to ErrNotFound.
func (s *Store) updateUser(ctx context.Context, addr string, set string, args ...any) error {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return ErrNotFound
	}
	args = append(args, timestamp(now()), a)
	var ids []int64
	if err := s.db.WithContext(ctx).Raw(`UPDATE users SET `+set+`, updated_at = ? WHERE address = ? RETURNING id`, args...).
		Scan(&ids).Error; err != nil {
		return err
	}
	if len(ids) == 0 {
		return ErrNotFound
	}
	// Caches of the account (CachedUserAndPolicy) in every process drop it.
	s.PublishAdminChange(ctx, AdminChange{Kind: AdminChangeUser, User: UserID(ids[0])})
	return nil
}

// SetPassword replaces the user's password. Errors: ErrEmptyPassword,
// ErrNotFound.
func (s *Store) SetPassword(ctx context.Context, addr, password string) error {
	if password == "" {
		return fmt.Errorf("set password of %s: %w", addr, ErrEmptyPassword)
	}
	hash, err := hashPassword(password, s.kdf)
	if err != nil {
		return fmt.Errorf("set password of %s: %w", addr, err)
	}
	if err := s.updateUser(ctx, addr, `password_hash = ?`, hash); err != nil {
		return fmt.Errorf("set password of %s: %w", addr, err)
	}
	return nil
}

// SetDisabled disables or enables the user. A disabled user cannot
// authenticate on any protocol (Authenticate returns ErrUserDisabled) but
// still receives mail.
func (s *Store) SetDisabled(ctx context.Context, addr string, disabled bool) error {
	if err := s.updateUser(ctx, addr, `disabled = ?`, disabled); err != nil {
		return fmt.Errorf("set disabled of %s: %w", addr, err)
	}
	return nil
}

// SetProtocols changes the protocol switches that are set in p and returns
// the updated user.
func (s *Store) SetProtocols(ctx context.Context, addr string, p ProtocolsUpdate) (User, error) {
	var (
		sets []string
		args []any
	)
	for _, f := range []struct {
		col string
		v   *bool
	}{{"proto_eas", p.EAS}, {"proto_imap", p.IMAP}, {"proto_pop3", p.POP3}, {"proto_smtp", p.SMTP}} {
		if f.v != nil {
			sets = append(sets, f.col+` = ?`)
			args = append(args, *f.v)
		}
	}
	if len(sets) > 0 {
		if err := s.updateUser(ctx, addr, strings.Join(sets, ", "), args...); err != nil {
			return User{}, fmt.Errorf("set protocols of %s: %w", addr, err)
		}
	}
	u, err := s.UserByAddress(ctx, addr)
	if err != nil {
		return User{}, fmt.Errorf("set protocols: %w", err)
	}
	return u, nil
}

// Authenticate checks a user's password. It returns ErrBadCredentials for
// an unknown address or a wrong password, taking about the same time in
// both cases (it hashes against a dummy for unknown users). If the password
// is right but the account is disabled it returns the User together with
// ErrUserDisabled, so that callers can answer EAS status 126
// (UserDisabledForSync) instead of 401; it never reveals that an account is
// disabled to someone without its password. Protocol switches are for the
// caller to check.
func (s *Store) Authenticate(ctx context.Context, addr, password string) (User, error) {
	r, err := s.userRow(ctx, addr)
	if errors.Is(err, ErrNotFound) {
		_, _ = verifyPassword(s.dummyHash, password)
		return User{}, fmt.Errorf("authenticate %s: %w", addr, ErrBadCredentials)
	} else if err != nil {
		return User{}, fmt.Errorf("authenticate %s: %w", addr, err)
	}
	ok, err := verifyPassword(r.PasswordHash, password)
	if err != nil {
		return User{}, fmt.Errorf("authenticate %s: %w", addr, err)
	}
	if !ok || password == "" {
		return User{}, fmt.Errorf("authenticate %s: %w", addr, ErrBadCredentials)
	}
	u := r.user()
	if u.Disabled {
		return u, fmt.Errorf("authenticate %s: %w", addr, ErrUserDisabled)
	}
	return u, nil
}
