package eas

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
)

// ErrBadQuery reports a request URI query, or a header that belongs with it, that cannot be
// parsed. The server answers it with HTTP 400 (MS-ASHTTP 2.2.2.1.1: "other malformed
// requests").
var ErrBadQuery = errors.New("eas: malformed request")

// Limits on what a request line may carry. MS-ASHTTP bounds the base64 fields by their
// one-byte lengths; the plain query gets the same bounds.
const (
	maxIDLen       = 64   // DeviceId and DeviceType characters
	maxParamLen    = 255  // MS-ASHTTP 2.2.1.1.1.1.1: parameter values are 0-255 bytes
	maxRawQueryLen = 2048 // longer than any valid query in either form
)

// Request is one parsed ActiveSync POST: what the URI query (plain or base64 form) and the
// headers say, then what the server learned (the account), then room for the handler's
// response. The server fills it; a handler reads it and may set the Response fields. It is
// valid only during the handler.
type Request struct {
	Cmd CommandCode
	// User is the User query parameter as sent ("" if absent; the base64 form makes it
	// optional). The server has checked that it names Account.
	User       string
	DeviceID   string // DeviceId; see ParseBase64Query for binary ids
	DeviceType string
	Version    Version // MS-ASProtocolVersion header, or the base64 Protocol version byte
	// PolicyKey is the X-MS-PolicyKey header, the base64 Policy key field or (pyactivesync)
	// a PolicyKey query parameter; HasPolicyKey says whether any was present.
	PolicyKey    uint32
	HasPolicyKey bool
	Locale       uint16 // base64 form only (MS-ASHTTP 2.2.1.1.1.1), e.g. 0x0409
	UserAgent    string // "" when absent (Windows Phone POSTs, Windows Mail)

	// Command parameters (MS-ASHTTP 2.2.1.1.1.2.5 and 2.2.1.1.1.1.3).
	AttachmentName  string
	CollectionID    string
	ItemID          string
	LongID          string
	Occurrence      string
	SaveInSent      bool // SaveInSent=T or the base64 Options bit 0x01
	AcceptMultiPart bool // MS-ASAcceptMultiPart: T, AcceptMultiPart=T or Options bit 0x02
	Base64          bool // the query came in the base64-encoded form

	// Set by the server before the handler runs.
	Account     store.User   // the authenticated account
	RemoteAddr  string       // client address (as trusted by the echo IP extractor)
	ContentType string       // request Content-Type
	Body        []byte       // the whole request body; the handler's Decoder reads it
	Log         *slog.Logger // carries cid, user, device_id, cmd
	// Access is the device's access state as the gate found it (store.AccessAllowed,
	// AccessQuarantined; "" without a gate): a quarantined device sees only its Inbox
	// (collectionAllowed).
	Access string

	// Response may be changed by the handler: extra headers, or a body that is not WBXML
	// (GetAttachment, ItemOperations multipart) which is sent instead of the Encoder's output.
	Response Response

	// policy is the user's policy as the Gate read it for this request, so that the
	// handler's policy limits (PolicyLimits) need not read it again; nil before the gate.
	policy *policy.Policy
	// policyRec is the user's policy as read with the account (AccountLookup) from
	// policyFrom; nil if it was not.
	policyRec  *store.PolicyRecord
	policyFrom AccountLookup
}

// requestKey is the context key of the Request being served.
type requestKey struct{}

