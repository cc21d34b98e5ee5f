package eas_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "easd.db"), store.Options{KDF: store.TestKDF})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	require.NoError(t, st.Migrate(t.Context()))
	return st
}

// TestRealStore runs the account checks against the real store on SQLite.
func TestRealStore(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx := t.Context()
	_, err := st.CreateUser(ctx, store.NewUser{Address: "alice@example.com", DisplayName: "Alice", Password: "secret"})
	require.NoError(t, err)
	env := newEnv(t, st)

	c := env.client("alice@example.com")
	opt, err := c.Options(ctx)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, opt.StatusCode)
	assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, c, "0")))
	r := <-env.seen
	assert.Equal(t, "alice@example.com", r.Account.Address)
	assert.NotZero(t, r.Account.Mailbox)

	bare := env.client("alice")
	assert.Equal(t, 1, folderSyncStatus(t, folderSync(t, bare, "0")))
	<-env.seen

	bad := env.client("alice@example.com")
	bad.Password = "wrong"
	assert.Equal(t, http.StatusUnauthorized, folderSync(t, bad, "0").StatusCode)
	nobody := env.client("nobody@example.com")
	assert.Equal(t, http.StatusUnauthorized, folderSync(t, nobody, "0").StatusCode)

	off := false
	_, err = st.SetProtocols(ctx, "alice@example.com", store.ProtocolsUpdate{EAS: &off})
	require.NoError(t, err)
	assert.Equal(t, int(eas.StatusUserDisabledForSync), folderSyncStatus(t, folderSync(t, c, "0")))
	c.Version = eas.Version121
	assert.Equal(t, http.StatusForbidden, folderSync(t, c, "0").StatusCode)

	require.NoError(t, st.SetDisabled(ctx, "alice@example.com", true))
	c.Version = eas.Version161
	assert.Equal(t, int(eas.StatusAccountDisabled), folderSyncStatus(t, folderSync(t, c, "0")))
	opt, err = c.Options(ctx)
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, opt.StatusCode)
}

// TestCorpusReplay sends every captured POST of ../shared/corpus/eas that has its body, with
// its own query and headers (credentials and User rewritten to the test account), to a server
// whose handlers accept every command: each must get through parsing, authentication, the
// version check and the WBXML check to the handler of its command.
func TestCorpusReplay(t *testing.T) {
	requireCorpus(t)
	env := newEnv(t, newFakeAuth(), func(o *eas.Options) { o.MaxBodySize = 0 })
	seen := make(chan eas.CommandCode, 1)
	for code := range eas.CommandCode(255) {
		if !code.Valid() || code == eas.CmdFolderSync || code == eas.CmdPing {
			continue
		}
		env.srv.Handle(eas.Command{Code: code, Handler: func(_ context.Context, r *eas.Request, dec *wbxml.Decoder, _ *wbxml.Encoder) error {
			seen <- r.Cmd
			return nil
		}})
	}
	files, err := filepath.Glob(filepath.Join(corpusDir, "eas", "*", "*.http.txt"))
	require.NoError(t, err)
	more, err := filepath.Glob(filepath.Join(corpusDir, "eas", "*", "*", "*.http.txt"))
	require.NoError(t, err)
	n := 0
	for _, f := range append(files, more...) {
		line, hdr := readCapture(t, f)
		method, target, _ := strings.Cut(line, " ")
		target, _, _ = strings.Cut(target, " ")
		_, query, _ := strings.Cut(target, "?")
		body, err := os.ReadFile(strings.TrimSuffix(f, ".http.txt") + ".req.wbxml")
		if method != http.MethodPost || query == "" || err != nil {
			continue
		}
		n++
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			vals, err := url.ParseQuery(query)
			require.NoError(t, err)
			vals.Set("User", "alice@example.com")
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
				env.https.URL+eas.Path+"?"+vals.Encode(), bytes.NewReader(body))
			require.NoError(t, err)
			for k, vs := range hdr {
				switch k {
				case "Host", "Content-Length", "Connection", "Authorization", "Expect":
				default:
					req.Header[k] = vs
				}
			}
			req.SetBasicAuth("alice@example.com", "secret")
			resp, err := env.https.Client().Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			var got eas.CommandCode
			select {
			case got = <-seen:
			case r := <-env.seen:
				got = r.Cmd
			}
			assert.Equal(t, vals.Get("Cmd"), got.String())
		})
	}
	require.Greater(t, n, 20, "captured POSTs with bodies")
}
