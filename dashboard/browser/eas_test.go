package browser

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/eas/easclient"
	"github.com/easd/easd/wbxml"
)

// phone is a real ActiveSync device talking to the test server through
// eas/easclient, protocol 16.1.
type phone struct {
	t *testing.T
	c *easclient.Client
	// model, os, name and imei are what it reports in DeviceInformation.
	model, os, name, imei string
	// folderKey is the FolderSync key; folders maps a folder's display
	// name to its ServerId.
	folderKey string
	folders   map[string]string
}

// newPhone is a device of user (the mail address, password "pw") with the
// DeviceId id; typ is its DeviceType ("iPhone", "Android").
func (e *env) newPhone(user, id, typ, model, os string) *phone {
	return &phone{
		t: e.t,
		c: &easclient.Client{HTTP: e.srv.Client, URL: e.srv.URL, Username: user, Password: userPassword,
			User: user, DeviceID: id, DeviceType: typ, UserAgent: typ + "/1.0"},
		model: model, os: os, name: model, folderKey: "0", folders: map[string]string{},
	}
}

// userPassword is the password of every mail user of the tests.
const userPassword = "pw"

// node is a decoded WBXML element.
type node struct {
	tag  wbxml.Tag
	text string
	kids []*node
}

func parse(t *testing.T, b []byte) *node {
	t.Helper()
	dec := wbxml.NewDecoder(b)
	root := &node{}
	stack := []*node{root}
	for {
		tok, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		top := stack[len(stack)-1]
		switch tok.Kind {
		case wbxml.KindStart:
			n := &node{tag: tok.Tag}
			top.kids = append(top.kids, n)
			if tok.Content {
				stack = append(stack, n)
			}
		case wbxml.KindEnd:
			stack = stack[:len(stack)-1]
		case wbxml.KindString, wbxml.KindOpaque:
			top.text += string(tok.Data)
		}
	}
	require.Len(t, root.kids, 1, "one root element")
	return root.kids[0]
}

// find returns the first descendant along path, nil if there is none.
func (n *node) find(path ...wbxml.Tag) *node {
	for _, tag := range path {
		if n == nil {
			return nil
		}
		var next *node
		for _, k := range n.kids {
			if k.tag == tag {
				next = k
				break
			}
		}
		n = next
	}
	return n
}

func (n *node) get(path ...wbxml.Tag) string {
	if f := n.find(path...); f != nil {
		return f.text
	}
	return ""
}

func (n *node) all(tag wbxml.Tag) []*node {
	var out []*node
	if n != nil {
		for _, k := range n.kids {
			if k.tag == tag {
				out = append(out, k)
			}
		}
	}
	return out
}

// do sends a command and returns the HTTP status and, for 200, the body.
func (p *phone) do(cmd eas.CommandCode, enc *wbxml.Encoder) (int, *node) {
	p.t.Helper()
	require.NoError(p.t, enc.Err())
	resp, err := p.c.Do(p.t.Context(), &easclient.Request{Cmd: cmd, Body: enc.Bytes()})
	require.NoError(p.t, err)
	if resp.StatusCode != http.StatusOK || len(resp.Body) == 0 {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, parse(p.t, resp.Body)
}

// provisionRequest is a Provision asking for the policy (key "") or
// acknowledging it, with the device's DeviceInformation (MS-ASPROV
// 2.2.2.52: 14.1 and later send it with the first Provision).
func (p *phone) provisionRequest(key string) *wbxml.Encoder {
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.ProvisionProvision)
	if key == "" {
		enc.Start(wbxml.SettingsDeviceInformation)
		enc.Start(wbxml.SettingsSet)
		enc.String(wbxml.SettingsModel, p.model)
		if p.imei != "" {
			enc.String(wbxml.SettingsIMEI, p.imei)
		}
		enc.String(wbxml.SettingsFriendlyName, p.name)
		enc.String(wbxml.SettingsOS, p.os)
		enc.String(wbxml.SettingsUserAgent, p.c.UserAgent)
		enc.End()
		enc.End()
	}
	enc.Start(wbxml.ProvisionPolicies)
	enc.Start(wbxml.ProvisionPolicy)
	enc.String(wbxml.ProvisionPolicyType, eas.PolicyTypeWBXML)
	if key != "" {
		enc.String(wbxml.ProvisionPolicyKey, key)
		enc.String(wbxml.ProvisionStatus, "1")
	}
	enc.End()
	enc.End()
	enc.End()
	return enc
}

// provision does the two-step handshake (MS-ASPROV 3.1.5.1) and keeps the
// final policy key. It returns the Provision status of the first step; on
// anything but 1 it stops there.
func (p *phone) provision() int {
	p.t.Helper()
	code, doc := p.do(eas.CmdProvision, p.provisionRequest(""))
	require.Equal(p.t, http.StatusOK, code, "provision")
	st, _ := strconv.Atoi(doc.get(wbxml.ProvisionStatus))
	if st != 1 {
		return st
	}
	key := doc.get(wbxml.ProvisionPolicies, wbxml.ProvisionPolicy, wbxml.ProvisionPolicyKey)
	require.NotEmpty(p.t, key, "temporary policy key")
	code, doc = p.do(eas.CmdProvision, p.provisionRequest(key))
	require.Equal(p.t, http.StatusOK, code, "provision acknowledgement")
	require.Equal(p.t, "1", doc.get(wbxml.ProvisionStatus))
	final, err := strconv.ParseUint(doc.get(wbxml.ProvisionPolicies, wbxml.ProvisionPolicy, wbxml.ProvisionPolicyKey), 10, 32)
	require.NoError(p.t, err, "final policy key")
	p.c.PolicyKey, p.c.HasPolicyKey = uint32(final), true
	return 1
}

