package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/internal/hourly"
	"github.com/easd/easd/store"
)

// Kinds of EAS requests that GET /stats counts per hour.
const (
	RequestsSync  = iota // Sync
	RequestsPing         // Ping
	RequestsOther        // every other command, and requests whose command did not parse
	requestKinds
)

// NewRequestCounter returns a counter of EAS requests per hour for
// Options.Requests; feed it with CountRequest.
func NewRequestCounter() *hourly.Counter { return hourly.New(requestKinds, nil) }

// CountRequest counts one EAS request of the command cmd ("Sync", "Ping",
// …) in c. It is cheap and allocation-free: the wiring calls it from
// eas.Options.Observe on every request.
func CountRequest(c *hourly.Counter, cmd string) {
	switch cmd {
	case "Sync":
		c.Add(RequestsSync)
	case "Ping":
		c.Add(RequestsPing)
	default:
		c.Add(RequestsOther)
	}
}

// topModels is how many models GET /stats names; the rest are "other".
const topModels = 10

// Stats is what GET /stats shows.
type Stats struct {
	Devices store.DeviceStats
	// Requests are the EAS requests of the last 24 hours per hour, oldest
	// first, counted by this process since Since (its start).
	Requests []hourly.Bucket
	Since    time.Time
}

// Stats counts the devices and returns the EAS requests per hour.
func (s *Service) Stats(ctx context.Context) (Stats, error) {
	ds, err := s.st.DeviceStats(ctx, topModels)
	if err != nil {
		return Stats{}, err
	}
	return Stats{Devices: ds, Requests: s.requests.Series(), Since: s.started}, nil
}

type nameCountJSON struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

type hourJSON struct {
	Start time.Time `json:"start"`
	Sync  uint64    `json:"sync"`
	Ping  uint64    `json:"ping"`
	Other uint64    `json:"other"`
	Total uint64    `json:"total"`
}

type statsJSON struct {
	Devices struct {
		Total       int             `json:"total"`
		ByState     map[string]int  `json:"by_state"`
		ByOS        []nameCountJSON `json:"by_os"`
		ByModel     []nameCountJSON `json:"by_model"`
		Wiped       int             `json:"wiped"`
		WipePending int             `json:"wipe_pending"`
		Compliant   int             `json:"compliant"`
	} `json:"devices"`
	RequestsPerHour []hourJSON `json:"requests_per_hour"`
	RequestsSince   time.Time  `json:"requests_since"`
}

func nameCounts(ns []store.NameCount) []nameCountJSON {
	out := make([]nameCountJSON, len(ns))
	for i, n := range ns {
		out[i] = nameCountJSON{Name: n.Name, Count: n.Count}
	}
	return out
}

func (s *Service) getStats(c echo.Context) error {
	st, err := s.Stats(c.Request().Context())
	if err != nil {
		return err
	}
	var out statsJSON
	d := st.Devices
	out.Devices.Total, out.Devices.ByState = d.Total, d.ByState
	out.Devices.ByOS, out.Devices.ByModel = nameCounts(d.ByOS), nameCounts(d.ByModel)
	out.Devices.Wiped, out.Devices.WipePending, out.Devices.Compliant = d.Wiped, d.WipePending, d.Compliant
	out.RequestsPerHour = make([]hourJSON, len(st.Requests))
	for i, b := range st.Requests {
		h := hourJSON{Start: b.Start, Sync: b.Counts[RequestsSync], Ping: b.Counts[RequestsPing], Other: b.Counts[RequestsOther]}
		h.Total = h.Sync + h.Ping + h.Other
		out.RequestsPerHour[i] = h
	}
	out.RequestsSince = st.Since.UTC()
	return c.JSON(http.StatusOK, out)
}

// Protocol traces.

const defaultTraceLimit = 50

// DeviceTraces returns the stored protocol traces of a partnership, newest
// first, at most limit (zero: 50; 1–1000).
func (s *Service) DeviceTraces(ctx context.Context, id store.PartnershipID, limit int) ([]store.TraceRecord, error) {
	if limit == 0 {
		limit = defaultTraceLimit
	}
	if limit < 1 || limit > maxPageLimit {
		return nil, errInvalid(fmt.Sprintf("limit must be 1–%d", maxPageLimit))
	}
	if _, err := s.reg.ByID(ctx, id); err != nil {
		return nil, err
	}
	return s.reg.Traces(ctx, id, limit)
}

