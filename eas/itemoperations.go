package eas

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// ItemOperations statuses (MS-ASCMD 2.2.3.177.8 Status (ItemOperations)).
const (
	StatusIOSuccess          Status = 1  // success
	StatusIOProtocolError    Status = 2  // protocol error: the XML is not valid
	StatusIOServerError      Status = 3  // server error
	StatusIONotFound         Status = 6  // object not found
	StatusIOByteRange        Status = 8  // the byte range is invalid or too large
	StatusIOStoreUnknown     Status = 9  // the store is unknown or unsupported
	StatusIOTooLarge         Status = 11 // the requested data size is too large (the policy's MaxAttachmentSize)
	StatusIOInvalidFileRef   Status = 15 // invalid attachment ID (FileReference)
	StatusIOAccessDenied     Status = 16 // access to the resource is denied (the policy disables attachments)
	StatusIOPartialSuccess   Status = 17 // EmptyFolderContents: only part of the contents went
	StatusIOActionNotAllowed Status = 156
)

// ContentTypeMultiPart is the media type of a multipart ItemOperations response (MS-ASHTTP
// 2.2.2.2).
const ContentTypeMultiPart = "application/vnd.ms-sync.multipart"

// maxOperations bounds the operations of one ItemOperations request.
const maxOperations = 100

// itemOp is one operation of an ItemOperations request.
type itemOp struct {
	kind wbxml.Tag // ItemOperationsFetch, ItemOperationsEmptyFolderContents, ItemOperationsMove

	store          string
	collectionID   string
	serverID       string
	fileReference  string
	longID         string
	hasRange       bool
	rangeFrom      int64
	rangeTo        int64
	body           bodyOptions
	deleteSubs     bool
	conversationID []byte
	dstFolder      string
	bad            error // the operation's own syntax error: status 2 for it alone
}

// itemOperations serves ItemOperations (MS-ASCMD 2.2.1.10): Fetch of an email by
// CollectionId and ServerId (through the Email codec, with BodyPreference), of an attachment
// by FileReference (with a byte Range), EmptyFolderContents (with DeleteSubFolders) and Move
// of a conversation. LongId names a Search result, which this server does not produce: status
// 6. Each operation gets its own status in its own Response element, in request order.
//
// The user's policy limits apply (limitBody): a fetched email's body as in Sync, and an
// attachment the policy blocks is refused, status 16 when attachments are disabled, 11 when
// it is larger than MaxAttachmentSize (attachment_policy.go).
//
// When the client accepts multipart (MS-ASAcceptMultiPart: T), fetched data is not inlined
// as base64 in Data: the response is a multipart body (MS-ASHTTP 2.2.2.2) whose part 0 is the
// WBXML and whose further parts are the bytes, named by Part in the WBXML.
func (m *Mail) itemOperations(ctx context.Context, r *Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
	ops, err := readItemOperations(dec)
	if err != nil {
		return err
	}
	var parts [][]byte
	enc.Start(wbxml.ItemOperationsItemOperations)
	enc.Int(wbxml.ItemOperationsStatus, int64(StatusIOSuccess))
	enc.Start(wbxml.ItemOperationsResponse)
	for i := range ops {
		op := &ops[i]
		switch op.kind {
		case wbxml.ItemOperationsFetch:
			if err := m.fetch(ctx, r, enc, op, &parts); err != nil {
				return err
			}
		case wbxml.ItemOperationsEmptyFolderContents:
			st := m.emptyFolder(ctx, r, op)
			enc.Start(wbxml.ItemOperationsEmptyFolderContents)
			enc.Int(wbxml.ItemOperationsStatus, int64(st))
			enc.String(wbxml.AirSyncCollectionId, op.collectionID)
			enc.End()
		case wbxml.ItemOperationsMove:
			st := m.moveConversation(ctx, r, op)
			enc.Start(wbxml.ItemOperationsMove)
			enc.Int(wbxml.ItemOperationsStatus, int64(st))
			enc.Opaque(wbxml.ItemOperationsConversationId, op.conversationID)
			enc.End()
		}
	}
	enc.End()
	enc.End()
	if r.AcceptMultiPart {
		if err := enc.Err(); err != nil {
			return err
		}
		r.Response.ContentType = ContentTypeMultiPart
		r.Response.Body = multiPart(append([][]byte{enc.Bytes()}, parts...))
	}
	return nil
}

