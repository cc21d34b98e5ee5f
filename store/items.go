package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// MaxMessageSize is the largest message AppendMessage accepts.
const MaxMessageSize = 64 << 20

type itemRow struct {
	ID             int64
	MailboxID      int64
	FolderID       int64
	UID            int64 `gorm:"column:uid"`
	Class          string
	Modseq         int64
	Received       timestamp
	Date           timestamp
	Subject        string
	FromAddr       string
	ToAddr         string
	CcAddr         string
	ReplyTo        string
	MessageID      string
	InReplyTo      string
	Refs           string
	Importance     int
	HasAttachments bool
	Preview        string
	Size           int64
	BlobHash       string
	Seen           bool
	Flagged        bool
	Answered       bool
	Forwarded      bool
	Draft          bool
	Categories     string
	Flag           string // encodeFlag
	LastVerb       int
	LastVerbAt     int64 // microseconds since the Unix epoch
}

const itemCols = `id, mailbox_id, folder_id, uid, class, modseq, received, date, subject, from_addr, to_addr, cc_addr,
	reply_to, message_id, in_reply_to, refs, importance, has_attachments, preview, size, blob_hash,
	seen, flagged, answered, forwarded, draft, categories, flag, last_verb, last_verb_at`

func (r itemRow) item() Item {
	it := Item{
		ID:             ItemID(r.ID),
		Mailbox:        MailboxID(r.MailboxID),
		Folder:         FolderID(r.FolderID),
		UID:            uint32(r.UID),
		Class:          r.Class,
		ModSeq:         r.Modseq,
		Received:       timeOf(r.Received),
		Date:           timeOf(r.Date),
		Subject:        r.Subject,
		From:           r.FromAddr,
		To:             r.ToAddr,
		Cc:             r.CcAddr,
		ReplyTo:        r.ReplyTo,
		MessageID:      r.MessageID,
		InReplyTo:      r.InReplyTo,
		Importance:     r.Importance,
		HasAttachments: r.HasAttachments,
		Preview:        r.Preview,
		Size:           r.Size,
		BlobHash:       r.BlobHash,
		Flags:          Flags{Seen: r.Seen, Flagged: r.Flagged, Answered: r.Answered, Forwarded: r.Forwarded, Draft: r.Draft},
		Flag:           decodeFlag(r.Flag, r.Flagged),
	}
	// A verb whose IMAP flag was removed since (\Answered for a reply,
	// $Forwarded for a forward) is no longer shown.
	switch v := Verb(r.LastVerb); {
	case v == VerbForward && r.Forwarded, (v == VerbReplyToSender || v == VerbReplyToAll) && r.Answered:
		it.LastVerb = LastVerb{Verb: v, At: time.UnixMicro(r.LastVerbAt).UTC()}
	}
	if r.Refs != "" {
		it.References = strings.Fields(r.Refs)
	}
	if r.Categories != "" {
		_ = json.Unmarshal([]byte(r.Categories), &it.Categories) // written by encodeCategories
	}
	return it
}

func encodeCategories(c []string) string {
	if len(c) == 0 {
		return ""
	}
	b, _ := json.Marshal(c) // []string always marshals
	return string(b)
}

// Deliver stores raw in the Inbox of the user with address addr: local
// delivery. Errors: ErrNotFound (no such user), ErrInvalidMessage.
func (s *Store) Deliver(ctx context.Context, addr string, raw []byte) (Item, error) {
	return s.deliver(ctx, addr, raw, AppendOptions{})
}

// DeliverNotice delivers a message easd itself wrote to the user, such as
// the explanation of a quarantine: like Deliver, and marked as a notice,
// which is all a quarantined device sees of its Inbox (NoticeItems).
func (s *Store) DeliverNotice(ctx context.Context, addr string, raw []byte) (Item, error) {
	return s.deliver(ctx, addr, raw, AppendOptions{Notice: true})
}

