package eas

import (
	"context"
	"errors"

	"github.com/easd/easd/wbxml"
)

// getAttachment serves GetAttachment (MS-ASCMD 2.2.1.8), the protocol 12.x and 14.x way to
// download an attachment: the AttachmentName query parameter holds the attachment's
// FileReference, the request has no body and the response is the attachment's bytes with its
// Content-Type. Protocol 16.0 and later have no GetAttachment (ItemOperations Fetch replaces
// it): they get CommandNotSupported. An unknown or foreign reference gets ItemNotFound; this
// command has no Status element, so both go out as the HTTP status that stands for them
// (MS-ASCMD 2.2.2).
func (m *Mail) getAttachment(ctx context.Context, r *Request, _ *wbxml.Decoder, _ *wbxml.Encoder) error {
	if r.Version >= Version160 {
		return &StatusError{Status: StatusCommandNotSupported, Err: errors.New("GetAttachment after 14.1")}
	}
	if r.AttachmentName == "" {
		return &StatusError{Status: StatusInvalidCombinationOfIDs, Err: errors.New("no AttachmentName")}
	}
	att, st, err := m.attachment(ctx, r, r.AttachmentName)
	if err != nil {
		return err
	}
	if st != StatusIOSuccess {
		return &StatusError{Status: StatusItemNotFound, Err: errors.New("attachment " + r.AttachmentName)}
	}
	r.Response.ContentType = att.ContentType
	r.Response.Body = att.Data
	if r.Response.Body == nil {
		r.Response.Body = []byte{}
	}
	return nil
}