// multiPart lays parts out as MS-ASHTTP 2.2.2.2 says: PartCount, then an (Offset, Length)
// pair per part, all 32-bit little-endian integers, then the parts; offsets count from the
// start of the body.
func multiPart(parts [][]byte) []byte {
	head := 4 + 8*len(parts)
	n := head
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, head, n)
	binary.LittleEndian.PutUint32(out, uint32(len(parts)))
	off := head
	for i, p := range parts {
		binary.LittleEndian.PutUint32(out[4+8*i:], uint32(off))
		binary.LittleEndian.PutUint32(out[8+8*i:], uint32(len(p)))
		off += len(p)
	}
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func readItemOperations(dec *wbxml.Decoder) ([]itemOp, error) {
	bad := func(err error) error { return &StatusError{Status: StatusIOProtocolError, Err: err} }
	tok, err := dec.Expect(wbxml.ItemOperationsItemOperations)
	if err != nil {
		return nil, bad(err)
	}
	if !tok.Content {
		return nil, bad(errors.New("empty ItemOperations"))
	}
	var ops []itemOp
	for {
		tok, err := dec.Next()
		if err != nil {
			return nil, bad(err)
		}
		if tok.Kind == wbxml.KindEnd {
			break
		}
		if tok.Kind != wbxml.KindStart {
			return nil, bad(errors.New("text in ItemOperations"))
		}
		if len(ops) == maxOperations {
			return nil, bad(fmt.Errorf("more than %d operations", maxOperations))
		}
		switch tok.Tag {
		case wbxml.ItemOperationsFetch, wbxml.ItemOperationsEmptyFolderContents, wbxml.ItemOperationsMove:
			op := itemOp{kind: tok.Tag}
			if tok.Content {
				if err := readItemOp(dec, &op); err != nil {
					if _, ok := errors.AsType[*wbxml.SyntaxError](err); ok {
						return nil, bad(err)
					}
					op.bad = err
				}
			}
			ops = append(ops, op)
		default:
			return nil, bad(fmt.Errorf("unexpected %s in ItemOperations", tok.Tag))
		}
	}
	if len(ops) == 0 {
		return nil, bad(errors.New("no operation"))
	}
	return ops, nil
}

// readItemOp reads the children of a Fetch, EmptyFolderContents or Move. A well-formed but
// wrong value is returned as a plain error after the element was read to its end.
func readItemOp(dec *wbxml.Decoder, op *itemOp) error {
	var bad error
	for {
		tok, err := dec.Next()
		if err != nil {
			return err
		}
		if tok.Kind == wbxml.KindEnd {
			return bad
		}
		if tok.Kind != wbxml.KindStart {
			return &wbxml.SyntaxError{Offset: tok.Offset, Msg: "text in " + op.kind.String()}
		}
		switch tok.Tag {
		case wbxml.ItemOperationsStore:
			op.store, err = dec.String()
		case wbxml.AirSyncCollectionId:
			op.collectionID, err = dec.String()
		case wbxml.AirSyncServerId:
			op.serverID, err = dec.String()
		case wbxml.AirSyncBaseFileReference:
			op.fileReference, err = dec.String()
		case wbxml.SearchLongId:
			op.longID, err = dec.String()
		case wbxml.ItemOperationsDstFldId:
			op.dstFolder, err = dec.String()
		case wbxml.ItemOperationsConversationId:
			var b []byte
			if b, err = dec.Text(); err == nil {
				op.conversationID = bytes.Clone(b)
			}
		case wbxml.ItemOperationsOptions:
			if tok.Content {
				if e := readItemOpOptions(dec, op); e != nil {
					if _, ok := errors.AsType[*wbxml.SyntaxError](e); ok {
						return e
					}
					bad = e
				}
			}
		default:
			err = dec.Skip()
		}
		if err != nil {
			return err
		}
	}
}

