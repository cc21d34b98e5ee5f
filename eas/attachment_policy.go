package eas

import (
	"bufio"
	"bytes"
	"fmt"
	"mime"
	"strconv"
	"strings"

	"github.com/emersion/go-message/textproto"

	"github.com/easd/easd/policy"
)

// Attachments a mobile device mailbox policy blocks: AttachmentsEnabled false (MS-ASPROV
// 2.2.2.23) blocks all of them, MaxAttachmentSize (2.2.2.30) those larger than it, counted in
// decoded bytes as EstimatedDataSize counts them. The server enforces both whatever the device
// does with the policy, as Exchange does:
//
//   - Sync and ItemOperations list a blocked attachment in AirSyncBase Attachments like any
//     other (Exchange lists it and refuses the download), so the user sees that it exists;
//   - ItemOperations Fetch by FileReference refuses it with status 16 (access to the resource
//     is denied: attachments disabled) or 11 (the requested data size is too large)
//     (MS-ASCMD 2.2.3.177.8);
//   - GetAttachment (12.x–14.1) refuses it with the HTTP status that stands for the common
//     status: 403 for AccessDenied (130) when attachments are disabled, 413 for
//     AttachmentIsTooLarge (122) (MS-ASCMD 2.2.2; the command has no Status element);
//   - a MIME body (BodyPreference Type 4, or MIMESupport) is sent with each blocked part
//     replaced by a short text/plain part that names it and says the policy removed it
//     (stripBlockedAttachments); the rest of the message is sent byte for byte.
//
// S/MIME parts (application/pkcs7-mime, pkcs7-signature) are never removed: an encrypted
// message is one opaque part the server cannot look into, and removing it would lose the
// message. Removing a part under multipart/signed breaks the signature; the policy wins.

// attachmentRefused reports whether l blocks an attachment of size decoded bytes and, if so,
// whether only its size does (AttachmentsEnabled true, MaxAttachmentSize exceeded).
func attachmentRefused(l policy.Limits, size int64) (refused, tooLarge bool) {
	if l.AttachmentAllowed(size) {
		return false, false
	}
	return true, l.AttachmentsEnabled
}

// isSMIMEPart reports whether a part's media type is S/MIME content, which stays.
func isSMIMEPart(mediaType string) bool {
	switch mediaType {
	case "application/pkcs7-mime", "application/x-pkcs7-mime", "application/pkcs7-signature", "application/x-pkcs7-signature":
		return true
	}
	return false
}

// blockedParts returns the attachments of pm that l blocks, by part path.
func blockedParts(pm parsedMail, l policy.Limits) map[string]mailPart {
	var out map[string]mailPart
	for _, a := range pm.atts {
		if isSMIMEPart(a.mediaType) || l.AttachmentAllowed(a.size) {
			continue
		}
		if out == nil {
			out = make(map[string]mailPart)
		}
		out[a.path] = a
	}
	return out
}

// stripBlockedAttachments returns raw (whose parse is pm) with every part that l blocks
// replaced by a text/plain note; raw itself when nothing is blocked. The result is checked
// by parsing it again: should the MIME structure be too broken to splice reliably, the
// device gets a plain-text message (the header fields, the text body and the notes) instead,
// so a blocked attachment never reaches it.
func stripBlockedAttachments(raw []byte, pm parsedMail, l policy.Limits) []byte {
	blocked := blockedParts(pm, l)
	if len(blocked) == 0 {
		return raw
	}
	out, n := spliceEntity(raw, nil, blocked, l)
	if n == len(blocked) && cleared(out, blocked, l) {
		return out
	}
	return textOnlyMessage(raw, pm, blocked, l)
}

// cleared reports whether the spliced message out has no blocked part left but the notes
// that replaced the parts in removed (text/plain at the same paths: parseMail counts a second
// text part as an attachment).
func cleared(out []byte, removed map[string]mailPart, l policy.Limits) bool {
	for p, a := range blockedParts(parseMail(out), l) {
		if _, ok := removed[p]; !ok || a.mediaType != "text/plain" {
			return false
		}
	}
	return true
}

// spliceEntity replaces the blocked leaves of the MIME entity b, at path (go-message's
// 0-based indices, as parseMail numbers parts), and returns the result and how many it
// replaced.
func spliceEntity(b []byte, path []int, blocked map[string]mailPart, l policy.Limits) ([]byte, int) {
	end := headerEnd(b)
	hdr, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(b[:end])))
	if err != nil {
		return b, 0
	}
	mt, params, _ := mime.ParseMediaType(hdr.Get("Content-Type"))
	if strings.HasPrefix(strings.ToLower(mt), "multipart/") {
		if params["boundary"] == "" {
			return b, 0
		}
		body, n := spliceMultipart(b[end:], params["boundary"], path, blocked, l)
		if n == 0 {
			return b, 0
		}
		return append(append(make([]byte, 0, end+len(body)), b[:end]...), body...), n
	}
	a, ok := blocked[partPath(path)]
	if !ok {
		return b, 0
	}
	out := make([]byte, 0, end+256)
	if len(path) == 0 {
		// The message itself is the attachment: keep its header fields but the content ones.
		out = appendNonContentFields(out, b[:end])
		out = append(out, "MIME-Version: 1.0\r\n"...)
	}
	out = append(out, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"+
		"Content-Disposition: inline\r\n\r\n"...)
	out = append(out, removedNote(a, l)...)
	if len(path) == 0 {
		out = append(out, "\r\n"...)
	}
	return out, 1
}

