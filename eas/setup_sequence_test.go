package eas_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/internal/httpd"
	"github.com/easd/easd/internal/loginlimit"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
	"github.com/easd/easd/submission"
	"github.com/easd/easd/wbxml"
)

// setupEnv is the server exactly as cmd/easd serve wires it (internal/httpd's echo, the
// failed-login throttle, the real Gate and TraceRecorder, Provision, the hierarchy commands,
// Settings, Sync and GetItemEstimate with the policy's limits, Ping, and the mail commands
// over the real submission) on a real store, with two users: alice, whose phones set up and
// send mail, and bob, whose name a foreign User parameter borrows and who receives alice's mail.
type setupEnv struct {
	st    *store.Store
	reg   *devices.Registry
	ping  *eas.Ping
	alice store.User
	bob   store.User
	https *httptest.Server
}

func newSetupEnv(t *testing.T, st *store.Store) *setupEnv {
	t.Helper()
	ctx := t.Context()
	alice, err := st.CreateUser(ctx, store.NewUser{Address: "alice@example.com", DisplayName: "Alice Liddell", Password: "secret"})
	require.NoError(t, err)
	bob, err := st.CreateUser(ctx, store.NewUser{Address: "bob@example.com", Password: "secret"})
	require.NoError(t, err)
	secrets, err := store.NewSecretBox([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)

	log := slog.New(slog.DiscardHandler)
	h := httpd.New(httpd.Options{Logger: log, Health: st.Ping})
	reg := devices.New(st, devices.Options{Logger: log})
	srv := eas.New(eas.Options{
		Logger:        log,
		Auth:          st,
		DefaultDomain: "example.com",
		Guard:         loginlimit.New(loginlimit.Options{}),
		Gate:          eas.NewGate(reg, st, eas.GateOptions{}),
		Tracer:        eas.NewTraceRecorder(reg, st, eas.TraceOptions{Logger: log}),
	})
	srv.Handle(eas.ProvisionCommand(reg, st))
	hier := eas.NewHierarchy(eas.HierarchyOptions{Store: st})
	for _, c := range hier.Commands() {
		srv.Handle(c)
	}
	srv.Handle(eas.NewSettings(eas.SettingsOptions{Store: st, Devices: reg, Secrets: secrets}).Command())
	for _, c := range eas.NewSync(eas.SyncOptions{Store: st, Limits: eas.PolicyLimits(st)}).Commands() {
		srv.Handle(c)
	}
	ping := eas.NewPing(eas.PingOptions{Store: st, Hierarchy: hier})
	srv.Handle(ping.Command())
	sub := submission.New(submission.Options{Store: st, Logger: log})
	for _, c := range eas.NewMail(eas.MailOptions{Store: st, Submitter: sub}).Commands() {
		srv.Handle(c)
	}
	srv.Register(h.Echo)
	https := httptest.NewTLSServer(h.Echo)
	// Waiting Pings answer at once when the test ends, before the server closes.
	t.Cleanup(https.Close)
	t.Cleanup(ping.Close)
	return &setupEnv{st: st, reg: reg, ping: ping, alice: alice, bob: bob, https: https}
}

// deliver puts one message with the subject, dated now (inside any filter window), into
// alice's Inbox, so that a first Sync has something to send.
func (env *setupEnv) deliver(t *testing.T, subject string) {
	t.Helper()
	raw := "From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>\r\nSubject: " + subject + "\r\n" +
		"Message-ID: <" + strconv.Itoa(len(subject)) + ".setup@example.com>\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\n\r\nHello\r\n"
	_, err := env.st.Deliver(t.Context(), "alice@example.com", []byte(raw))
	require.NoError(t, err)
}

// sequenceDir is eas/testdata/sequences.
var sequenceDir = filepath.Join("testdata", "sequences")

// seqFamily is testdata/sequences/<client>/family.json: the device one client family
// presents on every step unless a step says otherwise.
type seqFamily struct {
	Client     string `json:"client"`     // who this is, with the source of its headers
	Version    string `json:"version"`    // MS-ASProtocolVersion, or the base64 version byte
	Query      string `json:"query"`      // "plain" or "base64" (MS-ASHTTP 2.2.1.1.1)
	UserAgent  string `json:"userAgent"`  // "" sends none
	DeviceType string `json:"deviceType"` // DeviceType parameter
	DeviceID   string `json:"deviceId"`   // DeviceId parameter (plain form)
	// DeviceIDHex is a binary DeviceId sent raw in the base64 form; the server records it as
	// its upper-case hex.
	DeviceIDHex string `json:"deviceIdHex"`
	Username    string `json:"username"` // HTTP Basic user name
	User        string `json:"user"`     // User parameter
}

// seqStep is testdata/sequences/<client>/NN-<cmd>.json; the request body, if any, is
// NN-<cmd>.xml beside it with {{name}} placeholders for values saved by earlier steps
// (policy keys, folder ServerIds, sync keys).
type seqStep struct {
	Method  string            `json:"method"`  // "OPTIONS"; default POST
	Cmd     string            `json:"cmd"`     // Cmd parameter / base64 command code
	Version string            `json:"version"` // overrides the family's
	Headers map[string]string `json:"headers"` // added or replaced, "" removes one; OPTIONS: User-Agent only
	// PolicyKey is what the request carries (X-MS-PolicyKey, or inside the base64 query):
	// "" none, a saved name ("temporary", "final") or a literal number.
	PolicyKey string `json:"policyKey"`
	Auth      string `json:"auth"`    // "" the family's credentials, "none", "wrong-password"
	User      string `json:"user"`    // User parameter instead of the family's
	Account   string `json:"account"` // "disabled" or "eas-off" during this step only
	BodyHex   string `json:"bodyHex"` // a raw body (malformed WBXML) instead of the XML
	// MIME sends NN-<cmd>.eml ({{name}} expanded, lines ended by CR LF) as the body with
	// Content-Type message/rfc822: the 12.x form of SendMail, SmartReply and SmartForward
	// (MS-ASHTTP 2.2.1.1.1.2.5, MS-ASCMD 2.2.1.15). Without it, an NN-<cmd>.eml beside the
	// XML is the {{eml}} placeholder in base64, for <Mime wbxml="opaque-base64">.
	MIME bool `json:"mime"`
	// Params are command parameters of the query (MS-ASHTTP 2.2.1.1.1.2.5): SaveInSent,
	// ItemId, CollectionId, LongId, AttachmentName, Occurrence, AcceptMultiPart; values
	// have {{name}} expanded.
	Params map[string]string `json:"params"`
	// Deliver names a recipient to whose Inbox NN-<name>.eml ({{name}} expanded) is
	// delivered as easd deliver does: without a cmd that is the whole step; with cmd Ping
	// the Ping is sent first and the message delivered once the server holds it waiting.
	Deliver string `json:"deliver"`
	Why     string `json:"why"` // the spec or quirk the step exercises
	Expect  struct {
		HTTP int `json:"http"` // default 200
		// Values are element paths by local name from the root ("Provision/Status") and the
		// text each must hold; {{name}} is a saved value, "*" any non-empty text.
		Values map[string]string `json:"values"`
		// Headers are response headers that must be present and contain the given text.
		Headers map[string]string `json:"headers"`
		// Folders: the answer is an initial FolderSync holding every default folder at the
		// root; their ServerIds are saved as Inbox, Drafts, Deleted, Sent and Outbox.
		Folders bool `json:"folders"`
		// Device: the registry's record of this device after the step.
		Device *struct {
			DeviceType      string `json:"deviceType"`
			UserAgent       string `json:"userAgent"`
			ProtocolVersion string `json:"protocolVersion"`
			Model           string `json:"model"`
			IMEI            string `json:"imei"`
			OS              string `json:"os"`
			FriendlyName    string `json:"friendlyName"`
			OSLanguage      string `json:"osLanguage"`
			PhoneNumber     string `json:"phoneNumber"`
			MobileOperator  string `json:"mobileOperator"`
			PolicyKey       string `json:"policyKey"` // a saved name: the device's final key
		} `json:"device"`
		// Differ lists pairs of saved names whose values must differ (a new key each round).
		Differ [][2]string `json:"differ"`
		// Count: element paths and how many elements each names in the answer (0: none).
		Count map[string]int `json:"count"`
		// Empty: the answer is a 200 with no body (a successful SendMail).
		Empty bool `json:"empty"`
		// Raw: the answer is not WBXML but these bytes, in base64, with this Content-Type
		// (GetAttachment, MS-ASCMD 2.2.1.7).
		Raw *struct {
			Base64      string `json:"base64"`
			ContentType string `json:"contentType"`
		} `json:"raw"`
		// Mailbox: what the store holds after the step.
		Mailbox []seqMailCheck `json:"mailbox"`
		// Outbound: recipients and how many queued submissions name each.
		Outbound map[string]int `json:"outbound"`
	} `json:"expect"`
	// Save names values of the answer by path, for later steps' placeholders.
	Save map[string]string `json:"save"`
}

// seqMailCheck is one expectation on the store after a step: how many messages with the
// subject a folder holds and, if there are any, their flags and raw text.
type seqMailCheck struct {
	User string `json:"user"` // default alice@example.com
	// Folder is a default folder's name (Inbox, Drafts, Deleted, Sent, Outbox) or a saved
	// name whose value is a folder's ServerId (a folder the device created).
	Folder    string   `json:"folder"`
	Subject   string   `json:"subject"`
	Count     int      `json:"count"`
	Read      *bool    `json:"read"`
	Flagged   *bool    `json:"flagged"`
	Answered  *bool    `json:"answered"`
	Forwarded *bool    `json:"forwarded"`
	Contains  []string `json:"contains"` // texts the raw message holds
	Lacks     []string `json:"lacks"`    // texts it must not hold
}

func seqReadJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(v), name)
}

