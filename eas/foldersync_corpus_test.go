package eas_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/wbxml"
)

// TestFolderSyncSettingsCorpus replays every captured FolderSync and Settings request of
// ../shared/corpus/eas (Nine at 16.1, the Remote Connectivity Analyzer at 12.0, EAS-4-TbSync
// at 14.0, pyactivesync, a Z-Push issue) with its own query and headers against the real
// commands and store, the user rewritten to the test account and an incremental SyncKey to
// the one this server gave the device. Every answer must be well-formed with every Status 1.
func TestFolderSyncSettingsCorpus(t *testing.T) {
	requireCorpus(t)
	env := newHierEnv(t, openStore(t))
	var files []string
	for _, pat := range []string{"*foldersync*.req.wbxml", "*settings*.req.wbxml"} {
		for _, depth := range []string{"*", filepath.Join("*", "*")} {
			m, err := filepath.Glob(filepath.Join(corpusDir, "eas", depth, pat))
			require.NoError(t, err)
			files = append(files, m...)
		}
	}
	require.GreaterOrEqual(t, len(files), 14, "captured FolderSync and Settings requests")
	for _, f := range files {
		t.Run(strings.TrimPrefix(f, filepath.Join(corpusDir, "eas")+string(filepath.Separator)), func(t *testing.T) {
			body, err := os.ReadFile(f)
			require.NoError(t, err)
			query, hdr := captureRequest(t, strings.TrimSuffix(f, ".req.wbxml")+".http.txt")
			send := func(b []byte) *easclient.Response {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, env.https.URL+eas.Path+"?"+query.Encode(), bytes.NewReader(b))
				require.NoError(t, err)
				for k, vs := range hdr {
					switch k {
					case "Host", "Content-Length", "Connection", "Authorization", "Expect", "Accept-Encoding":
					default:
						req.Header[k] = vs
					}
				}
				req.SetBasicAuth("alice@example.com", "secret")
				resp, err := env.https.Client().Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				rb, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				return &easclient.Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: rb}
			}
			if query.Get("Cmd") == "FolderSync" {
				if old := syncKeyOf(t, body); old != "0" {
					init := parseHierarchy(t, send(folderSyncBody(t, "0")))
					require.Equal(t, 1, init.Status)
					nb := bytes.Replace(body, []byte(old+"\x00"), []byte(init.Key+"\x00"), 1)
					require.NotEqual(t, body, nb, "key %q rewritten", old)
					body = nb
				}
			}
			resp := send(body)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, eas.ContentTypeWBXML, resp.Header.Get("Content-Type"))
			xml, err := resp.XML()
			require.NoError(t, err, "well-formed")
			toks, err := resp.Tokens()
			require.NoError(t, err)
			statuses := 0
			for i, tok := range toks {
				if tok.Kind == wbxml.KindStart && (tok.Tag == wbxml.FolderHierarchyStatus || tok.Tag == wbxml.SettingsStatus) {
					statuses++
					require.Less(t, i+1, len(toks))
					assert.Equal(t, "1", string(toks[i+1].Data), "%s", xml)
				}
			}
			assert.Positive(t, statuses, "%s", xml)
		})
	}
}

// captureRequest returns the query (User rewritten to the test account) and headers of a
// capture's .http.txt; without one, those of a 16.1 Android client.
func captureRequest(t *testing.T, name string) (url.Values, http.Header) {
	t.Helper()
	cmd := "FolderSync"
	if strings.Contains(name, "settings") {
		cmd = "Settings"
	}
	if _, err := os.Stat(name); err != nil {
		return url.Values{"Cmd": {cmd}, "User": {"alice@example.com"}, "DeviceId": {"Corpus0001"}, "DeviceType": {"Android"}},
			http.Header{"Ms-Asprotocolversion": {"16.1"}, "Content-Type": {eas.ContentTypeWBXML}}
	}
	line, hdr := readCapture(t, name)
	_, target, _ := strings.Cut(line, " ")
	target, _, _ = strings.Cut(target, " ")
	_, query, _ := strings.Cut(target, "?")
	vals, err := url.ParseQuery(query)
	require.NoError(t, err)
	require.Equal(t, cmd, vals.Get("Cmd"))
	vals.Set("User", "alice@example.com")
	return vals, hdr
}

// syncKeyOf returns the FolderSync SyncKey of a request body.
func syncKeyOf(t *testing.T, body []byte) string {
	t.Helper()
	dec := wbxml.NewDecoder(body)
	_, err := dec.Expect(wbxml.FolderHierarchyFolderSync)
	require.NoError(t, err)
	_, err = dec.Expect(wbxml.FolderHierarchySyncKey)
	require.NoError(t, err)
	k, err := dec.String()
	require.NoError(t, err)
	return k
}
