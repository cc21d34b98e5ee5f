package eas

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/easd/easd/store"
	"github.com/easd/easd/submission"
	"github.com/easd/easd/wbxml"
)

// MailStore is what the mail commands (SendMail, SmartReply, SmartForward, MoveItems,
// ItemOperations, GetAttachment) need of the store.
type MailStore interface {
	Item(ctx context.Context, id store.ItemID) (store.Item, error)
	ItemBody(ctx context.Context, id store.ItemID) ([]byte, error)
	SetFlags(ctx context.Context, id store.ItemID, f store.FlagsUpdate) (store.Item, error)
	MoveItem(ctx context.Context, id store.ItemID, to store.FolderID) (store.Item, error)
	DeleteItem(ctx context.Context, id store.ItemID) error
	Folder(ctx context.Context, id store.FolderID) (store.Folder, error)
	Folders(ctx context.Context, mb store.MailboxID) ([]store.Folder, error)
	ItemsPage(ctx context.Context, folder store.FolderID, afterUID uint32, limit int) ([]store.Item, error)
	DeleteFolder(ctx context.Context, id store.FolderID) error
}

var _ MailStore = (*store.Store)(nil)

// Submitter sends a message (*submission.Submitter).
type Submitter interface {
	Submit(ctx context.Context, from store.User, raw []byte, opts submission.SubmitOptions) (submission.Result, error)
}

var _ Submitter = (*submission.Submitter)(nil)

// MailOptions configures NewMail. Store and Submitter are required.
type MailOptions struct {
	Store     MailStore
	Submitter Submitter
	// Limits gives the policy limits ItemOperations and GetAttachment enforce (PolicyLimits;
	// see limitBody); nil: none.
	Limits LimitsSource
}

// Mail serves the mail commands other than Sync: SendMail, SmartReply and SmartForward
// (MS-ASCMD 2.2.1.15-17), MoveItems (2.2.1.12), ItemOperations (2.2.1.10) and GetAttachment
// (2.2.1.8). Items are named by their ServerId, the store item ID in decimal (as Sync names
// them); folders by the store folder ID in decimal (as FolderSync names them).
//
// # Sending
//
// SendMail, SmartReply and SmartForward come in two forms. Before 14.0 the body is the
// message itself (Content-Type message/rfc822) and the query carries SaveInSent=T and, for
// the Smart commands, ItemId and CollectionId (MS-ASHTTP 2.2.1.1.1.2.5). From 14.0 the body is
// ComposeMail WBXML: ClientId, SaveInSentItems, Mime and, for the Smart commands, Source
// (FolderId and ItemId; LongId names a Search result, which this server does not produce, so
// it is ItemNotFound) and ReplaceMime. SmartReply and SmartForward complete the client's
// message from the original (submission.ComposeReply, ComposeForward) unless ReplaceMime says
// the client already did, and record the reply or forward on the original with its time
// (store.LastVerb, which also marks it Answered or Forwarded), which Sync reports as
// LastVerbExecuted and LastVerbExecutionTime. The message then goes through submission.Submit.
//
// Success is an empty 200 response. Failures carry a common status (MS-ASCMD 2.2.2) in
// ComposeMail Status from 14.0, and the HTTP status that stands for it before (MS-ASCMD 2.2.2):
// 107 InvalidMIME for a message that does not parse, 119 MessageHasNoRecipient, 130
// AccessDenied for a From that is not the user's own address, 150 ItemNotFound for a Smart
// command's unknown original, 118 MessagePreviouslySent for a ClientId this device already
// used: nothing is sent twice (the ClientId is recorded with the submission, in one
// transaction).
type Mail struct {
	st     MailStore
	sub    Submitter
	limits LimitsSource
}

// NewMail returns the mail commands.
func NewMail(opts MailOptions) *Mail {
	return &Mail{st: opts.Store, sub: opts.Submitter, limits: opts.Limits}
}

// Commands returns SendMail, SmartReply, SmartForward, MoveItems, ItemOperations and
// GetAttachment for Server.Handle.
func (m *Mail) Commands() []Command {
	compose := func(root wbxml.Tag) StatusWriter { return TopLevelStatus(root, wbxml.ComposeMailStatus) }
	return []Command{
		{Code: CmdSendMail, Handler: m.sendMail, MIMEBody: true, Status: compose(wbxml.ComposeMailSendMail)},
		{Code: CmdSmartReply, Handler: m.smartReply, MIMEBody: true, Status: compose(wbxml.ComposeMailSmartReply)},
		{Code: CmdSmartForward, Handler: m.smartForward, MIMEBody: true, Status: compose(wbxml.ComposeMailSmartForward)},
		{Code: CmdMoveItems, Handler: m.moveItems, Status: TopLevelStatus(wbxml.MoveMoveItems, wbxml.MoveStatus)},
		{Code: CmdItemOperations, Handler: m.itemOperations,
			Status: TopLevelStatus(wbxml.ItemOperationsItemOperations, wbxml.ItemOperationsStatus)},
		{Code: CmdGetAttachment, Handler: m.getAttachment, EmptyBody: true},
	}
}

