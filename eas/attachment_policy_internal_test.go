package eas

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/policy"
)

func TestStripBlockedAttachments(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("B", 500)
	maxSize := policy.NoLimits
	maxSize.MaxAttachmentSize = 100
	disabled := policy.NoLimits
	disabled.AttachmentsEnabled = false

	nested := "From: a@example.com\r\nSubject: nested\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\nplain body\r\n" +
		"--inner\r\nContent-Type: text/html\r\n\r\n<p>html body</p>\r\n--inner--\r\n" +
		"--outer\r\nContent-Type: application/pdf; name=big.pdf\r\nContent-Disposition: attachment; filename=big.pdf\r\n\r\n" + big + "\r\n" +
		"--outer\r\nContent-Type: image/png; name=tiny.png\r\nContent-Disposition: attachment; filename=tiny.png\r\n\r\ntiny\r\n--outer--\r\nepilogue\r\n"
	lfOnly := strings.ReplaceAll(nested, "\r\n", "\n")
	rootAttachment := "From: a@example.com\r\nSubject: just a file\r\nMIME-Version: 1.0\r\nContent-Type: application/zip; name=x.zip\r\n" +
		"Content-Disposition: attachment;\r\n filename=x.zip\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + big + "\r\n"
	smime := "From: a@example.com\r\nSubject: secret\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n" +
		"Content-Disposition: attachment; filename=smime.p7m\r\n\r\n" + big + "\r\n"
	// The last part never ends: the closing delimiter is missing.
	broken := "From: a@example.com\r\nSubject: broken\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n" +
		"--zz\r\nContent-Type: text/plain\r\n\r\nthe text\r\n--zz\r\nContent-Type: application/pdf; name=big.pdf\r\n\r\n" + big

	for _, tc := range []struct {
		name     string
		raw      string
		l        policy.Limits
		same     bool     // sent unchanged
		contains []string // in the result
		absent   []string
	}{
		{"no limits", nested, policy.NoLimits, true, nil, nil},
		{"all small enough", nested, func() policy.Limits { l := policy.NoLimits; l.MaxAttachmentSize = 1000; return l }(), true, nil, nil},
		{"too large inside nested multipart", nested, maxSize, false,
			[]string{"plain body\r\n--inner", "<p>html body</p>", "tiny\r\n--outer--\r\nepilogue", `"big.pdf" (500 bytes) was removed`, "at most 100 bytes",
				"--outer\r\nContent-Type: text/plain; charset=utf-8"},
			[]string{big[:50], `"tiny.png"`}},
		{"disabled", nested, disabled, false,
			[]string{"plain body", `"big.pdf" (500 bytes) was removed`, `"tiny.png" (4 bytes) was removed`, "does not allow attachments"},
			[]string{big[:50], "tiny\r\n"}},
		{"LF line endings", lfOnly, maxSize, false,
			[]string{"plain body\n--inner", "tiny\n--outer--\nepilogue", `"big.pdf" (500 bytes) was removed`},
			[]string{big[:50]}},
		{"the message is the attachment", rootAttachment, maxSize, false,
			[]string{"From: a@example.com\r\nSubject: just a file\r\n", "Content-Type: text/plain; charset=utf-8", `"x.zip" (502 bytes) was removed`},
			[]string{big[:50], "application/zip", "filename=x.zip"}},
		{"S/MIME stays", smime, disabled, true, nil, nil},
		{"broken structure: text only", broken, maxSize, false,
			[]string{"Subject: broken\r\n", "the text", `"big.pdf" (500 bytes) was removed`},
			[]string{big[:50]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pm := parseMail([]byte(tc.raw))
			out := string(stripBlockedAttachments([]byte(tc.raw), pm, tc.l))
			if tc.same {
				assert.Equal(t, tc.raw, out)
				return
			}
			for _, s := range tc.contains {
				assert.Contains(t, out, s)
			}
			for _, s := range tc.absent {
				assert.NotContains(t, out, s)
			}
			// Whatever the input, nothing the policy blocks is left but the notes.
			again := parseMail([]byte(out))
			for _, a := range again.atts {
				if !tc.l.AttachmentAllowed(a.size) {
					require.Equal(t, "text/plain", a.mediaType, "only notes may remain: %+v", a)
					assert.NotContains(t, a.contentType, "name=")
				}
			}
		})
	}
}

func TestAttachmentRefused(t *testing.T) {
	t.Parallel()
	l := policy.NoLimits
	refused, _ := attachmentRefused(l, 1<<30)
	assert.False(t, refused)
	l.MaxAttachmentSize = 10
	refused, _ = attachmentRefused(l, 10)
	assert.False(t, refused, "MaxAttachmentSize itself is allowed")
	refused, tooLarge := attachmentRefused(l, 11)
	assert.True(t, refused)
	assert.True(t, tooLarge)
	l.AttachmentsEnabled = false
	refused, tooLarge = attachmentRefused(l, 1)
	assert.True(t, refused)
	assert.False(t, tooLarge, "disabled: not a size matter")
}

// BenchmarkStripBlockedAttachments measures removing a 1 MiB attachment from a MIME body sent
// to a device whose policy allows 100 KiB (splice, then the check parse).
func BenchmarkStripBlockedAttachments(b *testing.B) {
	raw := []byte("From: a@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("text ", 2000) + "\r\n--b\r\n" +
		"Content-Type: application/pdf; name=big.pdf\r\nContent-Disposition: attachment; filename=big.pdf\r\n\r\n" +
		strings.Repeat("0123456789abcdef", 1<<16) + "\r\n--b--\r\n")
	l := policy.NoLimits
	l.MaxAttachmentSize = 100 << 10
	pm := parseMail(raw)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if out := stripBlockedAttachments(raw, pm, l); len(out) >= len(raw) {
			b.Fatal("nothing removed")
		}
	}
}
