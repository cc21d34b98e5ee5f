package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/internal/hourly"
	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
)

// Guard throttles failed logins; *loginlimit.Limiter is one, shared with
// the other front-ends.
type Guard interface {
	// Allow returns how long account from remote must wait before its
	// next attempt; zero: it may try now.
	Allow(account string, remote netip.Addr) time.Duration
	// Failed records a failed attempt.
	Failed(account string, remote netip.Addr)
}

// Options configures New. Store, Devices and SigningKey are required.
type Options struct {
	Store   *store.Store
	Devices *devices.Registry
	// Policies validates and stores policies; nil: policy.NewManager(Store).
	Policies *policy.Manager
	// SigningKey signs session tokens (HS256); at least 32 bytes.
	SigningKey []byte
	// PreviousKeys still verify tokens after a key rotation.
	PreviousKeys [][]byte
	// Guard throttles failed logins; nil: no throttling.
	Guard Guard
	// InactivityTimeout ends a session without requests; zero:
	// DefaultInactivityTimeout. New refuses a value outside
	// MinInactivityTimeout–MaxInactivityTimeout.
	InactivityTimeout time.Duration
	// Requests counts EAS requests per hour for GET /stats (NewRequestCounter,
	// fed by CountRequest); nil: a counter nobody feeds, so the counts are zero.
	Requests *hourly.Counter
	// Started is when the process started, the start of the request counts;
	// zero: when New ran.
	Started time.Time
	Logger  *slog.Logger     // nil: discard
	Now     func() time.Time // nil: time.Now
}

// Service is the admin service. It is safe for concurrent use.
type Service struct {
	st         *store.Store
	reg        *devices.Registry
	pol        *policy.Manager
	keys       [][]byte // keys[0] signs
	guard      Guard
	inactivity time.Duration
	requests   *hourly.Counter
	started    time.Time
	log        *slog.Logger
	now        func() time.Time
}

type noGuard struct{}

func (noGuard) Allow(string, netip.Addr) time.Duration { return 0 }
func (noGuard) Failed(string, netip.Addr)              {}

// minKeyLen is the shortest signing key New accepts: RFC 7518 3.2 wants a
// key at least as long as the HS256 output.
const minKeyLen = 32

// New returns a Service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Devices == nil {
		return nil, errors.New("admin: Store and Devices are required")
	}
	if len(opts.SigningKey) < minKeyLen {
		return nil, fmt.Errorf("admin: the signing key must have at least %d bytes", minKeyLen)
	}
	s := &Service{st: opts.Store, reg: opts.Devices, pol: opts.Policies, guard: opts.Guard,
		inactivity: opts.InactivityTimeout, log: opts.Logger, now: opts.Now}
	s.keys = append(s.keys, opts.SigningKey)
	for _, k := range opts.PreviousKeys {
		if len(k) < minKeyLen {
			return nil, fmt.Errorf("admin: a previous signing key has fewer than %d bytes", minKeyLen)
		}
		s.keys = append(s.keys, k)
	}
	if s.inactivity == 0 {
		s.inactivity = DefaultInactivityTimeout
	}
	if s.inactivity < MinInactivityTimeout || s.inactivity > MaxInactivityTimeout {
		return nil, fmt.Errorf("admin: inactivity timeout %v outside %v–%v", s.inactivity, MinInactivityTimeout, MaxInactivityTimeout)
	}
	if s.pol == nil {
		s.pol = policy.NewManager(opts.Store)
	}
	if s.guard == nil {
		s.guard = noGuard{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("pkg", "admin")
	if s.now == nil {
		s.now = time.Now
	}
	s.requests, s.started = opts.Requests, opts.Started
	if s.requests == nil {
		s.requests = NewRequestCounter()
	}
	if s.started.IsZero() {
		s.started = s.now()
	}
	return s, nil
}

// audit appends an audit row; a failure is logged, not returned: the change
// it describes was made.
// auditing returns ctx carrying p's address for the audit rows the devices registry writes
// (store.WithAuditRemote): a device or rule change made through the API is logged once, by
// the registry, with the account's name and address.
func (p Principal) auditing(ctx context.Context) context.Context {
	if !p.Remote.IsValid() {
		return ctx
	}
	return store.WithAuditRemote(ctx, p.Remote.String())
}

func (s *Service) audit(ctx context.Context, p Principal, action, target, detail string) {
	remote := ""
	if p.Remote.IsValid() {
		remote = p.Remote.String()
	}
	e := store.AuditEntry{At: s.now().UTC(), Actor: p.Name, Action: action, Target: target, Detail: detail, RemoteAddr: remote}
	if err := s.st.AppendAudit(ctx, e); err != nil {
		s.log.Error("audit", "action", action, "target", target, "err", err)
	}
}

// Page selects a window of a list.
type Page struct {
	Limit  int // 1–1000; zero: 100
	Offset int // 0–100000
}

const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
	maxPageOffset    = 100000
)

