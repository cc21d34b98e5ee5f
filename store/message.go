package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // charsets beyond UTF-8 and ASCII for headers and bodies
	"github.com/emersion/go-message/mail"
	"golang.org/x/net/html"
)

// PreviewLen is the maximum length of Item.Preview in characters (EAS
// clients show about this much; MS-ASAIRS 2.2.2.18 Preview allows up to
// 255).
const PreviewLen = 255

// maxPreviewRead bounds how much of a text part is read to build a
// preview.
const maxPreviewRead = 64 << 10

// parsedMessage is what the store keeps of a message's header and text.
type parsedMessage struct {
	date           time.Time // zero: no usable Date header
	subject        string
	from, to, cc   string
	replyTo        string
	messageID      string
	inReplyTo      string
	references     []string
	importance     int
	hasAttachments bool
	preview        string
}

// parseMessage extracts the fields of Item from an RFC 5322 message. It
// fails with ErrInvalidMessage when raw is empty, when the header section
// is malformed (RFC 5322 2.2) or when there is no empty line between header
// and body. Problems further in (an unknown charset, a broken MIME part) do
// not fail it: the message is kept as it is and only the preview suffers.
func parseMessage(raw []byte) (parsedMessage, error) {
	var pm parsedMessage
	if len(bytes.TrimSpace(raw)) == 0 {
		return pm, fmt.Errorf("%w: empty", ErrInvalidMessage)
	}
	// RFC 5322 2.1: the header section ends at the first empty line. The
	// parser would take a header-only input as a message with no body;
	// easd rejects it (a truncated upload or not a message at all).
	if !bytes.Contains(raw, []byte("\n\n")) && !bytes.Contains(raw, []byte("\n\r\n")) {
		return pm, fmt.Errorf("%w: no empty line between header and body (RFC 5322 2.1)", ErrInvalidMessage)
	}
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return pm, fmt.Errorf("%w: no empty line between header and body (RFC 5322 2.1)", ErrInvalidMessage)
		}
		return pm, fmt.Errorf("%w: %v", ErrInvalidMessage, err)
	}
	defer mr.Close()
	h := mr.Header
	if h.Len() == 0 {
		return pm, fmt.Errorf("%w: no header fields", ErrInvalidMessage)
	}

	if d, err := parseDate(h); err == nil && !d.IsZero() {
		pm.date = d.UTC().Truncate(time.Microsecond)
	}
	pm.subject, _ = h.Subject() // on error: the raw value
	pm.subject = cleanText(pm.subject)
	pm.from = addressField(h, "From")
	pm.to = addressField(h, "To")
	pm.cc = addressField(h, "Cc")
	pm.replyTo = addressField(h, "Reply-To")
	if id, err := h.MessageID(); err == nil {
		pm.messageID = cleanText(id)
	} else {
		pm.messageID = cleanText(strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>"))
	}
	if ids, _ := h.MsgIDList("In-Reply-To"); len(ids) > 0 {
		pm.inReplyTo = cleanText(ids[0])
	}
	refs, _ := h.MsgIDList("References")
	for _, r := range refs {
		pm.references = append(pm.references, cleanText(r))
	}
	pm.importance = importance(h)

	var plain string
	var htmlBody []byte
	havePlain, haveHTML := false, false
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil && !message.IsUnknownCharset(err) {
			break // malformed MIME: keep what we have
		}
		switch ph := p.Header.(type) {
		case *mail.AttachmentHeader:
			pm.hasAttachments = true
		case *mail.InlineHeader:
			ct, _, _ := ph.ContentType()
			switch {
			case !havePlain && (ct == "text/plain" || ct == ""):
				b, _ := io.ReadAll(io.LimitReader(p.Body, maxPreviewRead))
				plain, havePlain = string(b), true
			case !haveHTML && ct == "text/html":
				// Kept raw: converted only if there is no text/plain part
				// with text in it.
				htmlBody, _ = io.ReadAll(io.LimitReader(p.Body, maxPreviewRead))
				haveHTML = true
			}
		}
	}
	switch {
	case havePlain && strings.TrimSpace(plain) != "":
		pm.preview = preview(plain)
	case haveHTML:
		pm.preview = preview(htmlToText(htmlBody))
	}
	return pm, nil
}

