package autodiscover_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/autodiscover"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// baseOptions are the options of most tests: HTTPS on 443, IMAPS on the
// main host, submission with STARTTLS on another host, no POP3.
func baseOptions(st *store.Store) autodiscover.Options {
	return autodiscover.Options{
		Hostname:  "mail.example.com",
		IMAP:      &autodiscover.Endpoint{Port: 993, Security: autodiscover.SecurityTLS},
		SMTP:      &autodiscover.Endpoint{Host: "smtp.example.com", Port: 587, Security: autodiscover.SecurityStartTLS},
		Redirects: map[string]string{"old.example.org": "new.example.net"},
		Users:     st,
	}
}

const easURL = "https://mail.example.com/Microsoft-Server-ActiveSync"

// checkMobileSync checks a successful mobilesync answer for addr.
func checkMobileSync(name, addr string) func(t *testing.T, doc *etree.Document) {
	return func(t *testing.T, doc *etree.Document) {
		assert.Equal(t, autodiscover.NSResponse, doc.Root().SelectAttrValue("xmlns", ""))
		resp := doc.FindElement("./Autodiscover/Response")
		require.NotNil(t, resp)
		assert.Equal(t, autodiscover.NSMobileSync, resp.SelectAttrValue("xmlns", ""))
		assert.Nil(t, doc.FindElement("//Error"))
		assert.Equal(t, name, textAt(t, doc, "./Autodiscover/Response/User/DisplayName"))
		assert.Equal(t, addr, textAt(t, doc, "./Autodiscover/Response/User/EMailAddress"))
		servers := doc.FindElements("./Autodiscover/Response/Action/Settings/Server")
		require.Len(t, servers, 1)
		assert.Equal(t, "MobileSync", servers[0].FindElement("Type").Text())
		assert.Equal(t, easURL, servers[0].FindElement("Url").Text())
		assert.Equal(t, easURL, servers[0].FindElement("Name").Text())
	}
}

// checkError checks an Autodiscover error answer in namespace ns.
func checkError(ns string, code int) func(t *testing.T, doc *etree.Document) {
	return func(t *testing.T, doc *etree.Document) {
		resp := doc.FindElement("./Autodiscover/Response")
		require.NotNil(t, resp)
		wantNS := ns
		if ns == autodiscover.NSResponse {
			wantNS = ""
		}
		assert.Equal(t, wantNS, resp.SelectAttrValue("xmlns", ""))
		assert.Equal(t, strconv.Itoa(code), textAt(t, doc, "./Autodiscover/Response/Error/ErrorCode"))
		assert.NotEmpty(t, textAt(t, doc, "./Autodiscover/Response/Error/Message"))
		assert.NotEmpty(t, doc.FindElement("./Autodiscover/Response/Error").SelectAttrValue("Time", ""))
		assert.Nil(t, doc.FindElement("//User"), "an error tells nothing about the user")
		assert.Nil(t, doc.FindElement("//Settings"))
	}
}

// protocol is one Outlook Protocol block, flattened.
type protocol map[string]string

func protocols(doc *etree.Document) map[string]protocol {
	out := map[string]protocol{}
	for _, p := range doc.FindElements("./Autodiscover/Response/Account/Protocol") {
		m := protocol{}
		for _, c := range p.ChildElements() {
			m[c.Tag] = c.Text()
		}
		out[m["Type"]] = m
	}
	return out
}

