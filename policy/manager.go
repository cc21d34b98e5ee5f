package policy

import (
	"context"
	"fmt"

	"github.com/easd/easd/store"
)

// Manager reads and writes policies through the store, validating them on the way in. The
// admin API and `easd policy ...` use it. It is safe for concurrent use.
//
// Update and Assign publish a store.AdminChange of kind AdminChangePolicy (User 0 for a
// policy's settings, the user for an assignment), so that every process that caches
// policies drops them at once (store.SubscribeAdminChanges).
type Manager struct {
	st *store.Store
}

// NewManager returns a Manager over st.
func NewManager(st *store.Store) *Manager { return &Manager{st: st} }

func (m *Manager) decode(r store.PolicyRecord, err error) (Policy, error) {
	if err != nil {
		return Policy{}, fmt.Errorf("policy: %w", err)
	}
	return FromRecord(r)
}

// Create validates p and stores it as a new policy (version 1). Errors: the *FieldError list of
// Validate, store.ErrExists.
func (m *Manager) Create(ctx context.Context, p Policy) (Policy, error) {
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	js, err := p.MarshalSettings()
	if err != nil {
		return Policy{}, err
	}
	return m.decode(m.st.CreatePolicy(ctx, p.Name, js))
}

// Update validates p and replaces the settings of policy p.ID; the version grows by one, so
// every device on it provisions again (status 143). Renaming is not supported: p.Name must be
// the stored name.
func (m *Manager) Update(ctx context.Context, p Policy) (Policy, error) {
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	cur, err := m.st.PolicyByID(ctx, p.ID)
	if err != nil {
		return Policy{}, fmt.Errorf("policy: %w", err)
	}
	if cur.Name != p.Name {
		return Policy{}, fmt.Errorf("policy: rename %q to %q: %w", cur.Name, p.Name, store.ErrInvalidArgument)
	}
	js, err := p.MarshalSettings()
	if err != nil {
		return Policy{}, err
	}
	np, err := m.decode(m.st.UpdatePolicy(ctx, p.ID, js))
	if err != nil {
		return Policy{}, err
	}
	m.st.PublishAdminChange(ctx, store.AdminChange{Kind: store.AdminChangePolicy})
	return np, nil
}

// ByID returns a policy.
func (m *Manager) ByID(ctx context.Context, id store.PolicyID) (Policy, error) {
	return m.decode(m.st.PolicyByID(ctx, id))
}

// ByName returns a policy.
func (m *Manager) ByName(ctx context.Context, name string) (Policy, error) {
	return m.decode(m.st.PolicyByName(ctx, name))
}

// Default returns the default policy.
func (m *Manager) Default(ctx context.Context) (Policy, error) {
	return m.decode(m.st.DefaultPolicy(ctx))
}

// ForUser returns the policy in force for the user: the assigned one or the default.
func (m *Manager) ForUser(ctx context.Context, user store.UserID) (Policy, error) {
	return m.decode(m.st.UserPolicy(ctx, user))
}

// List returns every policy by name.
func (m *Manager) List(ctx context.Context) ([]Policy, error) {
	recs, err := m.st.Policies(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	out := make([]Policy, 0, len(recs))
	for _, r := range recs {
		p, err := FromRecord(r)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Assign assigns policy id to the user (0: back to the default). The user's devices provision
// again at their next request when the policy in force changes.
func (m *Manager) Assign(ctx context.Context, user store.UserID, id store.PolicyID) error {
	if err := m.st.AssignPolicy(ctx, user, id); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	m.st.PublishAdminChange(ctx, store.AdminChange{Kind: store.AdminChangePolicy, User: user})
	return nil
}
