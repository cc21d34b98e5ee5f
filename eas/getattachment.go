package eas

import (
	"context"
	"errors"
	"fmt"

	"github.com/easd/easd/wbxml"
)

// getAttachment serves GetAttachment (MS-ASCMD 2.2.1.8), the protocol 12.x and 14.x way to
// download an attachment: the AttachmentName query parameter holds the attachment's
// FileReference, the request has no body and the response is the attachment's bytes with its
// Content-Type. Protocol 16.0 and later have no GetAttachment (ItemOperations Fetch replaces
// it): they get CommandNotSupported. An unknown or foreign reference gets ItemNotFound; this
// command has no Status element, so both go out as the HTTP status that stands for them
// (MS-ASCMD 2.2.2). An attachment the user's policy blocks is refused the same way: 403 for
// AccessDenied (130) when attachments are disabled, 413 for AttachmentIsTooLarge (122) when it
// is larger than MaxAttachmentSize (attachment_policy.go).
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
	l, err := m.policyLimits(ctx, r)
	if err != nil {
		return err
	}
	if l != nil {
		// MS-ASPROV 2.2.2.23 AttachmentsEnabled, 2.2.2.30 MaxAttachmentSize (attachment_policy.go).
		if refused, tooLarge := attachmentRefused(*l, int64(len(att.Data))); refused {
			if tooLarge {
				return &StatusError{Status: StatusAttachmentIsTooLarge, Err: fmt.Errorf("attachment %s: %d bytes, policy allows %d",
					r.AttachmentName, len(att.Data), l.MaxAttachmentSize)}
			}
			return &StatusError{Status: StatusAccessDenied, Err: errors.New("attachment " + r.AttachmentName + ": policy disables attachments")}
		}
	}
	r.Response.ContentType = att.ContentType
	r.Response.Body = att.Data
	if r.Response.Body == nil {
		r.Response.Body = []byte{}
	}
	return nil
}
