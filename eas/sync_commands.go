package eas

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// readSyncRequest decodes a Sync request body (MS-ASCMD 2.2.1.21.1).
func readSyncRequest(dec *wbxml.Decoder) (*syncRequest, error) {
	tok, err := dec.Expect(wbxml.AirSyncSync)
	if err != nil {
		return nil, err
	}
	req := &syncRequest{}
	if !tok.Content {
		return req, nil
	}
	for {
		t, more, err := dec.Child()
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		switch t.Tag {
		case wbxml.AirSyncCollections:
			if !t.Content {
				continue
			}
			for {
				ct, more, err := dec.Child()
				if err != nil {
					return nil, err
				}
				if !more {
					break
				}
				if ct.Tag != wbxml.AirSyncCollection {
					if err := dec.Skip(); err != nil {
						return nil, err
					}
					continue
				}
				c, err := readCollection(dec, ct)
				if err != nil {
					return nil, err
				}
				req.colls = append(req.colls, c)
			}
		case wbxml.AirSyncWait:
			if req.waitVal, err = dec.Int(); err != nil {
				return nil, err
			}
			req.hasWait = true
			req.wait = time.Duration(req.waitVal) * time.Minute
		case wbxml.AirSyncHeartbeatInterval:
			if req.hbVal, err = dec.Int(); err != nil {
				return nil, err
			}
			req.hasHB = true
			req.wait = time.Duration(req.hbVal) * time.Second
		case wbxml.AirSyncWindowSize:
			n, err := dec.Int()
			if err != nil {
				return nil, err
			}
			req.windowSize = clampWindow(n)
		case wbxml.AirSyncPartial:
			if err := dec.Skip(); err != nil {
				return nil, err
			}
			req.partial = true
		default:
			if err := dec.Skip(); err != nil {
				return nil, err
			}
		}
	}
	return req, nil
}

// clampWindow maps a WindowSize to 1..MaxWindowSize (MS-ASCMD 2.2.3.199: 0 or more than
// 512 means 512).
func clampWindow(n int64) int {
	if n <= 0 || n > MaxWindowSize {
		return MaxWindowSize
	}
	return int(n)
}

func readCollection(dec *wbxml.Decoder, tok wbxml.Token) (*reqColl, error) {
	// MS-ASCMD 2.2.3.79 GetChanges: with a non-zero key the default is to get changes;
	// 2.2.3.47 DeletesAsMoves: the default is 1.
	c := &reqColl{getChanges: true, deletesAsMoves: true, windowSize: DefaultWindowSize}
	getChanges := -1
	if !tok.Content {
		return c, nil
	}
	for {
		t, more, err := dec.Child()
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		switch t.Tag {
		case wbxml.AirSyncSyncKey:
			if c.key, err = dec.String(); err != nil {
				return nil, err
			}
		case wbxml.AirSyncCollectionId:
			if c.id, err = dec.String(); err != nil {
				return nil, err
			}
		case wbxml.AirSyncGetChanges:
			// An empty <GetChanges/> means 1.
			b, err := dec.Text()
			if err != nil {
				return nil, err
			}
			getChanges = 1
			if string(b) == "0" {
				getChanges = 0
			}
		case wbxml.AirSyncDeletesAsMoves:
			b, err := dec.Text()
			if err != nil {
				return nil, err
			}
			c.deletesAsMoves = string(b) != "0"
		case wbxml.AirSyncWindowSize:
			n, err := dec.Int()
			if err != nil {
				return nil, err
			}
			c.windowSize = clampWindow(n)
		case wbxml.AirSyncOptions:
			o, class, err := readSyncOptions(dec, t)
			if err != nil {
				return nil, err
			}
			// Options for another class (SMS on the Inbox) do not apply to email.
			if class == "" || class == store.ClassEmail {
				c.opts = &o
			}
		case wbxml.AirSyncCommands:
			if t.Content {
				if c.cmds, err = readCommands(dec); err != nil {
					return nil, err
				}
			}
		default:
			if err := dec.Skip(); err != nil {
				return nil, err
			}
		}
	}
	c.getChanges = getChanges != 0
	if c.key == "0" {
		c.getChanges = false
	}
	return c, nil
}

