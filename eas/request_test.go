package eas_test

import (
	"bufio"
	"encoding/base64"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
)

// corpusDir is ../shared/corpus from the repository root.
var corpusDir = filepath.Join("..", "..", "shared", "corpus")

func requireCorpus(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("reference corpus %s not present: %v", corpusDir, err)
	}
}

func TestParsePlainQuery(t *testing.T) {
	t.Parallel()
	h := func(kv ...string) http.Header {
		hd := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			hd.Add(kv[i], kv[i+1])
		}
		return hd
	}
	tests := []struct {
		name  string
		query string
		hdr   http.Header
		want  eas.Request
		err   string
	}{
		{
			name:  "MS-ASHTTP 2.2.1.1.1 example",
			query: "Cmd=Sync&User=rmjones&DeviceId=v140Device&DeviceType=SmartPhone",
			hdr:   h("MS-ASProtocolVersion", "14.0", "User-Agent", "ASOM", "X-MS-PolicyKey", "3942919513"),
			want: eas.Request{Cmd: eas.CmdSync, User: "rmjones", DeviceID: "v140Device", DeviceType: "SmartPhone",
				Version: eas.Version140, UserAgent: "ASOM", PolicyKey: 3942919513, HasPolicyKey: true},
		},
		{
			name:  "Cmd last, lower-case names",
			query: "user=hagen&deviceid=ApplDMPLWN7Z&devicetype=iPad&cmd=ping",
			hdr:   h("MS-ASProtocolVersion", "16.1"),
			want:  eas.Request{Cmd: eas.CmdPing, User: "hagen", DeviceID: "ApplDMPLWN7Z", DeviceType: "iPad", Version: eas.Version161},
		},
		{
			name:  "SmartReply parameters",
			query: "Cmd=SmartReply&User=a%40b.c&DeviceId=D1&DeviceType=Android&CollectionId=5&ItemId=5%3A12&LongId=L&Occurrence=20260301T100000Z&SaveInSent=T",
			hdr:   h("MS-ASProtocolVersion", "12.1"),
			want: eas.Request{Cmd: eas.CmdSmartReply, User: "a@b.c", DeviceID: "D1", DeviceType: "Android", Version: eas.Version121,
				CollectionID: "5", ItemID: "5:12", LongID: "L", Occurrence: "20260301T100000Z", SaveInSent: true},
		},
		{
			name:  "GetAttachment and multipart header",
			query: "Cmd=GetAttachment&User=u&DeviceId=D1&DeviceType=T&AttachmentName=5%3A1%3A0",
			hdr:   h("MS-ASProtocolVersion", "12.0", "MS-ASAcceptMultiPart", "T"),
			want: eas.Request{Cmd: eas.CmdGetAttachment, User: "u", DeviceID: "D1", DeviceType: "T", Version: eas.Version120,
				AttachmentName: "5:1:0", AcceptMultiPart: true},
		},
		{
			name:  "pyactivesync policy key in query",
			query: "Cmd=Provision&User=alice&DeviceId=PyAS01&DeviceType=pyactivesync&PolicyKey=1307199584",
			hdr:   h("MS-ASProtocolVersion", "16.1"),
			want: eas.Request{Cmd: eas.CmdProvision, User: "alice", DeviceID: "PyAS01", DeviceType: "pyactivesync",
				Version: eas.Version161, PolicyKey: 1307199584, HasPolicyKey: true},
		},
		{
			name:  "header policy key wins over query",
			query: "Cmd=Sync&DeviceId=D1&DeviceType=T&PolicyKey=1",
			hdr:   h("MS-ASProtocolVersion", "14.1", "X-MS-PolicyKey", "2"),
			want:  eas.Request{Cmd: eas.CmdSync, DeviceID: "D1", DeviceType: "T", Version: eas.Version141, PolicyKey: 2, HasPolicyKey: true},
		},
		{
			name:  "Find (16.1, plain only)",
			query: "Cmd=Find&DeviceId=D1&DeviceType=T",
			hdr:   h("MS-ASProtocolVersion", "16.1"),
			want:  eas.Request{Cmd: eas.CmdFind, DeviceID: "D1", DeviceType: "T", Version: eas.Version161},
		},
		{name: "unknown command", query: "Cmd=Nope&DeviceId=D1&DeviceType=T", hdr: h("MS-ASProtocolVersion", "14.0"), err: "unknown command"},
		{name: "repeated parameter", query: "Cmd=Sync&Cmd=Ping&DeviceId=D1&DeviceType=T", hdr: h("MS-ASProtocolVersion", "14.0"), err: "repeated"},
		{name: "bad SaveInSent", query: "Cmd=SendMail&DeviceId=D1&DeviceType=T&SaveInSent=yes", hdr: h("MS-ASProtocolVersion", "14.0"), err: "SaveInSent"},
		{name: "bad policy key", query: "Cmd=Sync&DeviceId=D1&DeviceType=T", hdr: h("MS-ASProtocolVersion", "14.0", "X-MS-PolicyKey", "-1"), err: "policy key"},
		{name: "policy key too big", query: "Cmd=Sync&DeviceId=D1&DeviceType=T", hdr: h("MS-ASProtocolVersion", "14.0", "X-MS-PolicyKey", "4294967296"), err: "policy key"},
		{name: "bad multipart header", query: "Cmd=Sync&DeviceId=D1&DeviceType=T", hdr: h("MS-ASProtocolVersion", "14.0", "MS-ASAcceptMultiPart", "yes"), err: "MS-ASAcceptMultiPart"},
		{name: "long DeviceId", query: "Cmd=Sync&DeviceType=T&DeviceId=" + strings.Repeat("a", 65), hdr: h("MS-ASProtocolVersion", "14.0"), err: "invalid DeviceId"},
		{name: "bad escape", query: "Cmd=Sync&DeviceId=%zz&DeviceType=T", hdr: h("MS-ASProtocolVersion", "14.0"), err: "malformed"},
		{name: "long query", query: "Cmd=Sync&DeviceId=D&DeviceType=T&x=" + strings.Repeat("x", 3000), hdr: h("MS-ASProtocolVersion", "14.0"), err: "query of"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := eas.ParseRequest(tc.query, tc.hdr)
			if tc.err != "" {
				require.ErrorIs(t, err, eas.ErrBadQuery)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, *r)
		})
	}
}