func checkOutlook(t *testing.T, doc *etree.Document) {
	resp := doc.FindElement("./Autodiscover/Response")
	require.NotNil(t, resp)
	assert.Equal(t, autodiscover.NSOutlook, resp.SelectAttrValue("xmlns", ""))
	assert.Equal(t, "Alice Example", textAt(t, doc, "./Autodiscover/Response/User/DisplayName"))
	assert.Equal(t, "alice@example.com", textAt(t, doc, "./Autodiscover/Response/User/AutoDiscoverSMTPAddress"))
	assert.Equal(t, "email", textAt(t, doc, "./Autodiscover/Response/Account/AccountType"))
	assert.Equal(t, "settings", textAt(t, doc, "./Autodiscover/Response/Account/Action"))
	ps := protocols(doc)
	require.Len(t, ps, 2, "IMAP and SMTP run, POP3 does not")
	assert.Equal(t, protocol{
		"Type": "IMAP", "Server": "mail.example.com", "Port": "993", "DomainRequired": "off",
		"LoginName": "alice@example.com", "SPA": "off", "SSL": "on", "Encryption": "SSL", "AuthRequired": "on",
	}, ps["IMAP"])
	assert.Equal(t, protocol{
		"Type": "SMTP", "Server": "smtp.example.com", "Port": "587", "DomainRequired": "off",
		"LoginName": "alice@example.com", "SPA": "off", "SSL": "on", "Encryption": "TLS", "AuthRequired": "on",
		"UsePOPAuth": "off", "SMTPLast": "off",
	}, ps["SMTP"])
}