func readSyncOptions(dec *wbxml.Decoder, tok wbxml.Token) (collOptions, string, error) {
	o := collOptions{Conflict: 1}
	class := ""
	if !tok.Content {
		return o, "", nil
	}
	for {
		t, more, err := dec.Child()
		if err != nil {
			return o, "", err
		}
		if !more {
			return o, class, nil
		}
		if ok, err := o.Body.readBodyOption(dec, t); err != nil {
			return o, "", err
		} else if ok {
			continue
		}
		switch t.Tag {
		case wbxml.AirSyncFilterType:
			n, err := dec.Int()
			if err != nil {
				return o, "", err
			}
			// MS-ASCMD 2.2.3.68.2: 0-7 for email (8 is for tasks only).
			if n < 0 || n > 8 {
				return o, "", fmt.Errorf("FilterType %d: %w", n, errBadOption)
			}
			if n == 8 {
				n = 0
			}
			o.FilterType = int(n)
		case wbxml.AirSyncConflict:
			n, err := dec.Int()
			if err != nil {
				return o, "", err
			}
			o.Conflict = int(n)
		case wbxml.AirSyncClass:
			if class, err = dec.String(); err != nil {
				return o, "", err
			}
		default:
			if err := dec.Skip(); err != nil {
				return o, "", err
			}
		}
	}
}

func readCommands(dec *wbxml.Decoder) ([]clientCmd, error) {
	var cmds []clientCmd
	for {
		t, more, err := dec.Child()
		if err != nil {
			return nil, err
		}
		if !more {
			return cmds, nil
		}
		var c clientCmd
		switch t.Tag {
		case wbxml.AirSyncAdd:
			c.kind = cmdAdd
		case wbxml.AirSyncChange:
			c.kind = cmdChange
		case wbxml.AirSyncDelete:
			c.kind = cmdDelete
		case wbxml.AirSyncFetch:
			c.kind = cmdFetch
		default:
			if err := dec.Skip(); err != nil {
				return nil, err
			}
			continue
		}
		if !t.Content {
			cmds = append(cmds, c)
			continue
		}
		for {
			ct, more, err := dec.Child()
			if err != nil {
				return nil, err
			}
			if !more {
				break
			}
			switch ct.Tag {
			case wbxml.AirSyncClientId:
				if c.clientID, err = dec.String(); err != nil {
					return nil, err
				}
			case wbxml.AirSyncServerId:
				if c.serverID, err = dec.String(); err != nil {
					return nil, err
				}
			case wbxml.AirSyncApplicationData:
				if !ct.Content {
					continue
				}
				if c.kind == cmdAdd {
					d, err := readDraft(dec)
					if err != nil {
						return nil, err
					}
					c.draft = &d
				} else if c.change, err = readEmailChange(dec); err != nil {
					return nil, err
				}
			default:
				if err := dec.Skip(); err != nil {
					return nil, err
				}
			}
		}
		cmds = append(cmds, c)
	}
}

// emailChange is what a client may change on an email (MS-ASEMAIL 2.2.2.56 Read, 2.2.2.34
// Flag, 2.2.2.10 Categories); nil fields were not sent. bad says why the Change cannot be
// applied (a flag status other than 0-2, a date that does not parse): it is answered 6 and
// changes nothing.
type emailChange struct {
	read       *bool
	flag       *store.Flag
	categories *[]string
	bad        error
}

func readEmailChange(dec *wbxml.Decoder) (emailChange, error) {
	var ch emailChange
	for {
		t, more, err := dec.Child()
		if err != nil {
			return ch, err
		}
		if !more {
			return ch, nil
		}
		switch t.Tag {
		case wbxml.EmailRead:
			n, err := dec.Int()
			if err != nil {
				return ch, err
			}
			v := n == 1
			ch.read = &v
		case wbxml.EmailFlag:
			f, bad, err := readFlag(dec, t.Content)
			if err != nil {
				return ch, err
			}
			ch.flag = &f
			if bad != nil {
				ch.bad = bad
			}
		case wbxml.EmailCategories:
			cats := []string{}
			if t.Content {
				for {
					ct, more, err := dec.Child()
					if err != nil {
						return ch, err
					}
					if !more {
						break
					}
					if ct.Tag == wbxml.EmailCategory {
						s, err := dec.String()
						if err != nil {
							return ch, err
						}
						cats = append(cats, s)
					} else if err := dec.Skip(); err != nil {
						return ch, err
					}
				}
			}
			ch.categories = &cats
		default:
			if err := dec.Skip(); err != nil {
				return ch, err
			}
		}
	}
}

