package devices

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/easd/easd/store"
)

// Decision is an access decision computed for a device: the state, why, and
// who (a rule's number, "user-list", "default").
type Decision struct {
	State  string
	Reason string
	By     string
}

// Decide computes the access state of d from the user's lists, the rules
// and the default, in that order (see the package doc). It ignores
// individual decisions: the caller keeps those.
func Decide(d Device, list string, rules []store.DeviceRule, def string) Decision {
	if list != "" {
		return Decision{State: list, Reason: store.ReasonUserList, By: "user-list"}
	}
	if r, ok := bestRule(d, rules); ok {
		return Decision{State: r.Action, Reason: store.ReasonRule, By: fmt.Sprintf("rule %d", r.ID)}
	}
	return Decision{State: def, Reason: store.ReasonDefault, By: "default"}
}

// bestRule returns the most specific rule matching d: an exact match beats a
// prefix, a longer prefix a shorter one; between equally specific rules the
// more restrictive action wins (blocked, then quarantined, then allowed),
// then the older rule.
func bestRule(d Device, rules []store.DeviceRule) (store.DeviceRule, bool) {
	var best store.DeviceRule
	found := false
	for _, r := range rules {
		if !ruleMatches(d, r) {
			continue
		}
		if !found || moreSpecific(r, best) {
			best, found = r, true
		}
	}
	return best, found
}

func moreSpecific(a, b store.DeviceRule) bool {
	ae, be := a.Match == store.RuleMatchExact, b.Match == store.RuleMatchExact
	if ae != be {
		return ae
	}
	if len(a.Pattern) != len(b.Pattern) {
		return len(a.Pattern) > len(b.Pattern)
	}
	if severity(a.Action) != severity(b.Action) {
		return severity(a.Action) > severity(b.Action)
	}
	return a.ID < b.ID
}

func severity(state string) int {
	switch state {
	case store.AccessBlocked:
		return 2
	case store.AccessQuarantined:
		return 1
	}
	return 0
}

func ruleMatches(d Device, r store.DeviceRule) bool {
	var v string
	switch r.Field {
	case store.RuleFieldDeviceType:
		v = d.DeviceType
	case store.RuleFieldModel:
		v = d.Info.Model
	case store.RuleFieldOS:
		v = d.Info.OS
	case store.RuleFieldUserAgent:
		v = d.UserAgent
	}
	if v == "" {
		return false
	}
	// Exchange compares device access rule strings case-insensitively.
	if r.Match == store.RuleMatchPrefix {
		return len(v) >= len(r.Pattern) && strings.EqualFold(v[:len(r.Pattern)], r.Pattern)
	}
	return strings.EqualFold(v, r.Pattern)
}

// rulesNow returns the rules, read at most once per TouchInterval and again after a rule
// change was signalled (adminChanged).
func (r *Registry) rulesNow(ctx context.Context) ([]store.DeviceRule, error) {
	t := r.now()
	r.rulesMu.Lock()
	if r.rules != nil && t.Sub(r.rulesLoaded) < r.interval {
		rules := r.rules
		r.rulesMu.Unlock()
		return rules, nil
	}
	gen := r.rulesGen
	r.rulesMu.Unlock()
	rules, err := r.st.DeviceRules(ctx)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	if rules == nil {
		rules = []store.DeviceRule{}
	}
	r.rulesMu.Lock()
	if r.rulesGen == gen { // else a change was signalled during the read: use, do not keep
		r.rules, r.rulesLoaded = rules, t
	}
	r.rulesMu.Unlock()
	return rules, nil
}

// evaluate computes d's access state and stores it when it changed (an
// individual decision or a wipe is kept unless override); a transition into
// quarantine sends the quarantine messages, exactly once per transition.
func (r *Registry) evaluate(ctx context.Context, d Device) (Device, error) {
	return r.decide(ctx, d, false)
}