func TestPOX(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		seed(t, st)
		guard := &fakeGuard{}
		opts := baseOptions(st)
		opts.Guard = guard
		url, client := serve(t, opts)
		pox := url + "/autodiscover/autodiscover.xml"

		for _, tc := range []struct {
			name        string
			file        string
			addr        string // replaces alice@example.com in the file
			login, pass string
			wantCode    int
			check       func(t *testing.T, doc *etree.Document)
		}{
			{name: "iOS Mail", file: "ios-mail.xml", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkMobileSync("Alice Example", "alice@example.com")},
			{name: "Android Gmail", file: "android-gmail.xml", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkMobileSync("Alice Example", "alice@example.com")},
			{name: "Samsung Email with spaces and upper-case login", file: "samsung-email.xml", login: "Alice@Example.com", pass: password,
				wantCode: 200, check: checkMobileSync("Alice Example", "alice@example.com")},
			{name: "Windows Mail", file: "windows-mail.xml", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkMobileSync("Alice Example", "alice@example.com")},
			{name: "prefixed namespace", file: "prefixed-namespace.xml", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkMobileSync("Alice Example", "alice@example.com")},
			{name: "no namespace", file: "no-namespace.xml", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkMobileSync("Alice Example", "alice@example.com")},
			{name: "DOMAIN backslash user login", file: "ios-mail.xml", login: `EXAMPLE\alice`, pass: password,
				wantCode: 200, check: checkMobileSync("Alice Example", "alice@example.com")},
			{name: "bare user login", file: "android-gmail.xml", login: "alice", pass: password,
				wantCode: 200, check: checkMobileSync("Alice Example", "alice@example.com")},
			{name: "display name falls back to the address", file: "ios-mail.xml", addr: "plain@example.com", login: "plain@example.com", pass: password,
				wantCode: 200, check: checkMobileSync("plain@example.com", "plain@example.com")},
			{name: "Outlook 2016", file: "outlook-2016.xml", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkOutlook},
			{name: "Outlook 2019 mixed-case address", file: "outlook-2019.xml", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkOutlook},
			{name: "malformed truncated", file: "malformed-truncated.xml", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkError(autodiscover.NSMobileSync, 600)},
			{name: "malformed mismatched tags", file: "malformed-mismatched.xml", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkError(autodiscover.NSMobileSync, 600)},
			{name: "not xml", file: "README.md", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkError(autodiscover.NSMobileSync, 600)},
			{name: "wrong root", file: "wrong-root.xml", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkError(autodiscover.NSMobileSync, 600)},
			{name: "no EMailAddress", file: "no-email.xml", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkError(autodiscover.NSMobileSync, 600)},
			{name: "LegacyDN only", file: "legacydn-only.xml", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkError(autodiscover.NSResponse, 600)},
			{name: "no AcceptableResponseSchema", file: "no-acceptable-schema.xml", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkError(autodiscover.NSMobileSync, 600)},
			{name: "unknown AcceptableResponseSchema", file: "wrong-schema.xml", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkError(autodiscover.NSResponse, 601)},
			{name: "invalid address", file: "ios-mail.xml", addr: "not an address", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkError(autodiscover.NSMobileSync, 600)},
			{name: "wrong password", file: "ios-mail.xml", login: "alice@example.com", pass: "wrong", wantCode: 401},
			{name: "missing credentials", file: "ios-mail.xml", wantCode: 401},
			{name: "unknown user", file: "ios-mail.xml", addr: "nobody@example.com", login: "nobody@example.com", pass: password, wantCode: 401},
			{name: "another user's address, mobilesync", file: "ios-mail.xml", addr: "bob@example.com", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkError(autodiscover.NSMobileSync, 600)},
			{name: "another user's address, outlook", file: "outlook-2016.xml", addr: "bob@example.com", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkError(autodiscover.NSResponse, 500)},
			{name: "a non-existent address with valid credentials", file: "ios-mail.xml", addr: "ghost@example.com", login: "alice@example.com", pass: password,
				wantCode: 200, check: checkError(autodiscover.NSMobileSync, 600)},
			{name: "disabled user", file: "ios-mail.xml", addr: "dis@example.com", login: "dis@example.com", pass: password, wantCode: 403},
			{name: "EAS switched off", file: "ios-mail.xml", addr: "noeas@example.com", login: "noeas@example.com", pass: password,
				wantCode: 200, check: checkError(autodiscover.NSMobileSync, 601)},
			{name: "redirect domain, mobilesync", file: "ios-mail.xml", addr: "carol@old.example.org", login: "carol@old.example.org", pass: "elsewhere",
				wantCode: 200, check: func(t *testing.T, doc *etree.Document) {
					assert.Equal(t, "carol@new.example.net", textAt(t, doc, "./Autodiscover/Response/Action/Redirect"))
					assert.Nil(t, doc.FindElement("//Settings"))
					assert.Nil(t, doc.FindElement("//Error"))
				}},
			{name: "redirect domain, outlook", file: "outlook-2016.xml", addr: "Carol@OLD.example.org", login: "carol@old.example.org", pass: "elsewhere",
				wantCode: 200, check: func(t *testing.T, doc *etree.Document) {
					assert.Equal(t, autodiscover.NSOutlook, doc.FindElement("./Autodiscover/Response").SelectAttrValue("xmlns", ""))
					assert.Equal(t, "redirectAddr", textAt(t, doc, "./Autodiscover/Response/Account/Action"))
					assert.Equal(t, "carol@new.example.net", textAt(t, doc, "./Autodiscover/Response/Account/RedirectAddr"))
				}},
			{name: "redirect domain, account already here", file: "ios-mail.xml", addr: "moved@old.example.org", login: "moved@old.example.org", pass: password,
				wantCode: 200, check: checkMobileSync("Moved Already", "moved@old.example.org")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp := post(t, client, pox, tc.login, tc.pass, body(t, tc.file, tc.addr))
				require.Equal(t, tc.wantCode, resp.StatusCode)
				switch tc.wantCode {
				case 200:
					assert.Equal(t, "text/xml; charset=utf-8", resp.Header.Get("Content-Type"))
					tc.check(t, parse(t, resp))
				case 401:
					assert.Equal(t, `Basic realm="easd", charset="UTF-8"`, resp.Header.Get("WWW-Authenticate"))
				}
			})
		}
		guard.mu.Lock()
		defer guard.mu.Unlock()
		assert.ElementsMatch(t, []string{"alice@example.com", "nobody@example.com"}, guard.failed,
			"each wrong password is reported to the throttle, nothing else")
		for _, r := range guard.remotes {
			assert.Equal(t, "127.0.0.1", r.String())
		}
	})
}

func TestPOXThrottled(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		seed(t, st)
		guard := &fakeGuard{blocked: map[string]bool{"alice@example.com": true}}
		opts := baseOptions(st)
		opts.Guard = guard
		url, client := serve(t, opts)

		// Even the right password is refused while throttled, like EAS: 429
		// with Retry-After in whole seconds, rounded up.
		resp := post(t, client, url+"/autodiscover/autodiscover.xml", "alice@example.com", password, body(t, "ios-mail.xml", ""))
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		assert.Equal(t, "62", resp.Header.Get("Retry-After"))

		resp = post(t, client, url+"/autodiscover/autodiscover.xml", "bob@example.com", password, body(t, "ios-mail.xml", "bob@example.com"))
		assert.Equal(t, http.StatusOK, resp.StatusCode, "other accounts are not affected")
	})
}

