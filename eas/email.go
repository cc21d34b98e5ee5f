package eas

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // bodies in charsets other than UTF-8
	xhtml "golang.org/x/net/html"

	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// The Email content class (MS-ASEMAIL) between store items and WBXML.
//
// A message is written from the stored item (header fields, flags, categories parsed at
// delivery) and its raw MIME bytes (bodies and attachments, parsed here with go-message).
// Attachments are named by a FileReference "<item id>:<part path>", the part path being the
// 1-based indices of the MIME tree ("2", "1.3"); ItemOperations and GetAttachment resolve it
// with parseFileReference and attachmentPart.

// maxBodyRead bounds how much of one text part is decoded for a body.
const maxBodyRead = 16 << 20

// mailPart is a MIME leaf of a message as the codec sees it.
type mailPart struct {
	path        string // "1.2"
	mediaType   string // lower-case "image/png"
	name        string // file name, "" if none
	contentID   string // without angle brackets
	inline      bool   // Content-Disposition inline (or none) with a Content-ID
	size        int64  // decoded bytes
	attachment  bool
	contentType string // the whole Content-Type value
}

// parsedMail is what the codec reads out of a message's MIME.
type parsedMail struct {
	plain, html       string
	hasPlain, hasHTML bool
	atts              []mailPart
}

// parseMail walks raw and collects the first text/plain and text/html parts that are not
// attachments, and every other leaf as an attachment. A broken MIME structure yields what was
// read up to the fault: a message is always shown.
func parseMail(raw []byte) parsedMail {
	var pm parsedMail
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		if e == nil {
			pm.plain, pm.hasPlain = string(raw), true
			return pm
		}
	}
	_ = e.Walk(func(path []int, part *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return err
		}
		mt, params, _ := part.Header.ContentType()
		mt = strings.ToLower(mt)
		if mt == "" {
			mt = "text/plain"
		}
		if strings.HasPrefix(mt, "multipart/") {
			return nil
		}
		disp, dparams, _ := part.Header.ContentDisposition()
		name := dparams["filename"]
		if name == "" {
			name = params["name"]
		}
		isAtt := strings.EqualFold(disp, "attachment") || name != "" && mt != "text/plain" && mt != "text/html"
		if !isAtt && mt == "text/plain" && !pm.hasPlain {
			b, _ := io.ReadAll(io.LimitReader(part.Body, maxBodyRead))
			pm.plain, pm.hasPlain = toValidUTF8(b), true
			return nil
		}
		if !isAtt && mt == "text/html" && !pm.hasHTML {
			b, _ := io.ReadAll(io.LimitReader(part.Body, maxBodyRead))
			pm.html, pm.hasHTML = toValidUTF8(b), true
			return nil
		}
		if mt == "message/rfc822" && !isAtt {
			isAtt = true
		}
		n, _ := io.Copy(io.Discard, part.Body)
		cid := strings.Trim(part.Header.Get("Content-Id"), "<> ")
		p := mailPart{
			path:        partPath(path),
			mediaType:   mt,
			name:        name,
			contentID:   cid,
			inline:      cid != "" && !strings.EqualFold(disp, "attachment"),
			size:        n,
			attachment:  true,
			contentType: part.Header.Get("Content-Type"),
		}
		if p.name == "" {
			p.name = defaultAttachmentName(mt, len(pm.atts)+1)
		}
		pm.atts = append(pm.atts, p)
		return nil
	})
	if !pm.hasPlain && !pm.hasHTML {
		pm.hasPlain = true
	}
	return pm
}

func toValidUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// partPath turns go-message's 0-based path into the 1-based dotted form; the root of a
// single-part message is "1".
func partPath(path []int) string {
	if len(path) == 0 {
		return "1"
	}
	var b strings.Builder
	for i, n := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n + 1))
	}
	return b.String()
}

func defaultAttachmentName(mediaType string, n int) string {
	ext := ""
	if exts, _ := mime.ExtensionsByType(mediaType); len(exts) > 0 {
		ext = exts[0]
	}
	if mediaType == "message/rfc822" {
		ext = ".eml"
	}
	return "attachment" + strconv.Itoa(n) + ext
}

// fileReference names an attachment: "<item id>:<part path>".
func fileReference(id store.ItemID, path string) string {
	return strconv.FormatInt(int64(id), 10) + ":" + path
}

