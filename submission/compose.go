package submission

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// maxQuoted bounds the original text quoted into a reply.
const maxQuoted = 1 << 20

// ComposeReply completes the reply a client wrote (EAS SmartReply, MS-ASCMD 2.2.1.17) from
// the original message: it sets In-Reply-To and References (RFC 5322 3.6.4) when the client
// did not, and, unless replaceMime (MS-ASCMD 2.2.3.152 ReplaceMime: the client already
// included what it wants of the original), appends the original's text below an
// "-----Original Message-----" block: inline when the reply is a single text/plain or
// text/html part, otherwise as a second, inline text/plain part of a multipart/mixed
// wrapping the client's content unchanged.
func ComposeReply(reply, original []byte, replaceMime bool) ([]byte, error) {
	h, body, err := splitMessage(reply)
	if err != nil {
		return nil, err
	}
	oh, err := originalHeader(original)
	if err != nil {
		return nil, err
	}
	thread(&h, oh)
	if replaceMime {
		return joinMessage(h, body)
	}
	quote := quoteHeader(oh)
	text, err := plainText(original)
	if err != nil {
		return nil, err
	}
	quote += text
	mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
	cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	plainCTE := cte == "" || cte == "7bit" || cte == "8bit"
	cs := strings.ToLower(params["charset"])
	utf8ish := cs == "" || cs == "utf-8" || cs == "us-ascii"
	switch {
	case (mt == "" || mt == "text/plain") && plainCTE && utf8ish:
		if cs == "" || cs == "us-ascii" {
			h.Set("Content-Type", "text/plain; charset=utf-8")
		}
		if cte == "" || cte == "7bit" {
			h.Set("Content-Transfer-Encoding", "8bit")
		}
		return joinMessage(h, append(append(bytes.Clone(body), "\r\n\r\n"...), crlf(quote)...))
	case mt == "text/html" && plainCTE && utf8ish:
		q := "<hr><div>" + strings.ReplaceAll(html.EscapeString(quote), "\n", "<br>\r\n") + "</div>"
		if cte == "" || cte == "7bit" {
			h.Set("Content-Transfer-Encoding", "8bit")
		}
		if i := bytes.LastIndex(bytes.ToLower(body), []byte("</body>")); i >= 0 {
			out := append(bytes.Clone(body[:i]), q...)
			return joinMessage(h, append(out, body[i:]...))
		}
		return joinMessage(h, append(bytes.Clone(body), q...))
	}
	part := "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nContent-Disposition: inline\r\n\r\n" + crlf(quote)
	return wrapMixed(h, body, []byte(part))
}

// ComposeForward completes a forward a client wrote (EAS SmartForward, MS-ASCMD 2.2.1.16):
// References gets the original's Message-ID, and unless replaceMime the original message
// is attached whole as message/rfc822 (RFC 2046 5.2.1), after the client's content, in a
// multipart/mixed. Attaching keeps the original's attachments and formatting exactly, which
// quoting its text would lose.
func ComposeForward(fwd, original []byte, replaceMime bool) ([]byte, error) {
	h, body, err := splitMessage(fwd)
	if err != nil {
		return nil, err
	}
	oh, err := originalHeader(original)
	if err != nil {
		return nil, err
	}
	if id, err := oh.MessageID(); err == nil && id != "" && !h.Has("References") {
		refs, _ := oh.MsgIDList("References")
		mh := mail.Header{Header: message.Header{Header: h}}
		mh.SetMsgIDList("References", append(refs, id))
		h = mh.Header.Header
	}
	if replaceMime {
		return joinMessage(h, body)
	}
	subject, _ := oh.Subject()
	name := mime.QEncoding.Encode("utf-8", sanitizeFilename(subject)+".eml")
	part := append([]byte("Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\""+name+"\"\r\n\r\n"), original...)
	return wrapMixed(h, body, part)
}

func originalHeader(original []byte) (mail.Header, error) {
	oh, _, err := splitMessage(original)
	if err != nil {
		return mail.Header{}, fmt.Errorf("original: %w", err)
	}
	return mail.Header{Header: message.Header{Header: oh}}, nil
}