var seqPlaceholder = regexp.MustCompile(`\{\{([A-Za-z0-9]+)\}\}`)

// seqExpand replaces {{name}} with the saved value; an unknown name fails the test.
func seqExpand(t *testing.T, s string, vars map[string]string) string {
	t.Helper()
	return seqPlaceholder.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-2]
		v, ok := vars[name]
		require.True(t, ok, "no saved value %q yet", name)
		return v
	})
}

// seqLocalName is a tag's name without its code page ("Status" for Provision:Status).
func seqLocalName(tag wbxml.Tag) string {
	s := tag.String()
	if _, name, ok := strings.Cut(s, ":"); ok {
		return name
	}
	return s
}

// seqLookup follows path ("Provision/Policies/Policy/Status", the first element is the root) and
// returns the first element found, nil if there is none. A step "Name[n]" takes only the n-th
// (from 1) child of that name: "MoveItems/Response[2]/Status".
func seqLookup(root *easclient.Node, path string) *easclient.Node {
	if all := seqLookupAll(root, path); len(all) > 0 {
		return all[0]
	}
	return nil
}

// seqLookupAll returns every element path names, in document order.
func seqLookupAll(root *easclient.Node, path string) []*easclient.Node {
	parts := strings.Split(path, "/")
	if root == nil || seqLocalName(root.Tag) != parts[0] {
		return nil
	}
	var found []*easclient.Node
	var walk func(n *easclient.Node, rest []string)
	walk = func(n *easclient.Node, rest []string) {
		if len(rest) == 0 {
			found = append(found, n)
			return
		}
		name, nth := rest[0], 0
		if i := strings.IndexByte(name, '['); i > 0 && strings.HasSuffix(name, "]") {
			n, err := strconv.Atoi(name[i+1 : len(name)-1])
			if err != nil || n < 1 {
				panic("bad index in element path " + path)
			}
			name, nth = name[:i], n
		}
		seen := 0
		for _, k := range n.Children {
			if seqLocalName(k.Tag) != name {
				continue
			}
			seen++
			if nth == 0 || seen == nth {
				walk(k, rest[1:])
			}
		}
	}
	walk(root, parts[1:])
	return found
}