// errBadFileReference is a FileReference that fileReference did not make.
var errBadFileReference = errors.New("eas: malformed file reference")

// parseFileReference splits a FileReference made by fileReference.
func parseFileReference(ref string) (store.ItemID, string, error) {
	id, path, ok := strings.Cut(ref, ":")
	n, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil || n <= 0 || path == "" {
		return 0, "", fmt.Errorf("%w: %q", errBadFileReference, ref)
	}
	for p := range strings.SplitSeq(path, ".") {
		if k, err := strconv.Atoi(p); err != nil || k < 1 {
			return 0, "", fmt.Errorf("%w: %q", errBadFileReference, ref)
		}
	}
	return store.ItemID(n), path, nil
}

// Attachment is one decoded MIME part of a message, as attachmentPart returns it.
type Attachment struct {
	ContentType string // the part's Content-Type value ("image/png; name=a.png")
	Name        string
	Data        []byte // transfer encoding removed
}

// attachmentPart returns the decoded content of the part at path ("1.2") of raw, or
// store.ErrNotFound.
func attachmentPart(raw []byte, path string) (Attachment, error) {
	var out Attachment
	found := false
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil {
		return out, fmt.Errorf("attachment %s: %w", path, err)
	}
	err = e.Walk(func(p []int, part *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return err
		}
		if found || partPath(p) != path {
			return nil
		}
		mt, params, _ := part.Header.ContentType()
		if strings.HasPrefix(strings.ToLower(mt), "multipart/") {
			return nil
		}
		_, dparams, _ := part.Header.ContentDisposition()
		out.Name = dparams["filename"]
		if out.Name == "" {
			out.Name = params["name"]
		}
		out.ContentType = part.Header.Get("Content-Type")
		if out.ContentType == "" {
			out.ContentType = "text/plain"
		}
		b, rerr := io.ReadAll(io.LimitReader(part.Body, store.MaxMessageSize))
		if rerr != nil {
			return rerr
		}
		out.Data, found = b, true
		return nil
	})
	if err != nil && !found {
		return out, fmt.Errorf("attachment %s: %w", path, err)
	}
	if !found {
		return out, fmt.Errorf("attachment %s: %w", path, store.ErrNotFound)
	}
	return out, nil
}

// htmlToText extracts the text of an HTML document: tags dropped, block elements and <br>
// as line breaks, script and style left out, entities decoded.
func htmlToText(s string) string {
	z := xhtml.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0
	for {
		switch z.Next() {
		case xhtml.ErrorToken:
			return strings.TrimSpace(b.String())
		case xhtml.TextToken:
			if skip == 0 {
				b.Write(collapseSpace(z.Text()))
			}
		case xhtml.StartTagToken, xhtml.SelfClosingTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "head", "title":
				skip++
			case "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote":
				b.WriteString("\r\n")
			}
		case xhtml.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "head", "title":
				if skip > 0 {
					skip--
				}
			case "p", "div", "table", "blockquote":
				b.WriteString("\r\n")
			}
		}
	}
}

// collapseSpace turns runs of white space into one space, as a browser renders text.
func collapseSpace(b []byte) []byte {
	out := b[:0:0]
	space := false
	for _, c := range b {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' {
			if !space {
				out = append(out, ' ')
			}
			space = true
			continue
		}
		space = false
		out = append(out, c)
	}
	return out
}

// textToHTML wraps plain text as a minimal HTML document.
func textToHTML(s string) string {
	e := html.EscapeString(s)
	e = strings.ReplaceAll(e, "\r\n", "\n")
	e = strings.ReplaceAll(e, "\n", "<br>\r\n")
	return "<html><body>" + e + "</body></html>"
}

// truncateUTF8 cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncateUTF8(s string, n int64) string {
	if int64(len(s)) <= n {
		return s
	}
	i := int(n)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// truncateRunes cuts s to at most n characters.
func truncateRunes(s string, n int) string {
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}

