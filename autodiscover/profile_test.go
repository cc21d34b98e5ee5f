package autodiscover_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"regexp"
	"testing"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/autodiscover"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// plistDict maps the keys of a plist <dict> element to their value
// elements.
func plistDict(t *testing.T, dict *etree.Element) map[string]*etree.Element {
	t.Helper()
	require.Equal(t, "dict", dict.Tag)
	out := map[string]*etree.Element{}
	children := dict.ChildElements()
	require.Zero(t, len(children)%2, "a dict alternates key and value")
	for i := 0; i < len(children); i += 2 {
		require.Equal(t, "key", children[i].Tag)
		out[children[i].Text()] = children[i+1]
	}
	return out
}

// easPayload returns the single com.apple.eas.account payload of a profile.
func easPayload(t *testing.T, prof []byte) map[string]*etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(prof))
	top := plistDict(t, doc.FindElement("./plist/dict"))
	content := top["PayloadContent"]
	require.NotNil(t, content)
	require.Len(t, content.ChildElements(), 1)
	return plistDict(t, content.ChildElements()[0])
}

var upperUUID = regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)

// TestProfilePlist parses the profile with Python's plistlib, an
// independent property list reader, and checks the payload.
func TestProfilePlist(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: the property list check needs its plistlib")
	}
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		seed(t, st)
		opts := baseOptions(st)
		opts.Port = 8443
		opts.Organization = "Example Corp"
		base, client := serve(t, opts)

		req := get(t, client, base+"/autodiscover/easd.mobileconfig")
		require.Equal(t, 401, req.StatusCode)

		resp := getAuth(t, client, base+"/Autodiscover/easd.mobileconfig", "alice@example.com", password)
		require.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "application/x-apple-aspen-config", resp.Header.Get("Content-Type"))
		assert.Equal(t, `attachment; filename="mail.example.com.mobileconfig"`, resp.Header.Get("Content-Disposition"))
		prof, err := io.ReadAll(resp.Body)
		require.NoError(t, err)

		cmd := exec.CommandContext(t.Context(), py, "-c",
			"import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))")
		cmd.Stdin = bytes.NewReader(prof)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "plistlib: %s\nprofile:\n%s", stderr.String(), prof)

		var top map[string]any
		require.NoError(t, json.Unmarshal(out, &top))
		assert.Equal(t, "Configuration", top["PayloadType"])
		assert.Equal(t, float64(1), top["PayloadVersion"])
		assert.Equal(t, "Example Corp", top["PayloadOrganization"])
		assert.Equal(t, "Alice Example (Example Corp)", top["PayloadDisplayName"])
		assert.Equal(t, false, top["PayloadRemovalDisallowed"])
		assert.Regexp(t, upperUUID, top["PayloadUUID"])
		assert.Regexp(t, `^com\.example\.mail\.easd\.[0-9a-f-]{36}$`, top["PayloadIdentifier"])

		content, ok := top["PayloadContent"].([]any)
		require.True(t, ok)
		require.Len(t, content, 1)
		eas, ok := content[0].(map[string]any)
		require.True(t, ok)
		assert.Equal(t, "com.apple.eas.account", eas["PayloadType"])
		assert.Equal(t, float64(1), eas["PayloadVersion"])
		assert.Regexp(t, upperUUID, eas["PayloadUUID"])
		assert.NotEqual(t, top["PayloadUUID"], eas["PayloadUUID"])
		assert.Equal(t, top["PayloadIdentifier"].(string)+".eas", eas["PayloadIdentifier"])
		assert.Equal(t, "mail.example.com:8443", eas["Host"])
		assert.Equal(t, true, eas["SSL"])
		assert.Equal(t, "alice@example.com", eas["EmailAddress"])
		assert.Equal(t, "alice@example.com", eas["UserName"])
		assert.NotContains(t, eas, "Password", "the device asks for the password")
		assert.NotContains(t, string(prof), password)
	})
}

