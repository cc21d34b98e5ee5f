// Package submission is what every way of sending mail shares: EAS SendMail, SmartReply and
// SmartForward today, SMTP submission later. Submit takes a message a user wrote, checks and
// completes its header, and hands it on: local recipients get it in their Inbox at once,
// external ones wait in the store's outbound queue for the SMTP relay, and the sender's Sent
// Items gets a copy when asked.
//
// # Order of work and what a crash leaves
//
// Submit first records the whole submission in one store transaction
// (store.EnqueueOutbound): the message, every recipient with status "queued", and the
// client's idempotency key (user, device, ClientId) when there is one. Only then does it
// deliver to the local recipients, marking each delivered, and save to Sent Items. A crash
// between the two leaves local recipients queued, visible to an administrator and to the
// relay's retry, never silently lost; a resent submission with the same ClientId is refused
// (ErrAlreadySent) instead of sending twice.
//
// # Header rules
//
//   - From must be the sender's own address (any display name); another address is refused
//     with ErrFromNotAllowed. A missing From is set to the sender.
//   - Date and Message-ID are added when missing (RFC 5322 3.6.1 and 3.6.4).
//   - Recipients are the addresses of To, Cc and Bcc (RFC 5322 3.6.3), each once. The Bcc
//     field is removed from what recipients and the queue get; the sender's Sent Items copy
//     keeps it, as Exchange does, so the sender can see whom he blind-copied.
//   - A recipient is local when the store has a user with that address; every other address
//     is queued for the relay, which owns bounces.
package submission

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/easd/easd/store"
)

// Errors of Submit, besides store errors (store.ErrAlreadySent among them).
var (
	// ErrFromNotAllowed: the From header names another address than the sender's.
	ErrFromNotAllowed = errors.New("submission: from address not allowed")
	// ErrNoRecipients: To, Cc and Bcc name nobody.
	ErrNoRecipients = errors.New("submission: message has no recipient")
	// ErrInvalidMessage: the message or an address header cannot be parsed.
	ErrInvalidMessage = errors.New("submission: invalid message")
)

// Store is what submission needs of the store.
type Store interface {
	UserByAddress(ctx context.Context, addr string) (store.User, error)
	EnqueueOutbound(ctx context.Context, m store.NewOutbound) (store.OutboundMessage, error)
	OutboundRecipientDone(ctx context.Context, id int64, addr, status, lastError string) error
	Deliver(ctx context.Context, addr string, raw []byte) (store.Item, error)
	FolderByType(ctx context.Context, mb store.MailboxID, t store.FolderType) (store.Folder, error)
	AppendMessage(ctx context.Context, folder store.FolderID, raw []byte, opts store.AppendOptions) (store.Item, error)
}

var _ Store = (*store.Store)(nil)

// Submitter submits messages. It is safe for concurrent use.
type Submitter struct {
	st  Store
	log *slog.Logger
	now func() time.Time
}

// Options configures New. Store is required.
type Options struct {
	Store  Store
	Logger *slog.Logger     // nil: discard
	Clock  func() time.Time // nil: time.Now; for the Date header
}

// New returns a Submitter.
func New(opts Options) *Submitter {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Clock
	if now == nil {
		now = time.Now
	}
	return &Submitter{st: opts.Store, log: log.With("pkg", "submission"), now: now}
}

// SubmitOptions are the optional parts of a submission.
type SubmitOptions struct {
	// DeviceID and ClientID make the submission idempotent per device (EAS ComposeMail
	// ClientId); empty ClientID: no check.
	DeviceID, ClientID string
	// SaveInSent stores a copy, marked read, in the sender's Sent Items.
	SaveInSent bool
}

// Result says what Submit did.
type Result struct {
	MessageID string   // the Message-ID header, without angle brackets
	Local     []string // delivered to these users' Inboxes
	Remote    []string // queued for the relay
	Queue     int64    // the outbound queue entry; 0 if every recipient was local and got it
	Sent      store.Item
	HasSent   bool // Sent holds the Sent Items copy
}