// choosePreference picks the body to send: MIME when the client asked for it (Type 4 or
// MIMESupport 2, or 1 for an S/MIME message), else HTML when asked for, else plain text. RTF
// is never sent (HTML stands in).
func (o bodyOptions) choosePreference(it store.Item, smime bool) BodyPreference {
	var plain, htmlP, mimeP *BodyPreference
	for i := range o.Prefs {
		p := &o.Prefs[i]
		switch p.Type {
		case BodyPlain:
			if plain == nil {
				plain = p
			}
		case BodyHTML, BodyRTF:
			if htmlP == nil {
				htmlP = p
			}
		case BodyMIME:
			if mimeP == nil {
				mimeP = p
			}
		}
	}
	wantMIME := o.MIMESupport == MIMEAlways || o.MIMESupport == MIMESMIME && smime
	switch {
	case mimeP != nil && (wantMIME || plain == nil && htmlP == nil):
		return *mimeP
	case wantMIME:
		// MS-ASCMD 2.2.3.110: MIMESupport asks for MIME; 12.x clients have no Type 4 pref
		// and use MIMETruncation.
		return BodyPreference{Type: BodyMIME, TruncationSize: o.MIMETruncation}
	case htmlP != nil:
		p := *htmlP
		p.Type = BodyHTML
		return p
	case plain != nil:
		return *plain
	}
	return BodyPreference{Type: BodyPlain}
}

// isSMIME reports whether a message is signed or encrypted with S/MIME.
func isSMIME(raw []byte) bool {
	end := bytes.Index(raw, []byte("\n\r\n"))
	if end < 0 {
		end = bytes.Index(raw, []byte("\n\n"))
	}
	if end < 0 {
		end = len(raw)
	}
	h := bytes.ToLower(raw[:end])
	return bytes.Contains(h, []byte("application/pkcs7-mime")) || bytes.Contains(h, []byte("application/x-pkcs7-mime")) ||
		bytes.Contains(h, []byte("multipart/signed"))
}

// dateFormat is the MS-ASDTYPE 2.3 dateTime form EAS uses for DateReceived.
const dateFormat = "2006-01-02T15:04:05.000Z"

// Message classes (MS-ASEMAIL 2.2.2.49 MessageClass).
const (
	classNote      = "IPM.Note"
	classNoteSMIME = "IPM.Note.SMIME"
	classSigned    = "IPM.Note.SMIME.MultipartSigned"
)

