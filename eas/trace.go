package eas

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// TraceStore keeps traces. *store.Store implements it.
type TraceStore interface {
	AppendTrace(ctx context.Context, t store.TraceRecord, limit int) error
}

var _ TraceStore = (*store.Store)(nil)

// TraceOptions configures NewTraceRecorder. Every field is optional.
type TraceOptions struct {
	Logger *slog.Logger // nil: discard
	// Limit is how many traces are kept per device, the oldest dropped first. Zero:
	// store.DefaultTraceLimit (200).
	Limit int
	// KeepBodies stores message bodies, MIME, attachment and picture data as they are instead
	// of "[redacted N bytes]". Passwords are redacted regardless.
	KeepBodies bool
}

// TraceRecorder is the Tracer of a real server: it traces the devices whose partnership has
// trace_enabled (devices.Registry.SetTrace), decoding each exchange with wbxml.ToXML and
// redacting it before it is stored (store.AppendTrace, a ring of Limit traces per device).
//
// Redaction replaces an element's content with "[redacted N bytes]":
//   - always: Settings Password (DevicePassword Set), Search Password and ItemOperations
//     Password (credentials for UNC and document library access);
//   - unless KeepBodies: AirSyncBase Data (bodies of mail, calendar, contacts, tasks, notes),
//     ComposeMail Mime, ItemOperations Data (attachments and fetched items), Contacts Picture,
//     GAL Data, ResolveRecipients Data; and a MIME request body (SendMail before 14.0).
//
// HTTP headers, Basic credentials included, are never part of a trace. Whether a device is
// traced is read from the registry's memory (devices.Registry.Traced), so the first request
// after a start, before the gate touched the device, is not traced.
type TraceRecorder struct {
	reg  *devices.Registry
	st   TraceStore
	log  *slog.Logger
	opts TraceOptions
}

var _ Tracer = (*TraceRecorder)(nil)

// NewTraceRecorder returns a TraceRecorder over the registry and the trace store.
func NewTraceRecorder(reg *devices.Registry, st TraceStore, opts TraceOptions) *TraceRecorder {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &TraceRecorder{reg: reg, st: st, log: log.With("pkg", "eas"), opts: opts}
}

// Tracing implements Tracer.
func (t *TraceRecorder) Tracing(user store.UserID, deviceID string) bool {
	_, ok := t.reg.Traced(devices.Key{User: user, DeviceID: deviceID})
	return ok
}

// Record implements Tracer. Failures are logged: a trace never fails a request.
func (t *TraceRecorder) Record(ctx context.Context, tr Trace) {
	id, ok := t.reg.Traced(devices.Key{User: tr.User, DeviceID: tr.DeviceID})
	if !ok {
		return
	}
	rec := store.TraceRecord{
		Device: id, At: tr.Time, Command: tr.Cmd.String(), ProtocolVersion: tr.Version.String(),
		HTTPStatus: tr.HTTPStatus, Status: int(tr.Status), Duration: tr.Duration,
		Request:  t.render(tr.Request, tr.RequestContentType),
		Response: t.render(tr.Response, ""),
	}
	// The request context may be cancelled once the response is out; the trace is stored anyway.
	if err := t.st.AppendTrace(context.WithoutCancel(ctx), rec, t.opts.Limit); err != nil {
		t.log.Warn("store trace", "device_id", tr.DeviceID, "err", err)
	}
}

// render returns body as redacted XML, or a note when it is not WBXML.
func (t *TraceRecorder) render(body []byte, contentType string) string {
	if len(body) == 0 {
		return ""
	}
	if isMIMEType(contentType) {
		if !t.opts.KeepBodies || !utf8.Valid(body) {
			return redactedNote(len(body)) + " (message/rfc822)"
		}
		return string(body)
	}
	red, err := RedactWBXML(nil, body, t.opts.KeepBodies)
	if err != nil {
		return "[undecodable body of " + strconv.Itoa(len(body)) + " bytes: " + err.Error() + "]"
	}
	var b strings.Builder
	if err := wbxml.ToXML(&b, red); err != nil {
		return "[undecodable body of " + strconv.Itoa(len(body)) + " bytes: " + err.Error() + "]"
	}
	return b.String()
}

func redactedNote(n int) string { return "[redacted " + strconv.Itoa(n) + " bytes]" }

// alwaysRedacted are credentials.
func alwaysRedacted(t wbxml.Tag) bool {
	switch t {
	case wbxml.SettingsPassword, wbxml.SearchPassword, wbxml.ItemOperationsPassword:
		return true
	}
	return false
}

// bodyRedacted are message content and attachments.
func bodyRedacted(t wbxml.Tag) bool {
	switch t {
	case wbxml.AirSyncBaseData, wbxml.ComposeMailMime, wbxml.ItemOperationsData, wbxml.ContactsPicture,
		wbxml.GALData, wbxml.ResolveRecipientsData:
		return true
	}
	return false
}

// RedactWBXML appends to dst a copy of the WBXML document doc in which the content of password
// elements, and unless keepBodies of body and attachment elements, is replaced by the string
// "[redacted N bytes]" (N: the bytes of content removed). Errors are doc's syntax errors.
func RedactWBXML(dst, doc []byte, keepBodies bool) ([]byte, error) {
	dec := wbxml.NewDecoder(doc)
	enc := wbxml.NewEncoder(dst)
	for {
		tok, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		switch tok.Kind {
		case wbxml.KindStart:
			if !tok.Content {
				enc.Empty(tok.Tag)
				continue
			}
			if alwaysRedacted(tok.Tag) || !keepBodies && bodyRedacted(tok.Tag) {
				n, err := skipCounting(dec)
				if err != nil {
					return nil, err
				}
				enc.String(tok.Tag, redactedNote(n))
				continue
			}
			enc.Start(tok.Tag)
		case wbxml.KindEnd:
			enc.End()
		case wbxml.KindString:
			enc.Text(tok.Data)
		case wbxml.KindOpaque:
			enc.RawOpaque(tok.Data)
		}
	}
	out := enc.Bytes()
	if err := enc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// skipCounting reads through the End of the element just started and returns the bytes of
// string and opaque content in it.
func skipCounting(dec *wbxml.Decoder) (int, error) {
	n, depth := 0, 1
	for depth > 0 {
		tok, err := dec.Next()
		if err != nil {
			return 0, err
		}
		switch tok.Kind {
		case wbxml.KindStart:
			if tok.Content {
				depth++
			}
		case wbxml.KindEnd:
			depth--
		default:
			n += len(tok.Data)
		}
	}
	return n, nil
}