// draftEmail is an email a 16.x client adds to Drafts (MS-ASEMAIL 3.1.5.3 Sync Add).
type draftEmail struct {
	to, cc, bcc, subject string
	importance           int64
	bodyType             int64
	body                 string
	seen                 bool
}

func readDraft(dec *wbxml.Decoder) (draftEmail, error) {
	d := draftEmail{importance: 1, bodyType: 1, seen: true}
	for {
		t, more, err := dec.Child()
		if err != nil {
			return d, err
		}
		if !more {
			return d, nil
		}
		switch t.Tag {
		case wbxml.EmailTo:
			d.to, err = dec.String()
		case wbxml.EmailCc:
			d.cc, err = dec.String()
		case wbxml.Email2Bcc:
			d.bcc, err = dec.String()
		case wbxml.EmailSubject:
			d.subject, err = dec.String()
		case wbxml.EmailImportance:
			d.importance, err = dec.Int()
		case wbxml.AirSyncBaseBody:
			if !t.Content {
				continue
			}
			for {
				bt, more, err := dec.Child()
				if err != nil {
					return d, err
				}
				if !more {
					break
				}
				switch bt.Tag {
				case wbxml.AirSyncBaseType:
					d.bodyType, err = dec.Int()
				case wbxml.AirSyncBaseData:
					d.body, err = dec.String()
				default:
					err = dec.Skip()
				}
				if err != nil {
					return d, err
				}
			}
		default:
			err = dec.Skip()
		}
		if err != nil {
			return d, err
		}
	}
}