func TestProfileStableUUIDs(t *testing.T) {
	alice := store.User{Address: "alice@example.com", DisplayName: "Alice", Protocols: store.Protocols{EAS: true}}
	bob := store.User{Address: "bob@example.com", Protocols: store.Protocols{EAS: true}}
	svc := func(host string) *autodiscover.Service {
		return autodiscover.New(autodiscover.Options{Hostname: host, Users: nopUsers{}})
	}
	ids := func(prof []byte) [3]string {
		doc := etree.NewDocument()
		require.NoError(t, doc.ReadFromBytes(prof))
		top := plistDict(t, doc.FindElement("./plist/dict"))
		eas := easPayload(t, prof)
		return [3]string{top["PayloadUUID"].Text(), top["PayloadIdentifier"].Text(), eas["PayloadUUID"].Text()}
	}
	profile := func(s *autodiscover.Service, u store.User) []byte {
		b, err := s.Profile(u)
		require.NoError(t, err)
		return b
	}
	a1 := profile(svc("mail.example.com"), alice)
	a2 := profile(svc("mail.example.com"), alice)
	assert.Equal(t, a1, a2, "the same user and host give the same profile")

	renamed := alice
	renamed.DisplayName = "Alice Renamed"
	assert.Equal(t, ids(a1), ids(profile(svc("mail.example.com"), renamed)),
		"identifiers do not depend on the display name, so the new profile replaces the old")
	assert.NotEqual(t, ids(a1), ids(profile(svc("mail.example.com"), bob)))
	assert.NotEqual(t, ids(a1), ids(profile(svc("mx.example.net"), alice)))

	// RFC 9562 appendix A.4 gives the URL name space; check the UUIDv5
	// derivation against an independent implementation when available.
	if py, err := exec.LookPath("python3"); err == nil {
		out, err := exec.CommandContext(t.Context(), py, "-c",
			`import uuid; print(str(uuid.uuid5(uuid.NAMESPACE_URL, "https://mail.example.com/autodiscover/easd.mobileconfig?user=alice@example.com")).upper())`).Output()
		require.NoError(t, err)
		assert.Equal(t, string(bytes.TrimSpace(out)), ids(a1)[0])
	}
}

func TestProfileRefused(t *testing.T) {
	s := autodiscover.New(autodiscover.Options{Hostname: "mail.example.com", Users: nopUsers{}})
	for _, tc := range []struct {
		name string
		u    store.User
	}{
		{name: "EAS switched off", u: store.User{Address: "a@example.com", Protocols: store.Protocols{IMAP: true}}},
		{name: "disabled", u: store.User{Address: "a@example.com", Disabled: true, Protocols: store.Protocols{EAS: true}}},
		{name: "no address", u: store.User{Protocols: store.Protocols{EAS: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Profile(tc.u)
			assert.True(t, errors.Is(err, autodiscover.ErrNoActiveSync), "err = %v", err)
		})
	}
}

func TestProfileEndpoint(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		seed(t, st)
		guard := &fakeGuard{}
		opts := baseOptions(st)
		opts.Guard = guard
		base, client := serve(t, opts)
		for _, tc := range []struct {
			name, login, pass string
			wantCode          int
		}{
			{name: "own profile", login: "bob@example.com", pass: password, wantCode: 200},
			{name: "wrong password", login: "bob@example.com", pass: "nope", wantCode: 401},
			{name: "login without domain", login: "bob", pass: password, wantCode: 401},
			{name: "EAS switched off", login: "noeas@example.com", pass: password, wantCode: 403},
			{name: "disabled", login: "dis@example.com", pass: password, wantCode: 403},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp := getAuth(t, client, base+"/autodiscover/easd.mobileconfig", tc.login, tc.pass)
				require.Equal(t, tc.wantCode, resp.StatusCode)
				if tc.wantCode == 200 {
					b, err := io.ReadAll(resp.Body)
					require.NoError(t, err)
					assert.Equal(t, tc.login, easPayload(t, b)["EmailAddress"].Text())
				}
			})
		}
		guard.mu.Lock()
		defer guard.mu.Unlock()
		assert.Equal(t, []string{"bob@example.com", ""}, guard.failed,
			"a login that names no account still counts against the client address")
	})
}
