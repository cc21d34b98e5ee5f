package autodiscover

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/beevik/etree"
	"github.com/labstack/echo/v4"

	"github.com/easd/easd/store"
)

// handleAutoconfig answers Mozilla's autoconfig (config-v1.1.xml, the
// format Thunderbird, K-9/Thunderbird for Android, Nine and others read) at
// /mail/config-v1.1.xml and /.well-known/autoconfig/mail/config-v1.1.xml
// with ?emailaddress=….
//
// Decisions:
//   - The address is required (400 without a well-formed one): the answer
//     names its domain. No authentication, and the same answer for every
//     address, so it reveals nothing about which accounts exist.
//   - Only listeners that run are listed. With neither IMAP nor POP3 there is
//     nothing a client could set up from this format, so the answer is 404
//     (clients then try their next method) rather than a document without an
//     incoming server, which Thunderbird rejects.
//   - ActiveSync is not listed: the format's only Exchange server type,
//     "exchange", describes EWS and OWA URLs, which easd does not serve.
func (s *Service) handleAutoconfig(c echo.Context) error {
	addr, err := store.NormalizeAddress(queryFold(c, "emailaddress"))
	if err != nil {
		return c.String(http.StatusBadRequest, "emailaddress: a valid address is required\n")
	}
	doc := s.Autoconfig(addr)
	if doc == nil {
		return c.NoContent(http.StatusNotFound)
	}
	doc.Indent(2)
	b, err := doc.WriteToBytes()
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, "application/xml; charset=utf-8", b)
}

// Autoconfig returns the clientConfig document for addr (a normalized
// address), or nil when no incoming listener is configured.
func (s *Service) Autoconfig(addr string) *etree.Document {
	if s.opts.IMAP == nil && s.opts.POP3 == nil {
		return nil
	}
	_, domain, _ := strings.Cut(addr, "@")
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	cc := doc.CreateElement("clientConfig")
	cc.CreateAttr("version", "1.1")
	prov := cc.CreateElement("emailProvider")
	prov.CreateAttr("id", domain)
	text(prov, "domain", domain)
	text(prov, "displayName", s.opts.Organization)
	text(prov, "displayShortName", s.opts.Organization)
	server := func(el *etree.Element, ep *Endpoint) {
		text(el, "hostname", s.endpointHost(ep))
		text(el, "port", strconv.Itoa(ep.Port))
		if ep.Security == SecurityTLS {
			text(el, "socketType", "SSL")
		} else {
			text(el, "socketType", "STARTTLS")
		}
		// The login is the full address; %EMAILADDRESS% is the client's
		// placeholder for what the user typed.
		text(el, "username", "%EMAILADDRESS%")
		text(el, "authentication", "password-cleartext")
	}
	// Listed in order of preference: IMAP keeps mail on the server.
	if s.opts.IMAP != nil {
		el := prov.CreateElement("incomingServer")
		el.CreateAttr("type", "imap")
		server(el, s.opts.IMAP)
	}
	if s.opts.POP3 != nil {
		el := prov.CreateElement("incomingServer")
		el.CreateAttr("type", "pop3")
		server(el, s.opts.POP3)
	}
	if s.opts.SMTP != nil {
		el := prov.CreateElement("outgoingServer")
		el.CreateAttr("type", "smtp")
		server(el, s.opts.SMTP)
	}
	return doc
}