func TestParseBase64Query(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		query string
		want  eas.Request
		err   string
	}{
		{
			// MS-ASHTTP 2.2.1.1.1.1: the example equivalent to
			// Cmd=Sync&User=rmjones&DeviceId=v140Device&DeviceType=SmartPhone (minus User).
			name:  "MS-ASHTTP 2.2.1.1.1.1 example",
			query: "jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l",
			want: eas.Request{Base64: true, Version: eas.Version140, Cmd: eas.CmdSync, Locale: 0x0409,
				DeviceID: "v140Device", DeviceType: "SmartPhone"},
		},
		{
			name:  "unpadded, percent-escaped padding is the caller's",
			query: strings.TrimRight(b64(0x8d, 9, 0x07, 0x04, 2, 'W', '1', 4, 1, 0, 0, 0, 3, 'W', 'P', '8'), "="),
			want: eas.Request{Base64: true, Version: eas.Version141, Cmd: eas.CmdFolderSync, Locale: 0x0407,
				DeviceID: "W1", DeviceType: "WP8", PolicyKey: 1, HasPolicyKey: true},
		},
		{
			name: "all parameters",
			query: b64(0xa1, 2, 0x09, 0x04, 2, 'D', '1', 0, 1, 'T',
				0, 1, 'a', 1, 1, 'c', 3, 2, 'i', 'd', 4, 1, 'l', 6, 1, 'o', 7, 1, 3, 8, 5, 'a', 'l', 'i', 'c', 'e'),
			want: eas.Request{Base64: true, Version: eas.Version161, Cmd: eas.CmdSmartForward, Locale: 0x0409,
				DeviceID: "D1", DeviceType: "T", AttachmentName: "a", CollectionID: "c", ItemID: "id", LongID: "l",
				Occurrence: "o", SaveInSent: true, AcceptMultiPart: true, User: "alice"},
		},
		{
			name:  "binary DeviceId becomes hex",
			query: b64(0x8d, 17, 0x07, 0x04, 4, 0x34, 0xe0, 0x72, 0x8a, 0, 2, 'W', 'M'),
			want: eas.Request{Base64: true, Version: eas.Version141, Cmd: eas.CmdSettings, Locale: 0x0407,
				DeviceID: "34E0728A", DeviceType: "WM"},
		},
		{name: "empty", query: "", err: "protocol version missing"},
		{name: "not base64", query: "!!!!", err: "illegal base64"},
		{name: "only version", query: b64(0x8c), err: "command code missing"},
		{name: "no locale", query: b64(0x8c, 0, 9), err: "locale missing"},
		{name: "device id overruns", query: b64(0x8c, 0, 9, 4, 200, 'a'), err: "device id length 200 exceeds"},
		{name: "empty device id", query: b64(0x8c, 0, 9, 4, 0, 0, 1, 'T'), err: "missing DeviceId"},
		{name: "policy key length 3", query: b64(0x8c, 0, 9, 4, 1, 'D', 3, 1, 2, 3, 1, 'T'), err: "policy key length 3"},
		{name: "policy key overruns", query: b64(0x8c, 0, 9, 4, 1, 'D', 4, 1), err: "policy key length 4 exceeds"},
		{name: "no device type", query: b64(0x8c, 0, 9, 4, 1, 'D', 0), err: "device type length missing"},
		{name: "empty device type", query: b64(0x8c, 0, 9, 4, 1, 'D', 0, 0), err: "invalid device type"},
		{name: "bad device type", query: b64(0x8c, 0, 9, 4, 1, 'D', 0, 2, 'a', '/'), err: "invalid device type"},
		{name: "unassigned command code", query: b64(0x8c, 5, 9, 4, 1, 'D', 0, 1, 'T'), err: "unknown command"},
		{name: "command code 255", query: b64(0x8c, 255, 9, 4, 1, 'D', 0, 1, 'T'), err: "unknown command"},
		{name: "unknown parameter tag", query: b64(0x8c, 0, 9, 4, 1, 'D', 0, 1, 'T', 2, 1, 'x'), err: "unknown parameter tag 2"},
		{name: "parameter tag 200", query: b64(0x8c, 0, 9, 4, 1, 'D', 0, 1, 'T', 200, 0), err: "unknown parameter tag 200"},
		{name: "parameter overruns", query: b64(0x8c, 0, 9, 4, 1, 'D', 0, 1, 'T', 8, 9, 'x'), err: "parameter length 9 exceeds"},
		{name: "parameter without length", query: b64(0x8c, 0, 9, 4, 1, 'D', 0, 1, 'T', 8), err: "parameter length missing"},
		{name: "repeated parameter", query: b64(0x8c, 0, 9, 4, 1, 'D', 0, 1, 'T', 8, 1, 'a', 8, 1, 'b'), err: "repeated"},
		{name: "options of 2 bytes", query: b64(0x8c, 0, 9, 4, 1, 'D', 0, 1, 'T', 7, 2, 1, 2), err: "options parameter of 2 bytes"},
		{name: "long query", query: strings.Repeat("A", 4000), err: "base64 query of 4000 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := eas.ParseBase64Query(tc.query)
			if tc.err != "" {
				require.ErrorIs(t, err, eas.ErrBadQuery)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, *r)

			// ParseRequest recognises the form and takes the version from the query, not from
			// a header (MS-ASHTTP 2.2.1.1.2.6: SHOULD NOT be sent with the base64 form).
			r2, err := eas.ParseRequest(tc.query, http.Header{"Ms-Asprotocolversion": {"12.0"}})
			require.NoError(t, err)
			assert.Equal(t, tc.want.Version, r2.Version)
			assert.Equal(t, tc.want.Cmd, r2.Cmd)
		})
	}
}

