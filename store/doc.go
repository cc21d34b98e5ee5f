// Package store is easd's data store: users and their mailboxes, folders,
// items (messages) and their content, the per-mailbox change log, dashboard
// accounts and the audit log, on SQLite (pure Go, the embedded default) or
// PostgreSQL (production, several nodes), through gorm. Every front-end
// (EAS, IMAP, POP3, SMTP, the admin API) reads and writes through it, and
// the change notifications that wake EAS Ping and IMAP IDLE come from it.
//
// # Model
//
//	users      1 ── 1 mailboxes (modseq) 1 ── * folders (uid_validity, uid_next, modseq)
//	                                      1 ── * items ─ * ──> 1 blobs (sha256, bytes)
//	                                      1 ── * changes (mailbox_id, modseq) primary key
//	admins, audit, schema_migrations
//
// and, per device partnership and protocol feature (migrations 2 onward):
//
//	policies, users.policy_id       mobile device mailbox policies (policy/)
//	devices, device_traces          partnerships, policy keys, access state, wipes (devices/)
//	device_rules, user_device_lists device access rules and per-user allow/block lists
//	folder_sync_states              a device's FolderSync snapshot (current and previous)
//	sync_states                     a device's Sync snapshot per collection (current and previous)
//	ping_states                     a device's last Ping parameters, for an empty Ping
//	oof_settings, device_passwords  Settings: out-of-office, sealed recovery passwords
//	outbound_messages, outbound_recipients, sent_client_ids
//	                                mail waiting for the SMTP relay; ClientIds already sent
//	admin_changes                   admin change signals for other processes on SQLite
//	                                (adminchange.go: PublishAdminChange; pruned after an hour)
//	items.flag, last_verb(_at)      the EAS follow-up flag in full and the latest reply or
//	                                forward (flag.go; migration 9)
//
// A user has exactly one mailbox, created with the user together with the
// default folders (Inbox, Drafts, Deleted Items, Sent Items, Outbox, Tasks,
// Calendar, Contacts, Notes, Journal; MS-ASCMD 2.2.3.186.3 types 2–11).
// Addresses are stored lower-cased and compared that way.
//
// # Change tracking: the modseq invariant
//
// Every mailbox has a modseq, a counter that only grows. Every change to a
// folder or an item of the mailbox runs in one transaction that
//
//  1. first takes the next modseq value(s): UPDATE mailboxes SET modseq =
//     modseq + n ... RETURNING modseq (on PostgreSQL this row lock
//     serialises writers of one mailbox and fixes the lock order mailbox →
//     folder → item, so writers cannot deadlock; SQLite serialises all
//     writers at BEGIN IMMEDIATE);
//  2. makes the change, stamping the item or folder with that modseq (and
//     the item's folder, whose modseq is the highest of its contents: IMAP
//     HIGHESTMODSEQ);
//  3. writes one changes row per modseq value taken: (kind folder|item, op
//     add|change|delete, folder, item, uid).
//
// So the change log of a mailbox has exactly one row for each value
// 1..modseq, with no gaps, and a deleted item or folder leaves a tombstone
// row holding its folder and UID. "Anything new?" (EAS Ping and Sync, IMAP
// IDLE and NOOP) is one comparison of the modseq the client last saw with
// ModSeq; "what is new" is ChangesSince, a range read on the primary key.
// A move is two changes: a tombstone in the source and an add in the
// target. Writes that change nothing (SetFlags with the same flags, a move
// to the same folder) take no modseq.
//
// IMAP UIDs are per folder, strictly increasing and never reused: each
// append or move-in takes folders.uid_next. A folder's UIDVALIDITY is the
// modseq at which it was created, so a folder re-created under an old name
// gets a larger one (RFC 9051 2.3.1.1).
//
// # Content
//
// The original bytes of each message are kept exactly, content-addressed
// by hex SHA-256 in the blobs table and deduplicated (a message delivered
// to many users is stored once). They live in the database rather than in
// files so that the blob, the item and the change row commit or roll back
// together: a crash or SIGKILL mid-delivery cannot leave an item pointing
// at a missing file or a file no item references. The transaction that
// deletes the last item referring to a blob deletes the blob (an append
// racing with it on identical content retries on the foreign-key
// violation). Header fields and a text
// preview are parsed once at delivery (go-message) and stored in item
// columns.
//
// # Notifications
//
// After a transaction commits (never before), the store publishes an Event
// to its Notifier; Watch returns a Watcher whose channel is signalled,
// coalesced, for every event of one mailbox. The default Notifier is an
// in-process Hub; a PostgreSQL LISTEN/NOTIFY Notifier for several nodes
// fits the same interface (see Notifier). Events are hints: the change log
// is the truth.
//
// Two read caches live on them (the no-change EAS Sync reads neither table):
// MailboxFolder (foldercache.go) keeps folders per mailbox and drops them on
// every Event of the mailbox; CachedUserAndPolicy (accountcache.go) keeps an
// account with its policy and drops it on the AdminChange that concerns it
// (every user update publishes AdminChangeUser). Both trust their memory
// only while other processes' signals arrive (the SQLite poller runs, the
// PostgreSQL listener is connected: LiveNotifier), keep a value only if no
// signal came while it was read, and re-read after a short TTL whatever
// happens. The hottest read skips gorm (prepared.go, account.go).
//
// # Time
//
// Times are UTC with microsecond precision. On SQLite they are stored as
// fixed-width text (2006-01-02T15:04:05.000000Z) so that text order is time
// order; on PostgreSQL as TIMESTAMPTZ.
//
// # Schema
//
// Migrate applies numbered migrations (migrate.go) recorded in
// schema_migrations, each in its own transaction, serialised by an
// advisory lock on PostgreSQL. Open does not migrate.
//
// # Adding a write
//
// A method that changes a folder or an item of a mailbox must, in one
// s.db.Transaction: call nextModSeq(tx, mailbox, n) before anything else
// (n = number of changes it logs), make its change stamping the row with
// the modseq, touchFolder the folders whose contents changed, and
// logChange once per modseq value taken. After the commit, and only if it
// succeeded, it calls s.publish. A write that turns out to change nothing
// returns errNoChange from the transaction to roll back the modseq it
// took. Tests use storetest.ForEach (both databases) and end with
// s.Check(ctx). Schema changes are a new entry at the end of migrations.
//
// # Concurrency
//
// A Store is safe for concurrent use. Methods that write run one
// transaction each; reads outside transactions see committed data (WAL on
// SQLite). Errors are wrapped sentinels (ErrNotFound, ErrExists,
// ErrInvalidMessage, ...): test them with errors.Is.
package store