// composeRequest is a SendMail, SmartReply or SmartForward request in either form.
type composeRequest struct {
	clientID    string
	saveInSent  bool
	replaceMime bool
	mime        []byte
	folderID    string // Source FolderId / CollectionId
	itemID      string // Source ItemId / ItemId
	longID      string // Source LongId / LongId
}

// readCompose reads the request of a ComposeMail command: the MIME body before 14.0, the
// ComposeMail element root from 14.0 (MS-ASCMD 2.2.1.15-17).
func readCompose(r *Request, dec *wbxml.Decoder, root wbxml.Tag) (composeRequest, error) {
	if isMIMEType(r.ContentType) {
		// MS-ASHTTP 2.2.1.1.1.2.5: the 12.x form.
		return composeRequest{mime: r.Body, saveInSent: r.SaveInSent, folderID: r.CollectionID, itemID: r.ItemID,
			longID: r.LongID}, nil
	}
	var c composeRequest
	bad := func(err error) error { return &StatusError{Status: StatusInvalidXML, Err: err} }
	tok, err := dec.Expect(root)
	if err != nil {
		return c, bad(err)
	}
	if !tok.Content {
		return c, bad(fmt.Errorf("empty %s", root))
	}
	for {
		tok, err := dec.Next()
		if err != nil {
			return c, bad(err)
		}
		if tok.Kind == wbxml.KindEnd {
			break
		}
		if tok.Kind != wbxml.KindStart {
			return c, bad(fmt.Errorf("text in %s", root))
		}
		switch tok.Tag {
		case wbxml.ComposeMailClientId:
			if c.clientID, err = dec.String(); err != nil {
				return c, bad(err)
			}
		case wbxml.ComposeMailSaveInSentItems:
			c.saveInSent = true
			err = dec.Skip()
		case wbxml.ComposeMailReplaceMime:
			c.replaceMime = true
			err = dec.Skip()
		case wbxml.ComposeMailMime:
			var b []byte
			if b, err = dec.Text(); err == nil {
				c.mime = append([]byte(nil), b...) // b aliases the request body
			}
		case wbxml.ComposeMailSource:
			err = readComposeSource(dec, tok.Content, &c)
		default:
			err = dec.Skip() // AccountId, TemplateID, Forwardees: not supported, ignored
		}
		if err != nil {
			return c, bad(err)
		}
	}
	if len(c.mime) == 0 {
		return c, bad(errors.New("no Mime"))
	}
	return c, nil
}

func readComposeSource(dec *wbxml.Decoder, content bool, c *composeRequest) error {
	if !content {
		return nil
	}
	for {
		tok, err := dec.Next()
		if err != nil {
			return err
		}
		if tok.Kind == wbxml.KindEnd {
			return nil
		}
		if tok.Kind != wbxml.KindStart {
			return errors.New("text in Source")
		}
		switch tok.Tag {
		case wbxml.ComposeMailFolderId:
			c.folderID, err = dec.String()
		case wbxml.ComposeMailItemId:
			c.itemID, err = dec.String()
		case wbxml.ComposeMailLongId:
			c.longID, err = dec.String()
		default:
			err = dec.Skip() // InstanceId: a calendar occurrence, not needed for mail
		}
		if err != nil {
			return err
		}
	}
}

func (m *Mail) sendMail(ctx context.Context, r *Request, dec *wbxml.Decoder, _ *wbxml.Encoder) error {
	c, err := readCompose(r, dec, wbxml.ComposeMailSendMail)
	if err != nil {
		return err
	}
	return m.submit(ctx, r, c, c.mime)
}

func (m *Mail) smartReply(ctx context.Context, r *Request, dec *wbxml.Decoder, _ *wbxml.Encoder) error {
	return m.smart(ctx, r, dec, wbxml.ComposeMailSmartReply)
}

func (m *Mail) smartForward(ctx context.Context, r *Request, dec *wbxml.Decoder, _ *wbxml.Encoder) error {
	return m.smart(ctx, r, dec, wbxml.ComposeMailSmartForward)
}

