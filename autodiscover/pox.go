package autodiscover

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/labstack/echo/v4"

	"github.com/easd/easd/store"
)

// POX namespaces (MS-ASCMD 2.2.1.1, MS-OXDSCLI 2.2.1).
const (
	NSResponse          = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	NSMobileSyncRequest = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
	NSMobileSync        = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
	NSOutlookRequest    = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	NSOutlook           = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

// ErrorCode is an Autodiscover error number.
type ErrorCode int

const (
	// ErrorNotFound is 500, "the email address cannot be found" (MS-OXDSCLI
	// 2.2.4.1.1.3.2). Outlook-schema answer for an address that is not the
	// authenticated user's.
	ErrorNotFound ErrorCode = 500
	// ErrorInvalidRequest is 600, "Invalid Request" (MS-ASCMD 2.2.3.64,
	// MS-OXDSCLI 2.2.4.1.1.3.2): the XML request was improperly formatted.
	ErrorInvalidRequest ErrorCode = 600
	// ErrorProviderUnavailable is 601 (MS-ASCMD 2.2.3.64): no provider for
	// the AcceptableResponseSchema value.
	ErrorProviderUnavailable ErrorCode = 601
)

func (c ErrorCode) message() string {
	switch c {
	case ErrorNotFound:
		return "The email address can't be found."
	case ErrorInvalidRequest:
		return "Invalid Request"
	case ErrorProviderUnavailable:
		return "Provider is not available"
	}
	return "Error"
}

// Request is a parsed POX Autodiscover request.
type Request struct {
	// Namespace is the namespace of the Autodiscover root element, as sent
	// (empty when the client left it out).
	Namespace string
	// EMailAddress is the address asked about, as sent (trimmed).
	EMailAddress string
	// LegacyDN is the LegacyDN element (MS-OXDSCLI 2.2.3.1.1.3), if any.
	LegacyDN string
	// AcceptableResponseSchema is the response namespace the client wants.
	AcceptableResponseSchema string
}

// RequestError is a request ParseRequest refuses, with the error code to
// answer.
type RequestError struct {
	Code   ErrorCode
	Reason string
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("autodiscover: request error %d: %s", e.Code, e.Reason)
}

// ParseRequest parses a POX Autodiscover request body. It is lenient where
// real clients differ from the schema: the XML declaration and the namespace
// may be missing (Quirk(iOS): no declaration; some clients send no xmlns),
// and elements are matched by local name. Errors are *RequestError:
// ErrorInvalidRequest for malformed XML, a wrong root, or no EMailAddress
// (and no LegacyDN); the AcceptableResponseSchema is checked by the caller.
func ParseRequest(body []byte) (Request, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil {
		return Request{}, &RequestError{Code: ErrorInvalidRequest, Reason: "malformed xml: " + err.Error()}
	}
	root := doc.Root()
	if root == nil || root.Tag != "Autodiscover" {
		return Request{}, &RequestError{Code: ErrorInvalidRequest, Reason: "root element is not Autodiscover"}
	}
	r := Request{Namespace: root.NamespaceURI()}
	reqEl := root.SelectElement("Request")
	if reqEl == nil {
		return Request{}, &RequestError{Code: ErrorInvalidRequest, Reason: "no Request element"}
	}
	text := func(name string) string {
		if el := reqEl.SelectElement(name); el != nil {
			return strings.TrimSpace(el.Text())
		}
		return ""
	}
	r.EMailAddress = text("EMailAddress")
	r.LegacyDN = text("LegacyDN")
	r.AcceptableResponseSchema = text("AcceptableResponseSchema")
	if r.EMailAddress == "" {
		// MS-OXDSCLI 3.2.5: a LegacyDN takes precedence, but easd hands out
		// none, so a request with only a LegacyDN cannot be answered.
		return Request{}, &RequestError{Code: ErrorInvalidRequest, Reason: "no EMailAddress"}
	}
	return r, nil
}

// schemaOf reports which response schema the request wants: NSMobileSync or
// NSOutlook, or "" when neither (answer ErrorProviderUnavailable).
func schemaOf(r Request) string {
	switch strings.TrimSpace(r.AcceptableResponseSchema) {
	case NSMobileSync:
		return NSMobileSync
	case NSOutlook:
		return NSOutlook
	}
	return ""
}

// handlePOX answers POST /autodiscover/autodiscover.xml.
//
// Order: credentials present (else 401, as the Remote Connectivity Analyzer
// expects) → body read under the limit (413) and parsed (600) → schema
// (601) → redirect domain (no authentication needed: it reveals only
// configuration) → throttle (429) and password (401) → the authenticated
// user must be the address asked about (else 600 for mobilesync, 500 for
// Outlook, the same whether or not the address exists).
func (s *Service) handlePOX(c echo.Context) error {
	req := c.Request()
	if _, _, ok := req.BasicAuth(); !ok {
		if req.TLS == nil && !s.opts.AllowPlainHTTP {
			return c.NoContent(http.StatusForbidden)
		}
		c.Response().Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
		return c.NoContent(http.StatusUnauthorized)
	}
	if req.ContentLength > s.maxBody {
		s.log.Debug("request body too large", "length", req.ContentLength)
		return c.NoContent(http.StatusRequestEntityTooLarge)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, s.maxBody))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		s.log.Debug("request body too large", "limit", s.maxBody)
		return c.NoContent(http.StatusRequestEntityTooLarge)
	} else if err != nil {
		s.log.Debug("read request body", "err", err)
		return c.NoContent(http.StatusBadRequest)
	}

	r, err := ParseRequest(body)
	if err != nil {
		rerr, _ := errors.AsType[*RequestError](err)
		s.log.Debug("invalid autodiscover request", "err", err)
		return s.writeError(c, errorNamespace(body), rerr.Code)
	}
	schema := schemaOf(r)
	if schema == "" {
		s.log.Debug("unsupported response schema", "schema", r.AcceptableResponseSchema)
		if r.AcceptableResponseSchema == "" {
			// MS-ASCMD 2.2.3.1: AcceptableResponseSchema is required.
			return s.writeError(c, errorNamespaceOf(r), ErrorInvalidRequest)
		}
		return s.writeError(c, errorNamespaceOf(r), ErrorProviderUnavailable)
	}
	addr, err := store.NormalizeAddress(r.EMailAddress)
	if err != nil {
		return s.writeError(c, schema, ErrorInvalidRequest)
	}
	local, domain, _ := strings.Cut(addr, "@")

	if target, ok := s.opts.Redirects[domain]; ok {
		_, err := s.opts.Users.UserByAddress(req.Context(), addr)
		switch {
		case errors.Is(err, store.ErrNotFound):
			to := local + "@" + target
			s.log.Debug("autodiscover redirect", "address", addr, "to", to)
			return s.writeRedirect(c, schema, to)
		case err != nil:
			s.log.Error("look up user", "address", addr, "err", err)
			return c.NoContent(http.StatusServiceUnavailable)
		}
	}

	u, err := s.authenticate(c, domain)
	if err != nil {
		return writeAuthError(c, err)
	}
	if u.Address != addr {
		s.log.Info("autodiscover for another address refused", "user", u.Address, "address", addr)
		if schema == NSOutlook {
			return s.writeError(c, schema, ErrorNotFound)
		}
		return s.writeError(c, schema, ErrorInvalidRequest)
	}
	if schema == NSMobileSync {
		if !u.Protocols.EAS {
			return s.writeError(c, schema, ErrorProviderUnavailable)
		}
		return s.writeDoc(c, s.mobileSyncResponse(u))
	}
	doc := s.outlookResponse(u)
	if doc == nil {
		// MS-OXDSCLI 2.2.4.1.1.3.2, 601: nothing of the requested type to
		// configure (no IMAP or POP3 listener the user may use).
		return s.writeError(c, schema, ErrorProviderUnavailable)
	}
	return s.writeDoc(c, doc)
}

