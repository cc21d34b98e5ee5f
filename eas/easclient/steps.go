package easclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/easd/easd/eas"
	"github.com/easd/easd/wbxml"
)

// The steps below are what every device does before it sees mail: the Provision handshake,
// FolderSync and the first Sync of a folder. They build the request, send it with Do and read
// the answer into a small result. An HTTP status other than 200 or a body that does not decode
// is an error (*HTTPError, or the decoder's); a protocol Status is a value in the result, except
// for the whole handshake Provision, which returns a *StatusError.

// HTTPError is an answer with an HTTP status other than 200 OK: 449 asks a client before
// protocol 14.0 to provision (MS-ASPROV 3.2.5.1), 401 and 403 refuse it.
type HTTPError struct {
	Cmd        eas.CommandCode
	StatusCode int
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("easclient: %s: HTTP %d", e.Cmd, e.StatusCode)
}

// StatusError is a Status other than 1 (success) where a step needs success. In is the
// element whose Status it is (ProvisionProvision or ProvisionPolicy for Provision).
type StatusError struct {
	Cmd    eas.CommandCode
	In     wbxml.Tag
	Status int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("easclient: %s: %s status %d", e.Cmd, e.In, e.Status)
}

// ErrWipeRequested is returned by Provision when the server answers with a remote wipe or an
// account-only remote wipe directive (MS-ASPROV 3.1.5.1.1) instead of a policy; see
// RequestPolicy and AcknowledgeWipe.
var ErrWipeRequested = errors.New("easclient: remote wipe requested")

// DeviceInfo is what a device tells about itself in settings:DeviceInformation (MS-ASCMD
// 2.2.3.47, MS-ASPROV 2.2.2.53). Empty fields are not sent.
type DeviceInfo struct {
	Model, IMEI, FriendlyName, OS, OSLanguage, PhoneNumber, UserAgent, MobileOperator string
}

// ProvisionResult is the answer to one Provision request.
type ProvisionResult struct {
	Status       int    // Provision Status (MS-ASPROV 2.2.2.54.2)
	PolicyStatus int    // Policy Status (MS-ASPROV 2.2.2.54.1); 0 without a Policy
	PolicyKey    uint32 // 0 without a PolicyKey
	// Wipe is the directive in the answer: wbxml.ProvisionRemoteWipe,
	// wbxml.ProvisionAccountOnlyRemoteWipe, or 0 for none (MS-ASPROV 2.2.2.45, 2.2.2.1).
	Wipe wbxml.Tag
	Doc  *Node // the Provision element
}

// RequestPolicy sends the initial Provision request for the EASProvisionDoc policy (MS-ASPROV
// 3.1.5.1.1), with DeviceInfo as settings:DeviceInformation from protocol 14.1 on (MS-ASPROV
// 2.2.2.53). It is also the request a client sends when told to provision for a remote wipe.
func (c *Client) RequestPolicy(ctx context.Context, info *DeviceInfo) (*ProvisionResult, error) {
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.ProvisionProvision)
	if info != nil && c.version() >= eas.Version141 {
		enc.Start(wbxml.SettingsDeviceInformation)
		enc.Start(wbxml.SettingsSet)
		for _, f := range []struct {
			tag wbxml.Tag
			v   string
		}{
			{wbxml.SettingsModel, info.Model}, {wbxml.SettingsIMEI, info.IMEI},
			{wbxml.SettingsFriendlyName, info.FriendlyName}, {wbxml.SettingsOS, info.OS},
			{wbxml.SettingsOSLanguage, info.OSLanguage}, {wbxml.SettingsPhoneNumber, info.PhoneNumber},
			{wbxml.SettingsUserAgent, info.UserAgent}, {wbxml.SettingsMobileOperator, info.MobileOperator},
		} {
			if f.v != "" {
				enc.String(f.tag, f.v)
			}
		}
		enc.End()
		enc.End()
	}
	policyRequest(enc, "", 0)
	enc.End()
	return c.provisionStep(ctx, enc)
}

