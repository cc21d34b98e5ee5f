package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

func timeOf(t timestamp) time.Time { return time.Time(t) }

// nextModSeq takes n consecutive modseq values of mailbox mb and returns
// the first. It is the first write of every mutating transaction: on
// PostgreSQL the row lock it takes serialises writers of one mailbox (and
// fixes the lock order mailbox → folder → item, so they cannot deadlock);
// SQLite serialises all writers at BEGIN IMMEDIATE.
func nextModSeq(tx *gorm.DB, mb MailboxID, n int) (int64, error) {
	var last []int64
	if err := tx.Raw(`UPDATE mailboxes SET modseq = modseq + ? WHERE id = ? RETURNING modseq`, n, int64(mb)).Scan(&last).Error; err != nil {
		return 0, fmt.Errorf("next modseq: %w", err)
	}
	if len(last) == 0 {
		return 0, fmt.Errorf("mailbox %d: %w", mb, ErrNotFound)
	}
	return last[0] - int64(n) + 1, nil
}

// logChange writes one change row. Its modseq must come from nextModSeq in
// the same transaction.
func logChange(tx *gorm.DB, mb MailboxID, c Change) error {
	err := tx.Exec(`INSERT INTO changes (mailbox_id, modseq, kind, op, folder_id, item_id, uid) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		int64(mb), c.ModSeq, int(c.Kind), int(c.Op), int64(c.Folder), int64(c.Item), int64(c.UID)).Error
	if err != nil {
		return fmt.Errorf("log change: %w", err)
	}
	return nil
}

// touchFolder raises the folder's modseq to modseq (its contents changed).
func touchFolder(tx *gorm.DB, f FolderID, modseq int64) error {
	if err := tx.Exec(`UPDATE folders SET modseq = ? WHERE id = ?`, modseq, int64(f)).Error; err != nil {
		return fmt.Errorf("touch folder: %w", err)
	}
	return nil
}

// ModSeq returns the mailbox's current highest modseq: one primary-key
// read. A client that remembers the value it last saw knows there is
// nothing new when it is unchanged.
func (s *Store) ModSeq(ctx context.Context, mb MailboxID) (int64, error) {
	var v []int64
	if err := s.db.WithContext(ctx).Raw(`SELECT modseq FROM mailboxes WHERE id = ?`, int64(mb)).Scan(&v).Error; err != nil {
		return 0, fmt.Errorf("modseq of mailbox %d: %w", mb, err)
	}
	if len(v) == 0 {
		return 0, fmt.Errorf("modseq of mailbox %d: %w", mb, ErrNotFound)
	}
	return v[0], nil
}

type changeRow struct {
	Modseq   int64
	Kind     int
	Op       int
	FolderID int64
	ItemID   int64
	UID      int64 `gorm:"column:uid"`
}

// ChangesSince returns the mailbox's changes with a modseq greater than
// modseq, ordered by modseq. It reads the (mailbox_id, modseq) primary key
// range, so its cost depends on the number of changes returned, not on the
// size of the mailbox. Changes are kept for the life of the mailbox
// (no expiry yet).
func (s *Store) ChangesSince(ctx context.Context, mb MailboxID, modseq int64) ([]Change, error) {
	var rows []changeRow
	err := s.db.WithContext(ctx).Raw(`SELECT modseq, kind, op, folder_id, item_id, uid FROM changes
		WHERE mailbox_id = ? AND modseq > ? ORDER BY modseq`, int64(mb), modseq).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("changes of mailbox %d since %d: %w", mb, modseq, err)
	}
	out := make([]Change, len(rows))
	for i, r := range rows {
		out[i] = Change{
			ModSeq: r.Modseq,
			Kind:   ChangeKind(r.Kind),
			Op:     ChangeOp(r.Op),
			Folder: FolderID(r.FolderID),
			Item:   ItemID(r.ItemID),
			UID:    uint32(r.UID),
		}
	}
	return out, nil
}