func TestPOXBodyLimit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		seed(t, st)
		opts := baseOptions(st)
		opts.MaxBodySize = 1024
		url, client := serve(t, opts)
		pox := url + "/autodiscover/autodiscover.xml"

		small := body(t, "ios-mail.xml", "")
		padded := strings.Replace(small, "<Request>", "<Request>"+strings.Repeat(" ", 2048), 1)
		for _, tc := range []struct {
			name     string
			payload  string
			chunked  bool
			wantCode int
		}{
			{name: "under the limit", payload: small, wantCode: 200},
			{name: "Content-Length over the limit", payload: padded, wantCode: 413},
			{name: "chunked over the limit", payload: padded, chunked: true, wantCode: 413},
			{name: "chunked under the limit", payload: small, chunked: true, wantCode: 200},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var r = strings.NewReader(tc.payload)
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, pox, r)
				require.NoError(t, err)
				if tc.chunked {
					req.ContentLength = -1
					req.Body = readerOnly{r}
				}
				req.SetBasicAuth("alice@example.com", password)
				resp, err := client.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				assert.Equal(t, tc.wantCode, resp.StatusCode)
			})
		}
	})
}

// readerOnly hides the length of a reader so the request is chunked.
type readerOnly struct{ r *strings.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r readerOnly) Close() error               { return nil }

func TestPOXOutlookWithoutIncomingListener(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		seed(t, st)
		opts := baseOptions(st)
		opts.IMAP = nil // only SMTP runs: nothing Outlook could receive with
		url, client := serve(t, opts)
		resp := post(t, client, url+"/autodiscover/autodiscover.xml", "alice@example.com", password, body(t, "outlook-2016.xml", ""))
		require.Equal(t, 200, resp.StatusCode)
		checkError(autodiscover.NSResponse, 601)(t, parse(t, resp))

		// Phones are unaffected: EAS runs on the HTTPS listener.
		resp = post(t, client, url+"/autodiscover/autodiscover.xml", "alice@example.com", password, body(t, "ios-mail.xml", ""))
		require.Equal(t, 200, resp.StatusCode)
		checkMobileSync("Alice Example", "alice@example.com")(t, parse(t, resp))
	})
}

func TestPOXOutlookUserProtocols(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		seed(t, st)
		off := false
		_, err := st.SetProtocols(t.Context(), "alice@example.com", store.ProtocolsUpdate{SMTP: &off})
		require.NoError(t, err)
		opts := baseOptions(st)
		opts.POP3 = &autodiscover.Endpoint{Port: 995, Security: autodiscover.SecurityTLS}
		url, client := serve(t, opts)
		resp := post(t, client, url+"/autodiscover/autodiscover.xml", "alice@example.com", password, body(t, "outlook-2016.xml", ""))
		require.Equal(t, 200, resp.StatusCode)
		ps := protocols(parse(t, resp))
		assert.Contains(t, ps, "IMAP")
		assert.Equal(t, "995", ps["POP3"]["Port"])
		assert.NotContains(t, ps, "SMTP", "the user may not submit mail")
	})
}

func TestPOXPlainHTTPRefused(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		seed(t, st)
		e := newEcho(autodiscover.New(baseOptions(st)))
		srv := newPlainServer(t, e)
		resp := post(t, srv.Client(), srv.URL+"/autodiscover/autodiscover.xml", "alice@example.com", password, body(t, "ios-mail.xml", ""))
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		resp = post(t, srv.Client(), srv.URL+"/autodiscover/autodiscover.xml", "", "", body(t, "ios-mail.xml", ""))
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "no challenge that invites a password in clear text")
	})
}