func readItemOpOptions(dec *wbxml.Decoder, op *itemOp) error {
	var bad error
	for {
		tok, more, err := dec.Child()
		if err != nil {
			return err
		}
		if !more {
			return bad
		}
		switch tok.Tag {
		case wbxml.ItemOperationsRange:
			var v string
			if v, err = dec.String(); err == nil {
				if op.rangeFrom, op.rangeTo, op.hasRange = parseRange(v); !op.hasRange {
					bad = fmt.Errorf("range %q", v)
				}
			}
		case wbxml.ItemOperationsDeleteSubFolders:
			op.deleteSubs = true
			err = dec.Skip()
		default:
			var ok bool
			ok, err = op.body.readBodyOption(dec, tok)
			if err != nil && errors.Is(err, errBadOption) {
				bad, err = err, nil
			}
			if err == nil && !ok {
				err = dec.Skip() // Schema, UserName, Password, MoveAlways, RightsManagementSupport
			}
		}
		if err != nil {
			return err
		}
	}
}

// parseRange parses "from-to", both inclusive byte offsets (MS-ASCMD 2.2.3.148.1 Range).
func parseRange(s string) (int64, int64, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false
	}
	from, err1 := strconv.ParseInt(a, 10, 64)
	to, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || from < 0 || to < from {
		return 0, 0, false
	}
	return from, to, true
}

