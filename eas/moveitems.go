package eas

import (
	"context"
	"errors"
	"fmt"

	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// MoveItems statuses (MS-ASCMD 2.2.3.177.10 Status (MoveItems)). 6 is not defined.
const (
	StatusMoveInvalidSource      Status = 1 // unknown source folder, or the item is not in it
	StatusMoveInvalidDestination Status = 2 // unknown destination folder, or one that cannot hold the item
	StatusMoveSuccess            Status = 3
	StatusMoveSameFolder         Status = 4 // source and destination are the same
	StatusMoveFailed             Status = 5 // the move failed; retry
	StatusMoveLocked             Status = 7 // source or destination locked; retry later
)

// maxMoves bounds the Move elements of one MoveItems request.
const maxMoves = 1000

type moveRequest struct {
	src, srcFolder, dstFolder string
}

// moveItems serves MoveItems (MS-ASCMD 2.2.1.12): each Move names an item (SrcMsgId), the
// folder it is in (SrcFldId) and a destination (DstFldId) and gets its own Response with a
// status and, on success, the item's new ServerId (DstMsgId). Item ServerIds are store item
// IDs, which a move keeps, so DstMsgId equals SrcMsgId; clients must still use DstMsgId.
func (m *Mail) moveItems(ctx context.Context, r *Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
	moves, err := readMoveItems(dec)
	if err != nil {
		return err
	}
	folders, err := m.st.Folders(ctx, r.Account.Mailbox)
	if err != nil {
		return err
	}
	enc.Start(wbxml.MoveMoveItems)
	for _, mv := range moves {
		st, dst := m.moveOne(ctx, r, folders, mv)
		// MS-ASCMD 2.2.3.153.5 Response (MoveItems): SrcMsgId, Status, DstMsgId.
		enc.Start(wbxml.MoveResponse)
		enc.String(wbxml.MoveSrcMsgId, mv.src)
		enc.Int(wbxml.MoveStatus, int64(st))
		if st == StatusMoveSuccess {
			enc.String(wbxml.MoveDstMsgId, dst)
		}
		enc.End()
	}
	enc.End()
	return nil
}

func readMoveItems(dec *wbxml.Decoder) ([]moveRequest, error) {
	bad := func(err error) error { return &StatusError{Status: StatusInvalidXML, Err: err} }
	tok, err := dec.Expect(wbxml.MoveMoveItems)
	if err != nil {
		return nil, bad(err)
	}
	var moves []moveRequest
	if !tok.Content {
		return nil, bad(errors.New("no Move"))
	}
	for {
		tok, err := dec.Next()
		if err != nil {
			return nil, bad(err)
		}
		if tok.Kind == wbxml.KindEnd {
			break
		}
		if tok.Kind != wbxml.KindStart || tok.Tag != wbxml.MoveMove {
			return nil, bad(fmt.Errorf("unexpected %s in MoveItems", tok.Tag))
		}
		if len(moves) == maxMoves {
			return nil, bad(fmt.Errorf("more than %d moves", maxMoves))
		}
		var mv moveRequest
		if tok.Content {
			for {
				t, err := dec.Next()
				if err != nil {
					return nil, bad(err)
				}
				if t.Kind == wbxml.KindEnd {
					break
				}
				if t.Kind != wbxml.KindStart {
					return nil, bad(errors.New("text in Move"))
				}
				var v string
				switch t.Tag {
				case wbxml.MoveSrcMsgId:
					v, err = dec.String()
					mv.src = v
				case wbxml.MoveSrcFldId:
					v, err = dec.String()
					mv.srcFolder = v
				case wbxml.MoveDstFldId:
					v, err = dec.String()
					mv.dstFolder = v
				default:
					err = dec.Skip()
				}
				if err != nil {
					return nil, bad(err)
				}
			}
		}
		moves = append(moves, mv)
	}
	if len(moves) == 0 {
		return nil, bad(errors.New("no Move"))
	}
	return moves, nil
}

func findFolder(folders []store.Folder, id string) (store.Folder, bool) {
	fid, ok := parseFolderID(id)
	if !ok {
		return store.Folder{}, false
	}
	for _, f := range folders {
		if f.ID == fid {
			return f, true
		}
	}
	return store.Folder{}, false
}

// holdsMail reports whether a folder of type t can hold email.
func holdsMail(t store.FolderType) bool {
	return t == store.FolderUserGeneric || (t >= store.FolderInbox && t <= store.FolderOutbox) || t == store.FolderUserMail
}

func (m *Mail) moveOne(ctx context.Context, r *Request, folders []store.Folder, mv moveRequest) (Status, string) {
	src, ok := findFolder(folders, mv.srcFolder)
	if !ok {
		return StatusMoveInvalidSource, ""
	}
	id, ok := parseServerID(mv.src)
	if !ok {
		return StatusMoveInvalidSource, ""
	}
	dst, ok := findFolder(folders, mv.dstFolder)
	if !ok {
		return StatusMoveInvalidDestination, ""
	}
	if src.ID == dst.ID {
		return StatusMoveSameFolder, ""
	}
	it, err := m.st.Item(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return StatusMoveInvalidSource, ""
	case err != nil:
		r.Log.Error("move items: read item", "item", id, "err", err)
		return StatusMoveLocked, ""
	case it.Folder != src.ID:
		// MS-ASCMD 2.2.3.177.10 status 1: the item was moved out of the source already.
		return StatusMoveInvalidSource, ""
	case it.Class == store.ClassEmail && !holdsMail(dst.Type):
		return StatusMoveInvalidDestination, ""
	}
	moved, err := m.st.MoveItem(ctx, id, dst.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return StatusMoveInvalidSource, "" // deleted or moved meanwhile
	case errors.Is(err, store.ErrConflict):
		return StatusMoveInvalidDestination, ""
	case err != nil:
		if ctx.Err() == nil {
			r.Log.Error("move items", "item", id, "to", dst.ID, "err", err)
		}
		return StatusMoveFailed, ""
	}
	return StatusMoveSuccess, itemServerID(moved.ID)
}