// SetDeviceTrace switches the protocol trace of a partnership on or off.
func (s *Service) SetDeviceTrace(ctx context.Context, p Principal, id store.PartnershipID, on bool) (DeviceWithUser, error) {
	cur, err := s.Device(ctx, id)
	if err != nil {
		return DeviceWithUser{}, err
	}
	if err := s.reg.SetTrace(ctx, id, on); err != nil {
		return DeviceWithUser{}, err
	}
	detail := "off"
	if on {
		detail = "on"
	}
	s.audit(ctx, p, "device.trace", deviceTarget(cur.Device), detail)
	return s.Device(ctx, id)
}

type traceJSON struct {
	ID              int64     `json:"id"`
	At              time.Time `json:"at"`
	Command         string    `json:"command"`
	ProtocolVersion string    `json:"protocol_version"`
	HTTPStatus      int       `json:"http_status"`
	Status          int       `json:"status"`
	DurationMs      float64   `json:"duration_ms"`
	Request         string    `json:"request"`
	Response        string    `json:"response"`
}

func (s *Service) listTraces(c echo.Context) error {
	return deviceRows(c, s.DeviceTraces, traceView)
}

func traceView(t store.TraceRecord) traceJSON {
	return traceJSON{ID: t.ID, At: t.At.UTC(), Command: t.Command, ProtocolVersion: t.ProtocolVersion,
		HTTPStatus: t.HTTPStatus, Status: t.Status, DurationMs: float64(t.Duration.Microseconds()) / 1000,
		Request: t.Request, Response: t.Response}
}

func (s *Service) setTrace(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req struct {
		Enabled *bool `json:"enabled"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	if req.Enabled == nil {
		return errInvalid("enabled (true or false) is required")
	}
	d, err := s.SetDeviceTrace(c.Request().Context(), principal(c), store.PartnershipID(id), *req.Enabled)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, deviceView(d))
}

// Likely successors (issue 6).

// DeviceDetail is a partnership with the partnerships that are probably the
// same physical device: its likely successors if it was wiped, and the
// wiped partnerships it likely succeeds.
type DeviceDetail struct {
	DeviceWithUser
	Successors   []devices.Likely
	Predecessors []devices.Likely
}

// DeviceDetail returns a partnership with its likely successors and
// predecessors.
func (s *Service) DeviceDetail(ctx context.Context, id store.PartnershipID) (DeviceDetail, error) {
	d, err := s.Device(ctx, id)
	if err != nil {
		return DeviceDetail{}, err
	}
	succ, err := s.reg.Successors(ctx, id)
	if err != nil {
		return DeviceDetail{}, err
	}
	pred, err := s.reg.Predecessors(ctx, id)
	if err != nil {
		return DeviceDetail{}, err
	}
	return DeviceDetail{DeviceWithUser: d, Successors: succ, Predecessors: pred}, nil
}

type likelyJSON struct {
	ID              int64      `json:"id"`
	DeviceID        string     `json:"device_id"`
	DeviceType      string     `json:"device_type"`
	Model           string     `json:"model"`
	IMEI            string     `json:"imei"`
	FriendlyName    string     `json:"friendly_name"`
	FirstSeen       *time.Time `json:"first_seen,omitempty"`
	LastSeen        *time.Time `json:"last_seen,omitempty"`
	AccessState     string     `json:"access_state"`
	WipeState       string     `json:"wipe_state"`
	WipeRequestedAt *time.Time `json:"wipe_requested_at,omitempty"`
	Reason          string     `json:"reason"`
}

func likelyViews(ls []devices.Likely) []likelyJSON {
	out := make([]likelyJSON, len(ls))
	for i, l := range ls {
		out[i] = likelyJSON{ID: int64(l.ID), DeviceID: l.DeviceID, DeviceType: l.DeviceType, Model: l.Info.Model,
			IMEI: l.Info.IMEI, FriendlyName: l.Info.FriendlyName, FirstSeen: optTime(l.FirstSeen),
			LastSeen: optTime(l.LastSeen), AccessState: l.AccessState, WipeState: l.WipeState,
			WipeRequestedAt: optTime(l.WipeRequestedAt), Reason: l.Reason}
	}
	return out
}

type deviceDetailJSON struct {
	deviceJSON
	LikelySuccessors  []likelyJSON `json:"likely_successors"`
	LikelyPredecessor []likelyJSON `json:"likely_predecessor"`
}
