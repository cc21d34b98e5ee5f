package autodiscover_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/autodiscover"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

func TestJSON(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		seed(t, st)
		base, client := serve(t, baseOptions(st))
		for _, tc := range []struct {
			name     string
			path     string
			wantCode int
			want     map[string]string
		}{
			{name: "ActiveSync by query", path: "/autodiscover/autodiscover.json?Email=alice%40example.com&Protocol=ActiveSync&RedirectCount=1",
				wantCode: 200, want: map[string]string{"Protocol": "ActiveSync", "Url": easURL}},
			{name: "ActiveSync by path", path: "/autodiscover/autodiscover.json/v1.0/alice@example.com?Protocol=ActiveSync",
				wantCode: 200, want: map[string]string{"Protocol": "ActiveSync", "Url": easURL}},
			{name: "escaped address in the path", path: "/autodiscover/autodiscover.json/v1.0/alice%40example.com?Protocol=activesync",
				wantCode: 200, want: map[string]string{"Protocol": "ActiveSync", "Url": easURL}},
			{name: "AutodiscoverV1", path: "/autodiscover/autodiscover.json/v1.0/alice@example.com?Protocol=AutodiscoverV1",
				wantCode: 200, want: map[string]string{"Protocol": "AutodiscoverV1", "Url": "https://mail.example.com/autodiscover/autodiscover.xml"}},
			{name: "lower-case parameter names", path: "/autodiscover/autodiscover.json?email=alice%40example.com&protocol=ActiveSync",
				wantCode: 200, want: map[string]string{"Protocol": "ActiveSync", "Url": easURL}},
			{name: "unknown address answers the same", path: "/autodiscover/autodiscover.json?Email=nobody%40example.com&Protocol=ActiveSync",
				wantCode: 200, want: map[string]string{"Protocol": "ActiveSync", "Url": easURL}},
			{name: "unknown protocol", path: "/autodiscover/autodiscover.json?Email=alice%40example.com&Protocol=Ews",
				wantCode: 400, want: map[string]string{"ErrorCode": "InvalidProtocol",
					"ErrorMessage": "The given protocol value 'Ews' is invalid. Supported values are 'ActiveSync,AutodiscoverV1'"}},
			{name: "no protocol", path: "/autodiscover/autodiscover.json/v1.0/alice@example.com",
				wantCode: 400, want: map[string]string{"ErrorCode": "InvalidProtocol",
					"ErrorMessage": "The given protocol value '' is invalid. Supported values are 'ActiveSync,AutodiscoverV1'"}},
			{name: "invalid address", path: "/autodiscover/autodiscover.json?Email=alice&Protocol=ActiveSync",
				wantCode: 400, want: map[string]string{"ErrorCode": "InvalidUser", "ErrorMessage": "The given email address is invalid."}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp := get(t, client, base+tc.path)
				require.Equal(t, tc.wantCode, resp.StatusCode)
				assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				var got map[string]string
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
				assert.Equal(t, tc.want, got)
			})
		}
	})
}

// autoconfigServers flattens the servers of a clientConfig: "imap", "pop3",
// "smtp" to their children.
func autoconfigServers(t *testing.T, resp *http.Response) (domain string, servers map[string]map[string]string) {
	t.Helper()
	doc := parse(t, resp)
	require.Equal(t, "1.1", doc.Root().SelectAttrValue("version", ""))
	prov := doc.FindElement("./clientConfig/emailProvider")
	require.NotNil(t, prov)
	servers = map[string]map[string]string{}
	for _, s := range append(prov.SelectElements("incomingServer"), prov.SelectElements("outgoingServer")...) {
		m := map[string]string{}
		for _, c := range s.ChildElements() {
			m[c.Tag] = c.Text()
		}
		servers[s.SelectAttrValue("type", "")] = m
	}
	assert.Equal(t, prov.SelectAttrValue("id", ""), prov.SelectElement("domain").Text())
	return prov.SelectElement("domain").Text(), servers
}