// seqTextAt is the text at path, failing the test if there is no such element.
func seqTextAt(t *testing.T, root *easclient.Node, path string) string {
	t.Helper()
	n := seqLookup(root, path)
	require.NotNil(t, n, "%s in the answer", path)
	return n.Text
}

// TestSetupSequences replays the account setup and then the mail flows of each client family,
// written as readable XML under testdata/sequences, against the real server on each
// database: every step's HTTP status, EAS statuses and important fields, the policy key flow,
// the folder list, the device's record, the sync keys, the refusals each protocol version must
// get, and then mail delivered, read, flagged, moved, deleted, sent, replied to and forwarded
// with the mailbox state each step leaves. Each family runs on a server and mailbox of its
// own, so that one family's mail never changes what another's steps see.
func TestSetupSequences(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(sequenceDir)
	require.NoError(t, err)
	var families []os.DirEntry
	for _, e := range entries {
		if e.IsDir() {
			families = append(families, e)
		}
	}
	require.GreaterOrEqual(t, len(families), 3, "client families under %s", sequenceDir)
	for _, fam := range families {
		t.Run(fam.Name(), func(t *testing.T) {
			t.Parallel()
			storetest.ForEach(t, func(t *testing.T, st *store.Store) {
				env := newSetupEnv(t, st)
				env.deliver(t, "Welcome to easd")
				id, typ := env.runSequence(t, filepath.Join(sequenceDir, fam.Name()))

				// The device that talked is recorded once, under the account that logged
				// in; the refused requests (wrong password, bob's name in User) recorded
				// nothing.
				ctx := t.Context()
				got, err := env.reg.List(ctx, store.DeviceFilter{User: env.alice.ID})
				require.NoError(t, err)
				recorded := map[string]string{}
				for _, d := range got {
					recorded[d.DeviceID] = d.DeviceType
					assert.False(t, d.FirstSeen.IsZero(), "%s first seen", d.DeviceID)
					assert.False(t, d.LastSeen.Before(d.FirstSeen), "%s last seen", d.DeviceID)
					assert.Equal(t, store.AccessAllowed, d.AccessState, "%s allowed by default", d.DeviceID)
				}
				assert.Equal(t, map[string]string{id: typ}, recorded)
				none, err := env.reg.List(ctx, store.DeviceFilter{User: env.bob.ID})
				require.NoError(t, err)
				assert.Empty(t, none, "no partnership for bob")
			})
		})
	}
}

