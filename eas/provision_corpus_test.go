package eas_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/wbxml"
)

// withPolicyKey returns a copy of the WBXML document doc whose PolicyKey elements hold key.
func withPolicyKey(t *testing.T, doc []byte, key uint32) []byte {
	t.Helper()
	b, err := easclient.Rewrite(doc, func(tag wbxml.Tag) func(string) string {
		if tag != wbxml.ProvisionPolicyKey {
			return nil
		}
		return func(string) string { return strconv.FormatUint(uint64(key), 10) }
	})
	require.NoError(t, err)
	return b
}

// replayCapture sends a captured request with its query and headers, the user rewritten to the
// test account and any policy key (X-MS-PolicyKey header, PolicyKey query parameter as
// pyactivesync sends it, PolicyKey element) rewritten to key.
func replayCapture(t *testing.T, env *provEnv, capture string, key uint32) *easclient.Response {
	t.Helper()
	line, hdr := readCapture(t, capture)
	_, target, _ := strings.Cut(line, " ")
	target, _, _ = strings.Cut(target, " ")
	_, query, _ := strings.Cut(target, "?")
	vals, err := url.ParseQuery(query)
	require.NoError(t, err)
	vals.Set("User", "alice@example.com")
	if vals.Has("PolicyKey") {
		vals.Set("PolicyKey", strconv.FormatUint(uint64(key), 10))
	}
	body, err := os.ReadFile(strings.TrimSuffix(capture, ".http.txt") + ".req.wbxml")
	require.NoError(t, err)
	body = withPolicyKey(t, body, key)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, env.https.URL+eas.Path+"?"+vals.Encode(), bytes.NewReader(body))
	require.NoError(t, err)
	for k, vs := range hdr {
		switch k {
		case "Host", "Content-Length", "Connection", "Authorization", "Expect", "Accept-Encoding":
		case "X-Ms-Policykey":
			if vs[0] != "0" {
				vs = []string{strconv.FormatUint(uint64(key), 10)}
			}
			req.Header[k] = vs
		default:
			req.Header[k] = vs
		}
	}
	req.SetBasicAuth("alice@example.com", "secret")
	resp, err := env.https.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return &easclient.Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}
}

func parseProvResponse(t *testing.T, resp *easclient.Response) provResult {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	toks, err := resp.Tokens()
	require.NoError(t, err)
	var res provResult
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].Kind != wbxml.KindStart || toks[i+1].Kind != wbxml.KindString {
			continue
		}
		s := string(toks[i+1].Data)
		switch toks[i].Tag {
		case wbxml.ProvisionPolicyKey:
			k, err := strconv.ParseUint(s, 10, 32)
			require.NoError(t, err)
			res.key = uint32(k)
		case wbxml.ProvisionStatus:
			n, _ := strconv.Atoi(s)
			if res.status == 0 {
				res.status = n
			} else {
				res.policyStatus = n
			}
		case wbxml.SettingsStatus:
			res.infoStatus, _ = strconv.Atoi(s)
		}
	}
	return res
}

// TestCorpusProvision replays the captured provisioning of real clients (initial request, then
// the acknowledgement with our temporary key in the client's own place for it) and checks that
// each ends with a final key that admits a FolderSync.
func TestCorpusProvision(t *testing.T) {
	requireCorpus(t)
	cases := []struct {
		dir, initial, ack string
		info              bool
	}{
		{"pyactivesync-live", "01-provision-initial-with-deviceinfo", "02-provision-ack-policykey-in-query", true},
		{"tbsync-live", "02-provision-initial", "03-provision-ack", false},
		{filepath.Join("syncgw-traces", "nine-android-16.1"), "02-provision-initial-with-deviceinfo", "03-provision-ack", true},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(corpusDir, "eas", tc.dir)
			env := newProvEnv(t, eas.TraceOptions{})
			init := parseProvResponse(t, replayCapture(t, env, filepath.Join(dir, tc.initial+".http.txt"), 0))
			assert.Equal(t, 1, init.status)
			assert.Equal(t, 1, init.policyStatus)
			require.NotZero(t, init.key)
			if tc.info {
				assert.Equal(t, 1, init.infoStatus, "DeviceInformation answered")
			}
			ack := parseProvResponse(t, replayCapture(t, env, filepath.Join(dir, tc.ack+".http.txt"), init.key))
			assert.Equal(t, 1, ack.status)
			assert.Equal(t, 1, ack.policyStatus)
			require.NotZero(t, ack.key)
			assert.NotEqual(t, init.key, ack.key)

			line, _ := readCapture(t, filepath.Join(dir, tc.ack+".http.txt"))
			u, err := url.Parse(strings.Fields(line)[1])
			require.NoError(t, err)
			q := u.Query()
			c := env.client(q.Get("DeviceId"), eas.Version161)
			c.DeviceType = q.Get("DeviceType")
			c.PolicyKey, c.HasPolicyKey = ack.key, true
			assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")))
			if tc.info {
				d := env.device(t, q.Get("DeviceId"))
				assert.NotEmpty(t, d.Info.Model, "DeviceInformation stored")
			}
		})
	}
}
