package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrInconsistent is returned by Check when the modseq invariant or a UID
// rule is broken.
var ErrInconsistent = errors.New("store: inconsistent")

// Check verifies the invariants described in the package doc for every
// mailbox: the change log has exactly one row for each modseq 1..modseq;
// every item has an add row for its current folder and UID, a modseq no
// larger than its mailbox's and a UID below its folder's next UID; every
// folder's modseq is no larger than its mailbox's. It returns nil or an
// error wrapping ErrInconsistent that lists what is wrong. It reads
// everything, so it is for tests and operators (after a crash, before
// and after an upgrade), not for request paths.
func (s *Store) Check(ctx context.Context) error {
	db := s.db.WithContext(ctx)
	var problems []string
	queries := []struct {
		what string
		sql  string
	}{
		{"mailboxes whose change log does not have one row per modseq", `
SELECT m.id FROM mailboxes m
WHERE m.modseq <> (SELECT COUNT(*) FROM changes c WHERE c.mailbox_id = m.id)
   OR m.modseq <> (SELECT COALESCE(MAX(c.modseq), 0) FROM changes c WHERE c.mailbox_id = m.id)
   OR (SELECT COALESCE(MIN(c.modseq), 1) FROM changes c WHERE c.mailbox_id = m.id) <> 1`},
		{"items without an add change for their folder and UID", `
SELECT i.id FROM items i
WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.mailbox_id = i.mailbox_id AND c.item_id = i.id
	AND c.kind = 2 AND c.op = 1 AND c.folder_id = i.folder_id AND c.uid = i.uid)`},
		{"items with a modseq above their mailbox's", `
SELECT i.id FROM items i JOIN mailboxes m ON m.id = i.mailbox_id WHERE i.modseq > m.modseq`},
		{"items with a UID not below their folder's next UID", `
SELECT i.id FROM items i JOIN folders f ON f.id = i.folder_id WHERE i.uid >= f.uid_next OR i.uid < 1`},
		{"items in a folder of another mailbox", `
SELECT i.id FROM items i JOIN folders f ON f.id = i.folder_id WHERE f.mailbox_id <> i.mailbox_id`},
		{"folders with a modseq above their mailbox's", `
SELECT f.id FROM folders f JOIN mailboxes m ON m.id = f.mailbox_id WHERE f.modseq > m.modseq`},
		{"items whose blob is missing", `
SELECT i.id FROM items i WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = i.blob_hash)`},
	}
	for _, q := range queries {
		var ids []int64
		if err := db.Raw(q.sql).Scan(&ids).Error; err != nil {
			return fmt.Errorf("check: %s: %w", q.what, err)
		}
		if len(ids) > 0 {
			if len(ids) > 10 {
				ids = ids[:10]
			}
			problems = append(problems, fmt.Sprintf("%s: %v", q.what, ids))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInconsistent, strings.Join(problems, "; "))
	}
	return nil
}
