package browser

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

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

// info is what the phone tells about itself in DeviceInformation (MS-ASPROV
// 2.2.2.53: 14.1 and later send it with the first Provision).
func (p *phone) info() *easclient.DeviceInfo {
	return &easclient.DeviceInfo{Model: p.model, IMEI: p.imei, FriendlyName: p.name, OS: p.os, UserAgent: p.c.UserAgent}
}

// provision does the two-step handshake (MS-ASPROV 3.1.5.1) and keeps the
// final policy key. It returns the Provision status of the first step; on
// anything but 1 it stops there.
func (p *phone) provision() int {
	p.t.Helper()
	_, err := p.c.Provision(p.t.Context(), p.info())
	if se, ok := errors.AsType[*easclient.StatusError](err); ok && se.In == wbxml.ProvisionProvision {
		return se.Status
	}
	require.NoError(p.t, err, "provision")
	return 1
}

// folderSync sends a FolderSync with the current key and returns its
// Status and the display names of the folders it added; on status 1 it
// keeps the new key and the folders.
func (p *phone) folderSync() (int, []string) {
	p.t.Helper()
	fs, err := p.c.FolderSync(p.t.Context(), p.folderKey)
	require.NoError(p.t, err, "FolderSync")
	if fs.Status != 1 {
		return fs.Status, nil
	}
	p.folderKey = fs.SyncKey
	var names []string
	for _, f := range fs.Added {
		names = append(names, f.DisplayName)
		p.folders[f.DisplayName] = f.ServerID
	}
	return fs.Status, names
}

// subjects syncs the named folder from key 0 (MS-ASCMD 2.2.1.21: the first
// Sync returns a key, the second the items) and returns the subjects of the
// messages in it; it fails the test on a Sync status other than 1.
func (p *phone) subjects(folder string) []string {
	p.t.Helper()
	id, ok := p.folders[folder]
	require.True(p.t, ok, "folder %q not synced; have %v", folder, p.folders)
	r, err := p.c.InitialSync(p.t.Context(), id, 100)
	require.NoError(p.t, err, "Sync %s", folder)
	require.Equal(p.t, 1, r.Status, "Sync %s status", folder)
	var out []string
	for _, a := range r.Added {
		out = append(out, a.Data.Get(wbxml.EmailSubject))
	}
	return out
}

// wipeDirective sends an initial Provision and returns its status and the
// wipe directive it carries ("RemoteWipe", "AccountOnlyRemoteWipe" or "").
func (p *phone) wipeDirective() (int, string) {
	p.t.Helper()
	r, err := p.c.RequestPolicy(p.t.Context(), p.info())
	require.NoError(p.t, err, "provision")
	if r.Wipe == 0 {
		return r.Status, ""
	}
	return r.Status, strings.TrimPrefix(r.Wipe.String(), "Provision:") // RemoteWipe, AccountOnlyRemoteWipe
}

// acknowledgeWipe reports a successful wipe (MS-ASPROV 3.1.5.1.2.2) and
// returns the Provision status of the answer.
func (p *phone) acknowledgeWipe() int {
	p.t.Helper()
	r, err := p.c.AcknowledgeWipe(p.t.Context(), wbxml.ProvisionRemoteWipe, 1)
	require.NoError(p.t, err, "wipe acknowledgement")
	return r.Status
}

// String names the phone in messages.
func (p *phone) String() string { return fmt.Sprintf("%s %s", p.c.Username, p.c.DeviceID) }