func (s *Store) deliver(ctx context.Context, addr string, raw []byte, opts AppendOptions) (Item, error) {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return Item{}, fmt.Errorf("deliver to %s: user: %w", addr, ErrNotFound)
	}
	var inbox []int64
	if err := s.db.WithContext(ctx).Raw(`SELECT f.id FROM users u
		JOIN mailboxes m ON m.user_id = u.id
		JOIN folders f ON f.mailbox_id = m.id AND f.type = ?
		WHERE u.address = ? ORDER BY f.id LIMIT 1`, int(FolderInbox), a).Scan(&inbox).Error; err != nil {
		return Item{}, fmt.Errorf("deliver to %s: %w", a, err)
	}
	if len(inbox) == 0 {
		return Item{}, fmt.Errorf("deliver to %s: user: %w", a, ErrNotFound)
	}
	it, err := s.AppendMessage(ctx, FolderID(inbox[0]), raw, opts)
	if err != nil {
		return Item{}, fmt.Errorf("deliver to %s: %w", a, err)
	}
	return it, nil
}

// NoticeItems returns the items of folder that are notices
// (DeliverNotice).
func (s *Store) NoticeItems(ctx context.Context, folder FolderID) (map[ItemID]bool, error) {
	var ids []int64
	if err := s.db.WithContext(ctx).Raw(`SELECT n.item_id FROM notice_items n JOIN items i ON i.id = n.item_id WHERE i.folder_id = ?`, int64(folder)).Scan(&ids).Error; err != nil {
		return nil, fmt.Errorf("notices of folder %d: %w", folder, err)
	}
	m := make(map[ItemID]bool, len(ids))
	for _, id := range ids {
		m[ItemID(id)] = true
	}
	return m, nil
}

// AppendMessage stores raw as a new email in folder: the general form of
// Deliver, for IMAP APPEND and SendMail's Sent Items. The message is parsed
// before anything is written (ErrInvalidMessage). Then, in one transaction,
// the mailbox's modseq is bumped, the folder's next UID taken, the content
// blob inserted unless an identical one exists, and the item and its change
// row written; watchers are signalled after commit.
func (s *Store) AppendMessage(ctx context.Context, folder FolderID, raw []byte, opts AppendOptions) (Item, error) {
	if len(raw) > MaxMessageSize {
		return Item{}, fmt.Errorf("append to folder %d: %w: %d bytes is over the %d byte limit", folder, ErrInvalidMessage, len(raw), MaxMessageSize)
	}
	pm, err := parseMessage(raw)
	if err != nil {
		return Item{}, fmt.Errorf("append to folder %d: %w", folder, err)
	}
	sum := sha256.Sum256(raw)
	received := opts.Received
	if received.IsZero() {
		received = now()
	}
	received = received.UTC().Truncate(time.Microsecond)
	date := pm.date
	if date.IsZero() {
		date = received
	}
	r := itemRow{
		FolderID:       int64(folder),
		Class:          ClassEmail,
		Received:       timestamp(received),
		Date:           timestamp(date),
		Subject:        pm.subject,
		FromAddr:       pm.from,
		ToAddr:         pm.to,
		CcAddr:         pm.cc,
		ReplyTo:        pm.replyTo,
		MessageID:      pm.messageID,
		InReplyTo:      pm.inReplyTo,
		Refs:           strings.Join(pm.references, " "),
		Importance:     pm.importance,
		HasAttachments: pm.hasAttachments,
		Preview:        pm.preview,
		Size:           int64(len(raw)),
		BlobHash:       hex.EncodeToString(sum[:]),
		Seen:           opts.Seen,
		Flagged:        opts.Flagged,
		Answered:       opts.Answered,
		Forwarded:      opts.Forwarded,
		Draft:          opts.Draft,
		Categories:     encodeCategories(opts.Categories),
	}
	// A concurrent DeleteItem may remove the last other reference to an
	// identical blob between our INSERT ... ON CONFLICT DO NOTHING and
	// the item insert; the foreign key then fails the transaction and a
	// retry inserts the blob afresh.
	err = retryOnForeignKey(func() error {
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			mb, err := folderMailbox(tx, folder)
			if err != nil {
				return err
			}
			r.MailboxID = int64(mb)
			if r.Modseq, err = nextModSeq(tx, mb, 1); err != nil {
				return err
			}
			if r.UID, err = takeUID(tx, folder, r.Modseq); err != nil {
				return err
			}
			if err := tx.Exec(`INSERT INTO blobs (hash, size, data, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
				r.BlobHash, r.Size, raw, timestamp(received)).Error; err != nil {
				return fmt.Errorf("insert blob: %w", err)
			}
			if err := tx.Raw(`INSERT INTO items (mailbox_id, folder_id, uid, class, modseq, received, date, subject, from_addr, to_addr, cc_addr,
			reply_to, message_id, in_reply_to, refs, importance, has_attachments, preview, size, blob_hash,
			seen, flagged, answered, forwarded, draft, categories)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
				r.MailboxID, r.FolderID, r.UID, r.Class, r.Modseq, r.Received, r.Date, r.Subject, r.FromAddr, r.ToAddr, r.CcAddr,
				r.ReplyTo, r.MessageID, r.InReplyTo, r.Refs, r.Importance, r.HasAttachments, r.Preview, r.Size, r.BlobHash,
				r.Seen, r.Flagged, r.Answered, r.Forwarded, r.Draft, r.Categories).Scan(&r.ID).Error; err != nil {
				return fmt.Errorf("insert item: %w", err)
			}
			if opts.Notice {
				if err := tx.Exec(`INSERT INTO notice_items (item_id) VALUES (?)`, r.ID).Error; err != nil {
					return fmt.Errorf("insert notice: %w", err)
				}
			}
			return logChange(tx, mb, Change{ModSeq: r.Modseq, Kind: KindItem, Op: OpAdd, Folder: folder, Item: ItemID(r.ID), UID: uint32(r.UID)})
		})
	})
	if err != nil {
		return Item{}, fmt.Errorf("append to folder %d: %w", folder, err)
	}
	it := r.item()
	it.Categories = opts.Categories
	s.publish(ctx, Event{Mailbox: it.Mailbox, ModSeq: it.ModSeq, Folders: []FolderID{folder}})
	return it, nil
}

