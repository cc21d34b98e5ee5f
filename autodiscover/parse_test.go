package autodiscover_test

import (
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/autodiscover"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestParseRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		in       string
		want     autodiscover.Request
		wantCode autodiscover.ErrorCode
	}{
		{name: "mobilesync", in: `<Autodiscover xmlns="` + autodiscover.NSMobileSyncRequest + `"><Request><EMailAddress>a@b.example</EMailAddress><AcceptableResponseSchema>` + autodiscover.NSMobileSync + `</AcceptableResponseSchema></Request></Autodiscover>`,
			want: autodiscover.Request{Namespace: autodiscover.NSMobileSyncRequest, EMailAddress: "a@b.example", AcceptableResponseSchema: autodiscover.NSMobileSync}},
		{name: "both EMailAddress and LegacyDN", in: `<?xml version="1.0"?><Autodiscover xmlns="` + autodiscover.NSOutlookRequest + `"><Request><LegacyDN>/o=x/cn=a</LegacyDN><EMailAddress>a@b.example</EMailAddress><AcceptableResponseSchema>` + autodiscover.NSOutlook + `</AcceptableResponseSchema></Request></Autodiscover>`,
			want: autodiscover.Request{Namespace: autodiscover.NSOutlookRequest, EMailAddress: "a@b.example", LegacyDN: "/o=x/cn=a", AcceptableResponseSchema: autodiscover.NSOutlook}},
		{name: "whitespace trimmed", in: "<Autodiscover><Request>\n<EMailAddress>\n a@b.example\n</EMailAddress></Request></Autodiscover>",
			want: autodiscover.Request{EMailAddress: "a@b.example"}},
		{name: "empty body", in: "", wantCode: 600},
		{name: "text", in: "hello", wantCode: 600},
		{name: "unclosed", in: "<Autodiscover><Request><EMailAddress>a@b.example", wantCode: 600},
		{name: "wrong root", in: "<Request><EMailAddress>a@b.example</EMailAddress></Request>", wantCode: 600},
		{name: "no Request", in: "<Autodiscover><EMailAddress>a@b.example</EMailAddress></Autodiscover>", wantCode: 600},
		{name: "empty EMailAddress", in: "<Autodiscover><Request><EMailAddress> </EMailAddress></Request></Autodiscover>", wantCode: 600},
		{name: "two roots", in: "<Autodiscover/><Autodiscover/>", wantCode: 600},
		{name: "entity not defined", in: "<Autodiscover><Request><EMailAddress>&xxe;</EMailAddress></Request></Autodiscover>", wantCode: 600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := autodiscover.ParseRequest([]byte(tc.in))
			if tc.wantCode != 0 {
				rerr, ok := errors.AsType[*autodiscover.RequestError](err)
				require.True(t, ok, "err = %v", err)
				assert.Equal(t, tc.wantCode, rerr.Code)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestParseTruncations feeds every prefix of every fixture: each is either a
// request or a clean *RequestError.
func TestParseTruncations(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for i := range len(b) {
			_, err := autodiscover.ParseRequest(b[:i])
			if err != nil {
				_, ok := errors.AsType[*autodiscover.RequestError](err)
				require.True(t, ok, "%s[:%d]: %v", f, i, err)
			}
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	require.NoError(f, err)
	for _, name := range files {
		b, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := autodiscover.ParseRequest(in)
		if err != nil {
			rerr, ok := errors.AsType[*autodiscover.RequestError](err)
			require.True(t, ok, "err = %v", err)
			require.Equal(t, autodiscover.ErrorInvalidRequest, rerr.Code)
			return
		}
		require.NotEmpty(t, r.EMailAddress)
		require.Equal(t, strings.TrimSpace(r.EMailAddress), r.EMailAddress)
		again, err := autodiscover.ParseRequest(in)
		require.NoError(t, err)
		require.Equal(t, r, again)
	})
}

// TestCorpusRemoteConnectivityAnalyzer replays the request bodies the
// Microsoft Remote Connectivity Analyzer sent (shared corpus, read at run
// time) against the real store, logging in as it did, with DOMAIN\user.
func TestCorpusRemoteConnectivityAnalyzer(t *testing.T) {
	dir := filepath.Join(storetest.Corpus(t, 1), "eas", "syncgw-traces")
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		_, err := st.CreateUser(t.Context(), store.NewUser{Address: "t1@dyn.wb28.de", DisplayName: "t1", Password: password})
		require.NoError(t, err)
		opts := baseOptions(st)
		base, client := serve(t, opts)
		for _, tc := range []struct {
			file   string
			schema string
		}{
			{"ms-rca-12.0/33-autodiscover-mobilesync.req.xml", autodiscover.NSMobileSync},
			{"outlook2013-rca/39-autodiscover-outlook.req.xml", autodiscover.NSOutlook},
			{"outlook2013-rca/40-autodiscover-outlook-b.req.xml", autodiscover.NSOutlook},
		} {
			t.Run(tc.file, func(t *testing.T) {
				b, err := os.ReadFile(filepath.Join(dir, tc.file))
				if errors.Is(err, os.ErrNotExist) {
					t.Skipf("corpus file %s absent", tc.file)
				}
				require.NoError(t, err)
				r, err := autodiscover.ParseRequest(b)
				require.NoError(t, err)
				assert.Equal(t, "t1@dyn.wb28.de", r.EMailAddress)
				assert.Equal(t, tc.schema, r.AcceptableResponseSchema)

				resp := post(t, client, base+"/Autodiscover/Autodiscover.xml", `tst\t1`, password, string(b))
				require.Equal(t, 200, resp.StatusCode)
				doc := parse(t, resp)
				assert.Equal(t, tc.schema, doc.FindElement("./Autodiscover/Response").SelectAttrValue("xmlns", ""))
				assert.Nil(t, doc.FindElement("//Error"))
				if tc.schema == autodiscover.NSMobileSync {
					assert.Equal(t, easURL, textAt(t, doc, "./Autodiscover/Response/Action/Settings/Server/Url"))
				} else {
					assert.Equal(t, "t1@dyn.wb28.de", protocols(doc)["IMAP"]["LoginName"])
				}
			})
		}
	})
}

// xmlRequest is the baseline for BenchmarkParseRequest: encoding/xml into a
// struct, which does not accept prefixes or check the root the same way.
type xmlRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string
		LegacyDN                 string
		AcceptableResponseSchema string
	}
}

func BenchmarkParseRequest(b *testing.B) {
	for _, name := range []string{"ios-mail.xml", "outlook-2019.xml"} {
		in, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(b, err)
		b.Run(name+"/etree", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := autodiscover.ParseRequest(in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/encoding-xml", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				var r xmlRequest
				if err := xml.Unmarshal(in, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkProfile(b *testing.B) {
	s := autodiscover.New(autodiscover.Options{Hostname: "mail.example.com", Users: nopUsers{}})
	u := store.User{Address: "alice@example.com", DisplayName: "Alice", Protocols: store.Protocols{EAS: true}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Profile(u); err != nil {
			b.Fatal(err)
		}
	}
}
