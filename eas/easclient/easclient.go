// Package easclient is a small ActiveSync client for tests, the load tool and debugging: it
// builds request URIs in the plain or the base64-encoded query form (MS-ASHTTP 2.2.1.1.1),
// sets the protocol headers and HTTP Basic credentials, sends a WBXML body and returns the
// status, headers and body of the answer, with helpers to read the body as tokens, XML or an
// element tree (Node). On top of Do it has the steps every device takes before it sees mail
// (Provision, FolderSync, SyncFolder, InitialSync), so tests do not each re-write them.
//
// A Client holds a device's identity; it is safe for concurrent use if its fields are not
// changed while requests run.
package easclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/wbxml"
)

// Client talks to one ActiveSync server as one device of one user.
type Client struct {
	HTTP *http.Client // required; a TLS test server's Client() in tests
	// URL is the server's base URL ("https://host:port"); eas.Path is appended.
	URL string
	// Username and Password are sent as HTTP Basic credentials; no Authorization header when
	// Username is "".
	Username, Password string
	// User is the User query parameter; "" omits it.
	User       string
	DeviceID   string
	DeviceType string
	// DeviceIDBytes, if set, is sent as the binary DeviceId of the base64 form (Windows Mail
	// sends 16 raw bytes) instead of DeviceID.
	DeviceIDBytes []byte
	UserAgent     string      // "" sends no User-Agent (Windows Phone POSTs do not)
	Version       eas.Version // zero: 16.1
	Locale        uint16      // base64 form; zero: 0x0409
	// PolicyKey is sent when HasPolicyKey: as X-MS-PolicyKey with the plain query, in the
	// Policy key field of the base64 form.
	PolicyKey    uint32
	HasPolicyKey bool
	// Base64 selects the base64-encoded query form (only for 12.1 and later, MS-ASHTTP
	// 2.2.1.1.1.1).
	Base64 bool
}

// Request is one command to send.
type Request struct {
	Cmd  eas.CommandCode
	Body []byte // WBXML (see wbxml.Encoder) or, with ContentType message/rfc822, MIME
	// ContentType defaults to application/vnd.ms-sync.wbxml when Body is not empty.
	ContentType string
	// Header adds or overrides request headers (set a value to "" to drop a default one).
	Header http.Header
	// Command parameters (MS-ASHTTP 2.2.1.1.1.2.5).
	AttachmentName, CollectionID, ItemID, LongID, Occurrence string
	SaveInSent, AcceptMultiPart                              bool
	// RawQuery, if set, replaces the query the Client would build (for replaying captures).
	RawQuery string
}

// Response is the server's answer.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// XML returns the body as XML text (wbxml.ToXML), "" for an empty body.
func (r *Response) XML() (string, error) {
	if len(r.Body) == 0 {
		return "", nil
	}
	var b strings.Builder
	if err := wbxml.ToXML(&b, r.Body); err != nil {
		return "", fmt.Errorf("easclient: decode response: %w", err)
	}
	return b.String(), nil
}

// Tokens returns the body's token stream, each token cloned.
func (r *Response) Tokens() ([]wbxml.Token, error) {
	var toks []wbxml.Token
	dec := wbxml.NewDecoder(r.Body)
	for {
		tok, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return toks, nil
		} else if err != nil {
			return toks, fmt.Errorf("easclient: decode response: %w", err)
		}
		toks = append(toks, tok.Clone())
	}
}

// Status returns the integer content of the first element tagged t in the body, for
// asserting <Status> values.
func (r *Response) Status(t wbxml.Tag) (int, error) {
	toks, err := r.Tokens()
	if err != nil {
		return 0, err
	}
	for i, tok := range toks {
		if tok.Kind == wbxml.KindStart && tok.Tag == t && i+1 < len(toks) && toks[i+1].Kind == wbxml.KindString {
			return strconv.Atoi(string(toks[i+1].Data))
		}
	}
	return 0, fmt.Errorf("easclient: no %s in response", t)
}

func (c *Client) version() eas.Version {
	if c.Version == 0 {
		return eas.Version161
	}
	return c.Version
}

// Options sends OPTIONS (MS-ASHTTP 2.2.3).
func (c *Client) Options(ctx context.Context) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, c.URL+eas.Path, nil)
	if err != nil {
		return nil, fmt.Errorf("easclient: %w", err)
	}
	c.setCommon(req)
	return c.send(req)
}