// thread sets In-Reply-To and References of a reply to the original (RFC 5322 3.6.4).
func thread(h *textproto.Header, oh mail.Header) {
	id, err := oh.MessageID()
	if err != nil || id == "" {
		return
	}
	mh := mail.Header{Header: message.Header{Header: *h}}
	if !mh.Has("In-Reply-To") {
		mh.SetMsgIDList("In-Reply-To", []string{id})
	}
	if !mh.Has("References") {
		refs, _ := oh.MsgIDList("References")
		if len(refs) == 0 {
			refs, _ = oh.MsgIDList("In-Reply-To")
		}
		mh.SetMsgIDList("References", append(refs, id))
	}
	*h = mh.Header.Header
}

// quoteHeader is the block Outlook and Exchange put above a quoted original.
func quoteHeader(oh mail.Header) string {
	var b strings.Builder
	b.WriteString("-----Original Message-----\n")
	if from, err := oh.AddressList("From"); err == nil && len(from) > 0 {
		b.WriteString("From: " + from[0].String() + "\n")
	}
	if d, err := oh.Date(); err == nil {
		b.WriteString("Sent: " + d.Format("Monday, January 2, 2006 15:04 -0700") + "\n")
	}
	if to, err := oh.AddressList("To"); err == nil && len(to) > 0 {
		var names []string
		for _, a := range to {
			names = append(names, a.String())
		}
		b.WriteString("To: " + strings.Join(names, ", ") + "\n")
	}
	if s, err := oh.Subject(); err == nil {
		b.WriteString("Subject: " + s + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

var (
	tagRE    = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>|<[^>]*>`)
	blankRE  = regexp.MustCompile(`\n{3,}`)
	unsafeRE = regexp.MustCompile(`[^\p{L}\p{N} ._-]+`)
)

// plainText returns the text of a message: its first text/plain part, or its first
// text/html part with the tags removed, decoded to UTF-8 and bounded.
func plainText(raw []byte) (string, error) {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return "", fmt.Errorf("%w: original: %v", ErrInvalidMessage, err)
	}
	var plain, htm string
	walkErr := e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil || plain != "" {
			return nil
		}
		mt, _, _ := part.Header.ContentType()
		if mt != "text/plain" && mt != "text/html" {
			return nil
		}
		if disp, _, _ := part.Header.ContentDisposition(); disp == "attachment" {
			return nil
		}
		b, err := io.ReadAll(io.LimitReader(part.Body, maxQuoted))
		if err != nil {
			return nil
		}
		if mt == "text/plain" {
			plain = string(b)
		} else if htm == "" {
			htm = string(b)
		}
		return nil
	})
	if walkErr != nil && !errors.Is(walkErr, io.EOF) {
		return "", fmt.Errorf("%w: original: %v", ErrInvalidMessage, walkErr)
	}
	text := plain
	if text == "" && htm != "" {
		text = html.UnescapeString(tagRE.ReplaceAllString(htm, ""))
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	return blankRE.ReplaceAllString(text, "\n\n"), nil
}

// wrapMixed makes a multipart/mixed of the message whose header is h and body body (its
// Content-* fields move into the first part, unchanged) and the part extra (header and body).
func wrapMixed(h textproto.Header, body, extra []byte) ([]byte, error) {
	var first textproto.Header
	for f := h.Fields(); f.Next(); {
		if strings.HasPrefix(strings.ToLower(f.Key()), "content-") {
			raw, err := f.Raw()
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrInvalidMessage, err)
			}
			first.AddRaw(raw)
			f.Del()
		}
	}
	if !first.Has("Content-Type") {
		first.Set("Content-Type", "text/plain; charset=utf-8")
	}
	var r [12]byte
	_, _ = rand.Read(r[:])
	boundary := "easd-" + hex.EncodeToString(r[:])
	h.Set("MIME-Version", "1.0")
	h.Set("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": boundary}))
	var b bytes.Buffer
	b.WriteString("--" + boundary + "\r\n")
	if err := textproto.WriteHeader(&b, first); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidMessage, err)
	}
	b.Write(body)
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.Write(extra)
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return joinMessage(h, b.Bytes())
}

func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

func sanitizeFilename(s string) string {
	s = strings.TrimSpace(unsafeRE.ReplaceAllString(s, "_"))
	if s == "" {
		return "message"
	}
	if len(s) > 100 {
		s = strings.ToValidUTF8(s[:100], "")
	}
	return s
}