// AcknowledgePolicy acknowledges the policy that came with the temporary key (MS-ASPROV
// 3.1.5.1.2.1); status 1 says it was applied. The answer carries the final key.
func (c *Client) AcknowledgePolicy(ctx context.Context, key uint32, status int) (*ProvisionResult, error) {
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.ProvisionProvision)
	policyRequest(enc, strconv.FormatUint(uint64(key), 10), status)
	enc.End()
	return c.provisionStep(ctx, enc)
}

// AcknowledgeWipe reports the outcome of the wipe directive (wbxml.ProvisionRemoteWipe or
// wbxml.ProvisionAccountOnlyRemoteWipe): status 1 wiped, 2 failed (MS-ASPROV 3.1.5.1.2.2,
// 3.1.5.1.2.3, 2.2.2.54.3).
func (c *Client) AcknowledgeWipe(ctx context.Context, directive wbxml.Tag, status int) (*ProvisionResult, error) {
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.ProvisionProvision)
	enc.Start(directive)
	enc.String(wbxml.ProvisionStatus, strconv.Itoa(status))
	enc.End()
	enc.End()
	return c.provisionStep(ctx, enc)
}

// Provision does the two-step handshake (MS-ASPROV 3.1.5.1): the initial request with info,
// then the acknowledgement of the temporary key. It keeps the final policy key in the Client
// (PolicyKey, HasPolicyKey) and returns it. A Provision or Policy Status other than 1 is a
// *StatusError, a wipe directive ErrWipeRequested; the Client is unchanged then.
func (c *Client) Provision(ctx context.Context, info *DeviceInfo) (uint32, error) {
	r, err := c.RequestPolicy(ctx, info)
	if err != nil {
		return 0, err
	}
	if err := r.check(); err != nil {
		return 0, err
	}
	r, err = c.AcknowledgePolicy(ctx, r.PolicyKey, 1)
	if err != nil {
		return 0, err
	}
	if err := r.check(); err != nil {
		return 0, err
	}
	if r.PolicyKey == 0 {
		return 0, errors.New("easclient: Provision: no final policy key")
	}
	c.PolicyKey, c.HasPolicyKey = r.PolicyKey, true
	return r.PolicyKey, nil
}

func (r *ProvisionResult) check() error {
	switch {
	case r.Wipe != 0:
		return fmt.Errorf("%w (%s)", ErrWipeRequested, r.Wipe)
	case r.Status != 1:
		return &StatusError{Cmd: eas.CmdProvision, In: wbxml.ProvisionProvision, Status: r.Status}
	case r.PolicyStatus != 1:
		return &StatusError{Cmd: eas.CmdProvision, In: wbxml.ProvisionPolicy, Status: r.PolicyStatus}
	}
	return nil
}

func policyRequest(enc *wbxml.Encoder, key string, status int) {
	enc.Start(wbxml.ProvisionPolicies)
	enc.Start(wbxml.ProvisionPolicy)
	enc.String(wbxml.ProvisionPolicyType, eas.PolicyTypeWBXML)
	if key != "" {
		enc.String(wbxml.ProvisionPolicyKey, key)
		enc.String(wbxml.ProvisionStatus, strconv.Itoa(status))
	}
	enc.End()
	enc.End()
}