// smart serves SmartReply and SmartForward.
func (m *Mail) smart(ctx context.Context, r *Request, dec *wbxml.Decoder, root wbxml.Tag) error {
	c, err := readCompose(r, dec, root)
	if err != nil {
		return err
	}
	orig, err := m.source(ctx, r, c)
	if err != nil {
		return err
	}
	raw, err := m.st.ItemBody(ctx, orig.ID)
	if err != nil {
		return fmt.Errorf("original %d: %w", orig.ID, err)
	}
	var msg []byte
	if root == wbxml.ComposeMailSmartReply {
		msg, err = submission.ComposeReply(c.mime, raw, c.replaceMime)
	} else {
		msg, err = submission.ComposeForward(c.mime, raw, c.replaceMime)
	}
	if err != nil {
		return submitStatus(err)
	}
	res, err := m.submitResult(ctx, r, c, msg)
	if err != nil {
		return err
	}
	// MS-ASEMAIL 2.2.2.44 LastVerbExecuted and 2.2.2.45 LastVerbExecutionTime: the store
	// keeps the latest verb with its time (a reply after a forward shows as the reply) and
	// sets \Answered or $Forwarded for IMAP.
	verb := store.LastVerb{Verb: store.VerbForward, At: time.Now()}
	if root == wbxml.ComposeMailSmartReply {
		verb.Verb = replyVerb(orig, r.Account.Address, res)
	}
	if _, err := m.st.SetFlags(ctx, orig.ID, store.FlagsUpdate{LastVerb: &verb}); err != nil {
		r.Log.Warn("mark original after smart command", "item", orig.ID, "err", err)
	}
	return nil
}

// replyVerb tells a reply to all from a reply to the sender. MS-ASCMD 2.2.1.16 SmartReply
// has no element saying which the user chose, so the recipients decide: a reply that goes to
// any of the original's To or Cc recipients other than the user is REPLYTOALL (MS-ASEMAIL
// 2.2.2.44 value 2), any other reply REPLYTOSENDER (1).
func replyVerb(orig store.Item, self string, res submission.Result) store.Verb {
	others := addressSet(orig.To + "," + orig.Cc)
	delete(others, strings.ToLower(self))
	for _, list := range [][]string{res.Local, res.Remote} {
		for _, a := range list {
			if others[strings.ToLower(a)] {
				return store.VerbReplyToAll
			}
		}
	}
	return store.VerbReplyToSender
}

// addressSet returns the lower-cased addresses of a stored address list (display text such
// as `"Name" <a@b>, c@d`).
func addressSet(list string) map[string]bool {
	out := make(map[string]bool)
	if as, err := mail.ParseAddressList(list); err == nil {
		for _, a := range as {
			out[strings.ToLower(a.Address)] = true
		}
		return out
	}
	for part := range strings.SplitSeq(list, ",") {
		part = strings.TrimSpace(part)
		if i := strings.LastIndexByte(part, '<'); i >= 0 {
			part = strings.TrimSuffix(part[i+1:], ">")
		}
		if part != "" {
			out[strings.ToLower(part)] = true
		}
	}
	return out
}

// source finds the original of a Smart command: an item of the user's mailbox.
func (m *Mail) source(ctx context.Context, r *Request, c composeRequest) (store.Item, error) {
	notFound := func(err error) error { return &StatusError{Status: StatusItemNotFound, Err: err} }
	if c.itemID == "" {
		// LongId names a Search result; Search does not exist yet.
		return store.Item{}, notFound(fmt.Errorf("no ItemId (LongId %q)", c.longID))
	}
	id, ok := parseServerID(c.itemID)
	if !ok {
		return store.Item{}, notFound(fmt.Errorf("item %q", c.itemID))
	}
	it, err := m.st.Item(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && it.Mailbox != r.Account.Mailbox {
		return store.Item{}, notFound(fmt.Errorf("item %q", c.itemID))
	} else if err != nil {
		return store.Item{}, err
	}
	return it, nil
}

func (m *Mail) submit(ctx context.Context, r *Request, c composeRequest, msg []byte) error {
	_, err := m.submitResult(ctx, r, c, msg)
	return err
}

// submitResult submits msg; MS-ASCMD 2.2.1.15: a successful SendMail has an empty response.
func (m *Mail) submitResult(ctx context.Context, r *Request, c composeRequest, msg []byte) (submission.Result, error) {
	res, err := m.sub.Submit(ctx, r.Account, msg, submission.SubmitOptions{DeviceID: r.DeviceID, ClientID: c.clientID,
		SaveInSent: c.saveInSent})
	if err != nil {
		return res, submitStatus(err)
	}
	return res, nil
}

// submitStatus maps a submission error to its common status (MS-ASCMD 2.2.2).
func submitStatus(err error) error {
	switch {
	case errors.Is(err, store.ErrAlreadySent):
		return &StatusError{Status: StatusMessagePreviouslySent, Err: err}
	case errors.Is(err, submission.ErrNoRecipients):
		return &StatusError{Status: StatusMessageHasNoRecipient, Err: err}
	case errors.Is(err, submission.ErrFromNotAllowed):
		return &StatusError{Status: StatusAccessDenied, Err: err}
	case errors.Is(err, submission.ErrInvalidMessage), errors.Is(err, store.ErrInvalidMessage):
		return &StatusError{Status: StatusInvalidMIME, Err: err}
	}
	return fmt.Errorf("submit: %w", err) // logged; ServerError (110)
}
