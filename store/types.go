package store

import (
	"database/sql/driver"
	"fmt"
	"time"
)

// UserID, MailboxID, FolderID and ItemID are database keys. They are never
// reused.
type (
	UserID    int64
	MailboxID int64
	FolderID  int64
	ItemID    int64
)

// Protocols says which front-ends a user may use. New users have all of
// them.
type Protocols struct {
	EAS, IMAP, POP3, SMTP bool
}

// ProtocolsUpdate changes some protocol switches: nil fields stay as they
// are.
type ProtocolsUpdate struct {
	EAS, IMAP, POP3, SMTP *bool
}

// User is a mail account. Every user has exactly one mailbox.
type User struct {
	ID          UserID
	Address     string // lower-case addr-spec, unique
	DisplayName string
	Disabled    bool
	Protocols   Protocols
	Mailbox     MailboxID
	CreatedAt   time.Time
	// PasswordStamp changes whenever the password does. A front-end that
	// remembers verified credentials (to spare the KDF on every request)
	// keeps the stamp with them and trusts the memory only while the
	// account's current stamp is the same.
	PasswordStamp uint64
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Address     string // an RFC 5322 addr-spec; stored lower-cased
	DisplayName string
	Password    string // must not be empty
}

// Admin is a dashboard account.
type Admin struct {
	ID        int64
	Name      string
	Role      string // RoleAdmin or RoleHelpdesk
	CreatedAt time.Time
}

// Dashboard roles.
const (
	RoleAdmin    = "admin"    // everything
	RoleHelpdesk = "helpdesk" // devices and wipes; no policy or rule changes
)

// FolderType is the EAS folder type (MS-ASCMD 2.2.3.186.3 Type
// (FolderSync), "Folder types"). IMAP and POP3 use the mail types.
type FolderType int

// MS-ASCMD 2.2.3.186.3: values of the Type element in FolderSync responses.
const (
	FolderUserGeneric  FolderType = 1  // User-created folder (generic)
	FolderInbox        FolderType = 2  // Default Inbox folder
	FolderDrafts       FolderType = 3  // Default Drafts folder
	FolderDeleted      FolderType = 4  // Default Deleted Items folder
	FolderSent         FolderType = 5  // Default Sent Items folder
	FolderOutbox       FolderType = 6  // Default Outbox folder
	FolderTasks        FolderType = 7  // Default Tasks folder
	FolderCalendar     FolderType = 8  // Default Calendar folder
	FolderContacts     FolderType = 9  // Default Contacts folder
	FolderNotes        FolderType = 10 // Default Notes folder
	FolderJournal      FolderType = 11 // Default Journal folder
	FolderUserMail     FolderType = 12 // User-created Mail folder
	FolderUserCalendar FolderType = 13 // User-created Calendar folder
	FolderUserContacts FolderType = 14 // User-created Contacts folder
	FolderUserTasks    FolderType = 15 // User-created Tasks folder
	FolderUserJournal  FolderType = 16 // User-created Journal folder
	FolderUserNotes    FolderType = 17 // User-created Notes folder
	FolderUnknown      FolderType = 18 // Unknown folder type
	FolderRecipientInf FolderType = 19 // Recipient information cache
)

// IsDefault reports whether t is one of the default (server-created,
// undeletable) folder types 2–11 and 19.
func (t FolderType) IsDefault() bool {
	return (t >= FolderInbox && t <= FolderJournal) || t == FolderRecipientInf
}

// IsUserCreatable reports whether CreateFolder accepts t: 1 and 12–17
// (MS-ASCMD 2.2.3.186.2 Type (FolderCreate)).
func (t FolderType) IsUserCreatable() bool {
	return t == FolderUserGeneric || (t >= FolderUserMail && t <= FolderUserNotes)
}

// Folder is a folder of a mailbox. UIDValidity and UIDNext are the IMAP
// values (RFC 9051 2.3.1.1): UIDs in a folder strictly increase and are
// never reused; UIDValidity is fixed at creation.
type Folder struct {
	ID          FolderID
	Mailbox     MailboxID
	Parent      FolderID // 0: top level
	Name        string
	Type        FolderType
	UIDValidity uint32
	UIDNext     uint32
	// ModSeq is the highest modseq of any change to the folder itself or
	// to an item in it (IMAP HIGHESTMODSEQ, RFC 7162 3.1.2.1).
	ModSeq    int64
	CreatedAt time.Time
}

// Item classes (MS-ASCMD Class element).
const (
	ClassEmail = "Email"
)

// Importance values (MS-ASEMAIL 2.2.2.39 Importance).
const (
	ImportanceLow    = 0
	ImportanceNormal = 1
	ImportanceHigh   = 2
)

