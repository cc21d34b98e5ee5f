package eas

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
)

// PolicySource returns the policy in force for a user. *store.Store implements it.
type PolicySource interface {
	UserPolicy(ctx context.Context, user store.UserID) (store.PolicyRecord, error)
}

var _ PolicySource = (*store.Store)(nil)

// GateOptions configures NewGate. Every field is optional.
type GateOptions struct {
	Now func() time.Time // nil: time.Now
}

// Gate is the DeviceGate of a real server: once per request it records the device in the
// registry (devices.Registry.Touch) and then runs a short ordered list of checks, the first
// refusal winning.
//
// Exempt from the policy key: Provision only (MS-ASPROV 3.2.5.1: the device provisions
// without a key, and Android resends the initial request with its temporary key). Every other
// command needs the current key, Ping, Sync and FolderSync included, as Exchange requires;
// OPTIONS and Autodiscover never reach the gate. A request that carries no policy key at all
// passes when the user's policy has AllowNonProvisionableDevices; key 0 never does.
//
// Refusals: no key or key 0, or a key while the device never provisioned: DeviceNotProvisioned
// (142); a key that is not the device's: InvalidPolicyKey (144); the device acknowledged
// another policy, an older version of it, or longer ago than its refresh interval:
// PolicyRefresh (143). Before 14.0 all three are HTTP 449 (Status.HTTPStatus; MS-ASPROV
// 3.2.5.1).
type Gate struct {
	reg      *devices.Registry
	policies PolicySource
	now      func() time.Time

	mu     sync.Mutex
	parsed map[policyVersion]*policy.Policy // settings parsed once per policy version
}

type policyVersion struct {
	id      store.PolicyID
	version int64
}

var _ DeviceGate = (*Gate)(nil)

// NewGate returns the gate over the registry and the policies.
func NewGate(reg *devices.Registry, policies PolicySource, opts GateOptions) *Gate {
	g := &Gate{reg: reg, policies: policies, now: opts.Now, parsed: make(map[policyVersion]*policy.Policy)}
	if g.now == nil {
		g.now = time.Now
	}
	return g
}

// gateRequest is what the checks look at.
type gateRequest struct {
	r   *Request
	key devices.Key
	dev devices.Device
}

// gateCheck returns a refusal (Status non-zero) or 0 to let the request go on.
type gateCheck func(g *Gate, ctx context.Context, q *gateRequest) (Status, string, error)

// gateChecks run in this order, after Touch (which refuses a new device beyond the cap with
// MaximumDevicesReached 177, HTTP 403 before 14.0, for every command, and creates nothing):
//   - a pending remote wipe: RemoteWipeRequested 140 (HTTP 449 before 14.0) for every command
//     but Provision, which sends the directive; it comes before the access state so that a
//     blocked or quarantined device is wiped too,
//   - the access state: blocked DeviceIsBlockedForThisUser 129 (HTTP 403 before 14.0) for
//     everything; quarantined: only quarantineCommands, the rest AccessDenied 130,
//   - the policy key.
var gateChecks = []gateCheck{
	(*Gate).checkWipe,
	(*Gate).checkAccess,
	(*Gate).checkPolicyKey,
}

// quarantineCommands are what a quarantined device may do: provision, see its Inbox
// (FolderSync shows only the Inbox, Sync refuses other collections: collectionAllowed), wait
// for mail and read its settings.
var quarantineCommands = map[CommandCode]bool{
	CmdProvision: true, CmdFolderSync: true, CmdSync: true, CmdPing: true, CmdSettings: true,
	CmdGetItemEstimate: true,
}

// checkWipe answers RemoteWipeRequested while a wipe is pending (MS-ASCMD 2.2.2 140: "the
// client must send a Provision command"), so that the device provisions and Provision sends
// the directive. An account-only wipe cannot be sent before 16.1 (MS-ASPROV 2.2.2.1): rather
// than a full wipe the device gets DeviceIsBlockedForThisUser until an admin cancels it or
// removes the partnership.
func (g *Gate) checkWipe(_ context.Context, q *gateRequest) (Status, string, error) {
	if !q.dev.WipePending() {
		return 0, "", nil
	}
	if q.dev.WipeAccountOnly && q.r.Version < Version161 {
		return StatusDeviceIsBlockedForThisUser, "account-only wipe pending, protocol before 16.1", nil
	}
	if q.r.Cmd == CmdProvision {
		return 0, "", nil
	}
	return StatusRemoteWipeRequested, "remote wipe pending", nil
}