// addressField formats an address header for display: `"Name" <a@b>, c@d`
// with encoded words decoded. If the field does not parse as an address
// list, its decoded text is kept.
func addressField(h mail.Header, key string) string {
	addrs, err := h.AddressList(key)
	if err != nil {
		// Raw 8-bit names: read them as ISO-8859-1 and try again.
		addrs, err = mail.ParseAddressList(cleanText(h.Get(key)))
	}
	if err != nil {
		t, _ := h.Text(key)
		return cleanText(t)
	}
	var b strings.Builder
	for i, a := range addrs {
		if i > 0 {
			b.WriteString(", ")
		}
		if a.Name != "" {
			b.WriteByte('"')
			b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a.Name))
			b.WriteString(`" <`)
			b.WriteString(a.Address)
			b.WriteByte('>')
		} else {
			b.WriteString(a.Address)
		}
	}
	return cleanText(b.String())
}

// importance reads Importance (RFC 2156 5.3) or, failing that, X-Priority
// and X-MSMail-Priority, as the EAS Importance value (MS-ASEMAIL 2.2.2.39).
func importance(h mail.Header) int {
	switch strings.ToLower(strings.TrimSpace(h.Get("Importance"))) {
	case "high":
		return ImportanceHigh
	case "low":
		return ImportanceLow
	case "normal":
		return ImportanceNormal
	}
	if v := strings.TrimSpace(h.Get("X-Priority")); v != "" {
		switch v[0] {
		case '1', '2':
			return ImportanceHigh
		case '4', '5':
			return ImportanceLow
		}
		return ImportanceNormal
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("X-Msmail-Priority"))) {
	case "high":
		return ImportanceHigh
	case "low":
		return ImportanceLow
	}
	return ImportanceNormal
}

// htmlToText returns the text content of an HTML document, without
// script, style, head and title contents.
func htmlToText(b []byte) string {
	z := html.NewTokenizer(bytes.NewReader(b))
	var out strings.Builder
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return out.String()
		case html.StartTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "head", "title":
				skip++
			case "br", "p", "div", "tr", "li":
				out.WriteByte(' ')
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "head", "title":
				if skip > 0 {
					skip--
				}
			case "p", "div", "td", "li":
				out.WriteByte(' ')
			}
		case html.TextToken:
			if skip == 0 {
				out.Write(z.Text()) // entities already unescaped
			}
		}
	}
}

// preview collapses runs of white space to one space and cuts the text at
// PreviewLen characters.
func preview(s string) string {
	s = cleanText(s)
	var b strings.Builder
	n := 0
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || r == '\u00a0' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			if n == PreviewLen {
				break
			}
			b.WriteByte(' ')
			n++
		}
		space = false
		if n == PreviewLen {
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// cleanText makes s safe to store: valid UTF-8 (bytes of an undeclared
// 8-bit charset are read as ISO-8859-1, the common case) and no NUL, which
// PostgreSQL text rejects.
func cleanText(s string) string {
	if !utf8.ValidString(s) {
		r := make([]rune, 0, len(s))
		for i := 0; i < len(s); {
			c, size := utf8.DecodeRuneInString(s[i:])
			if c == utf8.RuneError && size == 1 {
				c = rune(s[i])
			}
			r = append(r, c)
			i += size
		}
		s = string(r)
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// parseDate parses the Date field, trying the RFC 5322 3.3 form nearly
// every client writes before net/mail's lenient parser, which allocates an
// error for each layout it rejects.
func parseDate(h mail.Header) (time.Time, error) {
	v := strings.TrimSpace(h.Get("Date"))
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC1123Z, v); err == nil {
		return t, nil
	}
	return h.Date()
}
