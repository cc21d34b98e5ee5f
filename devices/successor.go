package devices

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/easd/easd/store"
)

// A wiped phone often comes back under a new DeviceId (a factory reset
// makes iOS and Android draw a new one), and the old partnership keeps
// counting against the user's cap until an admin removes it (issue 6).
// Successors and Predecessors point the admin from one to the other.

// Reasons of a Likely match, strongest first.
const (
	LikelyIMEIAndModel = "same IMEI and model"
	LikelyIMEI         = "same IMEI"
	LikelyModel        = "same model"
)

// Likely is a partnership that is probably the same physical device as
// another one, and why.
type Likely struct {
	Device
	Reason string // LikelyIMEIAndModel, LikelyIMEI, LikelyModel
}

// wiped reports whether d had a wipe requested (pending, sent or
// acknowledged; not cancelled).
func wiped(d Device) bool {
	return d.WipeState == store.WipeRequested || d.WipeState == store.WipeSent || d.WipeState == store.WipeAcknowledged
}

// match says why n may be the same device as old, or "" when it is not:
// the IMEI (MS-ASCMD 2.2.3.88) identifies the hardware, so an equal IMEI
// wins and a different one rules the pair out even if the model matches;
// without IMEIs on both sides an equal, known model is the weaker hint.
// Models and IMEIs compare case-insensitively.
func match(old, n Device) string {
	imeiKnown := old.Info.IMEI != "" && n.Info.IMEI != ""
	sameIMEI := imeiKnown && strings.EqualFold(old.Info.IMEI, n.Info.IMEI)
	sameModel := old.Info.Model != "" && strings.EqualFold(old.Info.Model, n.Info.Model)
	switch {
	case sameIMEI && sameModel:
		return LikelyIMEIAndModel
	case sameIMEI:
		return LikelyIMEI
	case imeiKnown:
		return ""
	case sameModel:
		return LikelyModel
	}
	return ""
}

func rank(r string) int {
	switch r {
	case LikelyIMEIAndModel:
		return 0
	case LikelyIMEI:
		return 1
	}
	return 2
}

// Successors returns the likely successors of the partnership id if a wipe
// of it was requested (otherwise none): the same user's other partnerships
// first seen at or after the wipe request whose IMEI or model matches (see
// match), IMEI matches first, then the earliest first seen.
func (r *Registry) Successors(ctx context.Context, id store.PartnershipID) ([]Likely, error) {
	d, err := r.ByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !wiped(d) || d.WipeRequestedAt.IsZero() {
		return []Likely{}, nil
	}
	others, err := r.userDevices(ctx, d)
	if err != nil {
		return nil, err
	}
	out := []Likely{}
	for _, n := range others {
		if n.FirstSeen.Before(d.WipeRequestedAt) {
			continue
		}
		if why := match(d, n); why != "" {
			out = append(out, Likely{Device: n, Reason: why})
		}
	}
	sortLikely(out, func(l Likely) int64 { return l.FirstSeen.UnixNano() })
	return out, nil
}

// Predecessors returns the partnerships the partnership id likely
// succeeds: the same user's other partnerships with a wipe requested at or
// before id was first seen whose IMEI or model matches, IMEI matches first,
// then the latest wipe request.
func (r *Registry) Predecessors(ctx context.Context, id store.PartnershipID) ([]Likely, error) {
	n, err := r.ByID(ctx, id)
	if err != nil {
		return nil, err
	}
	others, err := r.userDevices(ctx, n)
	if err != nil {
		return nil, err
	}
	out := []Likely{}
	for _, d := range others {
		if !wiped(d) || d.WipeRequestedAt.IsZero() || n.FirstSeen.Before(d.WipeRequestedAt) {
			continue
		}
		if why := match(d, n); why != "" {
			out = append(out, Likely{Device: d, Reason: why})
		}
	}
	sortLikely(out, func(l Likely) int64 { return -l.WipeRequestedAt.UnixNano() })
	return out, nil
}

// userDevices lists the other partnerships of d's user (at most the cap's
// worth, and every one the store has if there is no cap).
func (r *Registry) userDevices(ctx context.Context, d Device) ([]Device, error) {
	limit := r.maxDevices + 1
	if r.maxDevices <= 0 {
		limit = 100000
	}
	all, err := r.st.Devices(ctx, store.DeviceFilter{User: d.User, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	return slices.DeleteFunc(all, func(o Device) bool { return o.ID == d.ID }), nil
}

func sortLikely(ls []Likely, key func(Likely) int64) {
	slices.SortStableFunc(ls, func(a, b Likely) int {
		return cmp.Or(cmp.Compare(rank(a.Reason), rank(b.Reason)), cmp.Compare(key(a), key(b)), cmp.Compare(a.ID, b.ID))
	})
}