// folderMailbox returns the mailbox of a folder (which never changes).
func folderMailbox(tx *gorm.DB, f FolderID) (MailboxID, error) {
	var mb []int64
	if err := tx.Raw(`SELECT mailbox_id FROM folders WHERE id = ?`, int64(f)).Scan(&mb).Error; err != nil {
		return 0, err
	}
	if len(mb) == 0 {
		return 0, fmt.Errorf("folder %d: %w", f, ErrNotFound)
	}
	return MailboxID(mb[0]), nil
}

// takeUID allocates the folder's next UID and sets its modseq. UIDs are
// never reused: uid_next only grows (RFC 9051 2.3.1.1).
func takeUID(tx *gorm.DB, f FolderID, modseq int64) (int64, error) {
	var uid []int64
	if err := tx.Raw(`UPDATE folders SET uid_next = uid_next + 1, modseq = ? WHERE id = ? RETURNING uid_next - 1`,
		modseq, int64(f)).Scan(&uid).Error; err != nil {
		return 0, fmt.Errorf("take uid: %w", err)
	}
	if len(uid) == 0 {
		return 0, fmt.Errorf("folder %d: %w", f, ErrNotFound)
	}
	if uid[0] > 1<<32-1 {
		return 0, fmt.Errorf("folder %d: %w: UIDs exhausted", f, ErrConflict)
	}
	return uid[0], nil
}

// Items returns the items of a folder ordered by UID.
func (s *Store) Items(ctx context.Context, folder FolderID) ([]Item, error) {
	var rows []itemRow
	if err := s.db.WithContext(ctx).Raw(`SELECT `+itemCols+` FROM items WHERE folder_id = ? ORDER BY uid`, int64(folder)).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("items of folder %d: %w", folder, err)
	}
	out := make([]Item, len(rows))
	for i, r := range rows {
		out[i] = r.item()
	}
	return out, nil
}

// ItemsPage returns up to limit items of a folder with a UID greater than
// afterUID, ordered by UID: pass the last UID of one page to get the next
// (0 for the first). It reads the (folder_id, uid) index, so a page costs
// the same however deep into the folder it is.
func (s *Store) ItemsPage(ctx context.Context, folder FolderID, afterUID uint32, limit int) ([]Item, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("items of folder %d: %w: limit %d", folder, ErrInvalidArgument, limit)
	}
	var rows []itemRow
	if err := s.db.WithContext(ctx).Raw(`SELECT `+itemCols+` FROM items WHERE folder_id = ? AND uid > ? ORDER BY uid LIMIT ?`,
		int64(folder), int64(afterUID), limit).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("items of folder %d after uid %d: %w", folder, afterUID, err)
	}
	out := make([]Item, len(rows))
	for i, r := range rows {
		out[i] = r.item()
	}
	return out, nil
}

