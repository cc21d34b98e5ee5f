package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

type folderRow struct {
	ID          int64
	MailboxID   int64
	ParentID    int64
	Name        string
	Type        int
	UIDValidity int64 `gorm:"column:uid_validity"`
	UIDNext     int64 `gorm:"column:uid_next"`
	Modseq      int64
	CreatedAt   timestamp
}

func (r folderRow) folder() Folder {
	return Folder{
		ID:          FolderID(r.ID),
		Mailbox:     MailboxID(r.MailboxID),
		Parent:      FolderID(r.ParentID),
		Name:        r.Name,
		Type:        FolderType(r.Type),
		UIDValidity: uint32(r.UIDValidity),
		UIDNext:     uint32(r.UIDNext),
		ModSeq:      r.Modseq,
		CreatedAt:   timeOf(r.CreatedAt),
	}
}

const folderCols = `id, mailbox_id, parent_id, name, type, uid_validity, uid_next, modseq, created_at`

// insertFolder creates a folder with its own modseq and change row. The
// folder's UIDVALIDITY is that modseq (truncated to 32 bits, never 0):
// unique within the mailbox and larger for a folder created later under a
// name a deleted one had (RFC 9051 2.3.1.1).
func (s *Store) insertFolder(tx *gorm.DB, mb MailboxID, parent FolderID, name string, typ FolderType, t time.Time) (Folder, error) {
	modseq, err := nextModSeq(tx, mb, 1)
	if err != nil {
		return Folder{}, err
	}
	validity := uint32(modseq)
	if validity == 0 {
		validity = 1
	}
	r := folderRow{MailboxID: int64(mb), ParentID: int64(parent), Name: name, Type: int(typ),
		UIDValidity: int64(validity), UIDNext: 1, Modseq: modseq, CreatedAt: timestamp(t)}
	if err := tx.Raw(`INSERT INTO folders (mailbox_id, parent_id, name, type, uid_validity, uid_next, modseq, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.MailboxID, r.ParentID, r.Name, r.Type, r.UIDValidity, r.UIDNext, r.Modseq, r.CreatedAt).Scan(&r.ID).Error; err != nil {
		return Folder{}, fmt.Errorf("insert folder %q: %w", name, err)
	}
	if err := logChange(tx, mb, Change{ModSeq: modseq, Kind: KindFolder, Op: OpAdd, Folder: FolderID(r.ID)}); err != nil {
		return Folder{}, err
	}
	return r.folder(), nil
}

// Folders returns the mailbox's folders ordered by ID (parents before
// children).
func (s *Store) Folders(ctx context.Context, mb MailboxID) ([]Folder, error) {
	var rows []folderRow
	if err := s.db.WithContext(ctx).Raw(`SELECT `+folderCols+` FROM folders WHERE mailbox_id = ? ORDER BY id`, int64(mb)).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("folders of mailbox %d: %w", mb, err)
	}
	out := make([]Folder, len(rows))
	for i, r := range rows {
		out[i] = r.folder()
	}
	return out, nil
}

// Folder returns one folder, or ErrNotFound.
func (s *Store) Folder(ctx context.Context, id FolderID) (Folder, error) {
	f, err := folderByID(s.db.WithContext(ctx), id)
	if err != nil {
		return Folder{}, fmt.Errorf("folder %d: %w", id, err)
	}
	return f, nil
}

func folderByID(tx *gorm.DB, id FolderID) (Folder, error) {
	var rows []folderRow
	if err := tx.Raw(`SELECT `+folderCols+` FROM folders WHERE id = ?`, int64(id)).Scan(&rows).Error; err != nil {
		return Folder{}, err
	}
	if len(rows) == 0 {
		return Folder{}, ErrNotFound
	}
	return rows[0].folder(), nil
}

// FolderByType returns the mailbox's folder of a default type (FolderInbox
// …), or ErrNotFound. For user-created types it returns the oldest.
func (s *Store) FolderByType(ctx context.Context, mb MailboxID, t FolderType) (Folder, error) {
	var rows []folderRow
	if err := s.db.WithContext(ctx).Raw(`SELECT `+folderCols+` FROM folders WHERE mailbox_id = ? AND type = ? ORDER BY id LIMIT 1`,
		int64(mb), int(t)).Scan(&rows).Error; err != nil {
		return Folder{}, fmt.Errorf("folder of type %d in mailbox %d: %w", t, mb, err)
	}
	if len(rows) == 0 {
		return Folder{}, fmt.Errorf("folder of type %d in mailbox %d: %w", t, mb, ErrNotFound)
	}
	return rows[0].folder(), nil
}

func validFolderName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > 255 || strings.ContainsAny(name, "\x00\r\n") {
		return fmt.Errorf("%w: folder name %q", ErrInvalidArgument, name)
	}
	return nil
}

// CreateFolder creates a user folder under parent (0: top level). t must be
// a user-creatable type (FolderUserGeneric, FolderUserMail …
// FolderUserNotes; MS-ASCMD 2.2.3.186.2). Errors: ErrInvalidArgument,
// ErrNotFound (parent), ErrConflict (parent in another mailbox), ErrExists
// (same name under the same parent).
func (s *Store) CreateFolder(ctx context.Context, mb MailboxID, parent FolderID, name string, t FolderType) (Folder, error) {
	if err := validFolderName(name); err != nil {
		return Folder{}, fmt.Errorf("create folder: %w", err)
	}
	if !t.IsUserCreatable() {
		return Folder{}, fmt.Errorf("create folder %q: %w: type %d cannot be created", name, ErrInvalidArgument, t)
	}
	var f Folder
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if parent != 0 {
			p, err := folderByID(tx, parent)
			if err != nil {
				return fmt.Errorf("parent %d: %w", parent, err)
			}
			if p.Mailbox != mb {
				return fmt.Errorf("parent %d: %w: another mailbox", parent, ErrConflict)
			}
		}
		var err error
		f, err = s.insertFolder(tx, mb, parent, name, t, now())
		return err
	})
	if isDuplicate(err) {
		return Folder{}, fmt.Errorf("create folder %q: %w", name, ErrExists)
	} else if err != nil {
		return Folder{}, fmt.Errorf("create folder %q: %w", name, err)
	}
	s.publish(ctx, Event{Mailbox: mb, ModSeq: f.ModSeq, Folders: []FolderID{f.ID}})
	return f, nil
}

// RenameFolder renames a user folder and moves it under parent (0: top
// level; pass its current parent to only rename). Default folders cannot be
// renamed or moved (ErrConflict), nor can a folder move under itself or a
// descendant. Renaming to the current name and parent changes nothing.
func (s *Store) RenameFolder(ctx context.Context, id FolderID, parent FolderID, name string) (Folder, error) {
	if err := validFolderName(name); err != nil {
		return Folder{}, fmt.Errorf("rename folder %d: %w", id, err)
	}
	var f Folder
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cur, err := folderByID(tx, id)
		if err != nil {
			return err
		}
		if cur.Type.IsDefault() {
			return fmt.Errorf("%w: default folder %q cannot be renamed", ErrConflict, cur.Name)
		}
		if cur.Name == name && cur.Parent == parent {
			f = cur
			return errNoChange
		}
		modseq, err := nextModSeq(tx, cur.Mailbox, 1)
		if err != nil {
			return err
		}
		// Walk up from the new parent: it must be in this mailbox and not
		// below the folder itself.
		for p := parent; p != 0; {
			if p == id {
				return fmt.Errorf("%w: folder cannot move under itself", ErrConflict)
			}
			pf, err := folderByID(tx, p)
			if err != nil {
				return fmt.Errorf("parent %d: %w", p, err)
			}
			if pf.Mailbox != cur.Mailbox {
				return fmt.Errorf("parent %d: %w: another mailbox", p, ErrConflict)
			}
			p = pf.Parent
		}
		if err := tx.Exec(`UPDATE folders SET name = ?, parent_id = ?, modseq = ? WHERE id = ?`,
			name, int64(parent), modseq, int64(id)).Error; err != nil {
			return err
		}
		if err := logChange(tx, cur.Mailbox, Change{ModSeq: modseq, Kind: KindFolder, Op: OpChange, Folder: id}); err != nil {
			return err
		}
		cur.Name, cur.Parent, cur.ModSeq = name, parent, modseq
		f = cur
		return nil
	})
	if errors.Is(err, errNoChange) {
		return f, nil
	} else if isDuplicate(err) {
		return Folder{}, fmt.Errorf("rename folder %d to %q: %w", id, name, ErrExists)
	} else if err != nil {
		return Folder{}, fmt.Errorf("rename folder %d to %q: %w", id, name, err)
	}
	s.publish(ctx, Event{Mailbox: f.Mailbox, ModSeq: f.ModSeq, Folders: []FolderID{f.ID}})
	return f, nil
}

// DeleteFolder deletes a user folder, its subfolders and every item in
// them. Each deleted folder leaves a tombstone (KindFolder, OpDelete),
// children before parents; the items go without item tombstones, as a
// client that learns a folder is gone drops its contents (MS-ASCMD
// FolderDelete, RFC 9051 DELETE). Default folders cannot be deleted
// (ErrConflict). Blobs no other item shares are deleted with the items.
func (s *Store) DeleteFolder(ctx context.Context, id FolderID) error {
	var ev Event
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cur, err := folderByID(tx, id)
		if err != nil {
			return err
		}
		if cur.Type.IsDefault() {
			return fmt.Errorf("%w: default folder %q cannot be deleted", ErrConflict, cur.Name)
		}
		var all []folderRow
		if err := tx.Raw(`SELECT `+folderCols+` FROM folders WHERE mailbox_id = ?`, int64(cur.Mailbox)).Scan(&all).Error; err != nil {
			return err
		}
		// Post-order: children first.
		var doomed []FolderID
		var visit func(FolderID)
		visit = func(f FolderID) {
			for _, r := range all {
				if FolderID(r.ParentID) == f && FolderID(r.ID) != f {
					visit(FolderID(r.ID))
				}
			}
			doomed = append(doomed, f)
		}
		visit(id)
		first, err := nextModSeq(tx, cur.Mailbox, len(doomed))
		if err != nil {
			return err
		}
		for i, f := range doomed {
			var hashes []string
			if err := tx.Raw(`SELECT DISTINCT blob_hash FROM items WHERE folder_id = ?`, int64(f)).Scan(&hashes).Error; err != nil {
				return err
			}
			if err := tx.Exec(`DELETE FROM items WHERE folder_id = ?`, int64(f)).Error; err != nil {
				return err
			}
			if err := pruneBlobs(tx, hashes); err != nil {
				return err
			}
			if err := tx.Exec(`DELETE FROM folders WHERE id = ?`, int64(f)).Error; err != nil {
				return err
			}
			if err := logChange(tx, cur.Mailbox, Change{ModSeq: first + int64(i), Kind: KindFolder, Op: OpDelete, Folder: f}); err != nil {
				return err
			}
		}
		ev = Event{Mailbox: cur.Mailbox, ModSeq: first + int64(len(doomed)) - 1, Folders: doomed}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete folder %d: %w", id, err)
	}
	s.publish(ctx, ev)
	return nil
}
