package eas

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

const attMessage = "From: bob@example.com\r\nTo: alice@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b1\r\n\r\n" +
	"--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n" +
	"--b2\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe\r\n" +
	"--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Gr&uuml;&szlig;e</p>\r\n" +
	"--b2--\r\n" +
	"--b1\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n" +
	"--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n" +
	"--b1--\r\n"

func TestParseMail(t *testing.T) {
	t.Parallel()
	pm := parseMail([]byte(attMessage))
	assert.Equal(t, "Grüße", strings.TrimSpace(pm.plain), "charset and transfer encoding decoded")
	assert.True(t, pm.hasHTML)
	require.Len(t, pm.atts, 2)
	assert.Equal(t, "2", pm.atts[0].path)
	assert.Equal(t, "data.bin", pm.atts[0].name)
	assert.Equal(t, int64(4), pm.atts[0].size)
	assert.Equal(t, "3", pm.atts[1].path)
	assert.Equal(t, "message/rfc822", pm.atts[1].mediaType)
	assert.Equal(t, "attachment2.eml", pm.atts[1].name)

	a, err := attachmentPart([]byte(attMessage), "2")
	require.NoError(t, err)
	assert.Equal(t, []byte{0, 1, 2, 3}, a.Data)
	assert.Equal(t, "data.bin", a.Name)
	a, err = attachmentPart([]byte(attMessage), "1.1")
	require.NoError(t, err)
	assert.Equal(t, "Grüße", strings.TrimSpace(string(a.Data)))
	_, err = attachmentPart([]byte(attMessage), "9")
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = attachmentPart([]byte(attMessage), "1")
	assert.ErrorIs(t, err, store.ErrNotFound, "a multipart is no attachment")
}

func TestFileReference(t *testing.T) {
	t.Parallel()
	ref := fileReference(42, "1.3")
	id, path, err := parseFileReference(ref)
	require.NoError(t, err)
	assert.Equal(t, store.ItemID(42), id)
	assert.Equal(t, "1.3", path)
	for _, bad := range []string{"", "42", "42:", ":1", "x:1", "42:1.x", "42:0", "-1:1", "42:1..2"} {
		_, _, err := parseFileReference(bad)
		assert.ErrorIs(t, err, errBadFileReference, bad)
	}
}

func TestTextHelpers(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "a b\r\nc", htmlToText("<html><head><title>T</title><script>x()</script></head><body>a   <i>b</i><br>c</body></html>"))
	assert.Equal(t, "<html><body>a &lt;b&gt;<br>\r\nc</body></html>", textToHTML("a <b>\nc"))
	s := "aé€𝄞"
	for n := range int64(len(s) + 2) {
		cut := truncateUTF8(s, n)
		assert.True(t, utf8.ValidString(cut), "n=%d", n)
		assert.LessOrEqual(t, int64(len(cut)), n)
		assert.True(t, strings.HasPrefix(s, cut))
	}
	assert.Equal(t, "aé", truncateRunes(s, 2))
	assert.Equal(t, "Lunch", threadTopic("RE: Fwd: Lunch"))
	assert.Equal(t, "Bob; c@d", displayNames(`"Bob" <b@x>, c@d`))
}

// TestReadBodyOptions: the Options element ItemOperations shares with Sync.
func TestReadBodyOptions(t *testing.T) {
	t.Parallel()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.ItemOperationsOptions)
	enc.Int(wbxml.AirSyncMIMESupport, 2)
	enc.Start(wbxml.AirSyncBaseBodyPreference)
	enc.Int(wbxml.AirSyncBaseType, 2)
	enc.Int(wbxml.AirSyncBaseTruncationSize, 5000)
	enc.Int(wbxml.AirSyncBaseAllOrNone, 1)
	enc.Int(wbxml.AirSyncBasePreview, 100)
	enc.End()
	enc.Start(wbxml.AirSyncBaseBodyPreference)
	enc.Int(wbxml.AirSyncBaseType, 4)
	enc.End()
	enc.String(wbxml.ItemOperationsSchema, "x")
	enc.End()
	require.NoError(t, enc.Err())
	dec := wbxml.NewDecoder(enc.Bytes())
	_, err := dec.Expect(wbxml.ItemOperationsOptions)
	require.NoError(t, err)
	o, err := readBodyOptions(dec)
	require.NoError(t, err)
	assert.Equal(t, bodyOptions{MIMESupport: 2, Prefs: []BodyPreference{
		{Type: BodyHTML, TruncationSize: 5000, AllOrNone: true, Preview: 100}, {Type: BodyMIME}}}, o)

	dec.Reset(enc.Bytes())
	_, err = dec.Expect(wbxml.ItemOperationsOptions)
	require.NoError(t, err)
	prefs, err := readBodyPreferences(dec)
	require.NoError(t, err)
	assert.Len(t, prefs, 2)

	// choosePreference: MIMESupport 2 with a Type 4 preference picks MIME; without
	// MIMESupport the HTML one.
	assert.Equal(t, BodyMIME, o.choosePreference(store.Item{}, false).Type)
	o.MIMESupport = 0
	assert.Equal(t, BodyHTML, o.choosePreference(store.Item{}, false).Type)
	assert.Equal(t, BodyPlain, bodyOptions{}.choosePreference(store.Item{}, false).Type)
}