// Item returns one item, or ErrNotFound.
func (s *Store) Item(ctx context.Context, id ItemID) (Item, error) {
	r, err := itemByID(s.db.WithContext(ctx), id)
	if err != nil {
		return Item{}, fmt.Errorf("item %d: %w", id, err)
	}
	return r.item(), nil
}

func itemByID(tx *gorm.DB, id ItemID) (itemRow, error) {
	var rows []itemRow
	if err := tx.Raw(`SELECT `+itemCols+` FROM items WHERE id = ?`, int64(id)).Scan(&rows).Error; err != nil {
		return itemRow{}, err
	}
	if len(rows) == 0 {
		return itemRow{}, ErrNotFound
	}
	return rows[0], nil
}

// ItemBody returns the exact bytes of the message as it was stored.
func (s *Store) ItemBody(ctx context.Context, id ItemID) ([]byte, error) {
	var rows []struct{ Data []byte }
	if err := s.db.WithContext(ctx).Raw(`SELECT b.data FROM items i JOIN blobs b ON b.hash = i.blob_hash WHERE i.id = ?`, int64(id)).
		Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("body of item %d: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("body of item %d: %w", id, ErrNotFound)
	}
	if rows[0].Data == nil {
		return []byte{}, nil
	}
	return rows[0].Data, nil
}

// errNoChange rolls back a transaction that turned out to change nothing.
var errNoChange = errors.New("no change")

// itemMailbox returns the mailbox of an item (which never changes).
func itemMailbox(tx *gorm.DB, id ItemID) (MailboxID, error) {
	var mb []int64
	if err := tx.Raw(`SELECT mailbox_id FROM items WHERE id = ?`, int64(id)).Scan(&mb).Error; err != nil {
		return 0, err
	}
	if len(mb) == 0 {
		return 0, ErrNotFound
	}
	return MailboxID(mb[0]), nil
}

// lockItem takes the mailbox's next n modseq values (which serialises
// writers of the mailbox) and then reads the item, so the read cannot be
// stale.
func lockItem(tx *gorm.DB, id ItemID, n int) (itemRow, int64, error) {
	mb, err := itemMailbox(tx, id)
	if err != nil {
		return itemRow{}, 0, err
	}
	first, err := nextModSeq(tx, mb, n)
	if err != nil {
		return itemRow{}, 0, err
	}
	r, err := itemByID(tx, id)
	if err != nil {
		return itemRow{}, 0, err // deleted between the two reads
	}
	return r, first, nil
}