// withRequest returns ctx carrying r: the context handlers get.
func withRequest(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// requestPolicy returns the policy the Gate read for the request ctx serves, if that request
// is user's; nil otherwise.
func requestPolicy(ctx context.Context, user store.UserID) *policy.Policy {
	r, _ := ctx.Value(requestKey{}).(*Request)
	if r == nil || r.Account.ID != user {
		return nil
	}
	return r.policy
}

// Response is what a handler can say about its response beyond the WBXML it encodes.
type Response struct {
	Header      http.Header // extra response headers; nil until the handler sets one
	ContentType string      // with Body
	Body        []byte      // non-nil: sent as is instead of the Encoder output
}

// ParseRequest parses the query of a request URI (everything after '?', still
// percent-encoded) and the headers that belong with it (MS-ASHTTP 2.2.1.1.1 and 2.2.1.1.2).
// It detects the form: a query without '=' before its end and without '&' is the
// base64-encoded form. Errors wrap ErrBadQuery. ParseRequest checks shapes, not meaning: an
// unsupported protocol version parses.
func ParseRequest(rawQuery string, h http.Header) (*Request, error) {
	if len(rawQuery) > maxRawQueryLen {
		return nil, fmt.Errorf("%w: query of %d bytes", ErrBadQuery, len(rawQuery))
	}
	var r *Request
	if isBase64Query(rawQuery) {
		q, err := url.PathUnescape(rawQuery)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadQuery, err)
		}
		if r, err = ParseBase64Query(q); err != nil {
			return nil, err
		}
	} else {
		var err error
		if r, err = parsePlainQuery(rawQuery, h); err != nil {
			return nil, err
		}
	}
	// MS-ASHTTP 2.2.1.1.2.4: User-Agent is optional.
	r.UserAgent = h.Get("User-Agent")
	// The header names below are written canonically so that Get does not allocate.
	// MS-ASHTTP 2.2.1.1.2.5: T asks for multipart; absent or F means inline.
	if v := h.Get("Ms-Asacceptmultipart"); v != "" {
		b, err := parseTF(v)
		if err != nil {
			return nil, fmt.Errorf("%w: MS-ASAcceptMultiPart %q", ErrBadQuery, v)
		}
		r.AcceptMultiPart = r.AcceptMultiPart || b
	}
	// MS-ASHTTP 2.2.1.1.2.8: the header SHOULD NOT be used with the base64 form, whose field
	// wins when both are present.
	if v := h.Get("X-Ms-Policykey"); v != "" && !(r.Base64 && r.HasPolicyKey) {
		k, err := parsePolicyKey(v)
		if err != nil {
			return nil, err
		}
		r.PolicyKey, r.HasPolicyKey = k, true
	}
	if r.Base64 {
		return r, nil
	}
	// MS-ASHTTP 2.2.1.1.2.6: required with the plain query.
	v := h.Get("Ms-Asprotocolversion")
	if v == "" {
		return nil, fmt.Errorf("%w: no MS-ASProtocolVersion header", ErrBadQuery)
	}
	ver, err := ParseVersion(v)
	if err != nil {
		return nil, fmt.Errorf("%w: MS-ASProtocolVersion %q", ErrBadQuery, v)
	}
	r.Version = ver
	return r, nil
}

// isBase64Query reports whether q looks like the base64-encoded form: no '&', and '=' (or its
// escape) only as trailing padding.
func isBase64Query(q string) bool {
	if q == "" || strings.IndexByte(q, '&') >= 0 {
		return false
	}
	t := strings.TrimRight(q, "=")
	for strings.HasSuffix(t, "%3D") || strings.HasSuffix(t, "%3d") {
		t = t[:len(t)-3]
	}
	return strings.IndexByte(t, '=') < 0 && !strings.Contains(t, "%3D") && !strings.Contains(t, "%3d")
}

// parsePlainQuery parses the plain text query value (MS-ASHTTP 2.2.1.1.1.2). Parameter names
// match ignoring ASCII case; a repeated parameter is an error, not a choice.
func parsePlainQuery(rawQuery string, h http.Header) (*Request, error) {
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadQuery, err)
	}
	r := new(Request)
	var cmd string
	for name, vs := range vals {
		if len(vs) != 1 {
			return nil, fmt.Errorf("%w: parameter %q repeated", ErrBadQuery, name)
		}
		v := vs[0]
		if len(v) > maxParamLen {
			return nil, fmt.Errorf("%w: parameter %q of %d bytes", ErrBadQuery, name, len(v))
		}
		switch strings.ToLower(name) {
		case "cmd":
			cmd = v
		case "user":
			r.User = v
		case "deviceid":
			r.DeviceID = v
		case "devicetype":
			r.DeviceType = v
		case "attachmentname":
			r.AttachmentName = v
		case "collectionid":
			r.CollectionID = v
		case "itemid":
			r.ItemID = v
		case "longid":
			r.LongID = v
		case "occurrence":
			r.Occurrence = v
		case "saveinsent":
			if r.SaveInSent, err = parseTF(v); err != nil {
				return nil, fmt.Errorf("%w: SaveInSent %q", ErrBadQuery, v)
			}
		case "acceptmultipart":
			if r.AcceptMultiPart, err = parseTF(v); err != nil {
				return nil, fmt.Errorf("%w: AcceptMultiPart %q", ErrBadQuery, v)
			}
		case "policykey":
			// Quirk(pyactivesync): sends the policy key as a query parameter instead of
			// X-MS-PolicyKey. The header, when also present, overrides it in ParseRequest.
			if r.PolicyKey, err = parsePolicyKey(v); err != nil {
				return nil, err
			}
			r.HasPolicyKey = true
		default:
			// Unknown parameters are ignored, as Exchange does.
		}
	}
	if cmd == "" {
		return nil, fmt.Errorf("%w: no Cmd parameter", ErrBadQuery)
	}
	c, ok := LookupCommand(cmd)
	if !ok {
		return nil, fmt.Errorf("%w: %w %q", ErrBadQuery, ErrUnknownCommand, cmd)
	}
	r.Cmd = c
	if err := checkID("DeviceId", r.DeviceID); err != nil {
		return nil, err
	}
	if err := checkID("DeviceType", r.DeviceType); err != nil {
		return nil, err
	}
	return r, nil
}