func (r *Registry) decide(ctx context.Context, d Device, override bool) (Device, error) {
	if !override && (d.AccessReason == store.ReasonIndividual || d.AccessReason == store.ReasonWipe) {
		return d, nil
	}
	list, err := r.st.UserDeviceList(ctx, d.User, d.DeviceID)
	if err != nil {
		return Device{}, fmt.Errorf("devices: %w", err)
	}
	rules, err := r.rulesNow(ctx)
	if err != nil {
		return Device{}, err
	}
	dec := Decide(d, list, rules, r.defAccess)
	// store.SetDeviceAccess writes only a changed state or reason: with both unchanged, calling
	// it would be a write transaction that changes nothing (a row created as "default" with no
	// setter, re-evaluated once per TouchInterval, differs in By alone).
	if dec.State == d.AccessState && dec.Reason == d.AccessReason {
		return d, nil
	}
	changed, nd, err := r.st.SetDeviceAccess(ctx, d.ID, store.DeviceAccess{State: dec.State, Reason: dec.Reason,
		By: dec.By, At: r.now().UTC()}, !override)
	if err != nil {
		return Device{}, fmt.Errorf("devices: %w", err)
	}
	if changed && nd.AccessState != d.AccessState {
		r.log.Info("device access changed", "user", d.User, "device_id", d.DeviceID, "state", nd.AccessState,
			"reason", nd.AccessReason, "by", nd.AccessSetBy)
		r.audit(ctx, store.AuditEntry{Actor: dec.By, Action: "device." + nd.AccessState, Target: target(nd),
			Detail: "reason " + nd.AccessReason})
		if nd.AccessState == store.AccessQuarantined {
			r.notifyQuarantine(ctx, nd)
		}
	}
	return nd, nil
}

// SetAccess records an administrator's decision for one partnership
// (allow, block, quarantine): it beats lists, rules and the default until
// it is cleared with ClearAccess. Allowing a quarantined device is the
// approval: its next request syncs fully. A wiped partnership stays blocked:
// ErrWiped.
func (r *Registry) SetAccess(ctx context.Context, id store.PartnershipID, state, by string) (Device, error) {
	d, err := r.ByID(ctx, id)
	if err != nil {
		return Device{}, err
	}
	if d.AccessReason == store.ReasonWipe {
		return Device{}, ErrWiped
	}
	_, nd, err := r.st.SetDeviceAccess(ctx, id, store.DeviceAccess{State: state, Reason: store.ReasonIndividual,
		By: by, At: r.now().UTC()}, false)
	if err != nil {
		return Device{}, fmt.Errorf("devices: %w", err)
	}
	r.audit(ctx, store.AuditEntry{Actor: by, Action: "device." + state, Target: target(nd),
		Detail: "was " + d.AccessState + " (" + d.AccessReason + ")"})
	if state == store.AccessQuarantined && d.AccessState != store.AccessQuarantined {
		r.notifyQuarantine(ctx, nd)
	}
	r.changed(ctx, store.AdminChangeDevice, nd)
	r.put(Key{User: nd.User, DeviceID: nd.DeviceID}, nd, r.now().UTC())
	return nd, nil
}

// ClearAccess drops an individual decision: lists, rules and the default
// decide again.
func (r *Registry) ClearAccess(ctx context.Context, id store.PartnershipID, by string) (Device, error) {
	d, err := r.ByID(ctx, id)
	if err != nil {
		return Device{}, err
	}
	if d.AccessReason == store.ReasonWipe {
		return Device{}, ErrWiped
	}
	nd, err := r.decide(ctx, d, true)
	if err != nil {
		return Device{}, err
	}
	r.audit(ctx, store.AuditEntry{Actor: by, Action: "device.clear-access", Target: target(nd),
		Detail: "now " + nd.AccessState + " (" + nd.AccessReason + ")"})
	r.changed(ctx, store.AdminChangeDevice, nd)
	r.put(Key{User: nd.User, DeviceID: nd.DeviceID}, nd, r.now().UTC())
	return nd, nil
}

// ErrWiped: the partnership was wiped; it stays blocked until removed.
var ErrWiped = errors.New("devices: device was wiped: remove the partnership instead")