// appendEmail writes the ApplicationData children of an email item for protocol v: the
// header fields, Read, Flag and Categories from it, the body chosen by opts and the
// attachments from raw (the message as stored, store.ItemBody); a MIME body leaves out the
// attachments the policy in opts blocks (limitBody, stripBlockedAttachments), which are
// still listed when the body is not MIME. Element availability follows
// MS-ASEMAIL 2.2.2 per version: Categories, ConversationId, ConversationIndex,
// LastVerbExecuted and Preview from 14.0, IsDraft from 16.0. The caller opens and closes
// ApplicationData (Sync) or Properties (ItemOperations, Search).
func appendEmail(enc *wbxml.Encoder, it store.Item, raw []byte, opts bodyOptions, v Version) error {
	smime := isSMIME(raw)
	// MS-ASEMAIL 2.2.2.73 To, 2.2.2.15 Cc, 2.2.2.35 From, 2.2.2.66 Subject, 2.2.2.59 ReplyTo.
	if it.To != "" {
		enc.String(wbxml.EmailTo, it.To)
	}
	if it.Cc != "" {
		enc.String(wbxml.EmailCc, it.Cc)
	}
	if it.From != "" {
		enc.String(wbxml.EmailFrom, it.From)
	}
	enc.String(wbxml.EmailSubject, it.Subject)
	if it.ReplyTo != "" {
		enc.String(wbxml.EmailReplyTo, it.ReplyTo)
	}
	// MS-ASEMAIL 2.2.2.23 DateReceived.
	enc.String(wbxml.EmailDateReceived, it.Received.UTC().Format(dateFormat))
	// MS-ASEMAIL 2.2.2.27 DisplayTo: the display names of the To recipients.
	enc.String(wbxml.EmailDisplayTo, displayNames(it.To))
	// MS-ASEMAIL 2.2.2.72 ThreadTopic.
	enc.String(wbxml.EmailThreadTopic, threadTopic(it.Subject))
	// MS-ASEMAIL 2.2.2.40 Importance.
	enc.Int(wbxml.EmailImportance, int64(it.Importance))
	// MS-ASEMAIL 2.2.2.56 Read.
	enc.Int(wbxml.EmailRead, boolInt(it.Seen))

	pm := parseMail(raw)
	pref := opts.choosePreference(it, smime)
	if pref.Type != BodyMIME && len(pm.atts) > 0 {
		// MS-ASAIRS 2.2.2.8 Attachments.
		enc.Start(wbxml.AirSyncBaseAttachments)
		for _, a := range pm.atts {
			enc.Start(wbxml.AirSyncBaseAttachment)
			enc.String(wbxml.AirSyncBaseDisplayName, a.name)
			enc.String(wbxml.AirSyncBaseFileReference, fileReference(it.ID, a.path))
			// MS-ASAIRS 2.2.2.31.1 Method: 1, normal attachment; 5, embedded message.
			method := int64(1)
			if a.mediaType == "message/rfc822" {
				method = 5
			}
			enc.Int(wbxml.AirSyncBaseMethod, method)
			enc.Int(wbxml.AirSyncBaseEstimatedDataSize, a.size)
			if a.contentID != "" {
				enc.String(wbxml.AirSyncBaseContentId, a.contentID)
			}
			if a.inline {
				enc.Int(wbxml.AirSyncBaseIsInline, 1)
			}
			enc.End()
		}
		enc.End()
	}
	body := raw
	if pref.Type == BodyMIME && opts.attach != nil {
		// MS-ASPROV 2.2.2.23, 2.2.2.30: the MIME sent carries no attachment the policy blocks.
		body = stripBlockedAttachments(raw, pm, *opts.attach)
	}
	appendBody(enc, it, body, pm, pref, v)

	// MS-ASEMAIL 2.2.2.49 MessageClass.
	class := classNote
	if smime {
		class = classNoteSMIME
		if bytes.Contains(bytes.ToLower(raw[:min(len(raw), 8192)]), []byte("multipart/signed")) {
			class = classSigned
		}
	}
	enc.String(wbxml.EmailMessageClass, class)
	// MS-ASEMAIL 2.2.2.41 InternetCPID: 65001, the body is sent as UTF-8.
	enc.String(wbxml.EmailInternetCPID, "65001")
	appendFlag(enc, it)
	// MS-ASEMAIL 2.2.2.17 ContentClass.
	enc.String(wbxml.EmailContentClass, "urn:content-classes:message")
	// MS-ASAIRS 2.2.2.32 NativeBodyType.
	native := int64(BodyPlain)
	if pm.hasHTML {
		native = int64(BodyHTML)
	}
	enc.Int(wbxml.AirSyncBaseNativeBodyType, native)
	if v >= Version140 {
		// MS-ASEMAIL 2.2.2.18 ConversationId, 2.2.2.19 ConversationIndex (14.0+).
		enc.Opaque(wbxml.Email2ConversationId, conversationID(it))
		enc.Opaque(wbxml.Email2ConversationIndex, conversationIndex(it))
		// MS-ASEMAIL 2.2.2.10 Categories (14.0+); empty means none.
		if len(it.Categories) == 0 {
			enc.Empty(wbxml.EmailCategories)
		} else {
			enc.Start(wbxml.EmailCategories)
			for _, c := range it.Categories {
				enc.String(wbxml.EmailCategory, c)
			}
			enc.End()
		}
		// MS-ASEMAIL 2.2.2.44 LastVerbExecuted, 2.2.2.45 LastVerbExecutionTime (14.0+).
		appendLastVerb(enc, it)
	}
	if v >= Version160 {
		// MS-ASEMAIL 2.2.2.43 IsDraft (16.0+).
		enc.Int(wbxml.Email2IsDraft, boolInt(it.Draft))
	}
	return enc.Err()
}

// appendEmailChange writes the ApplicationData of a server Change of an email: the
// properties that change on a message once delivered (MS-ASEMAIL 2.2.2.56 Read, 2.2.2.34
// Flag, 2.2.2.10 Categories and 2.2.2.44 LastVerbExecuted with 2.2.2.45 LastVerbExecutionTime
// from 14.0), not the whole item.
func appendEmailChange(enc *wbxml.Encoder, it store.Item, v Version) error {
	enc.Int(wbxml.EmailRead, boolInt(it.Seen))
	appendFlag(enc, it)
	if v >= Version140 {
		if len(it.Categories) == 0 {
			enc.Empty(wbxml.EmailCategories)
		} else {
			enc.Start(wbxml.EmailCategories)
			for _, c := range it.Categories {
				enc.String(wbxml.EmailCategory, c)
			}
			enc.End()
		}
		appendLastVerb(enc, it)
	}
	return enc.Err()
}