// ErrUnknownCommand reports a Cmd parameter that names no ActiveSync command. It is wrapped
// with ErrBadQuery.
var ErrUnknownCommand = errors.New("unknown command")

// ErrNoDeviceID reports a request without a DeviceId (MS-ASCMD 2.2.2 status 108; HTTP 400).
var ErrNoDeviceID = errors.New("missing DeviceId")

// checkID checks a DeviceId or DeviceType: 1-64 characters of letters, digits, '-', '_' and
// '.'. MS-ASHTTP 2.2.1.1.1.2.3 asks for alphanumerics; real clients add '-' and '_'.
func checkID(field, v string) error {
	if v == "" {
		if field == "DeviceId" {
			return fmt.Errorf("%w: %w", ErrBadQuery, ErrNoDeviceID)
		}
		return fmt.Errorf("%w: missing %s", ErrBadQuery, field)
	}
	if len(v) > maxIDLen || !idChars(v) {
		return fmt.Errorf("%w: invalid %s %q", ErrBadQuery, field, v)
	}
	return nil
}

func idChars[T string | []byte](v T) bool {
	for i := range len(v) {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// parseTF parses the T/F flags of MS-ASHTTP 2.2.1.1.1.2.5 and 2.2.1.1.2.5.
func parseTF(v string) (bool, error) {
	switch v {
	case "T", "t":
		return true, nil
	case "F", "f":
		return false, nil
	}
	return false, errors.New("not T or F")
}

// parsePolicyKey parses a policy key: MS-ASPROV 2.2.2.42 says it SHOULD be the decimal form
// of a uint32.
func parsePolicyKey(v string) (uint32, error) {
	k, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: policy key %q", ErrBadQuery, v)
	}
	return uint32(k), nil
}

// Base64 command parameter tags (MS-ASHTTP 2.2.1.1.1.1.3).
const (
	paramAttachmentName = 0
	paramCollectionID   = 1
	paramItemID         = 3
	paramLongID         = 4
	paramOccurrence     = 6
	paramOptions        = 7
	paramUser           = 8
)

// Options bits of the base64 form (MS-ASHTTP 2.2.1.1.1.1.3).
const (
	optSaveInSent      = 0x01
	optAcceptMultiPart = 0x02
)

// ParseBase64Query decodes the base64-encoded query value (MS-ASHTTP 2.2.1.1.1.1), already
// percent-decoded: standard base64 with or without padding (the URL-safe alphabet is accepted
// too). Errors wrap ErrBadQuery. A DeviceId whose bytes are not all letters, digits, '-',
// '_' or '.' (Windows Mail sends 16 raw bytes) becomes their upper-case hex, so the same
// device always gets the same id. ParseBase64Query never allocates more than the input size,
// whatever the length fields say.
func ParseBase64Query(q string) (*Request, error) {
	if len(q) > maxRawQueryLen {
		return nil, fmt.Errorf("%w: base64 query of %d bytes", ErrBadQuery, len(q))
	}
	enc := base64.StdEncoding
	if strings.ContainsAny(q, "-_") {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(q, "=") && len(q)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	b, err := enc.DecodeString(q)
	if err != nil {
		return nil, fmt.Errorf("%w: base64 query: %v", ErrBadQuery, err)
	}
	r := &Request{Base64: true}
	if err := parseBinaryQuery(b, r); err != nil {
		return nil, fmt.Errorf("%w: base64 query: %w", ErrBadQuery, err)
	}
	return r, nil
}

// binReader reads the fields of the base64 form from a byte slice.
type binReader struct {
	b   []byte
	off int
}

func (br *binReader) byte(field string) (byte, error) {
	if br.off >= len(br.b) {
		return 0, fmt.Errorf("%s missing at offset %d", field, br.off)
	}
	c := br.b[br.off]
	br.off++
	return c, nil
}

// lenBytes reads a one-byte length and that many bytes, aliasing the input.
func (br *binReader) lenBytes(field string) ([]byte, error) {
	if br.off >= len(br.b) {
		return nil, fmt.Errorf("%s length missing at offset %d", field, br.off)
	}
	n := br.b[br.off]
	br.off++
	if int(n) > len(br.b)-br.off {
		return nil, fmt.Errorf("%s length %d exceeds the %d bytes left at offset %d", field, n, len(br.b)-br.off, br.off-1)
	}
	v := br.b[br.off : br.off+int(n)]
	br.off += int(n)
	return v, nil
}

func parseBinaryQuery(b []byte, r *Request) error {
	br := &binReader{b: b}
	ver, err := br.byte("protocol version")
	if err != nil {
		return err
	}
	r.Version = Version(ver)
	code, err := br.byte("command code")
	if err != nil {
		return err
	}
	r.Cmd = CommandCode(code)
	if !r.Cmd.Valid() || r.Cmd == CmdFind {
		return fmt.Errorf("%w: code %d", ErrUnknownCommand, code)
	}
	if len(b)-br.off < 2 {
		return errors.New("locale missing")
	}
	r.Locale = binary.LittleEndian.Uint16(b[br.off:])
	br.off += 2

	id, err := br.lenBytes("device id")
	if err != nil {
		return err
	}
	switch {
	case len(id) == 0:
		return ErrNoDeviceID
	case idChars(id) && len(id) <= maxIDLen:
		r.DeviceID = string(id)
	case len(id) <= maxIDLen/2:
		var buf [maxIDLen]byte
		h := hex.AppendEncode(buf[:0], id)
		for i, c := range h {
			if c >= 'a' {
				h[i] = c - 'a' + 'A'
			}
		}
		r.DeviceID = string(h)
	default:
		return fmt.Errorf("device id of %d bytes", len(id))
	}

	pk, err := br.lenBytes("policy key")
	if err != nil {
		return err
	}
	switch len(pk) {
	case 0:
	case 4:
		r.PolicyKey, r.HasPolicyKey = binary.LittleEndian.Uint32(pk), true
	default:
		return fmt.Errorf("policy key length %d, want 0 or 4", len(pk))
	}

	dt, err := br.lenBytes("device type")
	if err != nil {
		return err
	}
	if len(dt) == 0 || len(dt) > maxIDLen || !idChars(dt) {
		return fmt.Errorf("invalid device type %q", dt)
	}
	r.DeviceType = string(dt)

	// MS-ASHTTP 2.2.1.1.1.1.1: Tag, Length, Value until the end.
	var seen uint16
	for br.off < len(b) {
		tagOff := br.off
		tag, _ := br.byte("parameter tag")
		v, err := br.lenBytes("parameter")
		if err != nil {
			return err
		}
		if tag > paramUser {
			return fmt.Errorf("unknown parameter tag %d at offset %d", tag, tagOff)
		}
		if seen&(1<<tag) != 0 {
			return fmt.Errorf("parameter tag %d repeated at offset %d", tag, tagOff)
		}
		seen |= 1 << tag
		switch tag {
		case paramAttachmentName:
			r.AttachmentName = string(v)
		case paramCollectionID:
			r.CollectionID = string(v)
		case paramItemID:
			r.ItemID = string(v)
		case paramLongID:
			r.LongID = string(v)
		case paramOccurrence:
			r.Occurrence = string(v)
		case paramOptions:
			if len(v) != 1 {
				return fmt.Errorf("options parameter of %d bytes, want 1", len(v))
			}
			r.SaveInSent = v[0]&optSaveInSent != 0
			r.AcceptMultiPart = v[0]&optAcceptMultiPart != 0
		case paramUser:
			r.User = string(v)
		default:
			return fmt.Errorf("unknown parameter tag %d at offset %d", tag, tagOff)
		}
	}
	return nil
}
