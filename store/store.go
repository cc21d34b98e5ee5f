package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Sentinel errors. Callers test them with errors.Is; the store wraps them
// with what it was doing ("create user a@example.org: store: already
// exists").
var (
	// ErrNotFound: the user, folder, item, admin or blob does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrExists: a unique name (address, admin name, folder name) is taken.
	ErrExists = errors.New("store: already exists")
	// ErrInvalidAddress: not a bare RFC 5322 addr-spec (no display name,
	// no angle brackets).
	ErrInvalidAddress = errors.New("store: invalid address")
	// ErrEmptyPassword: a password must not be empty.
	ErrEmptyPassword = errors.New("store: empty password")
	// ErrBadCredentials: unknown account or wrong password; deliberately
	// does not say which.
	ErrBadCredentials = errors.New("store: bad credentials")
	// ErrUserDisabled: the password was right but the account is disabled.
	// Authenticate returns it together with the User so that EAS can answer
	// status 126 (UserDisabledForSync) and IMAP/POP3 can say why.
	ErrUserDisabled = errors.New("store: user disabled")
	// ErrInvalidMessage: the input is not an RFC 5322 message; the wrapped
	// text says why. Nothing was written.
	ErrInvalidMessage = errors.New("store: invalid message")
	// ErrConflict: the operation contradicts the current state (deleting or
	// renaming a default folder, moving a folder into itself, a folder of
	// another mailbox).
	ErrConflict = errors.New("store: conflict")
	// ErrInvalidArgument: a malformed name, role or option.
	ErrInvalidArgument = errors.New("store: invalid argument")
	// ErrSchemaTooNew: the database was migrated by a newer easd.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
)

// Options configures Open. Every field is optional; the zero value of each is
// its documented default.
type Options struct {
	// Logger receives store logs (migrations, failed notifications). Nil:
	// discard.
	Logger *slog.Logger
	// KDF sets the argon2id parameters for new password hashes. Zero: the
	// production default (RFC 9106 section 4, second recommended option).
	// Existing hashes keep the parameters they were made with.
	KDF KDFParams
	// Notifier carries change events to watchers. Nil: for SQLite an
	// in-process Hub; for PostgreSQL a PGNotifier (LISTEN/NOTIFY), so that
	// several easd processes on one database wake each other's watchers.
	// A Notifier passed here is not closed by Store.Close.
	Notifier Notifier
	// MaxOpenConns limits the connection pool. Zero: 16 for PostgreSQL and
	// 8 for SQLite (writers queue on SQLite's lock anyway).
	MaxOpenConns int
	// BusyTimeout is how long an SQLite writer waits for the database lock
	// before failing with SQLITE_BUSY. Zero: 30s. Ignored for PostgreSQL.
	BusyTimeout time.Duration
}

type dialect int

const (
	dialectSQLite dialect = iota + 1
	dialectPostgres
)

func (d dialect) String() string {
	switch d {
	case dialectSQLite:
		return "sqlite"
	case dialectPostgres:
		return "postgres"
	}
	return "unknown"
}

// Store is the easd data store. It is safe for concurrent use by multiple
// goroutines. Close it when done.
type Store struct {
	db       *gorm.DB
	dialect  dialect
	log      *slog.Logger
	kdf      KDFParams
	notifier Notifier
	admin    *adminBus // AdminChange subscribers (adminchange.go)
	// closeNotifier stops a notifier Open created; nil for one passed in.
	closeNotifier func() error
	// dummyHash is compared against for unknown accounts so that
	// Authenticate costs about the same whether or not the account exists.
	dummyHash string
	// localNotifier: the notifier is the Hub Open made for SQLite, which sees
	// only this process's writes (until PollOtherWriters).
	localNotifier bool
	fcOnce        sync.Once
	fc            *folderCache // MailboxFolder (foldercache.go)
	stmts         sync.Map     // query → *sql.Stmt (prepared.go)
	acOnce        sync.Once
	ac            *accountCache // CachedUserAndPolicy (accountcache.go)
}