func TestAutoconfig(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		seed(t, st)
		imap := map[string]string{"hostname": "mail.example.com", "port": "993", "socketType": "SSL",
			"username": "%EMAILADDRESS%", "authentication": "password-cleartext"}
		pop3 := map[string]string{"hostname": "pop.example.com", "port": "110", "socketType": "STARTTLS",
			"username": "%EMAILADDRESS%", "authentication": "password-cleartext"}
		smtp := map[string]string{"hostname": "smtp.example.com", "port": "587", "socketType": "STARTTLS",
			"username": "%EMAILADDRESS%", "authentication": "password-cleartext"}
		for _, tc := range []struct {
			name     string
			imap     *autodiscover.Endpoint
			pop3     *autodiscover.Endpoint
			smtp     *autodiscover.Endpoint
			path     string
			wantCode int
			want     map[string]map[string]string
		}{
			{name: "IMAP and SMTP", path: "/mail/config-v1.1.xml?emailaddress=alice%40example.com",
				imap:     &autodiscover.Endpoint{Port: 993, Security: autodiscover.SecurityTLS},
				smtp:     &autodiscover.Endpoint{Host: "smtp.example.com", Port: 587, Security: autodiscover.SecurityStartTLS},
				wantCode: 200, want: map[string]map[string]string{"imap": imap, "smtp": smtp}},
			{name: "well-known path, all three", path: "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.com",
				imap:     &autodiscover.Endpoint{Port: 993, Security: autodiscover.SecurityTLS},
				pop3:     &autodiscover.Endpoint{Host: "pop.example.com", Port: 110, Security: autodiscover.SecurityStartTLS},
				smtp:     &autodiscover.Endpoint{Host: "smtp.example.com", Port: 587, Security: autodiscover.SecurityStartTLS},
				wantCode: 200, want: map[string]map[string]string{"imap": imap, "pop3": pop3, "smtp": smtp}},
			{name: "POP3 only", path: "/mail/config-v1.1.xml?emailaddress=alice%40example.com",
				pop3:     &autodiscover.Endpoint{Host: "pop.example.com", Port: 110, Security: autodiscover.SecurityStartTLS},
				wantCode: 200, want: map[string]map[string]string{"pop3": pop3}},
			{name: "Nine's path", path: "/v1.1/mail/config-v1.1.xml?emailaddress=alice%40example.com",
				imap:     &autodiscover.Endpoint{Port: 993, Security: autodiscover.SecurityTLS},
				wantCode: 200, want: map[string]map[string]string{"imap": imap}},
			{name: "no listeners", path: "/mail/config-v1.1.xml?emailaddress=alice%40example.com", wantCode: 404},
			{name: "SMTP only", path: "/mail/config-v1.1.xml?emailaddress=alice%40example.com",
				smtp:     &autodiscover.Endpoint{Host: "smtp.example.com", Port: 587, Security: autodiscover.SecurityStartTLS},
				wantCode: 404},
			{name: "no address", path: "/mail/config-v1.1.xml",
				imap:     &autodiscover.Endpoint{Port: 993, Security: autodiscover.SecurityTLS},
				wantCode: 400},
		} {
			t.Run(tc.name, func(t *testing.T) {
				opts := baseOptions(st)
				opts.IMAP, opts.POP3, opts.SMTP = tc.imap, tc.pop3, tc.smtp
				base, client := serve(t, opts)
				resp := get(t, client, base+tc.path)
				require.Equal(t, tc.wantCode, resp.StatusCode)
				if tc.wantCode != 200 {
					return
				}
				domain, servers := autoconfigServers(t, resp)
				assert.Equal(t, "example.com", domain)
				assert.Equal(t, tc.want, servers)
			})
		}
	})
}

