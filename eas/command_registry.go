package eas

import (
	"context"

	"github.com/easd/easd/wbxml"
)

// Handler runs one command. It reads the request body from dec (already checked to be
// well-formed WBXML, reset to its start; empty when the command allows an empty body, and
// not decoded at all for a MIME body, see Command.MIMEBody) and writes the response to enc,
// which starts empty: writing nothing answers 200 with an empty body (Sync and Ping do that).
//
// A returned *StatusError is written by the dispatcher with the command's StatusWriter
// (whatever the handler already encoded is discarded); a *wbxml.SyntaxError becomes
// InvalidXML (103); any other error is logged and answered with ServerError (110). Handlers
// run concurrently; dec and enc belong to this request only.
type Handler func(ctx context.Context, r *Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error

// StatusWriter writes a whole response document that carries only a protocol status, in the
// shape of one command (each command's Status element lives in its own namespace and place).
type StatusWriter func(enc *wbxml.Encoder, s Status)

// TopLevelStatus returns the StatusWriter of the commands whose response is
// <root><status>N</status></root>, which is most of them (FolderSync, Sync, Ping, Settings,
// Provision, ItemOperations, Search, ...).
func TopLevelStatus(root, status wbxml.Tag) StatusWriter {
	return func(enc *wbxml.Encoder, s Status) {
		enc.Start(root)
		enc.Int(status, int64(s))
		enc.End()
	}
}

// Command is a command implementation as the registry holds it.
type Command struct {
	Code    CommandCode // required
	Handler Handler     // required
	// Status writes a status-only response for this command. Nil: statuses the dispatcher
	// decides (UserDisabledForSync, VersionNotSupported, InvalidWBXML, a DeviceGate refusal,
	// a handler's *StatusError) become the HTTP status Status.HTTPStatus gives.
	Status StatusWriter
	// EmptyBody allows a request without a body (Sync and Ping repeat their previous request
	// that way, MS-ASCMD 2.2.1.21 and 2.2.1.13). Otherwise an empty body is InvalidContent
	// (101).
	EmptyBody bool
	// MIMEBody lets a Content-Type message/rfc822 body through undecoded (SendMail,
	// SmartReply and SmartForward before 14.0 send the message itself).
	MIMEBody bool
	// MaxBody overrides Options.MaxBodySize for this command when > 0.
	MaxBody int64
}