func b64(b ...byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestBase64QueryRoundTrip(t *testing.T) {
	t.Parallel()
	key := uint32(0xdeadbeef)
	q := easclient.BinaryQuery{
		Version: eas.Version161, Cmd: eas.CmdItemOperations, Locale: 0x0407,
		DeviceID: []byte("ABCDEF0123"), PolicyKey: &key, DeviceType: "WindowsMail", User: `CORP\alice`,
		CollectionID: "7", ItemID: "7:1", AcceptMultiPart: true,
	}
	s, err := q.Encode()
	require.NoError(t, err)
	r, err := eas.ParseRequest(s, http.Header{})
	require.NoError(t, err)
	assert.Equal(t, eas.Request{Base64: true, Version: eas.Version161, Cmd: eas.CmdItemOperations, Locale: 0x0407,
		DeviceID: "ABCDEF0123", PolicyKey: key, HasPolicyKey: true, DeviceType: "WindowsMail", User: `CORP\alice`,
		CollectionID: "7", ItemID: "7:1", AcceptMultiPart: true}, *r)

	// The same query percent-escaped (some clients escape '+', '/' and '=').
	r, err = eas.ParseRequest(url.QueryEscape(s), http.Header{})
	require.NoError(t, err)
	assert.Equal(t, "ABCDEF0123", r.DeviceID)

	_, err = easclient.BinaryQuery{Cmd: eas.CmdFind, DeviceType: "T"}.Encode()
	require.Error(t, err)
}

// TestCorpusBase64Queries decodes the base64 query values quoted in
// ../shared/corpus/http/client-headers.md. They are quoted truncated ("prefix…suffix"), so each
// case completes the missing middle with a device id of the documented length and checks what
// the real bytes say: version, command, locale, the DeviceType and Options of the suffix.
func TestCorpusBase64Queries(t *testing.T) {
	requireCorpus(t)
	md, err := os.ReadFile(filepath.Join(corpusDir, "http", "client-headers.md"))
	require.NoError(t, err)
	quoted := regexp.MustCompile(`\?([A-Za-z0-9+/]+)…([A-Za-z0-9+/=]*)`).FindAllStringSubmatch(string(md), -1)
	require.GreaterOrEqual(t, len(quoted), 3, "base64 queries quoted in client-headers.md")

	tests := []struct {
		prefix, suffix string
		// middle completes the bytes between the decoded prefix and suffix
		middle    []byte
		version   eas.Version
		cmd       eas.CommandCode
		locale    uint16
		idPrefix  string
		devType   string
		multipart bool
		policyKey bool
	}{
		{ // Windows Mail (trace 806/807): 16.1 ItemOperations, 16-byte DeviceId, PolicyKey 0.
			prefix: "oRMHBBA04HKK", suffix: "AAALV2luZG93c01haWwHAQI=",
			middle:  append(make([]byte, 12), 4, 0, 0),
			version: eas.Version161, cmd: eas.CmdItemOperations, locale: 0x0407,
			idPrefix: "34E0728A", devType: "WindowsMail", multipart: true, policyKey: true,
		},
		{ // Windows Phone 8.1 (tine20#5242): 14.1 Settings.
			prefix: "jREHBBB5", middle: append(make([]byte, 15), 0, 3, 'W', 'P', '8'),
			version: eas.Version141, cmd: eas.CmdSettings, locale: 0x0407, idPrefix: "79", devType: "WP8",
		},
		{ // Windows Phone 8.1: 14.1 FolderSync.
			prefix: "jQkHBBB5", middle: append(make([]byte, 15), 0, 3, 'W', 'P', '8'),
			version: eas.Version141, cmd: eas.CmdFolderSync, locale: 0x0407, idPrefix: "79", devType: "WP8",
		},
	}
	for _, tc := range tests {
		t.Run(tc.prefix, func(t *testing.T) {
			found := false
			for _, q := range quoted {
				found = found || q[1] == tc.prefix && q[2] == tc.suffix
			}
			require.True(t, found, "?%s…%s not quoted in client-headers.md", tc.prefix, tc.suffix)
			pre, err := base64.StdEncoding.DecodeString(tc.prefix)
			require.NoError(t, err)
			suf, err := base64.StdEncoding.DecodeString(tc.suffix)
			require.NoError(t, err)
			full := append(append(append([]byte{}, pre...), tc.middle...), suf...)
			r, err := eas.ParseRequest(base64.StdEncoding.EncodeToString(full), http.Header{})
			require.NoError(t, err)
			assert.True(t, r.Base64)
			assert.Equal(t, tc.version, r.Version)
			assert.Equal(t, tc.cmd, r.Cmd)
			assert.Equal(t, tc.locale, r.Locale)
			assert.Len(t, r.DeviceID, 32, "16 binary bytes as hex")
			assert.True(t, strings.HasPrefix(r.DeviceID, tc.idPrefix), r.DeviceID)
			assert.Equal(t, tc.devType, r.DeviceType)
			assert.Equal(t, tc.multipart, r.AcceptMultiPart)
			assert.Equal(t, tc.policyKey, r.HasPolicyKey)
			assert.Zero(t, r.PolicyKey)
		})
	}
}

// TestCorpusRequestLines parses the request line and headers of every captured POST under
// ../shared/corpus/eas.
func TestCorpusRequestLines(t *testing.T) {
	requireCorpus(t)
	files, err := filepath.Glob(filepath.Join(corpusDir, "eas", "*", "*.http.txt"))
	require.NoError(t, err)
	more, err := filepath.Glob(filepath.Join(corpusDir, "eas", "*", "*", "*.http.txt"))
	require.NoError(t, err)
	files = append(files, more...)
	n := 0
	for _, f := range files {
		line, hdr := readCapture(t, f)
		method, target, _ := strings.Cut(line, " ")
		target, _, _ = strings.Cut(target, " ")
		path, query, _ := strings.Cut(target, "?")
		if method != http.MethodPost || !strings.EqualFold(path, eas.Path) {
			continue
		}
		n++
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			r, err := eas.ParseRequest(query, hdr)
			require.NoError(t, err)
			vals, err := url.ParseQuery(query)
			require.NoError(t, err)
			assert.Equal(t, vals.Get("Cmd"), r.Cmd.String())
			assert.Equal(t, vals.Get("DeviceId"), r.DeviceID)
			assert.Equal(t, vals.Get("User"), r.User)
			assert.Equal(t, hdr.Get("MS-ASProtocolVersion"), r.Version.String())
			assert.True(t, r.Version.Supported())
			if k := vals.Get("PolicyKey"); k != "" {
				assert.True(t, r.HasPolicyKey)
			}
		})
	}
	require.Greater(t, n, 20, "captured POSTs")
}

// readCapture returns the request line and headers of a *.http.txt capture.
func readCapture(t *testing.T, name string) (string, http.Header) {
	t.Helper()
	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	tp := textproto.NewReader(bufio.NewReader(f))
	line, err := tp.ReadLine()
	require.NoError(t, err)
	mh, err := tp.ReadMIMEHeader()
	if err != nil && len(mh) == 0 {
		require.NoError(t, err)
	}
	return line, http.Header(mh)
}
