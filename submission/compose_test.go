package submission_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/submission"
)

const original = "From: Bob <bob@example.org>\r\nTo: alice@example.com\r\nSubject: Lunch?\r\n" +
	"Date: Thu, 26 Nov 2026 09:00:00 +0000\r\nMessage-ID: <orig@example.org>\r\nReferences: <root@example.org>\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nShall we have lunch?\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>Shall we have <b>lunch</b>?</p>\r\n--b--\r\n"

func parts(t *testing.T, raw []byte) []string {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	require.NoError(t, err)
	var out []string
	require.NoError(t, e.Walk(func(_ []int, p *message.Entity, err error) error {
		require.NoError(t, err)
		mt, _, _ := p.Header.ContentType()
		if strings.HasPrefix(mt, "multipart/") {
			return nil
		}
		b, err := io.ReadAll(p.Body)
		require.NoError(t, err)
		out = append(out, mt+"|"+string(b))
		return nil
	}))
	return out
}

func TestComposeReply(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, reply string
		replace     bool
		check       func(t *testing.T, got string)
	}{
		{"plain inline", "To: bob@example.org\r\nSubject: Re: Lunch?\r\n\r\nYes!\r\n", false, func(t *testing.T, got string) {
			assert.Contains(t, got, "\r\n\r\nYes!\r\n\r\n\r\n-----Original Message-----\r\nFrom: \"Bob\" <bob@example.org>\r\n")
			assert.Contains(t, got, "Subject: Lunch?\r\n\r\nShall we have lunch?")
			assert.Contains(t, got, "Content-Type: text/plain; charset=utf-8")
		}},
		{"html inline", "To: bob@example.org\r\nContent-Type: text/html\r\n\r\n<html><body><p>Yes!</p></body></html>", false, func(t *testing.T, got string) {
			assert.Contains(t, got, "<p>Yes!</p><hr><div>-----Original Message-----<br>")
			assert.True(t, strings.HasSuffix(got, "</body></html>"))
		}},
		{"multipart wrapped", "To: bob@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nYes!\r\n--x--\r\n", false, func(t *testing.T, got string) {
			p := parts(t, []byte(got))
			require.Len(t, p, 2)
			assert.Equal(t, "text/plain|Yes!", p[0])
			assert.Contains(t, p[1], "Shall we have lunch?")
		}},
		{"replace mime", "To: bob@example.org\r\n\r\nYes!\r\n", true, func(t *testing.T, got string) {
			assert.NotContains(t, got, "Original Message")
			assert.True(t, strings.HasSuffix(got, "\r\n\r\nYes!\r\n"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := submission.ComposeReply([]byte(tc.reply), []byte(original), tc.replace)
			require.NoError(t, err)
			got := string(out)
			assert.Contains(t, got, "In-Reply-To: <orig@example.org>\r\n")
			assert.Contains(t, got, "References: <root@example.org> <orig@example.org>\r\n")
			tc.check(t, got)
		})
	}
}

func TestComposeForward(t *testing.T) {
	t.Parallel()
	out, err := submission.ComposeForward([]byte("To: carol@example.net\r\nSubject: Fw: Lunch?\r\n\r\nFYI\r\n"), []byte(original), false)
	require.NoError(t, err)
	got := string(out)
	assert.Contains(t, got, "References: <root@example.org> <orig@example.org>\r\n")
	assert.Contains(t, got, "Content-Type: multipart/mixed; boundary=")
	assert.Contains(t, got, "Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"Lunch_.eml\"\r\n\r\n"+original)
	p := parts(t, out)
	require.GreaterOrEqual(t, len(p), 2)
	assert.Equal(t, "text/plain|FYI\r\n", p[0])

	out, err = submission.ComposeForward([]byte("To: carol@example.net\r\n\r\nFYI\r\n"), []byte(original), true)
	require.NoError(t, err)
	assert.NotContains(t, string(out), "message/rfc822")
	assert.True(t, strings.HasSuffix(string(out), "\r\n\r\nFYI\r\n"))

	_, err = submission.ComposeForward([]byte("To: carol@example.net\r\n\r\nFYI\r\n"), nil, false)
	require.ErrorIs(t, err, submission.ErrInvalidMessage)
}
