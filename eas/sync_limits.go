package eas

import (
	"context"
	"fmt"

	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
)

// LimitsSource gives the policy limits in force for a user: what the server enforces in
// Sync, ItemOperations and GetAttachment whatever the device asks for (MS-ASPROV 2.2.2.31,
// 2.2.2.33–35: age filters and body truncation; 2.2.2.7 AllowHTMLEmail; 2.2.2.23
// AttachmentsEnabled and 2.2.2.30 MaxAttachmentSize, see limitBody). PolicyLimits builds one
// over the store.
type LimitsSource func(ctx context.Context, user store.UserID) (policy.Limits, error)

// PolicyLimits returns the LimitsSource that reads the user's assigned (or the default)
// policy from st.
func PolicyLimits(st interface {
	UserPolicy(ctx context.Context, user store.UserID) (store.PolicyRecord, error)
}) LimitsSource {
	return func(ctx context.Context, user store.UserID) (policy.Limits, error) {
		if p := requestPolicy(ctx, user); p != nil {
			return p.Limits(), nil // the Gate read it for this request
		}
		rec, err := st.UserPolicy(ctx, user)
		if err != nil {
			return policy.Limits{}, fmt.Errorf("policy of user %d: %w", user, err)
		}
		p, err := policy.FromRecord(rec)
		if err != nil {
			return policy.Limits{}, fmt.Errorf("policy of user %d: %w", user, err)
		}
		return p.Limits(), nil
	}
}

// limitOptions returns o as the policy lets the server serve it: the FilterType no wider than
// the policy's age filter and the body options limited by limitBody. The options the device
// asked for stay in the snapshot only as limited, so a policy that tightens takes effect at
// the device's next Sync (after the re-provisioning a policy change forces).
func limitOptions(o collOptions, l policy.Limits) collOptions {
	o.FilterType = l.EmailFilter(o.FilterType)
	o.Body = limitBody(o.Body, l)
	return o
}

// limitBody returns b as the policy lets the server serve it: body truncation no larger than
// its limits, HTML bodies turned into plain text when HTML mail is not allowed, and the
// attachment limits recorded for the MIME body (bodyOptions.attach). Sync and ItemOperations
// Fetch both apply it.
//
// Attachments the policy blocks (MS-ASPROV 2.2.2.23 AttachmentsEnabled false, or larger than
// 2.2.2.30 MaxAttachmentSize) stay in the Attachments list, as Exchange lists them, with
// their EstimatedDataSize, so the user sees that they exist; fetching one is refused
// (ItemOperations Fetch status 11 or 16, GetAttachment HTTP 413 or 403), and a MIME body
// (BodyPreference Type 4, MIMESupport) carries a short text part in place of each of them
// (stripBlockedAttachments).
func limitBody(b bodyOptions, l policy.Limits) bodyOptions {
	if !l.AttachmentsEnabled || l.MaxAttachmentSize >= 0 {
		lc := l
		b.attach = &lc
	} else {
		b.attach = nil
	}
	if len(b.Prefs) == 0 {
		return b
	}
	prefs := make([]BodyPreference, len(b.Prefs))
	copy(prefs, b.Prefs)
	for i := range prefs {
		p := &prefs[i]
		if p.Type == BodyHTML && !l.AllowHTMLEmail {
			p.Type = BodyPlain
		}
		if p.Type != BodyPlain && p.Type != BodyHTML {
			continue // MIME and RTF: MIME has its own limits, RTF is answered as HTML
		}
		requested := p.TruncationSize
		if requested == 0 {
			requested = -1 // 0 asks for the whole body
		}
		switch n := l.BodyTruncation(requested, p.Type == BodyHTML); {
		case n < 0:
			p.TruncationSize = 0
		case n == 0:
			p.TruncationSize = truncateAll
		default:
			p.TruncationSize = n
		}
	}
	b.Prefs = prefs
	return b
}