func (p Page) check() (Page, error) {
	if p.Limit == 0 {
		p.Limit = defaultPageLimit
	}
	if p.Limit < 1 || p.Limit > maxPageLimit {
		return p, errInvalid(fmt.Sprintf("limit must be 1–%d", maxPageLimit))
	}
	if p.Offset < 0 || p.Offset > maxPageOffset {
		return p, errInvalid(fmt.Sprintf("offset must be 0–%d", maxPageOffset))
	}
	return p, nil
}

// Users returns the users whose address or display name contains query
// (case-insensitive; empty: all), ordered by address, and how many matched;
// the search and the window run in the database.
func (s *Service) Users(ctx context.Context, query string, p Page) ([]store.User, int, error) {
	p, err := p.check()
	if err != nil {
		return nil, 0, err
	}
	if len(query) > maxFilterLen {
		return nil, 0, errInvalid("q is too long")
	}
	return s.st.QueryUsers(ctx, query, p.Limit, p.Offset)
}

// User returns one user.
func (s *Service) User(ctx context.Context, addr string) (store.User, error) {
	return s.st.UserByAddress(ctx, addr)
}

// CreateUser creates a mail user.
func (s *Service) CreateUser(ctx context.Context, p Principal, nu store.NewUser) (store.User, error) {
	if nu.Address == "" || nu.Password == "" {
		return store.User{}, errInvalid("address and password are required")
	}
	if len(nu.DisplayName) > 256 || len(nu.Password) > 1024 {
		return store.User{}, errInvalid("display_name or password too long")
	}
	u, err := s.st.CreateUser(ctx, nu)
	if err != nil {
		return store.User{}, err
	}
	s.audit(ctx, p, "user.create", u.Address, "")
	return u, nil
}

// SetUserDisabled disables or enables a user.
func (s *Service) SetUserDisabled(ctx context.Context, p Principal, addr string, disabled bool) (store.User, error) {
	if err := s.st.SetDisabled(ctx, addr, disabled); err != nil {
		return store.User{}, err
	}
	action := "user.enable"
	if disabled {
		action = "user.disable"
	}
	s.audit(ctx, p, action, addr, "")
	return s.st.UserByAddress(ctx, addr)
}

// SetUserProtocols changes a user's protocol switches.
func (s *Service) SetUserProtocols(ctx context.Context, p Principal, addr string, upd store.ProtocolsUpdate) (store.User, error) {
	if upd.EAS == nil && upd.IMAP == nil && upd.POP3 == nil && upd.SMTP == nil {
		return store.User{}, errInvalid("set at least one of eas, imap, pop3, smtp")
	}
	u, err := s.st.SetProtocols(ctx, addr, upd)
	if err != nil {
		return store.User{}, err
	}
	s.audit(ctx, p, "user.protocols", u.Address, fmt.Sprintf("eas=%t imap=%t pop3=%t smtp=%t",
		u.Protocols.EAS, u.Protocols.IMAP, u.Protocols.POP3, u.Protocols.SMTP))
	return u, nil
}

// ResetUserPassword sets a user's password.
func (s *Service) ResetUserPassword(ctx context.Context, p Principal, addr, password string) error {
	if password == "" || len(password) > 1024 {
		return errInvalid("password must be 1–1024 bytes")
	}
	if err := s.st.SetPassword(ctx, addr, password); err != nil {
		return err
	}
	s.audit(ctx, p, "user.password", addr, "")
	return nil
}