// Open connects to the database named by dsn and returns a Store. It does
// not create or migrate the schema: call Migrate (easd serve and easd
// migrate do).
//
// dsn is one of:
//
//	sqlite://<path>                 e.g. sqlite://./data/easd.db or sqlite:///var/lib/easd/easd.db
//	postgres://user@host:port/db?sslmode=disable   (also postgresql://)
//
// For SQLite the file is created if missing but its directory is not: the
// caller creates it (easd creates --data). Open sets WAL journaling,
// foreign keys, a busy timeout and BEGIN IMMEDIATE transactions, so
// concurrent writers queue instead of failing with SQLITE_BUSY. Extra query
// parameters in an sqlite:// URL are passed to the driver.
//
// For PostgreSQL the URL is passed to pgx unchanged; parameters such as
// search_path=myschema select a schema.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("pkg", "store")
	kdf := opts.KDF
	if kdf == (KDFParams{}) {
		kdf = DefaultKDF
	}
	if err := kdf.validate(); err != nil {
		return nil, err
	}

	var (
		dialector gorm.Dialector
		d         dialect
	)
	maxOpen := opts.MaxOpenConns
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		d = dialectSQLite
		path, query, _ := strings.Cut(strings.TrimPrefix(dsn, "sqlite://"), "?")
		if path == "" {
			return nil, fmt.Errorf("store: open %q: %w: empty sqlite path", dsn, ErrInvalidArgument)
		}
		busy := opts.BusyTimeout
		if busy <= 0 {
			busy = 30 * time.Second
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return nil, fmt.Errorf("store: open %q: %w: %v", dsn, ErrInvalidArgument, err)
		}
		// https://www.sqlite.org/wal.html: readers do not block the writer.
		// _txlock=immediate: a transaction takes the write lock at BEGIN, so
		// a second writer waits in busy_timeout instead of failing later
		// with SQLITE_BUSY when it upgrades a read lock.
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)") // durable in WAL mode except for the last commits on power loss
		q.Set("_txlock", "immediate")
		if q.Has("_time_format") {
			// go-sqlite ignores _txlock when _time_format is set.
			return nil, fmt.Errorf("store: open %q: %w: _time_format is not supported", dsn, ErrInvalidArgument)
		}
		dialector = sqlite.Open(path + "?" + q.Encode())
		if maxOpen == 0 {
			maxOpen = 8
		}
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		d = dialectPostgres
		dialector = postgres.Open(dsn)
		if maxOpen == 0 {
			maxOpen = 16
		}
	default:
		return nil, fmt.Errorf("store: open: %w: database URL must start with sqlite:// or postgres://", ErrInvalidArgument)
	}

	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true, // every write path opens its own transaction
		// No PrepareStmt: gorm's statement cache starts a goroutine that
		// outlives Close, and pgx already caches prepared statements per
		// connection.
		TranslateError: true, // unique violations become gorm.ErrDuplicatedKey on both drivers
		NowFunc:        func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s database: %w", d, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("store: open %s database: %w", d, err)
	}
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxOpen)
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("store: connect to %s database: %w", d, err)
	}

	n := opts.Notifier
	var closeNotifier func() error
	if n == nil && d == dialectPostgres {
		pn, err := NewPGNotifier(ctx, dsn, db, log)
		if err != nil {
			_ = sqlDB.Close()
			return nil, err
		}
		n, closeNotifier = pn, pn.Close
	}
	local := n == nil
	if local {
		n = NewHub()
	}
	s := &Store{db: db, dialect: d, log: log, kdf: kdf, notifier: n, closeNotifier: closeNotifier, admin: newAdminBus(),
		localNotifier: local}
	if pn, ok := n.(*PGNotifier); ok {
		s.listenAdmin(pn)
	}
	// The account cache subscribes to admin changes now, not at its first use: subscribers
	// are called in order, so every subscriber outside the store (a registry, a test waiting
	// for a signal) hears of a change only after the store's own cache dropped what it names.
	s.accounts()
	s.dummyHash, err = hashPassword("easd dummy password", kdf)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Ping checks that the database answers; /healthz calls it.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close stops the notifier Open created and closes the database
// connections. Watchers stay open until their own Close; they simply
// receive no more signals.
func (s *Store) Close() error {
	s.closeFolderCache()
	s.closeAccountCache()
	if err := s.closePrepared(); err != nil {
		s.log.Warn("close prepared statements", "err", err)
	}
	if s.closeNotifier != nil {
		if err := s.closeNotifier(); err != nil {
			s.log.Warn("close change notifier", "err", err)
		}
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	if err := sqlDB.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect.String() }

// DB returns the underlying gorm handle for tests and for store-adjacent
// tooling. Writes through it bypass the modseq invariant.
func (s *Store) DB() *gorm.DB { return s.db }

// now is the store's clock: UTC, microsecond precision (what PostgreSQL
// keeps), so a value read back equals the value written.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// isDuplicate reports whether err is a unique-constraint violation. The
// drivers' gorm translators miss some wrapped forms, so PostgreSQL's
// SQLSTATE is checked as well.
func isDuplicate(err error) bool {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" // unique_violation
}

// isForeignKeyViolation reports whether err is a foreign-key violation.
func isForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, gorm.ErrForeignKeyViolated) {
		return true
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503" // foreign_key_violation
}