// folderSync sends a FolderSync with the current key and returns its
// Status and the display names of the folders it added; on status 1 it
// keeps the new key and the folders.
func (p *phone) folderSync() (int, []string) {
	p.t.Helper()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.FolderHierarchyFolderSync)
	enc.String(wbxml.FolderHierarchySyncKey, p.folderKey)
	enc.End()
	code, doc := p.do(eas.CmdFolderSync, enc)
	require.Equal(p.t, http.StatusOK, code, "FolderSync")
	st, err := strconv.Atoi(doc.get(wbxml.FolderHierarchyStatus))
	require.NoError(p.t, err, "FolderSync Status")
	if st != 1 {
		return st, nil
	}
	p.folderKey = doc.get(wbxml.FolderHierarchySyncKey)
	var names []string
	for _, a := range doc.find(wbxml.FolderHierarchyChanges).all(wbxml.FolderHierarchyAdd) {
		name := a.get(wbxml.FolderHierarchyDisplayName)
		names = append(names, name)
		p.folders[name] = a.get(wbxml.FolderHierarchyServerId)
	}
	return st, names
}

// subjects syncs the named folder from key 0 (MS-ASCMD 2.2.1.21: the first
// Sync returns a key, the second the items) and returns the subjects of the
// messages in it; it fails the test on a Sync status other than 1.
func (p *phone) subjects(folder string) []string {
	p.t.Helper()
	id, ok := p.folders[folder]
	require.True(p.t, ok, "folder %q not synced; have %v", folder, p.folders)
	sync := func(key string) *node {
		enc := wbxml.NewEncoder(nil)
		enc.Start(wbxml.AirSyncSync)
		enc.Start(wbxml.AirSyncCollections)
		enc.Start(wbxml.AirSyncCollection)
		enc.String(wbxml.AirSyncSyncKey, key)
		enc.String(wbxml.AirSyncCollectionId, id)
		if key != "0" {
			enc.Empty(wbxml.AirSyncGetChanges)
			enc.String(wbxml.AirSyncWindowSize, "100")
		}
		enc.End()
		enc.End()
		enc.End()
		code, doc := p.do(eas.CmdSync, enc)
		require.Equal(p.t, http.StatusOK, code, "Sync %s", folder)
		coll := doc.find(wbxml.AirSyncCollections, wbxml.AirSyncCollection)
		require.NotNil(p.t, coll, "Sync %s: no collection (status %s)", folder, doc.get(wbxml.AirSyncStatus))
		require.Equal(p.t, "1", coll.get(wbxml.AirSyncStatus), "Sync %s status", folder)
		return coll
	}
	first := sync("0")
	second := sync(first.get(wbxml.AirSyncSyncKey))
	var out []string
	for _, a := range second.find(wbxml.AirSyncCommands).all(wbxml.AirSyncAdd) {
		out = append(out, a.get(wbxml.AirSyncApplicationData, wbxml.EmailSubject))
	}
	return out
}

// wipeDirective sends an initial Provision and returns its status and the
// wipe directive it carries ("RemoteWipe", "AccountOnlyRemoteWipe" or "").
func (p *phone) wipeDirective() (int, string) {
	p.t.Helper()
	code, doc := p.do(eas.CmdProvision, p.provisionRequest(""))
	require.Equal(p.t, http.StatusOK, code, "provision")
	st, _ := strconv.Atoi(doc.get(wbxml.ProvisionStatus))
	switch {
	case doc.find(wbxml.ProvisionRemoteWipe) != nil:
		return st, "RemoteWipe"
	case doc.find(wbxml.ProvisionAccountOnlyRemoteWipe) != nil:
		return st, "AccountOnlyRemoteWipe"
	}
	return st, ""
}

// acknowledgeWipe reports a successful wipe (MS-ASPROV 3.1.5.1.2.2) and
// returns the Provision status of the answer.
func (p *phone) acknowledgeWipe() int {
	p.t.Helper()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.ProvisionProvision)
	enc.Start(wbxml.ProvisionRemoteWipe)
	enc.String(wbxml.ProvisionStatus, "1")
	enc.End()
	enc.End()
	code, doc := p.do(eas.CmdProvision, enc)
	require.Equal(p.t, http.StatusOK, code, "wipe acknowledgement")
	st, _ := strconv.Atoi(doc.get(wbxml.ProvisionStatus))
	return st
}

// String names the phone in messages.
func (p *phone) String() string { return fmt.Sprintf("%s %s", p.c.Username, p.c.DeviceID) }