// errorNamespace guesses the response namespace for an unparsable request:
// Outlook's when the body mentions the Outlook request schema, mobilesync
// otherwise (MS-ASCMD 4.2.2's error example).
func errorNamespace(body []byte) string {
	if bytes.Contains(body, []byte(NSOutlookRequest)) || bytes.Contains(body, []byte(NSOutlook)) {
		return NSResponse
	}
	return NSMobileSync
}

func errorNamespaceOf(r Request) string {
	if r.Namespace == NSOutlookRequest {
		return NSResponse
	}
	return NSMobileSync
}

// newResponse starts <Autodiscover xmlns=NSResponse><Response xmlns=ns>.
func newResponse(ns string) (*etree.Document, *etree.Element) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	root := doc.CreateElement("Autodiscover")
	root.CreateAttr("xmlns", NSResponse)
	resp := root.CreateElement("Response")
	if ns != NSResponse {
		resp.CreateAttr("xmlns", ns)
	}
	return doc, resp
}

func text(parent *etree.Element, tag, value string) *etree.Element {
	el := parent.CreateElement(tag)
	el.SetText(value)
	return el
}

// writeError answers an Autodiscover error (MS-ASCMD 4.2.2, MS-OXDSCLI
// 2.2.4.1.1.3) with HTTP 200, as Exchange does.
//
// Errors to Outlook-schema requests put Response in the base namespace
// (MS-OXDSCLI 2.2.1: responses are in responseschema/2006; its Error
// example has no 2006a Response), mobilesync errors in the mobilesync
// namespace (MS-ASCMD 4.2.2).
func (s *Service) writeError(c echo.Context, ns string, code ErrorCode) error {
	if ns != NSMobileSync {
		ns = NSResponse
	}
	doc, resp := newResponse(ns)
	e := resp.CreateElement("Error")
	e.CreateAttr("Time", time.Now().UTC().Format("15:04:05.0000000"))
	var id [4]byte
	_, _ = rand.Read(id[:])
	e.CreateAttr("Id", strconv.FormatUint(uint64(binary.BigEndian.Uint32(id[:])), 10))
	text(e, "ErrorCode", strconv.Itoa(int(code)))
	text(e, "Message", code.message())
	e.CreateElement("DebugData")
	return s.writeDoc(c, doc)
}