// AssignPolicy assigns a policy to a user.
func (s *Service) AssignPolicy(ctx context.Context, p Principal, addr string, id store.PolicyID) (policy.Policy, error) {
	if id <= 0 {
		return policy.Policy{}, errInvalid("policy_id is required")
	}
	u, err := s.st.UserByAddress(ctx, addr)
	if err != nil {
		return policy.Policy{}, err
	}
	pol, err := s.pol.ByID(ctx, id)
	if err != nil {
		return policy.Policy{}, err
	}
	if err := s.pol.Assign(ctx, u.ID, id); err != nil {
		return policy.Policy{}, err
	}
	s.audit(ctx, p, "policy.assign", u.Address, fmt.Sprintf("policy %d (%s)", pol.ID, pol.Name))
	return pol, nil
}

// UserPolicy is the policy that applies to a user.
func (s *Service) UserPolicy(ctx context.Context, addr string) (policy.Policy, error) {
	u, err := s.st.UserByAddress(ctx, addr)
	if err != nil {
		return policy.Policy{}, err
	}
	return s.pol.ForUser(ctx, u.ID)
}

// maxFilterLen bounds a text filter.
const maxFilterLen = 256

// Wipe filters of DeviceFilter.
const (
	WipeFilterWiped   = store.WipedYes     // the device acknowledged a wipe
	WipeFilterPending = store.WipedPending // requested or sent, not yet acknowledged
	WipeFilterNone    = store.WipedNo      // neither
)

// DeviceFilter selects devices for Devices; zero fields do not filter.
type DeviceFilter struct {
	User        string // an address
	AccessState string // store.AccessAllowed, …
	DeviceType  string
	Model       string
	OS          string // DeviceInformation OS, or the DeviceType where the device sent none
	SeenBefore  time.Time
	SeenAfter   time.Time
	Compliance  string // store.Compliant, store.NonCompliant
	Wipe        string // WipeFilterWiped, WipeFilterPending, WipeFilterNone
	Search      string // a part of the address, DeviceId, model or friendly name
	Sort        string // a key of store.DeviceSorts
}

// DeviceWithUser is a partnership, its user's address, whether it
// complies with the user's policy and the names of the policies involved.
type DeviceWithUser struct {
	devices.Device
	Address   string
	Compliant bool
	// PolicyName names the policy in force for the user; AckPolicyName the
	// one the device acknowledged ("" if none). Helpdesk accounts, which
	// cannot read /policies, see them here.
	PolicyName, AckPolicyName string
}

func listingView(l store.DeviceListing) DeviceWithUser {
	return DeviceWithUser{Device: l.Device, Address: l.Address, Compliant: l.Compliant,
		PolicyName: l.PolicyName, AckPolicyName: l.AckPolicyName}
}

// with is cur after a change that left its user and policies as they were.
func (cur DeviceWithUser) with(d devices.Device) DeviceWithUser {
	cur.Device = d
	return cur
}

