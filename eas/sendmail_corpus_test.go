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
	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// TestMailCorpusReplay replays every captured Ping, ItemOperations and SendMail request of
// ../shared/corpus/eas (Nine at 16.1, a Nacho Mail issue) with its own query and headers
// against the real commands and store, as the captured user (t1@mail.fd for Nine). Every
// answer must be well-formed: SendMail succeeds (empty 200) and queues the message for its
// external recipient; Ping and ItemOperations answer a status of their command (the captured
// folder ids and FileReferences are not this store's, so Ping asks for a FolderSync (7) or
// rejects the interval (5) and the Fetches find nothing (15), at once).
func TestMailCorpusReplay(t *testing.T) {
	requireCorpus(t)
	st := openStore(t)
	env := newMailEnv(t, st)
	_, err := st.CreateUser(t.Context(), store.NewUser{Address: "t1@mail.fd", Password: "secret"})
	require.NoError(t, err)
	var files []string
	for _, pat := range []string{"*ping*.req.wbxml", "*itemoperations*.req.wbxml", "*sendmail*.req.wbxml"} {
		for _, depth := range []string{"*", filepath.Join("*", "*")} {
			m, err := filepath.Glob(filepath.Join(corpusDir, "eas", depth, pat))
			require.NoError(t, err)
			files = append(files, m...)
		}
	}
	require.GreaterOrEqual(t, len(files), 7, "captured Ping, ItemOperations and SendMail requests")
	for _, f := range files {
		t.Run(strings.TrimPrefix(f, filepath.Join(corpusDir, "eas")+string(filepath.Separator)), func(t *testing.T) {
			body, err := os.ReadFile(f)
			require.NoError(t, err)
			cmd := "Ping"
			switch {
			case strings.Contains(f, "itemoperations"):
				cmd = "ItemOperations"
			case strings.Contains(f, "sendmail"):
				cmd = "SendMail"
			}
			user := "alice@example.com"
			query := "Cmd=" + cmd + "&User=" + user + "&DeviceId=Corpus0001&DeviceType=Android"
			hdr := http.Header{"Ms-Asprotocolversion": {"16.1"}}
			if capt := strings.TrimSuffix(f, ".req.wbxml") + ".http.txt"; fileExists(capt) {
				line, h := readCapture(t, capt)
				_, target, _ := strings.Cut(line, " ")
				target, _, _ = strings.Cut(target, " ")
				_, query, _ = strings.Cut(target, "?")
				hdr = h
				vals, err := url.ParseQuery(query)
				require.NoError(t, err)
				// The SendMail capture's MIME is From t1@mail.fd: send as that account so
				// it is not refused as spoofed; the rest run as the test account.
				if vals.Get("User") == "t1@mail.fd" {
					user = "t1@mail.fd"
				}
				vals.Set("User", user)
				query = vals.Encode()
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, env.https.URL+eas.Path+"?"+query, bytes.NewReader(body))
			require.NoError(t, err)
			for k, vs := range hdr {
				switch k {
				case "Host", "Content-Length", "Connection", "Authorization", "Expect", "Accept-Encoding", "X-Ms-Policykey":
				default:
					req.Header[k] = vs
				}
			}
			req.Header.Set("Content-Type", eas.ContentTypeWBXML)
			req.SetBasicAuth(user, "secret")
			resp, err := env.https.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			rb, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			r := &easclient.Response{Body: rb}
			switch cmd {
			case "SendMail":
				assert.Empty(t, rb, "SendMail succeeds with an empty response")
				q, err := st.OutboundQueue(t.Context(), 0)
				require.NoError(t, err)
				require.NotEmpty(t, q)
				assert.Equal(t, user, q[len(q)-1].EnvelopeFrom)
			case "Ping":
				_, err := r.XML()
				require.NoError(t, err, "well-formed")
				n, err := r.Status(wbxml.PingStatus)
				require.NoError(t, err)
				assert.Contains(t, []int{5, 7}, n)
			case "ItemOperations":
				_, err := r.XML()
				require.NoError(t, err, "well-formed")
				toks, err := r.Tokens()
				require.NoError(t, err)
				var statuses []string
				for i, tok := range toks {
					if tok.Kind == wbxml.KindStart && tok.Tag == wbxml.ItemOperationsStatus {
						statuses = append(statuses, string(toks[i+1].Data))
					}
				}
				assert.Equal(t, []string{"1", "15"}, statuses)
			}
		})
	}
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}