// fetch answers one Fetch.
func (m *Mail) fetch(ctx context.Context, r *Request, enc *wbxml.Encoder, op *itemOp, parts *[][]byte) error {
	status := func(st Status) {
		enc.Start(wbxml.ItemOperationsFetch)
		enc.Int(wbxml.ItemOperationsStatus, int64(st))
		switch {
		case op.fileReference != "":
			enc.String(wbxml.AirSyncBaseFileReference, op.fileReference)
		case op.longID != "":
			enc.String(wbxml.SearchLongId, op.longID)
		default:
			if op.collectionID != "" {
				enc.String(wbxml.AirSyncCollectionId, op.collectionID)
			}
			if op.serverID != "" {
				enc.String(wbxml.AirSyncServerId, op.serverID)
			}
		}
		enc.End()
	}
	switch {
	case op.bad != nil:
		status(StatusIOProtocolError)
		return nil
	case op.store != "" && !strings.EqualFold(op.store, "Mailbox"):
		// MS-ASCMD 2.2.3.178.1: Mailbox is the only store here (no document libraries).
		status(StatusIOStoreUnknown)
		return nil
	case op.fileReference != "":
		return m.fetchAttachment(ctx, r, enc, op, parts, status)
	case op.longID != "":
		status(StatusIONotFound) // Search results do not exist yet
		return nil
	case op.serverID == "":
		status(StatusIOProtocolError)
		return nil
	}
	id, ok := parseServerID(op.serverID)
	if !ok {
		status(StatusIONotFound)
		return nil
	}
	it, err := m.st.Item(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && (it.Mailbox != r.Account.Mailbox ||
		op.collectionID != "" && op.collectionID != serverID(it.Folder)) {
		status(StatusIONotFound)
		return nil
	} else if err != nil {
		return err
	}
	raw, err := m.st.ItemBody(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		status(StatusIONotFound)
		return nil
	} else if err != nil {
		return err
	}
	l, err := m.policyLimits(ctx, r)
	if err != nil {
		return err
	}
	if l != nil {
		op.body = limitBody(op.body, *l)
	}
	enc.Start(wbxml.ItemOperationsFetch)
	enc.Int(wbxml.ItemOperationsStatus, int64(StatusIOSuccess))
	enc.String(wbxml.AirSyncCollectionId, serverID(it.Folder))
	enc.String(wbxml.AirSyncServerId, op.serverID)
	enc.String(wbxml.AirSyncClass, store.ClassEmail)
	enc.Start(wbxml.ItemOperationsProperties)
	if err := appendEmail(enc, it, raw, op.body, r.Version); err != nil {
		return err
	}
	enc.End()
	enc.End()
	return nil
}

// fetchAttachment answers a Fetch by FileReference: the part's bytes, or the requested
// Range of them, with ContentType and Total (MS-ASCMD 2.2.1.10.1).
func (m *Mail) fetchAttachment(ctx context.Context, r *Request, enc *wbxml.Encoder, op *itemOp, parts *[][]byte, status func(Status)) error {
	att, st, err := m.attachment(ctx, r, op.fileReference)
	if err != nil {
		return err
	}
	if st != StatusIOSuccess {
		status(st)
		return nil
	}
	l, err := m.policyLimits(ctx, r)
	if err != nil {
		return err
	}
	if l != nil {
		// MS-ASPROV 2.2.2.23 AttachmentsEnabled, 2.2.2.30 MaxAttachmentSize (attachment_policy.go).
		if refused, tooLarge := attachmentRefused(*l, int64(len(att.Data))); refused {
			r.Log.Debug("attachment refused by policy", "file_reference", op.fileReference, "size", len(att.Data))
			if tooLarge {
				status(StatusIOTooLarge)
			} else {
				status(StatusIOAccessDenied)
			}
			return nil
		}
	}
	data := att.Data
	total := int64(len(data))
	var rng string
	if op.hasRange {
		if op.rangeFrom >= total && total > 0 || total == 0 && op.rangeFrom > 0 {
			status(StatusIOByteRange)
			return nil
		}
		to := min(op.rangeTo, total-1)
		data = data[op.rangeFrom : to+1]
		rng = strconv.FormatInt(op.rangeFrom, 10) + "-" + strconv.FormatInt(to, 10)
	}
	enc.Start(wbxml.ItemOperationsFetch)
	enc.Int(wbxml.ItemOperationsStatus, int64(StatusIOSuccess))
	enc.String(wbxml.AirSyncBaseFileReference, op.fileReference)
	enc.Start(wbxml.ItemOperationsProperties)
	enc.String(wbxml.AirSyncBaseContentType, att.ContentType)
	if op.hasRange {
		enc.String(wbxml.ItemOperationsRange, rng)
	}
	enc.Int(wbxml.ItemOperationsTotal, total)
	if r.AcceptMultiPart {
		*parts = append(*parts, data)
		enc.Int(wbxml.ItemOperationsPart, int64(len(*parts)))
	} else {
		// MS-ASCMD 2.2.3.39.2 Data (ItemOperations): the bytes, base64-encoded.
		enc.String(wbxml.ItemOperationsData, base64.StdEncoding.EncodeToString(data))
	}
	enc.End()
	enc.End()
	return nil
}

// policyLimits returns the user's policy limits, nil when the server enforces none.
func (m *Mail) policyLimits(ctx context.Context, r *Request) (*policy.Limits, error) {
	if m.limits == nil {
		return nil, nil
	}
	l, err := m.limits(ctx, r.Account.ID)
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// attachment resolves a FileReference of the user's mailbox.
func (m *Mail) attachment(ctx context.Context, r *Request, ref string) (Attachment, Status, error) {
	id, path, err := parseFileReference(ref)
	if err != nil {
		return Attachment{}, StatusIOInvalidFileRef, nil
	}
	it, err := m.st.Item(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && it.Mailbox != r.Account.Mailbox {
		return Attachment{}, StatusIOInvalidFileRef, nil
	} else if err != nil {
		return Attachment{}, 0, err
	}
	raw, err := m.st.ItemBody(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Attachment{}, StatusIOInvalidFileRef, nil
	} else if err != nil {
		return Attachment{}, 0, err
	}
	att, err := attachmentPart(raw, path)
	if err != nil {
		return Attachment{}, StatusIOInvalidFileRef, nil
	}
	return att, StatusIOSuccess, nil
}

// emptyFolder deletes every item of a folder and, with DeleteSubFolders, its subfolders
// (MS-ASCMD 2.2.3.56 EmptyFolderContents, 2.2.3.46 DeleteSubFolders).
func (m *Mail) emptyFolder(ctx context.Context, r *Request, op *itemOp) Status {
	if op.bad != nil || op.collectionID == "" {
		return StatusIOProtocolError
	}
	folders, err := m.st.Folders(ctx, r.Account.Mailbox)
	if err != nil {
		r.Log.Error("empty folder contents", "err", err)
		return StatusIOServerError
	}
	f, ok := findFolder(folders, op.collectionID)
	if !ok {
		return StatusIONotFound
	}
	failed := false
	for {
		page, err := m.st.ItemsPage(ctx, f.ID, 0, 200)
		if err != nil {
			r.Log.Error("empty folder contents", "folder", f.ID, "err", err)
			return StatusIOServerError
		}
		if len(page) == 0 {
			break
		}
		for _, it := range page {
			if err := m.st.DeleteItem(ctx, it.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				r.Log.Error("empty folder contents", "item", it.ID, "err", err)
				return StatusIOServerError
			}
		}
	}
	if op.deleteSubs {
		for _, c := range folders {
			if c.Parent != f.ID {
				continue
			}
			// DeleteFolder removes the subtree and its items.
			if err := m.st.DeleteFolder(ctx, c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				r.Log.Warn("empty folder contents: delete subfolder", "folder", c.ID, "err", err)
				failed = true
			}
		}
	}
	if failed {
		return StatusIOPartialSuccess
	}
	return StatusIOSuccess
}

// moveConversation moves every message of a conversation (Email ConversationId) from the
// mail folders to DstFldId (MS-ASCMD 2.2.3.117.1 Move (ItemOperations)). MoveAlways, which
// asks to move future messages too, is not supported: only the present ones move. It reads
// every mail folder, so it costs as much as the mailbox is large.
func (m *Mail) moveConversation(ctx context.Context, r *Request, op *itemOp) Status {
	if op.bad != nil || len(op.conversationID) == 0 || op.dstFolder == "" {
		return StatusIOProtocolError
	}
	folders, err := m.st.Folders(ctx, r.Account.Mailbox)
	if err != nil {
		r.Log.Error("move conversation", "err", err)
		return StatusIOServerError
	}
	dst, ok := findFolder(folders, op.dstFolder)
	if !ok {
		return StatusIONotFound
	}
	if !holdsMail(dst.Type) {
		return StatusIOActionNotAllowed // MS-ASCON: the destination must hold mail
	}
	moved := 0
	for _, f := range folders {
		if f.ID == dst.ID || !holdsMail(f.Type) {
			continue
		}
		var after uint32
		for {
			page, err := m.st.ItemsPage(ctx, f.ID, after, 500)
			if err != nil {
				r.Log.Error("move conversation", "folder", f.ID, "err", err)
				return StatusIOServerError
			}
			if len(page) == 0 {
				break
			}
			after = page[len(page)-1].UID
			for _, it := range page {
				if !bytes.Equal(conversationID(it), op.conversationID) {
					continue
				}
				if _, err := m.st.MoveItem(ctx, it.ID, dst.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
					r.Log.Error("move conversation", "item", it.ID, "err", err)
					return StatusIOServerError
				}
				moved++
			}
		}
	}
	if moved == 0 {
		return StatusIONotFound
	}
	return StatusIOSuccess
}