// deviceSorts lists the sort parameter's values for error messages.
var deviceSorts = func() string {
	var keys []string
	for k := range store.DeviceSorts {
		if k != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}()

// Devices lists partnerships matching f in f.Sort's order (default: by
// user then DeviceId), and how many matched; filters, order and window run
// in the database.
func (s *Service) Devices(ctx context.Context, f DeviceFilter, p Page) ([]DeviceWithUser, int, error) {
	p, err := p.check()
	if err != nil {
		return nil, 0, err
	}
	switch f.AccessState {
	case "", store.AccessAllowed, store.AccessBlocked, store.AccessQuarantined:
	default:
		return nil, 0, errInvalid("state must be allowed, blocked or quarantined")
	}
	switch f.Compliance {
	case "", store.Compliant, store.NonCompliant:
	default:
		return nil, 0, errInvalid("compliance must be compliant or non-compliant")
	}
	switch f.Wipe {
	case "", WipeFilterWiped, WipeFilterPending, WipeFilterNone:
	default:
		return nil, 0, errInvalid("wipe must be wiped, pending or none")
	}
	if _, ok := store.DeviceSorts[f.Sort]; !ok {
		return nil, 0, errInvalid("sort must be one of " + deviceSorts)
	}
	for name, v := range map[string]string{"user": f.User, "type": f.DeviceType, "model": f.Model, "os": f.OS, "q": f.Search} {
		if len(v) > maxFilterLen {
			return nil, 0, errInvalid(name + " is too long")
		}
	}
	if !f.SeenBefore.IsZero() && !f.SeenAfter.IsZero() && !f.SeenAfter.Before(f.SeenBefore) {
		return nil, 0, errInvalid("seen_after must be before seen_before")
	}
	q := store.DeviceQuery{AccessState: f.AccessState, DeviceType: f.DeviceType, Model: f.Model, OS: f.OS,
		SeenBefore: f.SeenBefore, SeenAfter: f.SeenAfter, Compliance: f.Compliance, Wiped: f.Wipe,
		Search: f.Search, Sort: f.Sort, Limit: p.Limit, Offset: p.Offset}
	if f.User != "" {
		u, err := s.st.UserByAddress(ctx, f.User)
		if errors.Is(err, store.ErrNotFound) {
			return []DeviceWithUser{}, 0, nil
		} else if err != nil {
			return nil, 0, err
		}
		q.User = u.ID
	}
	ls, n, err := s.st.QueryDevices(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	out := make([]DeviceWithUser, len(ls))
	for i, l := range ls {
		out[i] = listingView(l)
	}
	return out, n, nil
}

// Device returns one partnership.
func (s *Service) Device(ctx context.Context, id store.PartnershipID) (DeviceWithUser, error) {
	l, err := s.st.DeviceListingByID(ctx, id)
	if err != nil {
		return DeviceWithUser{}, err
	}
	return listingView(l), nil
}

// SetDeviceAccess records an individual decision (allow, block,
// quarantine). A helpdesk account may only allow or block a device that is
// quarantined: approving or refusing the quarantine queue.
func (s *Service) SetDeviceAccess(ctx context.Context, p Principal, id store.PartnershipID, state string) (DeviceWithUser, error) {
	cur, err := s.Device(ctx, id)
	if err != nil {
		return DeviceWithUser{}, err
	}
	if p.Role != store.RoleAdmin && (state == store.AccessQuarantined || cur.AccessState != store.AccessQuarantined) {
		s.audit(ctx, p, "api.forbidden", "device."+state+" "+deviceTarget(cur.Device), "role "+p.Role+", device "+cur.AccessState)
		return DeviceWithUser{}, errForbidden()
	}
	d, err := s.reg.SetAccess(p.auditing(ctx), id, state, p.Name)
	if err != nil {
		return DeviceWithUser{}, err
	}
	return cur.with(d), nil
}

// ResetDeviceAccess drops an individual decision.
func (s *Service) ResetDeviceAccess(ctx context.Context, p Principal, id store.PartnershipID) (DeviceWithUser, error) {
	cur, err := s.Device(ctx, id)
	if err != nil {
		return DeviceWithUser{}, err
	}
	d, err := s.reg.ClearAccess(p.auditing(ctx), id, p.Name)
	if err != nil {
		return DeviceWithUser{}, err
	}
	return cur.with(d), nil
}

// RequestWipe asks for a full or account-only wipe.
func (s *Service) RequestWipe(ctx context.Context, p Principal, id store.PartnershipID, accountOnly bool) (DeviceWithUser, error) {
	cur, err := s.Device(ctx, id)
	if err != nil {
		return DeviceWithUser{}, err
	}
	d, err := s.reg.RequestWipe(p.auditing(ctx), id, accountOnly, p.Name)
	if err != nil {
		return DeviceWithUser{}, err
	}
	return cur.with(d), nil
}

// CancelWipe cancels a wipe not yet sent.
func (s *Service) CancelWipe(ctx context.Context, p Principal, id store.PartnershipID) (DeviceWithUser, error) {
	cur, err := s.Device(ctx, id)
	if err != nil {
		return DeviceWithUser{}, err
	}
	d, err := s.reg.CancelWipe(p.auditing(ctx), id, p.Name)
	if err != nil {
		return DeviceWithUser{}, err
	}
	return cur.with(d), nil
}

// RemoveDevice deletes a partnership.
func (s *Service) RemoveDevice(ctx context.Context, p Principal, id store.PartnershipID) error {
	if _, err := s.Device(ctx, id); err != nil {
		return err
	}
	return s.reg.RemoveAs(p.auditing(ctx), id, p.Name)
}

// deviceTarget names a partnership like the devices registry does.
func deviceTarget(d devices.Device) string {
	return fmt.Sprintf("%d (user %d device %s)", d.ID, d.User, d.DeviceID)
}

// Policies lists the policies.
func (s *Service) Policies(ctx context.Context) ([]policy.Policy, error) {
	return s.pol.List(ctx)
}

// Policy returns one policy.
func (s *Service) Policy(ctx context.Context, id store.PolicyID) (policy.Policy, error) {
	return s.pol.ByID(ctx, id)
}

// CreatePolicy validates and stores a new policy.
func (s *Service) CreatePolicy(ctx context.Context, p Principal, pol policy.Policy) (policy.Policy, error) {
	if strings.TrimSpace(pol.Name) == "" || len(pol.Name) > 256 {
		return policy.Policy{}, errInvalid("name must be 1–256 characters")
	}
	np, err := s.pol.Create(ctx, pol)
	if err != nil {
		return policy.Policy{}, err
	}
	s.audit(ctx, p, "policy.create", fmt.Sprintf("%d (%s)", np.ID, np.Name), "")
	return np, nil
}

// UpdatePolicy validates and replaces a policy's settings; its version
// grows, so devices provision again.
func (s *Service) UpdatePolicy(ctx context.Context, p Principal, pol policy.Policy) (policy.Policy, error) {
	np, err := s.pol.Update(ctx, pol)
	if err != nil {
		return policy.Policy{}, err
	}
	s.audit(ctx, p, "policy.update", fmt.Sprintf("%d (%s)", np.ID, np.Name), fmt.Sprintf("version %d", np.Version))
	return np, nil
}

// Outbound lists the outbound queue, oldest first.
func (s *Service) Outbound(ctx context.Context, limit int) ([]store.OutboundMessage, error) {
	if limit == 0 {
		limit = defaultPageLimit
	}
	if limit < 1 || limit > maxPageLimit {
		return nil, errInvalid(fmt.Sprintf("limit must be 1–%d", maxPageLimit))
	}
	return s.st.OutboundQueue(ctx, limit)
}

// Audit reads the audit log, newest first: the page p of the entries f
// selects (f.Limit is ignored) and how many match in all.
func (s *Service) Audit(ctx context.Context, f store.AuditFilter, p Page) ([]store.AuditEntry, int, error) {
	p, err := p.check()
	if err != nil {
		return nil, 0, err
	}
	if len(f.Actor) > maxFilterLen || len(f.Action) > maxFilterLen || len(f.Target) > maxFilterLen {
		return nil, 0, errInvalid("filter too long")
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return nil, 0, errInvalid("since must be before until")
	}
	f.Limit = p.Limit
	return s.st.QueryAudit(ctx, f, p.Offset)
}

// DeviceHistory returns the audit rows about a partnership, newest first:
// access decisions, wipe steps, removals (by the API, the CLI and the
// registry, which all name it the same way).
func (s *Service) DeviceHistory(ctx context.Context, id store.PartnershipID, limit int) ([]store.AuditEntry, error) {
	d, err := s.reg.ByID(ctx, id)
	if err != nil {
		return nil, err
	}
	rows, _, err := s.Audit(ctx, store.AuditFilter{Target: deviceTarget(d)}, Page{Limit: limit})
	return rows, err
}

// Rules lists the device access rules.
func (s *Service) Rules(ctx context.Context) ([]store.DeviceRule, error) {
	return s.reg.Rules(ctx)
}

// AddRule validates and stores a device access rule; it applies to each
// device at its next request.
func (s *Service) AddRule(ctx context.Context, p Principal, r store.DeviceRule) (store.DeviceRule, error) {
	r.ID, r.CreatedBy, r.CreatedAt = 0, "", time.Time{}
	if err := r.Valid(); err != nil {
		// Valid's message names the field and the values it accepts.
		msg := err.Error()
		if _, rest, ok := strings.Cut(msg, store.ErrInvalidArgument.Error()+": "); ok {
			msg = rest
		}
		return store.DeviceRule{}, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: msg, Err: err}
	}
	return s.reg.AddRule(p.auditing(ctx), r, p.Name)
}

// RemoveRule deletes a device access rule.
func (s *Service) RemoveRule(ctx context.Context, p Principal, id store.RuleID) error {
	return s.reg.RemoveRule(p.auditing(ctx), id, p.Name)
}