// mime writes the draft as an RFC 5322 message from the account's address.
func (d draftEmail) mime(from string, now time.Time) []byte {
	var b strings.Builder
	hdr := func(k, v string) {
		if v != "" {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	_, domain, _ := strings.Cut(from, "@")
	hdr("From", from)
	hdr("To", d.to)
	hdr("Cc", d.cc)
	hdr("Bcc", d.bcc)
	hdr("Subject", mime.QEncoding.Encode("utf-8", d.subject))
	hdr("Date", now.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+domain+">")
	switch d.importance {
	case 0:
		hdr("Importance", "low")
	case 2:
		hdr("Importance", "high")
	}
	hdr("MIME-Version", "1.0")
	ct := "text/plain; charset=utf-8"
	if d.bodyType == int64(BodyHTML) {
		ct = "text/html; charset=utf-8"
	}
	hdr("Content-Type", ct)
	hdr("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	body := strings.ReplaceAll(strings.ReplaceAll(d.body, "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(body)
	return []byte(b.String())
}

// cmdResult is the outcome of one client command.
type cmdResult struct {
	kind     int
	clientID string
	serverID string
	status   Status
	effect   bool       // changed the store or what the device holds
	item     store.Item // Fetch
}

func hasEffect(rs []cmdResult) bool {
	for _, r := range rs {
		if r.effect {
			return true
		}
	}
	return false
}

// applyCommands runs the client's commands against the store and snap, consulting and
// extending the round record: a command the record has was applied already (a resent
// request) and only its answer is repeated.
func (s *Syncer) applyCommands(ctx context.Context, r *Request, rd *round, snap *snapshot) []cmdResult {
	var out []cmdResult
	// A resent request has the same commands in the same order: the nth command on a
	// ServerId is recorded as "<kind><ServerId>#n", so two Changes of one item in one
	// request stay two commands.
	seen := map[string]int{}
	recKey := func(kind byte, sid string) string {
		k := string(kind) + sid
		seen[k]++
		return k + "#" + strconv.Itoa(seen[k])
	}
	// A quarantined device may touch only what it sees (visibleItems); anything else is
	// not found for it, as if it did not exist.
	only, err := visibleItems(ctx, s.st, r, rd.folder)
	if err != nil {
		r.Log.Warn("sync: notices unreadable", "err", err)
		only = map[store.ItemID]bool{}
	}
	for _, c := range rd.req.cmds {
		res := cmdResult{kind: c.kind, clientID: c.clientID, serverID: c.serverID, status: StatusSuccess}
		if id, ok := parseServerID(c.serverID); only != nil && c.kind != cmdAdd && (!ok || !only[id]) {
			res.status = SyncStatusObjectNotFound
			out = append(out, res)
			continue
		}
		switch c.kind {
		case cmdAdd:
			s.applyAdd(ctx, r, rd, snap, c, &res)
		case cmdChange:
			s.applyChange(ctx, r, rd, snap, c, recKey('c', c.serverID), &res)
		case cmdDelete:
			s.applyDelete(ctx, r, rd, snap, c, recKey('d', c.serverID), &res)
		case cmdFetch:
			id, ok := parseServerID(c.serverID)
			it, err := s.st.Item(ctx, id)
			if !ok || err != nil || it.Folder != rd.folder.ID {
				res.status = SyncStatusObjectNotFound
			} else {
				res.item = it
			}
		}
		out = append(out, res)
	}
	return out
}

func (s *Syncer) applyAdd(ctx context.Context, r *Request, rd *round, snap *snapshot, c clientCmd, res *cmdResult) {
	res.effect = true
	if id, ok := rd.record.Adds[c.clientID]; ok && c.clientID != "" {
		// Added in the lost round: the same ServerId, not a second item.
		res.serverID = itemServerID(id)
		snap.hold(id)
		if d, ok := rd.record.Done["a"+itemServerID(id)]; ok {
			snap.own(id, d.ModSeq)
		}
		return
	}
	// MS-ASEMAIL: email Adds exist from 16.0, and only to Drafts.
	if c.draft == nil || c.clientID == "" || r.Version < Version160 || rd.folder.Type != store.FolderDrafts {
		res.status, res.effect = SyncStatusConversion, false
		return
	}
	raw := c.draft.mime(r.Account.Address, s.now())
	it, err := s.st.AppendMessage(ctx, rd.folder.ID, raw, store.AppendOptions{Flags: store.Flags{Draft: true, Seen: c.draft.seen}})
	if err != nil {
		r.Log.Info("sync add failed", "collection", rd.req.id, "err", err)
		res.status, res.effect = SyncStatusConversion, false
		return
	}
	res.serverID = itemServerID(it.ID)
	snap.hold(it.ID)
	snap.own(it.ID, it.ModSeq)
	rd.record.add(c.clientID, it.ID)
	rd.record.done("a"+itemServerID(it.ID), doneCmd{Status: StatusSuccess, ModSeq: it.ModSeq})
}

func (s *Syncer) applyChange(ctx context.Context, r *Request, rd *round, snap *snapshot, c clientCmd, key string, res *cmdResult) {
	if d, ok := rd.record.Done[key]; ok {
		res.status, res.effect = d.Status, true
		if id, ok := parseServerID(c.serverID); ok && d.ModSeq != 0 {
			snap.own(id, d.ModSeq)
		}
		return
	}
	id, ok := parseServerID(c.serverID)
	var it store.Item
	var err error
	if ok {
		it, err = s.st.Item(ctx, id)
	}
	if !ok || err != nil || it.Folder != rd.folder.ID {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			r.Log.Error("sync change", "err", err)
			res.status = SyncStatusServerError
			return
		}
		res.status = SyncStatusObjectNotFound
		return
	}
	res.effect = true
	if c.change.bad != nil {
		// MS-ASEMAIL 2.2.2.74: a flag Status other than 0, 1 or 2 is answered 6; so is a
		// Flag date that is not an MS-ASDTYPE 2.3 dateTime. Nothing of the Change is applied.
		r.Log.Debug("sync change refused", "item", id, "err", c.change.bad)
		res.status = SyncStatusConversion
		rd.record.done(key, doneCmd{Status: SyncStatusConversion})
		return
	}
	// MS-ASCMD 2.2.3.34 Conflict: 1 (the default), the server's change wins when the item
	// changed on the server since the device last saw it.
	if snap.Opts.Conflict != 0 && it.ModSeq > snap.ModSeq && snap.Own[id] != it.ModSeq {
		res.status = SyncStatusConflict
		rd.record.done(key, doneCmd{Status: SyncStatusConflict})
		return
	}
	u := store.FlagsUpdate{Seen: c.change.read, Flag: completing(c.change.flag, it.Flag), Categories: c.change.categories}
	after, err := s.st.SetFlags(ctx, id, u)
	if err != nil {
		r.Log.Error("sync change", "err", err)
		res.status = SyncStatusServerError
		return
	}
	d := doneCmd{Status: StatusSuccess}
	// With the client winning over an unseen server change, the item goes back to the
	// client whole (not marked as its own write), so the server's other changes reach it.
	unseen := it.ModSeq > snap.ModSeq && snap.Own[id] != it.ModSeq
	if after.ModSeq != it.ModSeq && !unseen {
		d.ModSeq = after.ModSeq
		snap.own(id, after.ModSeq)
	}
	rd.record.done(key, d)
}

func (s *Syncer) applyDelete(ctx context.Context, r *Request, rd *round, snap *snapshot, c clientCmd, key string, res *cmdResult) {
	id, ok := parseServerID(c.serverID)
	if d, done := rd.record.Done[key]; done {
		res.status, res.effect = d.Status, true
		if ok {
			snap.drop(id)
		}
		return
	}
	var it store.Item
	var err error
	if ok {
		it, err = s.st.Item(ctx, id)
	}
	if !ok || err != nil || it.Folder != rd.folder.ID {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			r.Log.Error("sync delete", "err", err)
			res.status = SyncStatusServerError
			return
		}
		if ok {
			snap.drop(id)
		}
		res.status = SyncStatusObjectNotFound
		return
	}
	// MS-ASCMD 2.2.3.47 DeletesAsMoves: 1 (the default) moves the item to Deleted Items;
	// deleting in Deleted Items, or with 0, deletes for good.
	if rd.req.deletesAsMoves && rd.folder.Type != store.FolderDeleted {
		trash, ferr := s.st.FolderByType(ctx, r.Account.Mailbox, store.FolderDeleted)
		if ferr == nil {
			_, err = s.st.MoveItem(ctx, id, trash.ID)
		} else {
			err = ferr
		}
	} else {
		err = s.st.DeleteItem(ctx, id)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		r.Log.Error("sync delete", "err", err)
		res.status = SyncStatusServerError
		return
	}
	res.effect = true
	snap.drop(id)
	rd.record.done(key, doneCmd{Status: StatusSuccess})
}

// writeResponses encodes Responses (MS-ASCMD 2.2.3.156): every Add and Fetch, and Changes
// and Deletes that did not succeed.
func (s *Syncer) writeResponses(ctx context.Context, r *Request, rd *round, rs []cmdResult, enc *wbxml.Encoder) error {
	started := false
	start := func() {
		if !started {
			enc.Start(wbxml.AirSyncResponses)
			started = true
		}
	}
	for _, res := range rs {
		switch res.kind {
		case cmdAdd:
			start()
			enc.Start(wbxml.AirSyncAdd)
			enc.String(wbxml.AirSyncClientId, res.clientID)
			if res.status == StatusSuccess {
				enc.String(wbxml.AirSyncServerId, res.serverID)
			}
			enc.Int(wbxml.AirSyncStatus, int64(res.status))
			enc.End()
		case cmdChange, cmdDelete:
			if res.status == StatusSuccess {
				continue
			}
			start()
			tag := wbxml.AirSyncChange
			if res.kind == cmdDelete {
				tag = wbxml.AirSyncDelete
			}
			enc.Start(tag)
			enc.String(wbxml.AirSyncServerId, res.serverID)
			enc.Int(wbxml.AirSyncStatus, int64(res.status))
			enc.End()
		case cmdFetch:
			start()
			enc.Start(wbxml.AirSyncFetch)
			enc.String(wbxml.AirSyncServerId, res.serverID)
			enc.Int(wbxml.AirSyncStatus, int64(res.status))
			if res.status == StatusSuccess {
				raw, err := s.st.ItemBody(ctx, res.item.ID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				enc.Start(wbxml.AirSyncApplicationData)
				if err := appendEmail(enc, res.item, raw, rd.base.Opts.Body, r.Version); err != nil {
					return err
				}
				enc.End()
			}
			enc.End()
		}
	}
	if started {
		enc.End()
	}
	return nil
}