// Submit sends raw as the user from: see the package doc for what it checks, changes and
// records. Errors: ErrFromNotAllowed, ErrNoRecipients, ErrInvalidMessage,
// store.ErrAlreadySent, or a store failure; once the submission is recorded, a failed local
// delivery or Sent Items copy is logged and left in the queue, not returned.
func (s *Submitter) Submit(ctx context.Context, from store.User, raw []byte, opts SubmitOptions) (Result, error) {
	hdr, body, err := splitMessage(raw)
	if err != nil {
		return Result{}, err
	}
	h := mail.Header{Header: message.Header{Header: hdr}}
	if err := s.checkFrom(&h, from); err != nil {
		return Result{}, err
	}
	if !h.Has("Date") {
		h.SetDate(s.now())
	}
	msgID, err := h.MessageID()
	if err != nil || msgID == "" {
		msgID = newMessageID(from.Address)
		h.SetMessageID(msgID)
	}
	var rcpts []string
	for _, k := range []string{"To", "Cc", "Bcc"} {
		list, err := h.AddressList(k)
		if err != nil {
			return Result{}, fmt.Errorf("%w: %s: %v", ErrInvalidMessage, k, err)
		}
		for _, a := range list {
			addr, err := store.NormalizeAddress(a.Address)
			if err != nil {
				return Result{}, fmt.Errorf("%w: %s address %q", ErrInvalidMessage, k, a.Address)
			}
			if !contains(rcpts, addr) {
				rcpts = append(rcpts, addr)
			}
		}
	}
	if len(rcpts) == 0 {
		return Result{}, ErrNoRecipients
	}
	sentCopy, err := joinMessage(h.Header.Header, body)
	if err != nil {
		return Result{}, err
	}
	h.Del("Bcc")
	out, err := joinMessage(h.Header.Header, body)
	if err != nil {
		return Result{}, err
	}

	res := Result{MessageID: msgID}
	for _, a := range rcpts {
		_, err := s.st.UserByAddress(ctx, a)
		switch {
		case err == nil:
			res.Local = append(res.Local, a)
		case errors.Is(err, store.ErrNotFound):
			res.Remote = append(res.Remote, a)
		default:
			return Result{}, fmt.Errorf("submit: look up %s: %w", a, err)
		}
	}
	q, err := s.st.EnqueueOutbound(ctx, store.NewOutbound{User: from.ID, DeviceID: opts.DeviceID, ClientID: opts.ClientID,
		EnvelopeFrom: from.Address, MessageID: msgID, Raw: out, Local: res.Local, Remote: res.Remote})
	if err != nil {
		return Result{}, fmt.Errorf("submit: %w", err)
	}
	res.Queue = q.ID
	log := s.log.With("user", from.Address, "message_id", msgID, "queue", q.ID)
	// From here on the submission is recorded: failures are logged and stay queued.
	ctx = context.WithoutCancel(ctx)
	delivered := 0
	for _, a := range res.Local {
		if _, err := s.st.Deliver(ctx, a, out); err != nil {
			log.Error("local delivery failed; left in the outbound queue", "to", a, "err", err)
			if err := s.st.OutboundRecipientDone(ctx, q.ID, a, store.OutboundQueued, err.Error()); err != nil {
				log.Error("record delivery failure", "to", a, "err", err)
			}
			continue
		}
		if err := s.st.OutboundRecipientDone(ctx, q.ID, a, store.OutboundDelivered, ""); err != nil {
			log.Error("record delivery", "to", a, "err", err)
		}
		delivered++
	}
	if len(res.Remote) == 0 && delivered == len(res.Local) {
		res.Queue = 0
	}
	if opts.SaveInSent {
		f, err := s.st.FolderByType(ctx, from.Mailbox, store.FolderSent)
		if err == nil {
			res.Sent, err = s.st.AppendMessage(ctx, f.ID, sentCopy, store.AppendOptions{Flags: store.Flags{Seen: true}})
		}
		if err != nil {
			log.Error("save to sent items", "err", err)
		} else {
			res.HasSent = true
		}
	}
	log.Info("message submitted", "local", len(res.Local), "remote", len(res.Remote), "size", len(out))
	return res, nil
}

// checkFrom sets a missing From to the sender and refuses one naming someone else.
func (s *Submitter) checkFrom(h *mail.Header, from store.User) error {
	if !h.Has("From") {
		h.SetAddressList("From", []*mail.Address{{Name: from.DisplayName, Address: from.Address}})
		return nil
	}
	list, err := h.AddressList("From")
	if err != nil {
		return fmt.Errorf("%w: From: %v", ErrInvalidMessage, err)
	}
	if len(list) != 1 {
		return fmt.Errorf("%w: %d From addresses", ErrFromNotAllowed, len(list))
	}
	if !strings.EqualFold(list[0].Address, from.Address) {
		return fmt.Errorf("%w: %s sending as %s", ErrFromNotAllowed, from.Address, list[0].Address)
	}
	if list[0].Name == "" && from.DisplayName != "" {
		h.SetAddressList("From", []*mail.Address{{Name: from.DisplayName, Address: from.Address}})
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// splitMessage parses the header of raw and returns it with the body bytes, unchanged.
func splitMessage(raw []byte) (textproto.Header, []byte, error) {
	if len(raw) == 0 {
		return textproto.Header{}, nil, fmt.Errorf("%w: empty", ErrInvalidMessage)
	}
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	sep := 4
	if lf := bytes.Index(raw, []byte("\n\n")); lf >= 0 && (end < 0 || lf < end) {
		end, sep = lf, 2
	}
	var head, body []byte
	if end < 0 {
		head = raw
	} else {
		head, body = raw[:end+sep/2], raw[end+sep:]
	}
	h, err := textproto.ReadHeader(bufioReader(head))
	if err != nil {
		return textproto.Header{}, nil, fmt.Errorf("%w: header: %v", ErrInvalidMessage, err)
	}
	if h.Len() == 0 {
		return textproto.Header{}, nil, fmt.Errorf("%w: no header", ErrInvalidMessage)
	}
	return h, body, nil
}

// joinMessage writes the header (CRLF line ends, as SMTP needs) and the body.
func joinMessage(h textproto.Header, body []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, h); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidMessage, err)
	}
	b.Write(body)
	return b.Bytes(), nil
}

// newMessageID returns a fresh id-left@domain with the sender's domain (RFC 5322 3.6.4).
func newMessageID(addr string) string {
	var r [12]byte
	_, _ = rand.Read(r[:])
	_, domain, _ := strings.Cut(addr, "@")
	if domain == "" {
		domain = "easd.invalid"
	}
	return hex.EncodeToString(r[:]) + "@" + domain
}