func (c *Client) provisionStep(ctx context.Context, enc *wbxml.Encoder) (*ProvisionResult, error) {
	doc, err := c.step(ctx, eas.CmdProvision, enc)
	if err != nil {
		return nil, err
	}
	r := &ProvisionResult{Doc: doc}
	if r.Status, err = atoi(doc, wbxml.ProvisionStatus); err != nil {
		return nil, err
	}
	if pol := doc.Child(wbxml.ProvisionPolicies, wbxml.ProvisionPolicy); pol != nil {
		if r.PolicyStatus, err = atoi(pol, wbxml.ProvisionStatus); err != nil {
			return nil, err
		}
		if k := pol.Get(wbxml.ProvisionPolicyKey); k != "" {
			n, err := strconv.ParseUint(k, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("easclient: Provision: policy key %q: %w", k, err)
			}
			r.PolicyKey = uint32(n)
		}
	}
	switch {
	case doc.Has(wbxml.ProvisionRemoteWipe):
		r.Wipe = wbxml.ProvisionRemoteWipe
	case doc.Has(wbxml.ProvisionAccountOnlyRemoteWipe):
		r.Wipe = wbxml.ProvisionAccountOnlyRemoteWipe
	}
	return r, nil
}

// Folder is a folder of a FolderSync answer (MS-ASCMD 2.2.3.170.x: Add and Update).
type Folder struct {
	ServerID, ParentID, DisplayName string
	Type                            int // MS-ASCMD 2.2.3.186.3: 2 Inbox, 3 Drafts, …
}

// FolderSyncResult is the answer to FolderSync.
type FolderSyncResult struct {
	Status  int    // MS-ASCMD 2.2.3.177.4
	SyncKey string // the new key; "" when Status is not 1
	Added   []Folder
	Updated []Folder
	Deleted []string // ServerIds
	Doc     *Node    // the FolderSync element
}

// Folder returns the first added folder of type typ, false if none.
func (r *FolderSyncResult) Folder(typ int) (Folder, bool) {
	for _, f := range r.Added {
		if f.Type == typ {
			return f, true
		}
	}
	return Folder{}, false
}

// FolderSync sends FolderSync with key ("0" for the whole hierarchy, MS-ASCMD 2.2.1.5) and
// returns the answer; a Status other than 1 is in the result, not an error.
func (c *Client) FolderSync(ctx context.Context, key string) (*FolderSyncResult, error) {
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.FolderHierarchyFolderSync)
	enc.String(wbxml.FolderHierarchySyncKey, key)
	enc.End()
	doc, err := c.step(ctx, eas.CmdFolderSync, enc)
	if err != nil {
		return nil, err
	}
	r := &FolderSyncResult{Doc: doc, SyncKey: doc.Get(wbxml.FolderHierarchySyncKey)}
	if r.Status, err = atoi(doc, wbxml.FolderHierarchyStatus); err != nil {
		return nil, err
	}
	changes := doc.Child(wbxml.FolderHierarchyChanges)
	folder := func(n *Node) Folder {
		t, _ := strconv.Atoi(n.Get(wbxml.FolderHierarchyType))
		return Folder{ServerID: n.Get(wbxml.FolderHierarchyServerId), ParentID: n.Get(wbxml.FolderHierarchyParentId),
			DisplayName: n.Get(wbxml.FolderHierarchyDisplayName), Type: t}
	}
	for _, n := range changes.All(wbxml.FolderHierarchyAdd) {
		r.Added = append(r.Added, folder(n))
	}
	for _, n := range changes.All(wbxml.FolderHierarchyUpdate) {
		r.Updated = append(r.Updated, folder(n))
	}
	for _, n := range changes.All(wbxml.FolderHierarchyDelete) {
		r.Deleted = append(r.Deleted, n.Get(wbxml.FolderHierarchyServerId))
	}
	return r, nil
}

// SyncItem is an Add or Change of a Sync answer.
type SyncItem struct {
	ServerID string
	Data     *Node // ApplicationData; nil if absent
}

// SyncResult is the answer to a Sync of one collection.
type SyncResult struct {
	// Status is the Collection's Status, or the top-level one when the answer has no
	// Collection (MS-ASCMD 2.2.3.177.17).
	Status        int
	SyncKey       string
	MoreAvailable bool
	Added         []SyncItem
	Changed       []SyncItem
	Deleted       []string // ServerIds of Delete and SoftDelete
	Collection    *Node    // nil when the answer has none
	Doc           *Node    // the Sync element
}