// checkAccess applies the device's access state (devices.Decide and the package doc of
// devices give how it is decided).
func (g *Gate) checkAccess(_ context.Context, q *gateRequest) (Status, string, error) {
	switch q.dev.AccessState {
	case store.AccessBlocked:
		return StatusDeviceIsBlockedForThisUser, "blocked: " + q.dev.AccessReason + " " + q.dev.AccessSetBy, nil
	case store.AccessQuarantined:
		if !quarantineCommands[q.r.Cmd] {
			return StatusAccessDenied, "quarantined", nil
		}
	}
	return 0, "", nil
}

// Admit implements DeviceGate.
func (g *Gate) Admit(ctx context.Context, r *Request) (Decision, error) {
	q := &gateRequest{r: r, key: devices.Key{User: r.Account.ID, DeviceID: r.DeviceID}}
	dev, err := g.reg.Touch(ctx, q.key, devices.Contact{DeviceType: r.DeviceType, UserAgent: r.UserAgent,
		ProtocolVersion: r.Version.String()})
	if errors.Is(err, devices.ErrDeviceLimit) {
		return Decision{Status: StatusMaximumDevicesReached, Reason: "device limit reached"}, nil
	} else if err != nil {
		return Decision{}, err
	}
	q.dev = dev
	r.Access = dev.AccessState
	for _, check := range gateChecks {
		st, reason, err := check(g, ctx, q)
		if err != nil {
			return Decision{}, err
		}
		if st != 0 {
			return Decision{Status: st, Reason: reason}, nil
		}
	}
	return Decision{Allow: true}, nil
}

// policyOf returns the user's policy, parsed, and keeps it in r for the handler's policy
// limits (requestPolicy).
func (g *Gate) policyOf(ctx context.Context, r *Request) (*policy.Policy, error) {
	if r.policy != nil {
		return r.policy, nil
	}
	var rec store.PolicyRecord
	if r.policyRec != nil && r.policyFrom != nil && any(r.policyFrom) == any(g.policies) {
		rec = *r.policyRec // read together with the account, from the same store
	} else {
		var err error
		if rec, err = g.policies.UserPolicy(ctx, r.Account.ID); err != nil {
			return nil, err
		}
	}
	p, err := g.parse(rec)
	if err != nil {
		return nil, err
	}
	r.policy = p
	return p, nil
}

// parse returns rec's settings parsed, once per policy version.
func (g *Gate) parse(rec store.PolicyRecord) (*policy.Policy, error) {
	k := policyVersion{rec.ID, rec.Version}
	g.mu.Lock()
	p, ok := g.parsed[k]
	g.mu.Unlock()
	if ok {
		return p, nil
	}
	pp, err := policy.FromRecord(rec)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	if len(g.parsed) > 1024 {
		clear(g.parsed)
	}
	g.parsed[k] = &pp
	g.mu.Unlock()
	return &pp, nil
}

// checkPolicyKey is the provisioning check (MS-ASPROV 3.2.5.1; MS-ASCMD 2.2.2 142, 143, 144).
func (g *Gate) checkPolicyKey(ctx context.Context, q *gateRequest) (Status, string, error) {
	r := q.r
	if r.Cmd == CmdProvision {
		return 0, "", nil
	}
	p, err := g.policyOf(ctx, r)
	if err != nil {
		return 0, "", fmt.Errorf("policy key check: %w", err)
	}
	if !r.HasPolicyKey && p.AllowNonProvisionableDevices {
		return 0, "", nil
	}
	if !r.HasPolicyKey || r.PolicyKey == 0 {
		return StatusDeviceNotProvisioned, "no policy key", nil
	}
	dev := q.dev
	if r.PolicyKey != dev.PolicyKey {
		// The cache may predate a Provision that another node answered: read the row.
		fresh, err := g.reg.Get(ctx, q.key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, "", fmt.Errorf("policy key check: %w", err)
		}
		dev = fresh
	}
	switch {
	case dev.PolicyKey == 0:
		return StatusDeviceNotProvisioned, "device never provisioned", nil
	case r.PolicyKey != dev.PolicyKey:
		return StatusInvalidPolicyKey, "policy key is not the device's", nil
	case dev.PolicyID != p.ID || dev.PolicyVersion != p.Version:
		return StatusPolicyRefresh, fmt.Sprintf("policy %d v%d acknowledged, %d v%d in force",
			dev.PolicyID, dev.PolicyVersion, p.ID, p.Version), nil
	case p.RefreshIntervalHours > 0 && g.now().Sub(dev.ProvisionedAt) > time.Duration(p.RefreshIntervalHours)*time.Hour:
		return StatusPolicyRefresh, "refresh interval passed", nil
	}
	return 0, "", nil
}
