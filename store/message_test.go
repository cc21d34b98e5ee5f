package store

import (
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDate(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, 11, 10, 8, 14, 20, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"Tue, 10 Nov 2026 09:14:20 +0100", want},
		{"  Tue, 10 Nov 2026 09:14:20 +0100 ", want},
		{"Tue, 10 Nov 2026 09:14:20 +0100 (CET)", want},
		{"10 Nov 2026 09:14:20 +0100", want},
		{"Tue, 10 Nov 2026 08:14:20 GMT", want},
		{"Tue, 10 Nov 2026 08:14 +0000", want.Truncate(time.Minute)},
		{"", time.Time{}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var h mail.Header
			if tc.in != "" {
				h.Set("Date", tc.in)
			}
			got, err := parseDate(h)
			require.NoError(t, err)
			assert.True(t, tc.want.Equal(got), "got %v", got)
		})
	}
	var h mail.Header
	h.Set("Date", "yesterday")
	_, err := parseDate(h)
	assert.Error(t, err)
}

func TestHTMLPreviewOnlyWithoutPlain(t *testing.T) {
	t.Parallel()
	htmlFirst := "Content-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/html\r\n\r\n<p>from html</p>\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nfrom plain\r\n--b--\r\n"
	pm, err := parseMessage([]byte(htmlFirst))
	require.NoError(t, err)
	assert.Equal(t, "from plain", pm.preview, "text/plain wins even after text/html")

	emptyPlain := "Content-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\n \r\n" +
		"--b\r\nContent-Type: text/html\r\n\r\n<p>from html</p>\r\n--b--\r\n"
	pm, err = parseMessage([]byte(emptyPlain))
	require.NoError(t, err)
	assert.Equal(t, "from html", pm.preview, "a blank text/plain part falls back to the HTML")
}