// TestOptionsChangeAnswers configures two different sets of listeners and
// checks that every mechanism reports exactly what is configured.
func TestOptionsChangeAnswers(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		seed(t, st)
		for _, tc := range []struct {
			name     string
			opts     autodiscover.Options
			easURL   string
			profHost string
			imapHost string
			imapPort string
			imapEnc  string
		}{
			{
				name: "port 443",
				opts: autodiscover.Options{Hostname: "mx1.example.com", Port: 443, Users: st,
					IMAP: &autodiscover.Endpoint{Port: 993, Security: autodiscover.SecurityTLS}},
				easURL: "https://mx1.example.com/Microsoft-Server-ActiveSync", profHost: "mx1.example.com",
				imapHost: "mx1.example.com", imapPort: "993", imapEnc: "SSL",
			},
			{
				name: "other host and ports",
				opts: autodiscover.Options{Hostname: "eas.example.net", Port: 8443, Users: st,
					IMAP: &autodiscover.Endpoint{Host: "imap.example.net", Port: 1143, Security: autodiscover.SecurityStartTLS}},
				easURL: "https://eas.example.net:8443/Microsoft-Server-ActiveSync", profHost: "eas.example.net:8443",
				imapHost: "imap.example.net", imapPort: "1143", imapEnc: "TLS",
			},
			{
				name: "IPv6 literal",
				opts: autodiscover.Options{Hostname: "2001:db8::1", Port: 8443, Users: st,
					IMAP: &autodiscover.Endpoint{Port: 993, Security: autodiscover.SecurityTLS}},
				easURL: "https://[2001:db8::1]:8443/Microsoft-Server-ActiveSync", profHost: "[2001:db8::1]:8443",
				imapHost: "2001:db8::1", imapPort: "993", imapEnc: "SSL",
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				base, client := serve(t, tc.opts)

				resp := post(t, client, base+"/autodiscover/autodiscover.xml", "alice@example.com", password, body(t, "ios-mail.xml", ""))
				require.Equal(t, 200, resp.StatusCode)
				doc := parse(t, resp)
				assert.Equal(t, tc.easURL, textAt(t, doc, "./Autodiscover/Response/Action/Settings/Server/Url"))

				resp = post(t, client, base+"/autodiscover/autodiscover.xml", "alice@example.com", password, body(t, "outlook-2016.xml", ""))
				require.Equal(t, 200, resp.StatusCode)
				ps := protocols(parse(t, resp))
				require.Len(t, ps, 1, "only IMAP is configured")
				assert.Equal(t, tc.imapHost, ps["IMAP"]["Server"])
				assert.Equal(t, tc.imapPort, ps["IMAP"]["Port"])
				assert.Equal(t, tc.imapEnc, ps["IMAP"]["Encryption"])

				resp = get(t, client, base+"/autodiscover/autodiscover.json?Email=alice%40example.com&Protocol=ActiveSync")
				var v2 map[string]string
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&v2))
				assert.Equal(t, tc.easURL, v2["Url"])

				resp = get(t, client, base+"/mail/config-v1.1.xml?emailaddress=alice%40example.com")
				require.Equal(t, 200, resp.StatusCode)
				_, servers := autoconfigServers(t, resp)
				require.Len(t, servers, 1)
				assert.Equal(t, tc.imapHost, servers["imap"]["hostname"])
				assert.Equal(t, tc.imapPort, servers["imap"]["port"])

				u, err := st.UserByAddress(t.Context(), "alice@example.com")
				require.NoError(t, err)
				prof, err := autodiscover.New(tc.opts).Profile(u)
				require.NoError(t, err)
				eas := easPayload(t, prof)
				assert.Equal(t, tc.profHost, eas["Host"].Text())
			})
		}
	})
}

func TestPathCaseInsensitive(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		seed(t, st)
		base, client := serve(t, baseOptions(st))
		for _, p := range []string{"/Autodiscover/Autodiscover.xml", "/AUTODISCOVER/AUTODISCOVER.XML", "/autodiscover/autodiscover.xml"} {
			t.Run("POST "+p, func(t *testing.T) {
				resp := post(t, client, base+p, "alice@example.com", password, body(t, "ios-mail.xml", ""))
				require.Equal(t, 200, resp.StatusCode)
				checkMobileSync("Alice Example", "alice@example.com")(t, parse(t, resp))
			})
		}
		for _, p := range []string{
			"/Autodiscover/Autodiscover.json?Email=alice%40example.com&Protocol=ActiveSync",
			"/AutoDiscover/AutoDiscover.json/V1.0/Alice%40Example.com?Protocol=ActiveSync",
			"/Mail/Config-v1.1.xml?emailaddress=alice%40example.com",
			"/.Well-Known/Autoconfig/Mail/config-v1.1.xml?emailaddress=alice%40example.com",
		} {
			t.Run("GET "+p, func(t *testing.T) {
				resp := get(t, client, base+p)
				assert.Equal(t, 200, resp.StatusCode)
			})
		}
		t.Run("other routes keep case-sensitive matching", func(t *testing.T) {
			assert.Equal(t, 200, get(t, client, base+"/healthz").StatusCode)
			assert.Equal(t, 404, get(t, client, base+"/HEALTHZ").StatusCode)
			assert.Equal(t, 404, get(t, client, base+"/Autodiscover/Other.xml").StatusCode)
		})
		t.Run("GET on the POX path", func(t *testing.T) {
			resp := get(t, client, base+"/Autodiscover/Autodiscover.xml")
			_, _ = io.Copy(io.Discard, resp.Body)
			assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		})
		t.Run("query escapes survive", func(t *testing.T) {
			q := url.Values{"Email": {"alice@example.com"}, "Protocol": {"AutodiscoverV1"}}
			resp := get(t, client, base+"/AUTODISCOVER/autodiscover.json?"+q.Encode())
			require.Equal(t, 200, resp.StatusCode)
		})
	})
}