// runSequence runs one family's steps in order and returns the DeviceId the server records for
// it and its DeviceType.
func (env *setupEnv) runSequence(t *testing.T, dir string) (deviceID, deviceType string) {
	var fam seqFamily
	seqReadJSON(t, filepath.Join(dir, "family.json"), &fam)
	steps, err := filepath.Glob(filepath.Join(dir, "[0-9][0-9]-*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, steps)
	slices.Sort(steps)

	c := &easclient.Client{HTTP: env.https.Client(), URL: env.https.URL, Username: fam.Username, Password: "secret",
		User: fam.User, DeviceID: fam.DeviceID, DeviceType: fam.DeviceType, UserAgent: fam.UserAgent,
		Base64: fam.Query == "base64"}
	deviceID = fam.DeviceID
	if fam.DeviceIDHex != "" {
		c.DeviceIDBytes, err = hex.DecodeString(fam.DeviceIDHex)
		require.NoError(t, err)
		deviceID = strings.ToUpper(fam.DeviceIDHex)
	}
	// {{now}} dates delivered mail inside any filter window.
	vars := map[string]string{"now": time.Now().Format(time.RFC1123Z)}
	for _, name := range steps {
		// Each step runs to its end even if an earlier one failed, unless a value it needs
		// was never saved: then the sequence cannot go on.
		if !env.runStep(t, c, fam, deviceID, strings.TrimSuffix(name, ".json"), vars) {
			break
		}
	}
	return deviceID, fam.DeviceType
}

// runStep sends one step and checks its answer; false means the sequence cannot go on.
func (env *setupEnv) runStep(t *testing.T, base *easclient.Client, fam seqFamily, deviceID, name string, vars map[string]string) bool {
	var step seqStep
	seqReadJSON(t, name+".json", &step)
	label := filepath.Base(name)
	ok := t.Run(label, func(t *testing.T) {
		ctx := t.Context()
		c := *base
		v, err := eas.ParseVersion(fam.Version)
		require.NoError(t, err)
		if step.Version != "" {
			v, err = eas.ParseVersion(step.Version)
			require.NoError(t, err)
		}
		c.Version = v
		switch step.Auth {
		case "":
		case "none":
			c.Username = ""
		case "wrong-password":
			c.Password = "not-the-password"
		default:
			t.Fatalf("auth %q", step.Auth)
		}
		if step.User != "" {
			c.User = step.User
		}
		if step.PolicyKey != "" {
			s := step.PolicyKey
			if saved, ok := vars[s]; ok {
				s = saved
			}
			k, err := strconv.ParseUint(s, 10, 32)
			require.NoError(t, err, "policy key %q", step.PolicyKey)
			c.PolicyKey, c.HasPolicyKey = uint32(k), true
		}
		switch step.Account {
		case "":
		case "disabled":
			require.NoError(t, env.st.SetDisabled(ctx, "alice@example.com", true))
			// t.Context is cancelled before cleanups run.
			t.Cleanup(func() { require.NoError(t, env.st.SetDisabled(context.Background(), "alice@example.com", false)) })
		case "eas-off":
			off, on := false, true
			_, err := env.st.SetProtocols(ctx, "alice@example.com", store.ProtocolsUpdate{EAS: &off})
			require.NoError(t, err)
			t.Cleanup(func() {
				_, err := env.st.SetProtocols(context.Background(), "alice@example.com", store.ProtocolsUpdate{EAS: &on})
				require.NoError(t, err)
			})
		default:
			t.Fatalf("account %q", step.Account)
		}

		if step.Cmd == "" && step.Method == "" {
			require.NotEmpty(t, step.Deliver, "a step without cmd delivers")
			env.deliverFile(t, step.Deliver, name+".eml", vars)
			env.checkStore(t, step.Expect.Mailbox, step.Expect.Outbound, vars)
			return
		}
		var resp *easclient.Response
		if step.Method == http.MethodOptions {
			for k, v := range step.Headers {
				require.Equal(t, "User-Agent", http.CanonicalHeaderKey(k), "OPTIONS sets only User-Agent")
				c.UserAgent = v
			}
			resp, err = c.Options(ctx)
			require.NoError(t, err)
		} else {
			cmd, ok := eas.LookupCommand(step.Cmd)
			require.True(t, ok, "command %q", step.Cmd)
			req := &easclient.Request{Cmd: cmd, Header: http.Header{}}
			for k, v := range step.Headers {
				req.Header.Set(k, v)
			}
			seqParams(t, req, step.Params, vars)
			switch {
			case step.BodyHex != "":
				req.Body, err = hex.DecodeString(step.BodyHex)
				require.NoError(t, err)
			case step.MIME:
				req.Body = seqMIME(t, name+".eml", vars)
				req.ContentType = "message/rfc822"
			default:
				if _, err := os.Stat(name + ".eml"); err == nil && step.Deliver == "" {
					// A ComposeMail request: the XML holds the message as
					// <Mime wbxml="opaque-base64">{{eml}}</Mime>.
					vars["eml"] = base64.StdEncoding.EncodeToString(seqMIME(t, name+".eml", vars))
				}
				if x, err := os.ReadFile(name + ".xml"); err == nil {
					req.Body, err = wbxml.FromXML(nil, strings.NewReader(seqExpand(t, string(x), vars)))
					require.NoError(t, err, "%s.xml", name)
				}
			}
			if step.Deliver != "" {
				resp = env.wakePing(t, &c, req, step.Deliver, name+".eml", vars)
			} else {
				resp, err = c.Do(ctx, req)
				require.NoError(t, err)
			}
		}

		want := step.Expect.HTTP
		if want == 0 {
			want = http.StatusOK
		}
		require.Equal(t, want, resp.StatusCode, "HTTP status (%s)", step.Why)
		for k, v := range step.Expect.Headers {
			assert.NotEmpty(t, resp.Header.Get(k), "response header %s", k)
			assert.Contains(t, resp.Header.Get(k), v, "response header %s", k)
		}
		needBody := len(step.Expect.Values) > 0 || len(step.Save) > 0 || step.Expect.Folders || len(step.Expect.Count) > 0
		require.False(t, needBody && step.Expect.Empty, "a step expects either values or an empty answer")
		switch {
		case step.Expect.Raw != nil:
			require.False(t, needBody, "a raw answer has no element paths")
			want, err := base64.StdEncoding.DecodeString(step.Expect.Raw.Base64)
			require.NoError(t, err)
			assert.Equal(t, want, resp.Body, "the answer's bytes (%s)", step.Why)
			assert.Equal(t, step.Expect.Raw.ContentType, resp.Header.Get("Content-Type"))
		case !needBody:
			assert.Empty(t, resp.Body, "no body with HTTP %d", resp.StatusCode)
		default:
			require.NotEmpty(t, resp.Body)
			require.Equal(t, eas.ContentTypeWBXML, resp.Header.Get("Content-Type"))
			root := parseWBXML(t, resp.Body)
			defer func() {
				if t.Failed() {
					x, _ := resp.XML()
					t.Logf("answer:\n%s", x)
				}
			}()
			for path, wantText := range step.Expect.Values {
				n := seqLookup(root, path)
				if !assert.NotNil(t, n, "%s in the answer", path) {
					continue
				}
				if wantText == "*" {
					assert.NotEmpty(t, n.Text, path)
				} else {
					assert.Equal(t, seqExpand(t, wantText, vars), n.Text, "%s (%s)", path, step.Why)
				}
			}
			for key, path := range step.Save {
				n := seqLookup(root, path)
				require.NotNil(t, n, "%s to save as %s", path, key)
				require.NotEmpty(t, n.Text, "%s to save as %s", path, key)
				vars[key] = n.Text
			}
			for path, want := range step.Expect.Count {
				assert.Len(t, seqLookupAll(root, path), want, "elements at %s (%s)", path, step.Why)
			}
			if step.Expect.Folders {
				seqCheckDefaultFolders(t, root, vars)
			}
		}
		env.checkStore(t, step.Expect.Mailbox, step.Expect.Outbound, vars)
		for _, d := range step.Expect.Differ {
			assert.NotEqual(t, vars[d[0]], vars[d[1]], "%s differs from %s", d[0], d[1])
		}
		if wd := step.Expect.Device; wd != nil {
			d, err := env.reg.Get(ctx, devices.Key{User: env.alice.ID, DeviceID: deviceID})
			require.NoError(t, err, "device %s recorded", deviceID)
			assert.Equal(t, wd.DeviceType, d.DeviceType)
			assert.Equal(t, wd.UserAgent, d.UserAgent)
			assert.Equal(t, wd.ProtocolVersion, d.ProtocolVersion)
			assert.Equal(t, wd.Model, d.Info.Model)
			assert.Equal(t, wd.IMEI, d.Info.IMEI)
			assert.Equal(t, wd.OS, d.Info.OS)
			assert.Equal(t, wd.FriendlyName, d.Info.FriendlyName)
			assert.Equal(t, wd.OSLanguage, d.Info.OSLanguage)
			assert.Equal(t, wd.PhoneNumber, d.Info.PhoneNumber)
			assert.Equal(t, wd.MobileOperator, d.Info.MobileOperator)
			if wd.PolicyKey != "" {
				assert.Equal(t, vars[wd.PolicyKey], strconv.FormatUint(uint64(d.PolicyKey), 10), "the device's final key")
			}
		}
	})
	if ok {
		return true
	}
	// Stop only when a later step needs a value this one should have saved.
	for key := range step.Save {
		if _, saved := vars[key]; !saved {
			return false
		}
	}
	return !step.Expect.Folders || vars["Inbox"] != ""
}

// seqParams sets the command parameters of a step's query.
func seqParams(t *testing.T, req *easclient.Request, params map[string]string, vars map[string]string) {
	t.Helper()
	for k, v := range params {
		v = seqExpand(t, v, vars)
		switch k {
		case "SaveInSent":
			req.SaveInSent = v == "T"
		case "AcceptMultiPart":
			req.AcceptMultiPart = v == "T"
		case "ItemId":
			req.ItemID = v
		case "CollectionId":
			req.CollectionID = v
		case "LongId":
			req.LongID = v
		case "AttachmentName":
			req.AttachmentName = v
		case "Occurrence":
			req.Occurrence = v
		default:
			t.Fatalf("command parameter %q", k)
		}
	}
}

// seqMIME reads a message file, expands its placeholders and ends its lines with CR LF, as
// RFC 5322 and every client's MIME have them.
func seqMIME(t *testing.T, name string, vars map[string]string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	text := strings.ReplaceAll(seqExpand(t, string(b), vars), "\r\n", "\n")
	return []byte(strings.ReplaceAll(text, "\n", "\r\n"))
}

// deliverFile delivers the message in file name to the address, as easd deliver does.
func (env *setupEnv) deliverFile(t *testing.T, to, name string, vars map[string]string) {
	t.Helper()
	_, err := env.st.Deliver(t.Context(), to, seqMIME(t, name, vars))
	require.NoError(t, err, "deliver %s to %s", name, to)
}

// wakePing sends a Ping, waits until the server holds it, delivers the message and returns
// the Ping's answer: the Ping must wake on the delivery (its HeartbeatInterval is far longer
// than the test).
func (env *setupEnv) wakePing(t *testing.T, c *easclient.Client, req *easclient.Request, to, name string, vars map[string]string) *easclient.Response {
	t.Helper()
	require.Equal(t, eas.CmdPing, req.Cmd, "only a Ping waits for a delivery")
	before := env.ping.Waiting()
	type answer struct {
		resp *easclient.Response
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := c.Do(t.Context(), req)
		done <- answer{resp, err}
	}()
	// Wait until the Ping waits. One that answers before the delivery had changes pending
	// already: the step is wrong, or the server saw changes that are not there.
	for env.ping.Waiting() <= before {
		select {
		case a := <-done:
			require.NoError(t, a.err)
			x, _ := a.resp.XML()
			t.Errorf("the Ping answered before the delivery:\n%s", x)
			return a.resp
		case <-time.After(5 * time.Millisecond):
		}
	}
	env.deliverFile(t, to, name, vars)
	a := <-done
	require.NoError(t, a.err)
	return a.resp
}

// seqFolderTypes are the default folders a mailbox check may name.
var seqFolderTypes = map[string]store.FolderType{"Inbox": store.FolderInbox, "Drafts": store.FolderDrafts,
	"Deleted": store.FolderDeleted, "Sent": store.FolderSent, "Outbox": store.FolderOutbox}

// checkStore checks the mailbox and outbound-queue expectations of a step.
func (env *setupEnv) checkStore(t *testing.T, checks []seqMailCheck, outbound map[string]int, vars map[string]string) {
	t.Helper()
	ctx := t.Context()
	for _, mc := range checks {
		addr := mc.User
		if addr == "" {
			addr = "alice@example.com"
		}
		u, err := env.st.UserByAddress(ctx, addr)
		require.NoError(t, err)
		var folder store.Folder
		if typ, ok := seqFolderTypes[mc.Folder]; ok {
			folder, err = env.st.FolderByType(ctx, u.Mailbox, typ)
			require.NoError(t, err, "%s of %s", mc.Folder, addr)
		} else {
			id, err := strconv.ParseInt(seqExpand(t, "{{"+mc.Folder+"}}", vars), 10, 64)
			require.NoError(t, err, "folder %s", mc.Folder)
			folder, err = env.st.Folder(ctx, store.FolderID(id))
			require.NoError(t, err, "folder %s", mc.Folder)
		}
		items, err := env.st.Items(ctx, folder.ID)
		require.NoError(t, err)
		subject := seqExpand(t, mc.Subject, vars)
		var match []store.Item
		for _, it := range items {
			if it.Subject == subject {
				match = append(match, it)
			}
		}
		if !assert.Len(t, match, mc.Count, "%q in %s of %s", subject, mc.Folder, addr) {
			continue
		}
		for _, it := range match {
			flag := func(want *bool, got bool, what string) {
				if want != nil {
					assert.Equal(t, *want, got, "%s of %q in %s of %s", what, subject, mc.Folder, addr)
				}
			}
			flag(mc.Read, it.Seen, "read")
			flag(mc.Flagged, it.Flagged, "flagged")
			flag(mc.Answered, it.Answered, "answered")
			flag(mc.Forwarded, it.Forwarded, "forwarded")
			if len(mc.Contains)+len(mc.Lacks) > 0 {
				raw, err := env.st.ItemBody(ctx, it.ID)
				require.NoError(t, err)
				for _, want := range mc.Contains {
					assert.Contains(t, string(raw), seqExpand(t, want, vars), "%q in %s of %s", subject, mc.Folder, addr)
				}
				for _, bad := range mc.Lacks {
					assert.NotContains(t, string(raw), seqExpand(t, bad, vars), "%q in %s of %s", subject, mc.Folder, addr)
				}
			}
		}
	}
	if len(outbound) == 0 {
		return
	}
	queue, err := env.st.OutboundQueue(ctx, 0)
	require.NoError(t, err)
	for addr, want := range outbound {
		n := 0
		for _, m := range queue {
			for _, r := range m.Recipients {
				if strings.EqualFold(r.Address, addr) {
					n++
				}
			}
		}
		assert.Equal(t, want, n, "queued submissions to %s", addr)
	}
}

// seqDefaultFolders are the folder types every mailbox has at the root and the names the
// sequences use for their ServerIds (MS-ASCMD 2.2.3.186.3 Type: 2 Inbox, 3 Drafts, 4 Deleted
// Items, 5 Sent Items, 6 Outbox). Quirk(Android): some versions reset the account unless
// Drafts and Outbox exist.
var seqDefaultFolders = map[string]string{"2": "Inbox", "3": "Drafts", "4": "Deleted", "5": "Sent", "6": "Outbox"}

// seqCheckDefaultFolders checks an initial FolderSync answer (MS-ASCMD 2.2.1.5): Count equal to
// the number of Adds, unique ServerIds, each parent either "0" (the root, MS-ASCMD
// 2.2.3.129.2 ParentId) or a folder of the list, each default folder exactly once and at the root.
func seqCheckDefaultFolders(t *testing.T, root *easclient.Node, vars map[string]string) {
	t.Helper()
	changes := root.Child(wbxml.FolderHierarchyChanges)
	require.NotNil(t, changes, "Changes")
	adds := changes.All(wbxml.FolderHierarchyAdd)
	assert.Equal(t, strconv.Itoa(len(adds)), changes.Get(wbxml.FolderHierarchyCount), "Count")
	ids := map[string]bool{}
	for _, a := range adds {
		id := a.Get(wbxml.FolderHierarchyServerId)
		assert.NotEmpty(t, id)
		assert.False(t, ids[id], "ServerId %s unique", id)
		ids[id] = true
	}
	seen := map[string]int{}
	for _, a := range adds {
		parent, typ := a.Get(wbxml.FolderHierarchyParentId), a.Get(wbxml.FolderHierarchyType)
		assert.True(t, parent == "0" || ids[parent], "ParentId %q of %s", parent, a.Get(wbxml.FolderHierarchyDisplayName))
		assert.NotEmpty(t, a.Get(wbxml.FolderHierarchyDisplayName))
		if name, ok := seqDefaultFolders[typ]; ok {
			seen[name]++
			assert.Equal(t, "0", parent, "%s at the root", name)
			vars[name] = a.Get(wbxml.FolderHierarchyServerId)
		}
	}
	for _, name := range seqDefaultFolders {
		assert.Equal(t, 1, seen[name], "one %s folder", name)
	}
}

// corpusReplay replays one captured client's requests in order against a setupEnv, with the
// user, the DeviceId's owner, the policy keys, the folder ids and the sync keys rewritten to
// what this server gave it.
type corpusReplay struct {
	env      *setupEnv
	dir      string
	username string // Basic auth and User parameter
	key      uint32 // the policy key the client holds now (temporary, then final)
	inbox    string // the Inbox's ServerId from the replayed FolderSync
	folder   string // the FolderSync key
	syncKey  string // the Inbox's latest Sync key
	// folders are the default folders' ServerIds by name (Inbox, Sent, ...) from the
	// replayed FolderSync.
	folders map[string]string
	// ids rewrites the capture's CollectionIds, ServerIds, Ping folder Ids and
	// FileReferences: old value to ours. A CollectionId not in it becomes the Inbox.
	ids map[string]string
	// deviceID, if set, replaces the capture's DeviceId (requests of one client recorded
	// from two of its installations, replayed as one device).
	deviceID string
}

// send replays the capture name (without extension) and returns the answer.
func (r *corpusReplay) send(t *testing.T, name string, auth bool) *easclient.Response {
	t.Helper()
	resp, err := r.do(r.request(t, name, auth))
	require.NoError(t, err)
	return resp
}

// do sends a request of request; it may run on another goroutine.
func (r *corpusReplay) do(req *http.Request) (*easclient.Response, error) {
	resp, err := r.env.https.Client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &easclient.Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// request builds the replay of the capture name.
func (r *corpusReplay) request(t *testing.T, name string, auth bool) *http.Request {
	t.Helper()
	line, hdr := readCapture(t, filepath.Join(r.dir, name+".http.txt"))
	method, target, _ := strings.Cut(line, " ")
	target, _, _ = strings.Cut(target, " ")
	_, query, _ := strings.Cut(target, "?")
	vals, err := url.ParseQuery(query)
	require.NoError(t, err)
	if vals.Has("User") {
		vals.Set("User", r.username)
	}
	if vals.Has("PolicyKey") {
		vals.Set("PolicyKey", strconv.FormatUint(uint64(r.key), 10))
	}
	if r.deviceID != "" && vals.Has("DeviceId") {
		vals.Set("DeviceId", r.deviceID)
	}
	var body []byte
	if method == http.MethodPost {
		if b, err := os.ReadFile(filepath.Join(r.dir, name+".req.wbxml")); err == nil {
			body = r.rewrite(t, b)
		}
	}
	u := r.env.https.URL + eas.Path
	if len(vals) > 0 {
		u += "?" + vals.Encode()
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, bytes.NewReader(body))
	require.NoError(t, err)
	for k, vs := range hdr {
		switch k {
		case "Host", "Content-Length", "Connection", "Authorization", "Expect":
		case "X-Ms-Policykey":
			if vs[0] != "0" {
				vs = []string{strconv.FormatUint(uint64(r.key), 10)}
			}
			req.Header[k] = vs
		default:
			req.Header[k] = vs
		}
	}
	if r.key != 0 && !vals.Has("PolicyKey") && req.Header.Get("X-Ms-Policykey") == "" {
		// A capture from a server that never provisioned (the RCA's): once provisioned
		// here, the client carries its key as every client does after Provision.
		req.Header.Set("X-MS-PolicyKey", strconv.FormatUint(uint64(r.key), 10))
	}
	if auth {
		req.SetBasicAuth(r.username, "secret")
	}
	return req
}

// rewrite returns the WBXML document doc with the state of this server: policy keys, the
// Inbox for every CollectionId, and non-initial FolderSync and Sync keys.
func (r *corpusReplay) rewrite(t *testing.T, doc []byte) []byte {
	t.Helper()
	b, err := easclient.Rewrite(doc, func(tag wbxml.Tag) func(string) string {
		var with func(old string) string
		switch tag {
		case wbxml.ProvisionPolicyKey:
			with = func(string) string { return strconv.FormatUint(uint64(r.key), 10) }
		case wbxml.AirSyncCollectionId, wbxml.GetItemEstimateCollectionId:
			with = func(old string) string {
				if v, ok := r.ids[old]; ok {
					return v
				}
				return r.inbox
			}
		case wbxml.AirSyncServerId, wbxml.PingId, wbxml.AirSyncBaseFileReference:
			with = func(old string) string {
				if v, ok := r.ids[old]; ok {
					return v
				}
				return old
			}
		case wbxml.AirSyncSyncKey:
			with = func(old string) string { return seqInitialOr(old, r.syncKey) }
		case wbxml.FolderHierarchySyncKey:
			with = func(old string) string { return seqInitialOr(old, r.folder) }
		default:
			return nil
		}
		return func(old string) string {
			nv := with(old)
			require.NotEmpty(t, nv, "a value for %s", tag)
			return nv
		}
	})
	require.NoError(t, err)
	return b
}

func seqInitialOr(old, current string) string {
	if old == "0" {
		return old
	}
	return current
}

// clean requires a well-formed WBXML answer whose every Status is 1, then records the keys
// and ids it gives.
func (r *corpusReplay) clean(t *testing.T, resp *easclient.Response) *easclient.Node {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, eas.ContentTypeWBXML, resp.Header.Get("Content-Type"))
	_, err := resp.XML()
	require.NoError(t, err, "well-formed")
	root := parseWBXML(t, resp.Body)
	statuses := 0
	var walk func(n *easclient.Node)
	walk = func(n *easclient.Node) {
		if seqLocalName(n.Tag) == "Status" {
			statuses++
			assert.Equal(t, "1", n.Text, "%s in %s", n.Tag, root.Tag)
		}
		for _, k := range n.Children {
			walk(k)
		}
	}
	walk(root)
	assert.Positive(t, statuses, "a Status in %s", root.Tag)
	switch root.Tag {
	case wbxml.ProvisionProvision:
		if k := seqLookup(root, "Provision/Policies/Policy/PolicyKey"); k != nil {
			n, err := strconv.ParseUint(k.Text, 10, 32)
			require.NoError(t, err)
			assert.NotEqual(t, r.key, uint32(n), "a new key")
			r.key = uint32(n)
		}
	case wbxml.FolderHierarchyFolderSync:
		r.folder = root.Get(wbxml.FolderHierarchySyncKey)
		vars := map[string]string{}
		if root.Has(wbxml.FolderHierarchyChanges) {
			seqCheckDefaultFolders(t, root, vars)
			r.inbox = vars["Inbox"]
			r.folders = vars
		}
	case wbxml.AirSyncSync:
		if k := seqLookup(root, "Sync/Collections/Collection/SyncKey"); k != nil {
			assert.NotEqual(t, r.syncKey, k.Text, "a new sync key")
			r.syncKey = k.Text
		}
	}
	return root
}

// options replays a captured OPTIONS: 200 with the versions this server serves.
func (r *corpusReplay) options(t *testing.T, name string) {
	t.Helper()
	resp := r.send(t, name, true)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "12.0,12.1,14.0,14.1,16.0,16.1", resp.Header.Get("MS-ASProtocolVersions"))
	assert.Contains(t, resp.Header.Get("MS-ASProtocolCommands"), "Provision")
}

// TestSetupSequenceCorpus replays the captured setup sequences of real clients, each in its
// captured order through the real gate on each database: Nine at 16.1 (steps 01-09), the
// Remote Connectivity Analyzer at 12.0 (the 401 challenge first, DOMAIN\user, then the
// Provision a 449 asks for), EAS-4-TbSync at 14.0 and pyactivesync at 16.1 (the policy key
// of its acknowledgement as a query parameter). Every answer must be well-formed with every
// Status 1. TestCorpusProvision and TestFolderSyncSettingsCorpus replay single requests;
// this one checks that the steps chain.
func TestSetupSequenceCorpus(t *testing.T) {
	t.Parallel()
	requireCorpus(t)
	eascorpus := filepath.Join(corpusDir, "eas")
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		env := newSetupEnv(t, st)
		env.deliver(t, "Welcome to easd")

		t.Run("nine-android-16.1", func(t *testing.T) {
			r := &corpusReplay{env: env, dir: filepath.Join(eascorpus, "syncgw-traces", "nine-android-16.1"), username: "alice@example.com"}
			r.options(t, "01-options")
			init := r.clean(t, r.send(t, "02-provision-initial-with-deviceinfo", true))
			assert.Equal(t, "1", seqTextAt(t, init, "Provision/DeviceInformation/Status"))
			r.clean(t, r.send(t, "03-provision-ack", true))
			r.clean(t, r.send(t, "04-settings-deviceinformation-set", true))
			ui := r.clean(t, r.send(t, "05-settings-userinformation-get", true))
			assert.Equal(t, "alice@example.com", seqTextAt(t, ui, "Settings/UserInformation/Get/Accounts/Account/EmailAddresses/PrimarySmtpAddress"))
			r.clean(t, r.send(t, "06-settings-other", true))
			r.clean(t, r.send(t, "07-foldersync-initial", true))
			require.NotEmpty(t, r.inbox)
			r.clean(t, r.send(t, "08-sync-initial-synckey0", true))
			got := r.clean(t, r.send(t, "09-sync-getchanges-options", true))
			assert.Equal(t, "Welcome to easd", seqTextAt(t, got, "Sync/Collections/Collection/Commands/Add/ApplicationData/Subject"))

			d, err := env.reg.Get(t.Context(), devices.Key{User: env.alice.ID, DeviceID: "Nine45069EA34A52"})
			require.NoError(t, err)
			assert.Equal(t, "Android SDK built for x86_64", d.Info.Model)
			assert.Equal(t, "000000000000000", d.Info.IMEI)
			assert.Equal(t, r.key, d.PolicyKey)
		})

		t.Run("ms-rca-12.0", func(t *testing.T) {
			dir := filepath.Join(eascorpus, "syncgw-traces", "ms-rca-12.0")
			r := &corpusReplay{env: env, dir: dir, username: `EXAMPLE\alice`}
			r.options(t, "34-options")
			// MS-ASHTTP 2.2.2.1.1: no credentials, 401 with the challenge the RCA waits for.
			challenge := r.send(t, "35-foldersync-401-challenge", false)
			require.Equal(t, http.StatusUnauthorized, challenge.StatusCode)
			assert.Contains(t, challenge.Header.Get("WWW-Authenticate"), "Basic")
			// The capture's server let an unprovisioned device in; ours asks it to provision,
			// with HTTP 449 at 12.0 (MS-ASPROV 3.2.5.1), as the RCA expects of Exchange.
			require.Equal(t, eas.HTTP449, r.send(t, "36-foldersync-initial", true).StatusCode)
			line, _ := readCapture(t, filepath.Join(dir, "36-foldersync-initial.http.txt"))
			q, err := url.Parse(strings.Fields(line)[1])
			require.NoError(t, err)
			c := &easclient.Client{HTTP: env.https.Client(), URL: env.https.URL, Username: `EXAMPLE\alice`, Password: "secret",
				User: `EXAMPLE\alice`, DeviceID: q.Query().Get("DeviceId"), DeviceType: q.Query().Get("DeviceType"),
				UserAgent: "Microsoft-Server-ActiveSync/12.0+(TestExchangeConnectivity.com)", Version: eas.Version120}
			r.key = handshake(t, c)
			r.clean(t, r.send(t, "36-foldersync-initial", true))
			require.NotEmpty(t, r.inbox)
			r.clean(t, r.send(t, "37-sync-initial", true))
			est := r.clean(t, r.send(t, "38-getitemestimate", true))
			assert.Equal(t, "1", seqTextAt(t, est, "GetItemEstimate/Response/Collection/Estimate"), "the delivered message")
		})

		t.Run("tbsync-live", func(t *testing.T) {
			r := &corpusReplay{env: env, dir: filepath.Join(eascorpus, "tbsync-live"), username: "alice"}
			r.options(t, "01-options")
			r.clean(t, r.send(t, "02-provision-initial", true))
			r.clean(t, r.send(t, "03-provision-ack", true))
			r.clean(t, r.send(t, "04-settings-deviceinformation-set", true))
			r.clean(t, r.send(t, "05-foldersync-initial", true))
			require.NotEmpty(t, r.inbox)
			r.clean(t, r.send(t, "06-sync-initial-synckey0", true))
			assert.NotEmpty(t, r.syncKey)
		})

		t.Run("pyactivesync-live", func(t *testing.T) {
			r := &corpusReplay{env: env, dir: filepath.Join(eascorpus, "pyactivesync-live"), username: "alice"}
			init := r.clean(t, r.send(t, "01-provision-initial-with-deviceinfo", true))
			assert.Equal(t, "1", seqTextAt(t, init, "Provision/DeviceInformation/Status"))
			r.clean(t, r.send(t, "02-provision-ack-policykey-in-query", true))
			r.clean(t, r.send(t, "03-foldersync-initial", true))
			require.NotEmpty(t, r.inbox)
			d, err := env.reg.Get(t.Context(), devices.Key{User: env.alice.ID, DeviceID: "PyAS01"})
			require.NoError(t, err)
			assert.Equal(t, r.key, d.PolicyKey)
		})
	})
}