// writeRedirect answers a redirect to another address: MS-ASCMD 2.2.3.147
// Redirect inside Action for mobilesync, MS-OXDSCLI 2.2.4.1.1.2.8
// RedirectAddr with Action redirectAddr for Outlook (example in MS-OXDSCLI
// 4.2).
func (s *Service) writeRedirect(c echo.Context, schema, to string) error {
	doc, resp := newResponse(schema)
	if schema == NSMobileSync {
		text(resp.CreateElement("Action"), "Redirect", to)
	} else {
		acct := resp.CreateElement("Account")
		text(acct, "Action", "redirectAddr")
		text(acct, "RedirectAddr", to)
	}
	return s.writeDoc(c, doc)
}

// mobileSyncResponse is the MS-ASCMD 2.2.1.1 answer (schema in MS-ASCMD
// 6.2): the user and one MobileSync server whose Url and Name are the EAS
// URL (MS-ASCMD 2.2.3.120.1, 2.2.3.188).
func (s *Service) mobileSyncResponse(u store.User) *etree.Document {
	doc, resp := newResponse(NSMobileSync)
	text(resp, "Culture", "en:us")
	user := resp.CreateElement("User")
	text(user, "DisplayName", displayName(u))
	text(user, "EMailAddress", u.Address)
	srv := resp.CreateElement("Action").CreateElement("Settings").CreateElement("Server")
	text(srv, "Type", "MobileSync")
	text(srv, "Url", s.ActiveSyncURL())
	text(srv, "Name", s.ActiveSyncURL())
	return doc
}

// outlookResponse is the MS-OXDSCLI 2.2.4 answer in the 2006a schema for
// IMAP/POP3/SMTP accounts: one Protocol block per configured listener the
// user may use. It returns nil when there is no incoming protocol to offer.
func (s *Service) outlookResponse(u store.User) *etree.Document {
	type proto struct {
		typ string
		ep  *Endpoint
		on  bool
	}
	protos := []proto{
		{"IMAP", s.opts.IMAP, u.Protocols.IMAP},
		{"POP3", s.opts.POP3, u.Protocols.POP3},
		{"SMTP", s.opts.SMTP, u.Protocols.SMTP},
	}
	incoming := false
	for _, p := range protos[:2] {
		incoming = incoming || p.ep != nil && p.on
	}
	if !incoming {
		return nil
	}
	doc, resp := newResponse(NSOutlook)
	user := resp.CreateElement("User")
	text(user, "DisplayName", displayName(u))
	text(user, "AutoDiscoverSMTPAddress", u.Address)
	acct := resp.CreateElement("Account")
	text(acct, "AccountType", "email")
	text(acct, "Action", "settings")
	for _, p := range protos {
		if p.ep == nil || !p.on {
			continue
		}
		// MS-OXDSCLI 2.2.4.1.1.2.7 Protocol and its children.
		pe := acct.CreateElement("Protocol")
		text(pe, "Type", p.typ)
		text(pe, "Server", s.endpointHost(p.ep))
		text(pe, "Port", strconv.Itoa(p.ep.Port))
		text(pe, "DomainRequired", "off")
		text(pe, "LoginName", u.Address)
		// SPA (NTLM) off: easd authenticates with the password over TLS.
		text(pe, "SPA", "off")
		// SSL on: every easd listener encrypts. Encryption refines it
		// (SSL: TLS from the first byte; TLS: STARTTLS) and wins over SSL
		// where the client knows it.
		text(pe, "SSL", "on")
		if p.ep.Security == SecurityTLS {
			text(pe, "Encryption", "SSL")
		} else {
			text(pe, "Encryption", "TLS")
		}
		text(pe, "AuthRequired", "on")
		if p.typ == "SMTP" {
			// SMTP AUTH with its own login (the same address and
			// password), not POP-before-SMTP.
			text(pe, "UsePOPAuth", "off")
			text(pe, "SMTPLast", "off")
		}
	}
	return doc
}

// displayName is the user's name, or the address when none is set.
func displayName(u store.User) string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Address
}

// writeDoc writes doc as text/xml with status 200.
func (s *Service) writeDoc(c echo.Context, doc *etree.Document) error {
	doc.Indent(2)
	b, err := doc.WriteToBytes()
	if err != nil {
		return fmt.Errorf("autodiscover: write response: %w", err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "private, no-store")
	return c.Blob(http.StatusOK, contentTypeXML, b)
}