// SyncFolder syncs one collection (MS-ASCMD 2.2.1.21). Key "0" is the priming request: no
// GetChanges and no WindowSize, and the answer holds only the first key. Any other key asks for
// changes, at most window of them when window > 0. A Status other than 1 is in the result.
func (c *Client) SyncFolder(ctx context.Context, id, key string, window int) (*SyncResult, error) {
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.AirSyncSync)
	enc.Start(wbxml.AirSyncCollections)
	enc.Start(wbxml.AirSyncCollection)
	enc.String(wbxml.AirSyncSyncKey, key)
	enc.String(wbxml.AirSyncCollectionId, id)
	if key != "0" {
		enc.Empty(wbxml.AirSyncGetChanges)
		if window > 0 {
			enc.Int(wbxml.AirSyncWindowSize, int64(window))
		}
	}
	enc.End()
	enc.End()
	enc.End()
	doc, err := c.step(ctx, eas.CmdSync, enc)
	if err != nil {
		return nil, err
	}
	r := &SyncResult{Doc: doc, Collection: doc.Child(wbxml.AirSyncCollections, wbxml.AirSyncCollection)}
	if r.Collection == nil {
		r.Status, err = atoi(doc, wbxml.AirSyncStatus)
		return r, err
	}
	coll := r.Collection
	if r.Status, err = atoi(coll, wbxml.AirSyncStatus); err != nil {
		return nil, err
	}
	r.SyncKey = coll.Get(wbxml.AirSyncSyncKey)
	r.MoreAvailable = coll.Has(wbxml.AirSyncMoreAvailable)
	var cmds []*Node
	if c := coll.Child(wbxml.AirSyncCommands); c != nil {
		cmds = c.Children
	}
	for _, k := range cmds {
		switch k.Tag {
		case wbxml.AirSyncAdd:
			r.Added = append(r.Added, SyncItem{ServerID: k.Get(wbxml.AirSyncServerId), Data: k.Child(wbxml.AirSyncApplicationData)})
		case wbxml.AirSyncChange:
			r.Changed = append(r.Changed, SyncItem{ServerID: k.Get(wbxml.AirSyncServerId), Data: k.Child(wbxml.AirSyncApplicationData)})
		case wbxml.AirSyncDelete, wbxml.AirSyncSoftDelete:
			r.Deleted = append(r.Deleted, k.Get(wbxml.AirSyncServerId))
		}
	}
	return r, nil
}

// InitialSync syncs a folder from key 0: the priming Sync, then one with its key that returns
// up to window items (MS-ASCMD 2.2.1.21). If the priming Sync's Status is not 1 it returns that
// answer.
func (c *Client) InitialSync(ctx context.Context, id string, window int) (*SyncResult, error) {
	r, err := c.SyncFolder(ctx, id, "0", 0)
	if err != nil || r.Status != 1 {
		return r, err
	}
	return c.SyncFolder(ctx, id, r.SyncKey, window)
}

// step sends enc's document as cmd and decodes a 200 answer.
func (c *Client) step(ctx context.Context, cmd eas.CommandCode, enc *wbxml.Encoder) (*Node, error) {
	if err := enc.Err(); err != nil {
		return nil, fmt.Errorf("easclient: encode %s: %w", cmd, err)
	}
	resp, err := c.Do(ctx, &Request{Cmd: cmd, Body: enc.Bytes()})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{Cmd: cmd, StatusCode: resp.StatusCode}
	}
	doc, err := resp.Tree()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	return doc, nil
}

// atoi reads the integer content of n's child tag, an error if it is missing or not a number.
func atoi(n *Node, tag wbxml.Tag) (int, error) {
	c := n.Child(tag)
	if c == nil {
		return 0, fmt.Errorf("easclient: no %s in %s", tag, n.Tag)
	}
	v, err := strconv.Atoi(c.Text)
	if err != nil {
		return 0, fmt.Errorf("easclient: %s: %w", tag, err)
	}
	return v, nil
}