// Item is a message (or, later, another content-class object) in a folder.
// Address fields hold the decoded header value as display text
// (`"Name" <a@b>, c@d`).
type Item struct {
	ID      ItemID
	Mailbox MailboxID
	Folder  FolderID
	UID     uint32
	Class   string // ClassEmail
	ModSeq  int64  // modseq of the item's latest change
	// Received is when the store got the message; Date is its Date header
	// or, if that is missing or unparsable, Received.
	Received       time.Time
	Date           time.Time
	Subject        string
	From           string
	To             string
	Cc             string
	ReplyTo        string
	MessageID      string // without angle brackets
	InReplyTo      string // without angle brackets
	References     []string
	Importance     int // ImportanceLow, ImportanceNormal, ImportanceHigh
	HasAttachments bool
	Preview        string // up to PreviewLen characters of the text, whitespace collapsed
	Size           int64  // bytes of the original message
	BlobHash       string // hex sha256 of the original message
	Flags
	Categories []string
	// Flag is the follow-up flag in full; Flags.Flagged is its IMAP view
	// (flag.go).
	Flag Flag
	// LastVerb is the latest reply or forward (zero: none recorded, or its
	// \Answered or $Forwarded flag was removed since).
	LastVerb LastVerb
}

// Flags are the per-item flags shared by EAS and IMAP.
type Flags struct {
	Seen      bool // IMAP \Seen, EAS Read
	Flagged   bool // IMAP \Flagged, EAS Flag
	Answered  bool // IMAP \Answered, EAS LastVerbExecuted reply
	Forwarded bool // IMAP $Forwarded, EAS LastVerbExecuted forward
	Draft     bool // IMAP \Draft
}

// FlagsUpdate changes some flags or the categories: nil fields stay.
type FlagsUpdate struct {
	Seen, Flagged, Answered, Forwarded, Draft *bool
	Categories                                *[]string
	// Flag replaces the follow-up flag (a cleared status removes it) and
	// sets Flagged to Status == FlagActive; Flagged, if also set, must
	// agree. Flagged alone (IMAP) activates or clears it (flag.go).
	Flag *Flag
	// LastVerb records a reply or forward unless a later one is already
	// recorded, and sets Answered (reply) or Forwarded (forward).
	LastVerb *LastVerb
}

// AppendOptions are the optional parts of AppendMessage.
type AppendOptions struct {
	Received time.Time // zero: now
	Flags
	Categories []string
	// Notice marks a message easd itself wrote to the user (quarantine,
	// wipe confirmations): the only items a quarantined device sees.
	Notice bool
}

// ChangeKind says what a change is about.
type ChangeKind int

// Change kinds.
const (
	KindFolder ChangeKind = 1
	KindItem   ChangeKind = 2
)

func (k ChangeKind) String() string {
	switch k {
	case KindFolder:
		return "folder"
	case KindItem:
		return "item"
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// ChangeOp says what happened.
type ChangeOp int

// Change operations.
const (
	OpAdd    ChangeOp = 1
	OpChange ChangeOp = 2
	OpDelete ChangeOp = 3 // a tombstone: Folder, Item and UID say what was removed
)

func (o ChangeOp) String() string {
	switch o {
	case OpAdd:
		return "add"
	case OpChange:
		return "change"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("ChangeOp(%d)", int(o))
}

// Change is one row of a mailbox's change log. Each has its own ModSeq.
// For KindItem, Folder is the folder the item was in (for OpAdd: now is in)
// and UID its UID there; a move is an OpDelete in the source followed by an
// OpAdd in the target. For KindFolder, Item and UID are zero.
type Change struct {
	ModSeq int64
	Kind   ChangeKind
	Op     ChangeOp
	Folder FolderID
	Item   ItemID
	UID    uint32
}

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	At         time.Time // zero: now
	Actor      string    // who: an admin name, "cli", a user address
	Action     string    // what: "user.create", "device.wipe", ...
	Target     string    // on what: an address, a device id
	Detail     string
	RemoteAddr string
}

// AuditFilter selects audit entries; zero fields do not filter.
type AuditFilter struct {
	Since, Until time.Time // Since <= At < Until
	Actor        string
	Action       string
	Target       string
	Limit        int // zero: 1000
}

// timestamp stores a time as fixed-width UTC text on SQLite (so that text
// comparison orders it) and as TIMESTAMPTZ on PostgreSQL, which parses the
// same text.
type timestamp time.Time

const timestampLayout = "2006-01-02T15:04:05.000000Z"

func (t timestamp) Value() (driver.Value, error) {
	return time.Time(t).UTC().Format(timestampLayout), nil
}

func (t *timestamp) Scan(v any) error {
	switch v := v.(type) {
	case time.Time:
		*t = timestamp(v.UTC())
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	default:
		return fmt.Errorf("store: cannot scan %T into a timestamp", v)
	}
	return nil
}

func (t *timestamp) parse(s string) error {
	tt, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("store: timestamp %q: %w", s, err)
	}
	*t = timestamp(tt.UTC())
	return nil
}