// SetFlags changes the flags, categories, follow-up flag and last verb set
// in f (see FlagsUpdate and flag.go for how Flag and Flagged agree). If
// nothing actually changes, nothing is written and the modseq stays (RFC
// 7162 3.1.3 lets a no-op STORE keep the mod-sequence); otherwise the item
// gets a new modseq and an OpChange row, so every other device and IMAP
// session sees the change. Errors: ErrNotFound, ErrInvalidArgument (a bad
// Flag or LastVerb; nothing is written).
func (s *Store) SetFlags(ctx context.Context, id ItemID, f FlagsUpdate) (Item, error) {
	if err := f.validate(); err != nil {
		return Item{}, fmt.Errorf("set flags of item %d: %w", id, err)
	}
	var r itemRow
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cur, modseq, err := lockItem(tx, id, 1)
		if err != nil {
			return err
		}
		r = cur
		set := func(dst *bool, v *bool) {
			if v != nil {
				*dst = *v
			}
		}
		set(&r.Seen, f.Seen)
		set(&r.Answered, f.Answered)
		set(&r.Forwarded, f.Forwarded)
		set(&r.Draft, f.Draft)
		if f.Categories != nil {
			r.Categories = encodeCategories(*f.Categories)
		}
		f.applyFlag(&r)
		f.applyVerb(&r)
		if r == cur {
			return errNoChange
		}
		r.Modseq = modseq
		if err := tx.Exec(`UPDATE items SET seen = ?, flagged = ?, answered = ?, forwarded = ?, draft = ?, categories = ?,
			flag = ?, last_verb = ?, last_verb_at = ?, modseq = ? WHERE id = ?`,
			r.Seen, r.Flagged, r.Answered, r.Forwarded, r.Draft, r.Categories,
			r.Flag, r.LastVerb, r.LastVerbAt, modseq, int64(id)).Error; err != nil {
			return err
		}
		if err := touchFolder(tx, FolderID(r.FolderID), modseq); err != nil {
			return err
		}
		return logChange(tx, MailboxID(r.MailboxID), Change{ModSeq: modseq, Kind: KindItem, Op: OpChange,
			Folder: FolderID(r.FolderID), Item: id, UID: uint32(r.UID)})
	})
	if errors.Is(err, errNoChange) {
		return r.item(), nil
	} else if err != nil {
		return Item{}, fmt.Errorf("set flags of item %d: %w", id, err)
	}
	s.publish(ctx, Event{Mailbox: MailboxID(r.MailboxID), ModSeq: r.Modseq, Folders: []FolderID{FolderID(r.FolderID)}})
	return r.item(), nil
}

// MoveItem moves an item to another folder of the same mailbox. The item
// keeps its ID and gets the target folder's next UID; the change log gets a
// tombstone in the source (modseq n, old UID) and an add in the target
// (n+1, new UID), as IMAP MOVE and EAS MoveItems need. Moving to the
// folder it is in changes nothing. Errors: ErrNotFound, ErrConflict (target
// in another mailbox).
func (s *Store) MoveItem(ctx context.Context, id ItemID, to FolderID) (Item, error) {
	var (
		r    itemRow
		from FolderID
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cur, first, err := lockItem(tx, id, 2)
		if err != nil {
			return err
		}
		r = cur
		if FolderID(cur.FolderID) == to {
			return errNoChange
		}
		mb, err := folderMailbox(tx, to)
		if err != nil {
			return err
		}
		if mb != MailboxID(cur.MailboxID) {
			return fmt.Errorf("%w: target folder %d is in another mailbox", ErrConflict, to)
		}
		from = FolderID(cur.FolderID)
		if err := touchFolder(tx, from, first); err != nil {
			return err
		}
		if err := logChange(tx, mb, Change{ModSeq: first, Kind: KindItem, Op: OpDelete, Folder: from, Item: id, UID: uint32(cur.UID)}); err != nil {
			return err
		}
		uid, err := takeUID(tx, to, first+1)
		if err != nil {
			return err
		}
		if err := tx.Exec(`UPDATE items SET folder_id = ?, uid = ?, modseq = ? WHERE id = ?`, int64(to), uid, first+1, int64(id)).Error; err != nil {
			return err
		}
		r.FolderID, r.UID, r.Modseq = int64(to), uid, first+1
		return logChange(tx, mb, Change{ModSeq: first + 1, Kind: KindItem, Op: OpAdd, Folder: to, Item: id, UID: uint32(uid)})
	})
	if errors.Is(err, errNoChange) {
		return r.item(), nil
	} else if err != nil {
		return Item{}, fmt.Errorf("move item %d to folder %d: %w", id, to, err)
	}
	s.publish(ctx, Event{Mailbox: MailboxID(r.MailboxID), ModSeq: r.Modseq, Folders: []FolderID{from, to}})
	return r.item(), nil
}

