package eas

import (
	"errors"
	"fmt"

	"github.com/easd/easd/policy"
	"github.com/easd/easd/wbxml"
)

// BodyType is the AirSyncBase Type of a body (MS-ASAIRS 2.2.2.22.1).
type BodyType int

// MS-ASAIRS 2.2.2.22.1 Type (BodyPreference, Body).
const (
	BodyPlain BodyType = 1 // plain text
	BodyHTML  BodyType = 2 // HTML
	BodyRTF   BodyType = 3 // RTF: not served, answered with HTML or plain
	BodyMIME  BodyType = 4 // the whole MIME message
)

// MaxPreview is the largest Preview a BodyPreference may ask for (MS-ASAIRS 2.2.2.18.1:
// 0 to 255 characters).
const MaxPreview = 255

// BodyPreference is one AirSyncBase:BodyPreference (MS-ASAIRS 2.2.2.7): the body type a
// client accepts and how much of it.
type BodyPreference struct {
	Type BodyType
	// TruncationSize in bytes (MS-ASAIRS 2.2.2.23.1); 0: send the whole body.
	TruncationSize int64
	// AllOrNone (MS-ASAIRS 2.2.2.1): a body larger than TruncationSize is not sent at all
	// (Truncated 1, no Data) rather than cut.
	AllOrNone bool
	// Preview is the length in characters of the Preview element to send (14.0+); 0: none.
	Preview int
}

// MIMESupport values (MS-ASCMD 2.2.3.110): which messages are sent as MIME.
const (
	MIMENever  = 0 // never send MIME data
	MIMESMIME  = 1 // MIME for S/MIME messages only
	MIMEAlways = 2 // MIME for every message
)

// bodyOptions are the body-related Options of a Sync collection or an ItemOperations Fetch.
// The zero value asks for the plain-text body untruncated.
type bodyOptions struct {
	Prefs       []BodyPreference // in request order; empty: plain text
	MIMESupport int              // MIMENever, MIMESMIME, MIMEAlways
	// MIMETruncation is the MIME size limit of MS-ASCMD 2.2.3.111 as bytes; 0: none,
	// truncateAll: no body text at all.
	MIMETruncation int64
	// attach is the policy's attachment limits (MS-ASPROV 2.2.2.23 AttachmentsEnabled,
	// 2.2.2.30 MaxAttachmentSize) when a policy applies: a MIME body sent with these options
	// carries no attachment they block (stripBlockedAttachments). nil: no limits. Set by
	// limitBody on every request, never kept in a snapshot (unexported, so not encoded).
	attach *policy.Limits
}

// truncateAll is a TruncationSize that sends no body text (MIMETruncation 0).
const truncateAll = -1

// mimeTruncation maps MS-ASCMD 2.2.3.111 MIMETruncation codes to byte limits (0: none).
var mimeTruncation = [...]int64{0: truncateAll, 1: 4096, 2: 5120, 3: 7168, 4: 10240, 5: 20480, 6: 51200, 7: 102400, 8: 0}

// readBodyOption consumes tok's element when it is one of the body options (BodyPreference,
// MIMESupport, MIMETruncation) and reports whether it was. tok must be the KindStart Next just
// returned. Sync and ItemOperations call it from their Options loops.
func (o *bodyOptions) readBodyOption(dec *wbxml.Decoder, tok wbxml.Token) (bool, error) {
	switch tok.Tag {
	case wbxml.AirSyncBaseBodyPreference:
		p, err := readBodyPreference(dec, tok)
		if err != nil {
			return true, err
		}
		o.Prefs = append(o.Prefs, p)
	case wbxml.AirSyncMIMESupport:
		n, err := dec.Int()
		if err != nil {
			return true, err
		}
		if n < MIMENever || n > MIMEAlways {
			return true, fmt.Errorf("MIMESupport %d: %w", n, errBadOption)
		}
		o.MIMESupport = int(n)
	case wbxml.AirSyncMIMETruncation:
		n, err := dec.Int()
		if err != nil {
			return true, err
		}
		if n < 0 || n >= int64(len(mimeTruncation)) {
			return true, fmt.Errorf("MIMETruncation %d: %w", n, errBadOption)
		}
		o.MIMETruncation = mimeTruncation[n]
	default:
		return false, nil
	}
	return true, nil
}

// errBadOption is an option value outside its range; Sync answers it with status 4.
var errBadOption = errors.New("option out of range")

// readBodyPreference reads one BodyPreference element whose start tok Next just returned.
func readBodyPreference(dec *wbxml.Decoder, tok wbxml.Token) (BodyPreference, error) {
	var p BodyPreference
	if !tok.Content {
		return p, fmt.Errorf("empty BodyPreference: %w", errBadOption)
	}
	for {
		t, more, err := dec.Child()
		if err != nil {
			return p, err
		}
		if !more {
			break
		}
		switch t.Tag {
		case wbxml.AirSyncBaseType:
			n, err := dec.Int()
			if err != nil {
				return p, err
			}
			p.Type = BodyType(n)
		case wbxml.AirSyncBaseTruncationSize:
			n, err := dec.Int()
			if err != nil {
				return p, err
			}
			// MS-ASAIRS 2.2.2.23.1: an unsignedInt; a negative value is malformed.
			if n < 0 {
				return p, fmt.Errorf("TruncationSize %d: %w", n, errBadOption)
			}
			p.TruncationSize = n
		case wbxml.AirSyncBaseAllOrNone:
			n, err := dec.Int()
			if err != nil {
				return p, err
			}
			p.AllOrNone = n == 1
		case wbxml.AirSyncBasePreview:
			n, err := dec.Int()
			if err != nil {
				return p, err
			}
			// MS-ASAIRS 2.2.2.18.1: 0 to 255.
			if n < 0 || n > MaxPreview {
				return p, fmt.Errorf("Preview %d: %w", n, errBadOption)
			}
			p.Preview = int(n)
		default:
			if err := dec.Skip(); err != nil {
				return p, err
			}
		}
	}
	if p.Type < BodyPlain || p.Type > BodyMIME {
		return p, fmt.Errorf("BodyPreference Type %d: %w", p.Type, errBadOption)
	}
	return p, nil
}

// readBodyPreferences reads the Options element whose start Next just returned and returns its
// BodyPreferences in order, skipping the other children. Use bodyOptions.readBodyOption where
// MIMESupport and the command's own options matter too.
func readBodyPreferences(dec *wbxml.Decoder) ([]BodyPreference, error) {
	o, err := readBodyOptions(dec)
	return o.Prefs, err
}

// readBodyOptions reads the Options element whose start Next just returned: BodyPreference,
// MIMESupport and MIMETruncation; other children are skipped.
func readBodyOptions(dec *wbxml.Decoder) (bodyOptions, error) {
	var o bodyOptions
	for {
		t, more, err := dec.Child()
		if err != nil {
			return o, err
		}
		if !more {
			return o, nil
		}
		ok, err := o.readBodyOption(dec, t)
		if err != nil {
			return o, err
		}
		if !ok {
			if err := dec.Skip(); err != nil {
				return o, err
			}
		}
	}
}