// Do sends r and reads the whole answer. Only transport failures are errors: any HTTP status
// comes back in the Response.
func (c *Client) Do(ctx context.Context, r *Request) (*Response, error) {
	q := r.RawQuery
	if q == "" {
		var err error
		if q, err = c.Query(r); err != nil {
			return nil, err
		}
	}
	var body io.Reader
	if len(r.Body) > 0 {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+eas.Path, body)
	if err != nil {
		return nil, fmt.Errorf("easclient: %w", err)
	}
	req.URL.RawQuery = q
	c.setCommon(req)
	if len(r.Body) > 0 {
		ct := r.ContentType
		if ct == "" {
			ct = eas.ContentTypeWBXML
		}
		req.Header.Set("Content-Type", ct)
	}
	if !c.Base64 {
		// MS-ASHTTP 2.2.1.1.2.6 and 2.2.1.1.2.8: with the plain query only.
		req.Header.Set("MS-ASProtocolVersion", c.version().String())
		if c.HasPolicyKey {
			req.Header.Set("X-MS-PolicyKey", strconv.FormatUint(uint64(c.PolicyKey), 10))
		}
	}
	if r.AcceptMultiPart && !c.Base64 {
		req.Header.Set("MS-ASAcceptMultiPart", "T")
	}
	for k, vs := range r.Header {
		if len(vs) == 1 && vs[0] == "" {
			req.Header.Del(k)
			continue
		}
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	return c.send(req)
}

func (c *Client) setCommon(req *http.Request) {
	if c.Username != "" {
		req.SetBasicAuth(c.Username, c.Password)
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	} else {
		req.Header["User-Agent"] = []string{""} // net/http: an empty value suppresses its default
	}
}

func (c *Client) send(req *http.Request) (*Response, error) {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("easclient: %s: %w", req.Method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("easclient: read response: %w", err)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Query returns the request URI query for r in the Client's form.
func (c *Client) Query(r *Request) (string, error) {
	if c.Base64 {
		return c.base64Query(r)
	}
	return c.plainQuery(r), nil
}

// plainQuery builds the plain text query value (MS-ASHTTP 2.2.1.1.1.2) in the order clients
// send it: Cmd, User, DeviceId, DeviceType, then command parameters.
func (c *Client) plainQuery(r *Request) string {
	var b strings.Builder
	add := func(k, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(v))
	}
	add("Cmd", r.Cmd.String())
	add("User", c.User)
	add("DeviceId", c.DeviceID)
	add("DeviceType", c.DeviceType)
	add("AttachmentName", r.AttachmentName)
	add("CollectionId", r.CollectionID)
	add("ItemId", r.ItemID)
	add("LongId", r.LongID)
	add("Occurrence", r.Occurrence)
	if r.SaveInSent {
		add("SaveInSent", "T")
	}
	return b.String()
}

func (c *Client) base64Query(r *Request) (string, error) {
	id := c.DeviceIDBytes
	if id == nil {
		id = []byte(c.DeviceID)
	}
	q := BinaryQuery{
		Version:    c.version(),
		Cmd:        r.Cmd,
		Locale:     c.Locale,
		DeviceID:   id,
		DeviceType: c.DeviceType,
		User:       c.User,

		AttachmentName:  r.AttachmentName,
		CollectionID:    r.CollectionID,
		ItemID:          r.ItemID,
		LongID:          r.LongID,
		Occurrence:      r.Occurrence,
		SaveInSent:      r.SaveInSent,
		AcceptMultiPart: r.AcceptMultiPart,
	}
	if q.Locale == 0 {
		q.Locale = 0x0409
	}
	if c.HasPolicyKey {
		k := c.PolicyKey
		q.PolicyKey = &k
	}
	return q.Encode()
}

// BinaryQuery is the content of a base64-encoded query value (MS-ASHTTP 2.2.1.1.1.1).
type BinaryQuery struct {
	Version    eas.Version
	Cmd        eas.CommandCode
	Locale     uint16
	DeviceID   []byte
	PolicyKey  *uint32 // nil: Policy key length 0
	DeviceType string
	User       string // "" omits the parameter

	AttachmentName, CollectionID, ItemID, LongID, Occurrence string
	SaveInSent, AcceptMultiPart                              bool
}

// Base64 command parameter tags and Options bits (MS-ASHTTP 2.2.1.1.1.1.3).
const (
	tagAttachmentName = 0
	tagCollectionID   = 1
	tagItemID         = 3
	tagLongID         = 4
	tagOccurrence     = 6
	tagOptions        = 7
	tagUser           = 8

	optSaveInSent      = 0x01
	optAcceptMultiPart = 0x02
)

// Bytes returns the binary form before base64 encoding. A field longer than its one-byte
// length allows is an error.
func (q BinaryQuery) Bytes() ([]byte, error) {
	if q.Cmd == eas.CmdFind || !q.Cmd.Valid() {
		return nil, fmt.Errorf("easclient: command %d has no base64 code", q.Cmd)
	}
	b := []byte{byte(q.Version), byte(q.Cmd)}
	b = binary.LittleEndian.AppendUint16(b, q.Locale)
	var err error
	lv := func(name string, v []byte) {
		if len(v) > 255 {
			err = fmt.Errorf("easclient: %s of %d bytes", name, len(v))
		}
		b = append(b, byte(len(v)))
		b = append(b, v...)
	}
	lv("device id", q.DeviceID)
	if q.PolicyKey != nil {
		b = append(b, 4)
		b = binary.LittleEndian.AppendUint32(b, *q.PolicyKey)
	} else {
		b = append(b, 0)
	}
	lv("device type", []byte(q.DeviceType))
	param := func(tag byte, name, v string) {
		if v != "" {
			b = append(b, tag)
			lv(name, []byte(v))
		}
	}
	param(tagAttachmentName, "AttachmentName", q.AttachmentName)
	param(tagCollectionID, "CollectionId", q.CollectionID)
	param(tagItemID, "ItemId", q.ItemID)
	param(tagLongID, "LongId", q.LongID)
	param(tagOccurrence, "Occurrence", q.Occurrence)
	var opt byte
	if q.SaveInSent {
		opt |= optSaveInSent
	}
	if q.AcceptMultiPart {
		opt |= optAcceptMultiPart
	}
	if opt != 0 {
		b = append(b, tagOptions, 1, opt)
	}
	param(tagUser, "User", q.User)
	return b, err
}

// Encode returns the base64-encoded query value (standard alphabet with padding, RFC 2045,
// as clients send it unescaped).
func (q BinaryQuery) Encode() (string, error) {
	b, err := q.Bytes()
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