// CopyItem copies an item into a folder of the same mailbox (IMAP COPY):
// a new item with its own ID, the target's next UID, the same content blob
// (not duplicated), flags and categories, logged as an OpAdd. Errors:
// ErrNotFound, ErrConflict (target in another mailbox).
func (s *Store) CopyItem(ctx context.Context, id ItemID, to FolderID) (Item, error) {
	var r itemRow
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cur, modseq, err := lockItem(tx, id, 1)
		if err != nil {
			return err
		}
		mb, err := folderMailbox(tx, to)
		if err != nil {
			return err
		}
		if mb != MailboxID(cur.MailboxID) {
			return fmt.Errorf("%w: target folder %d is in another mailbox", ErrConflict, to)
		}
		uid, err := takeUID(tx, to, modseq)
		if err != nil {
			return err
		}
		r = cur
		r.FolderID, r.UID, r.Modseq = int64(to), uid, modseq
		if err := tx.Raw(`INSERT INTO items (mailbox_id, folder_id, uid, class, modseq, received, date, subject, from_addr, to_addr, cc_addr,
			reply_to, message_id, in_reply_to, refs, importance, has_attachments, preview, size, blob_hash,
			seen, flagged, answered, forwarded, draft, categories, flag, last_verb, last_verb_at)
			SELECT mailbox_id, ?, ?, class, ?, received, date, subject, from_addr, to_addr, cc_addr,
			reply_to, message_id, in_reply_to, refs, importance, has_attachments, preview, size, blob_hash,
			seen, flagged, answered, forwarded, draft, categories, flag, last_verb, last_verb_at
			FROM items WHERE id = ? RETURNING id`, int64(to), uid, modseq, int64(id)).Scan(&r.ID).Error; err != nil {
			return fmt.Errorf("copy item: %w", err)
		}
		return logChange(tx, mb, Change{ModSeq: modseq, Kind: KindItem, Op: OpAdd, Folder: to, Item: ItemID(r.ID), UID: uint32(uid)})
	})
	if err != nil {
		return Item{}, fmt.Errorf("copy item %d to folder %d: %w", id, to, err)
	}
	s.publish(ctx, Event{Mailbox: MailboxID(r.MailboxID), ModSeq: r.Modseq, Folders: []FolderID{to}})
	return r.item(), nil
}

// DeleteItem removes an item for good (IMAP EXPUNGE, EAS Delete without
// DeletesAsMoves); the change log keeps a tombstone with its folder and
// UID, and the content blob goes too unless another item shares it.
// Moving to Deleted Items is MoveItem.
func (s *Store) DeleteItem(ctx context.Context, id ItemID) error {
	var r itemRow
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cur, modseq, err := lockItem(tx, id, 1)
		if err != nil {
			return err
		}
		r = cur
		r.Modseq = modseq
		if err := tx.Exec(`DELETE FROM items WHERE id = ?`, int64(id)).Error; err != nil {
			return err
		}
		if err := pruneBlobs(tx, []string{r.BlobHash}); err != nil {
			return err
		}
		if err := touchFolder(tx, FolderID(r.FolderID), modseq); err != nil {
			return err
		}
		return logChange(tx, MailboxID(r.MailboxID), Change{ModSeq: modseq, Kind: KindItem, Op: OpDelete,
			Folder: FolderID(r.FolderID), Item: id, UID: uint32(r.UID)})
	})
	if err != nil {
		return fmt.Errorf("delete item %d: %w", id, err)
	}
	s.publish(ctx, Event{Mailbox: MailboxID(r.MailboxID), ModSeq: r.Modseq, Folders: []FolderID{FolderID(r.FolderID)}})
	return nil
}

// pruneBlobs deletes the blobs among hashes that no item references any
// more. It runs in the transaction that deleted the items. On PostgreSQL
// an append of the same content may commit an item between our NOT
// EXISTS check and the delete; the foreign key then refuses the delete,
// which is right (the blob is in use again), so that failure is rolled
// back to a savepoint and ignored.
func pruneBlobs(tx *gorm.DB, hashes []string) error {
	for _, h := range hashes {
		err := tx.Transaction(func(sp *gorm.DB) error { // a savepoint
			return sp.Exec(`DELETE FROM blobs WHERE hash = ? AND NOT EXISTS (SELECT 1 FROM items WHERE blob_hash = ?)`, h, h).Error
		})
		if err != nil && !isForeignKeyViolation(err) {
			return fmt.Errorf("prune blob: %w", err)
		}
	}
	return nil
}

// retryOnForeignKey runs fn again (up to three times in all) while it fails
// with a foreign-key violation.
func retryOnForeignKey(fn func() error) error {
	var err error
	for range 3 {
		if err = fn(); !isForeignKeyViolation(err) {
			return err
		}
	}
	return err
}