// delimLine is a boundary delimiter line of a multipart body: [start, end) including its line
// break.
type delimLine struct {
	start, end int
	close      bool
}

// spliceMultipart replaces the blocked leaves below the multipart body b (RFC 2046 5.1.1),
// whose parts are at path+[i]. Preamble, delimiters, the parts kept and the epilogue are
// copied unchanged.
func spliceMultipart(b []byte, boundary string, path []int, blocked map[string]mailPart, l policy.Limits) ([]byte, int) {
	delim := []byte("--" + boundary)
	var lines []delimLine
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		end := len(b)
		if j >= 0 {
			end = i + j + 1
		}
		t := bytes.TrimRight(b[i:end], " \t\r\n")
		if rest, ok := bytes.CutPrefix(t, delim); ok && (len(rest) == 0 || string(rest) == "--") {
			lines = append(lines, delimLine{start: i, end: end, close: len(rest) > 0})
			if len(rest) > 0 {
				break
			}
		}
		i = end
	}
	var out []byte
	prev, n := 0, 0
	for k, dl := range lines {
		if dl.close {
			break
		}
		// The line break before the next delimiter belongs to the delimiter (RFC 2046 5.1.1).
		cend := len(b)
		if k+1 < len(lines) {
			cend = lines[k+1].start
			if cend > dl.end && b[cend-1] == '\n' {
				cend--
				if cend > dl.end && b[cend-1] == '\r' {
					cend--
				}
			}
		}
		sub := append(append(make([]int, 0, len(path)+1), path...), k)
		part, m := spliceEntity(b[dl.end:cend], sub, blocked, l)
		if m == 0 {
			continue
		}
		out = append(out, b[prev:dl.end]...)
		out = append(out, part...)
		prev, n = cend, n+m
	}
	if n == 0 {
		return b, 0
	}
	return append(out, b[prev:]...), n
}

// headerEnd returns where the body of the entity b begins: after the first empty line, or
// len(b) when there is none.
func headerEnd(b []byte) int {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return len(b)
		}
		if j == 0 || j == 1 && b[i] == '\r' {
			return i + j + 1
		}
		i += j + 1
	}
	return len(b)
}

// appendNonContentFields appends the header fields of h (with their continuation lines) other
// than Content-* and MIME-Version, without the empty line that ends h.
func appendNonContentFields(dst, h []byte) []byte {
	skip := false
	for i := 0; i < len(h); {
		j := bytes.IndexByte(h[i:], '\n')
		end := len(h)
		if j >= 0 {
			end = i + j + 1
		}
		line := h[i:end]
		i = end
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, _ := bytes.Cut(line, []byte(":"))
			n := strings.ToLower(strings.TrimSpace(string(name)))
			skip = strings.HasPrefix(n, "content-") || n == "mime-version"
		}
		if !skip {
			dst = append(dst, line...)
			if !bytes.HasSuffix(line, []byte("\n")) {
				dst = append(dst, "\r\n"...)
			}
		}
	}
	return dst
}

// removedNote is the text that stands for a removed attachment.
func removedNote(a mailPart, l policy.Limits) string {
	why := "does not allow attachments on this device"
	if l.AttachmentsEnabled {
		why = "allows attachments of at most " + strconv.FormatInt(l.MaxAttachmentSize, 10) + " bytes on this device"
	}
	return fmt.Sprintf("[The attachment %q (%d bytes) was removed: the mobile device policy of your organisation %s.]",
		a.name, a.size, why)
}

// textOnlyMessage is the fallback of stripBlockedAttachments: raw's header fields without the
// content ones, the text body and a note for each removed attachment.
func textOnlyMessage(raw []byte, pm parsedMail, blocked map[string]mailPart, l policy.Limits) []byte {
	out := appendNonContentFields(nil, raw[:headerEnd(raw)])
	out = append(out, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"...)
	text := pm.plain
	if (!pm.hasPlain || text == "") && pm.hasHTML {
		text = htmlToText(pm.html)
	}
	out = append(out, text...)
	out = append(out, "\r\n\r\n[Attachments of this message are not included.]\r\n"...)
	for _, a := range pm.atts {
		if b, ok := blocked[a.path]; ok {
			out = append(out, removedNote(b, l)...)
			out = append(out, "\r\n"...)
		}
	}
	return out
}
