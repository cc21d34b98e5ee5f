package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// SeedItems bulk-inserts n copies of raw into folder for benchmarks, in one
// transaction that keeps the modseq invariant (one change row per modseq,
// UIDs from uid_next) but skips per-item parsing and round trips.
func SeedItems(ctx context.Context, s *Store, folder FolderID, raw []byte, n int) error {
	pm, err := parseMessage(raw)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	hash := hex.EncodeToString(sum[:])
	t := timestamp(now())
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		mb, err := folderMailbox(tx, folder)
		if err != nil {
			return err
		}
		first, err := nextModSeq(tx, mb, n)
		if err != nil {
			return err
		}
		var uidNext []int64
		if err := tx.Raw(`UPDATE folders SET uid_next = uid_next + ?, modseq = ? WHERE id = ? RETURNING uid_next`,
			n, first+int64(n)-1, int64(folder)).Scan(&uidNext).Error; err != nil {
			return err
		}
		firstUID := uidNext[0] - int64(n)
		if err := tx.Exec(`INSERT INTO blobs (hash, size, data, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
			hash, len(raw), raw, t).Error; err != nil {
			return err
		}
		const batch = 500
		for start := 0; start < n; start += batch {
			end := min(start+batch, n)
			var items strings.Builder
			var itemArgs []any
			for i := start; i < end; i++ {
				if i > start {
					items.WriteString(", ")
				}
				items.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
				itemArgs = append(itemArgs, int64(mb), int64(folder), firstUID+int64(i), ClassEmail, first+int64(i), t, t,
					fmt.Sprintf("%s %d", pm.subject, i), pm.from, int64(len(raw)), hash)
			}
			if err := tx.Exec(`INSERT INTO items (mailbox_id, folder_id, uid, class, modseq, received, date, subject, from_addr, size, blob_hash) VALUES `+
				items.String(), itemArgs...).Error; err != nil {
				return err
			}
		}
		return tx.Exec(`INSERT INTO changes (mailbox_id, modseq, kind, op, folder_id, item_id, uid)
			SELECT mailbox_id, modseq, ?, ?, folder_id, id, uid FROM items WHERE folder_id = ? AND modseq >= ? AND modseq < ?`,
			int(KindItem), int(OpAdd), int64(folder), first, first+int64(n)).Error
	})
}