// appendBody writes AirSyncBase:Body (MS-ASAIRS 2.2.2.9) for pref.
func appendBody(enc *wbxml.Encoder, it store.Item, raw []byte, pm parsedMail, pref BodyPreference, v Version) {
	var data string
	switch pref.Type {
	case BodyMIME:
		data = string(raw)
	case BodyHTML:
		if pm.hasHTML {
			data = pm.html
		} else {
			data = textToHTML(pm.plain)
		}
	default:
		pref.Type = BodyPlain
		if pm.hasPlain && pm.plain != "" || !pm.hasHTML {
			data = pm.plain
		} else {
			data = htmlToText(pm.html)
		}
	}
	enc.Start(wbxml.AirSyncBaseBody)
	enc.Int(wbxml.AirSyncBaseType, int64(pref.Type))
	size := int64(len(data))
	truncated := pref.TruncationSize > 0 && size > pref.TruncationSize || pref.TruncationSize == truncateAll && size > 0
	// MS-ASAIRS 2.2.2.24 EstimatedDataSize: the size of the whole body.
	enc.Int(wbxml.AirSyncBaseEstimatedDataSize, size)
	if truncated {
		// MS-ASAIRS 2.2.2.1 AllOrNone: a body over TruncationSize is not sent at all.
		if !pref.AllOrNone && pref.TruncationSize > 0 {
			data = truncateUTF8(data, pref.TruncationSize)
		} else {
			data = ""
		}
		enc.Int(wbxml.AirSyncBaseTruncated, 1)
	}
	if data != "" {
		enc.String(wbxml.AirSyncBaseData, data)
	}
	if pref.Preview > 0 && v >= Version140 {
		// MS-ASAIRS 2.2.2.18.2 Preview (14.0+): up to the requested characters of plain text.
		enc.String(wbxml.AirSyncBasePreview, truncateRunes(it.Preview, pref.Preview))
	}
	enc.End()
}

// displayNames returns the display names of an address list (the address where a name is
// missing), separated by "; " as Exchange writes DisplayTo.
func displayNames(list string) string {
	if list == "" {
		return ""
	}
	var names []string
	for a := range strings.SplitSeq(list, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if i := strings.LastIndexByte(a, '<'); i > 0 {
			if n := strings.Trim(strings.TrimSpace(a[:i]), `"`); n != "" {
				names = append(names, n)
				continue
			}
		}
		names = append(names, strings.Trim(a, "<>"))
	}
	return strings.Join(names, "; ")
}

// threadTopic is the subject without reply and forward prefixes (MS-ASEMAIL 2.2.2.72).
func threadTopic(s string) string {
	for {
		t := strings.TrimSpace(s)
		l := strings.ToLower(t)
		cut := false
		for _, p := range []string{"re:", "fw:", "fwd:", "aw:", "wg:", "sv:", "vs:"} {
			if strings.HasPrefix(l, p) {
				t, cut = t[len(p):], true
				break
			}
		}
		if !cut {
			return t
		}
		s = t
	}
}

// conversationRoot is what every message of a thread has in common: the first References
// entry, else In-Reply-To, else the Message-ID, else the thread topic.
func conversationRoot(it store.Item) string {
	switch {
	case len(it.References) > 0:
		return "<" + strings.Trim(it.References[0], "<>") + ">"
	case it.InReplyTo != "":
		return "<" + it.InReplyTo + ">"
	case it.MessageID != "":
		return "<" + it.MessageID + ">"
	}
	return "subject:" + strings.ToLower(threadTopic(it.Subject))
}

// conversationID is 16 bytes derived from conversationRoot: stable across messages, servers
// and restarts (MS-ASEMAIL 2.2.2.18 ConversationId is a 16-byte opaque value).
func conversationID(it store.Item) []byte {
	sum := sha256.Sum256([]byte(conversationRoot(it)))
	return sum[:16]
}

// conversationIndex is the 5-byte header timestamp of MS-ASEMAIL 2.2.2.19 ConversationIndex:
// the message date as FILETIME, bytes 2-6 of its big-endian form (Exchange's layout), so
// that sorting by index sorts by date.
func conversationIndex(it store.Item) []byte {
	ft := uint64(it.Date.UnixNano()/100) + 116444736000000000 // 100 ns since 1601
	var b [8]byte
	for i := range 8 {
		b[7-i] = byte(ft >> (8 * i))
	}
	return append([]byte(nil), b[1:6]...)
}