// AddRule stores a device access rule. It applies to each device at its
// next registry write (at once on this node: the cache is dropped).
func (r *Registry) AddRule(ctx context.Context, rule store.DeviceRule, by string) (store.DeviceRule, error) {
	rule.CreatedBy = by
	nr, err := r.st.AddDeviceRule(ctx, rule)
	if err != nil {
		return store.DeviceRule{}, fmt.Errorf("devices: %w", err)
	}
	r.audit(ctx, store.AuditEntry{Actor: by, Action: "rule.add", Target: fmt.Sprint(nr.ID),
		Detail: fmt.Sprintf("%s %s %q → %s", nr.Field, nr.Match, nr.Pattern, nr.Action)})
	r.st.PublishAdminChange(ctx, store.AdminChange{Kind: store.AdminChangeRules})
	return nr, nil
}

// RemoveRule deletes a rule.
func (r *Registry) RemoveRule(ctx context.Context, id store.RuleID, by string) error {
	if err := r.st.RemoveDeviceRule(ctx, id); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	r.audit(ctx, store.AuditEntry{Actor: by, Action: "rule.remove", Target: fmt.Sprint(id)})
	r.st.PublishAdminChange(ctx, store.AdminChange{Kind: store.AdminChangeRules})
	return nil
}

// Rules lists the device access rules.
func (r *Registry) Rules(ctx context.Context) ([]store.DeviceRule, error) {
	rules, err := r.st.DeviceRules(ctx)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	return rules, nil
}

// SetUserList puts a DeviceId on the user's allow list (store.AccessAllowed)
// or block list (store.AccessBlocked), or takes it off (""). The device's
// partnership, if any, is re-evaluated at once.
func (r *Registry) SetUserList(ctx context.Context, user store.UserID, deviceID, action, by string) error {
	if err := r.st.SetUserDeviceList(ctx, user, deviceID, action, by); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	what := "device-list." + action
	if action == "" {
		what = "device-list.clear"
	}
	r.audit(ctx, store.AuditEntry{Actor: by, Action: what, Target: fmt.Sprintf("user %d device %s", user, deviceID)})
	d, err := r.st.DeviceOf(ctx, user, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		r.st.PublishAdminChange(ctx, store.AdminChange{Kind: store.AdminChangeUserList, User: user, DeviceID: deviceID})
		return nil
	} else if err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	nd, err := r.evaluate(ctx, d)
	if err != nil {
		return err
	}
	// Other processes drop their entry and evaluate the list at the device's next request.
	r.changed(ctx, store.AdminChangeUserList, nd)
	r.put(Key{User: user, DeviceID: deviceID}, nd, r.now().UTC())
	return nil
}

// rulesChanged makes the next Touch of every device read the rules again and
// re-evaluate.
func (r *Registry) rulesChanged() {
	r.rulesMu.Lock()
	r.rules = nil
	r.rulesGen++
	r.rulesMu.Unlock()
	r.mu.Lock()
	r.gen++
	clear(r.cache)
	r.mu.Unlock()
}

// audit appends an audit entry; a failure is logged, not returned: the
// change it describes was made.
func (r *Registry) audit(ctx context.Context, e store.AuditEntry) {
	if e.At.IsZero() {
		e.At = r.now().UTC()
	}
	if err := r.st.AppendAudit(ctx, e); err != nil {
		r.log.Error("audit", "action", e.Action, "target", e.Target, "err", err)
	}
}

// target names a partnership in the audit log: "42 (alice's DeviceId)".
func target(d Device) string {
	return fmt.Sprintf("%d (user %d device %s)", d.ID, d.User, d.DeviceID)
}

// RemoveAs removes a partnership like Remove and audits it as by.
func (r *Registry) RemoveAs(ctx context.Context, id store.PartnershipID, by string) error {
	d, err := r.ByID(ctx, id)
	if err != nil {
		return err
	}
	if err := r.Remove(ctx, id); err != nil {
		return err
	}
	r.audit(ctx, store.AuditEntry{Actor: by, Action: "device.remove", Target: target(d)})
	return nil
}

// sinceText is how long ago t was, for messages.
func sinceText(t time.Time) string { return t.UTC().Format(time.RFC1123Z) }
