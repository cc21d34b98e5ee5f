package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Compliance filters of DeviceQuery.
const (
	Compliant    = "compliant"     // provisioned, acknowledged the user's current policy at its current version with status 1
	NonCompliant = "non-compliant" // anything else: never provisioned, an older policy or version, a partial acknowledgement
)

// Wipe filters of DeviceQuery.
const (
	WipedYes     = "wiped"   // the device acknowledged a wipe
	WipedPending = "pending" // a wipe was requested or sent, not yet acknowledged
	WipedNo      = "none"    // neither
)

// DeviceSorts are the sort orders of DeviceQuery (model ignores case); ties
// are broken by partnership ID.
var DeviceSorts = map[string]string{
	"":            "u.address, d.device_id",
	"user":        "u.address, d.device_id",
	"last_seen":   "d.last_seen",
	"-last_seen":  "d.last_seen DESC",
	"first_seen":  "d.first_seen", // the quarantine queue, longest waiting first
	"-first_seen": "d.first_seen DESC",
	"model":       "LOWER(d.model), u.address, d.device_id",
	"state":       "d.access_state, u.address, d.device_id",
}

// DeviceQuery selects a page of partnerships; zero fields do not filter.
// Every filter, the sort and the window run in the database.
type DeviceQuery struct {
	User        UserID
	AccessState string
	DeviceType  string
	Model       string
	OS          string // DeviceInformation OS, or the DeviceType where the device sent none (as DeviceStats groups)
	SeenBefore  time.Time
	SeenAfter   time.Time // LastSeen >= SeenAfter
	Compliance  string    // Compliant, NonCompliant
	Wiped       string    // WipedYes, WipedPending, WipedNo
	// Search matches a substring (case-insensitive) of the user's address,
	// the DeviceId, the model or the friendly name.
	Search string
	Sort   string // a key of DeviceSorts
	Limit  int    // zero: 100
	Offset int
}

// DeviceListing is a partnership with its user's address, whether it
// complies with the user's policy and the names of the policies involved.
type DeviceListing struct {
	Device
	Address   string
	Compliant bool
	// PolicyName names the policy now in force for the user.
	PolicyName string
	// AckPolicyName names the policy the device acknowledged
	// (Device.PolicyID); "" if it acknowledged none.
	AckPolicyName string
}

type deviceListingRow struct {
	Dev           deviceRow `gorm:"embedded"`
	Address       string
	Compliant     bool
	PolicyName    string
	AckPolicyName string
}

func (r deviceListingRow) listing() DeviceListing {
	return DeviceListing{Device: r.Dev.device(), Address: r.Address, Compliant: r.Compliant,
		PolicyName: r.PolicyName, AckPolicyName: r.AckPolicyName}
}

// listingCols are the columns of a DeviceListing beyond the device's; the
// query joins ackPolicyJoin after deviceFrom.
const listingCols = `, u.address AS address, ` + compliantExpr + ` AS compliant,
	COALESCE(p.name, '') AS policy_name, COALESCE(ap.name, '') AS ack_policy_name`

const ackPolicyJoin = ` LEFT JOIN policies ap ON ap.id = d.policy_id`

// osExpr is a device's OS for filters and statistics.
const osExpr = `CASE WHEN d.os <> '' THEN d.os ELSE d.device_type END`

// compliantExpr says whether a device acknowledged the policy now in force
// for its user (p, joined by deviceFrom).
const compliantExpr = `(d.policy_key <> 0 AND d.policy_id = p.id AND d.policy_version = p.version AND d.provision_status = 1)`

const deviceFrom = ` FROM devices d JOIN users u ON u.id = d.user_id
	LEFT JOIN policies p ON p.id = COALESCE(u.policy_id, (SELECT id FROM policies WHERE is_default))`

var qualifiedDeviceCols = func() string {
	cols := strings.Split(deviceCols, ",")
	for i, c := range cols {
		cols[i] = "d." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}()

// likePattern escapes s for LIKE ... ESCAPE '\' and wraps it in %.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

func (q DeviceQuery) where() (string, []any, error) {
	var conds []string
	var args []any
	add := func(c string, a ...any) { conds = append(conds, c); args = append(args, a...) }
	if q.User != 0 {
		add("d.user_id = ?", int64(q.User))
	}
	if q.AccessState != "" {
		add("d.access_state = ?", q.AccessState)
	}
	if q.DeviceType != "" {
		add("d.device_type = ?", q.DeviceType)
	}
	if q.Model != "" {
		add("d.model = ?", q.Model)
	}
	if q.OS != "" {
		add(osExpr+" = ?", q.OS)
	}
	if !q.SeenBefore.IsZero() {
		add("d.last_seen < ?", timestamp(q.SeenBefore))
	}
	if !q.SeenAfter.IsZero() {
		add("d.last_seen >= ?", timestamp(q.SeenAfter))
	}
	switch q.Compliance {
	case "":
	case Compliant:
		add(compliantExpr)
	case NonCompliant:
		add("NOT " + compliantExpr)
	default:
		return "", nil, fmt.Errorf("%w: compliance %q", ErrInvalidArgument, q.Compliance)
	}
	switch q.Wiped {
	case "":
	case WipedYes:
		add("d.wipe_state = ?", WipeAcknowledged)
	case WipedPending:
		add("d.wipe_state IN (?, ?)", WipeRequested, WipeSent)
	case WipedNo:
		add("d.wipe_state NOT IN (?, ?, ?)", WipeAcknowledged, WipeRequested, WipeSent)
	default:
		return "", nil, fmt.Errorf("%w: wiped %q", ErrInvalidArgument, q.Wiped)
	}
	if q.Search != "" {
		p := likePattern(q.Search)
		add(`(LOWER(u.address) LIKE ? ESCAPE '\' OR LOWER(d.device_id) LIKE ? ESCAPE '\'
			OR LOWER(d.model) LIKE ? ESCAPE '\' OR LOWER(d.friendly_name) LIKE ? ESCAPE '\')`, p, p, p, p)
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// QueryDevices returns the page of partnerships q selects and how many match
// in all. Errors: ErrInvalidArgument for an unknown sort, compliance or
// wiped value or a negative window.
func (s *Store) QueryDevices(ctx context.Context, q DeviceQuery) ([]DeviceListing, int, error) {
	order, ok := DeviceSorts[q.Sort]
	if !ok {
		return nil, 0, fmt.Errorf("query devices: %w: sort %q", ErrInvalidArgument, q.Sort)
	}
	if q.Limit < 0 || q.Offset < 0 {
		return nil, 0, fmt.Errorf("query devices: %w: negative limit or offset", ErrInvalidArgument)
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	where, args, err := q.where()
	if err != nil {
		return nil, 0, fmt.Errorf("query devices: %w", err)
	}
	var total int64
	if err := s.db.WithContext(ctx).Raw(`SELECT COUNT(*)`+deviceFrom+where, args...).Scan(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count devices: %w", err)
	}
	var rows []deviceListingRow
	err = s.db.WithContext(ctx).Raw(`SELECT `+qualifiedDeviceCols+listingCols+
		deviceFrom+ackPolicyJoin+where+` ORDER BY `+order+`, d.id LIMIT ? OFFSET ?`, append(args, q.Limit, q.Offset)...).Scan(&rows).Error
	if err != nil {
		return nil, 0, fmt.Errorf("query devices: %w", err)
	}
	out := make([]DeviceListing, len(rows))
	for i, r := range rows {
		out[i] = r.listing()
	}
	return out, int(total), nil
}

// DeviceListingByID returns one partnership as QueryDevices lists it, or
// ErrNotFound.
func (s *Store) DeviceListingByID(ctx context.Context, id PartnershipID) (DeviceListing, error) {
	var rows []deviceListingRow
	err := s.db.WithContext(ctx).Raw(`SELECT `+qualifiedDeviceCols+listingCols+
		deviceFrom+ackPolicyJoin+` WHERE d.id = ?`, int64(id)).Scan(&rows).Error
	if err != nil {
		return DeviceListing{}, fmt.Errorf("device %d: %w", id, err)
	}
	if len(rows) == 0 {
		return DeviceListing{}, fmt.Errorf("device %d: %w", id, ErrNotFound)
	}
	return rows[0].listing(), nil
}

// NameCount is a group of DeviceStats.
type NameCount struct {
	Name  string
	Count int
}

// DeviceStats are counts over all partnerships.
type DeviceStats struct {
	Total       int
	ByState     map[string]int // every access state, zero counts included
	ByOS        []NameCount    // most first, then by name; "" is a device that said neither OS nor DeviceType
	ByModel     []NameCount    // the top models as ByOS, then "other" for the rest (if any); "" is unknown
	Wiped       int            // acknowledged wipes
	WipePending int            // requested or sent, not yet acknowledged
	Compliant   int            // see Compliant
}

// OtherModels is the name of the ByModel group beyond the top ones.
const OtherModels = "other"

// DeviceStats counts the partnerships by access state, OS and model (the
// topModels most common, the rest as OtherModels), and the wiped,
// wipe-pending and compliant ones, in a few grouped queries.
func (s *Store) DeviceStats(ctx context.Context, topModels int) (DeviceStats, error) {
	db := s.db.WithContext(ctx)
	st := DeviceStats{ByState: map[string]int{AccessAllowed: 0, AccessBlocked: 0, AccessQuarantined: 0}}
	var states []NameCount
	if err := db.Raw(`SELECT access_state AS name, COUNT(*) AS count FROM devices GROUP BY access_state`).Scan(&states).Error; err != nil {
		return DeviceStats{}, fmt.Errorf("device stats: %w", err)
	}
	for _, g := range states {
		st.ByState[g.Name] += g.Count
		st.Total += g.Count
	}
	if err := db.Raw(`SELECT ` + osExpr + ` AS name, COUNT(*) AS count FROM devices d GROUP BY ` + osExpr +
		` ORDER BY count DESC, name`).Scan(&st.ByOS).Error; err != nil {
		return DeviceStats{}, fmt.Errorf("device stats: %w", err)
	}
	var models []NameCount
	if err := db.Raw(`SELECT model AS name, COUNT(*) AS count FROM devices GROUP BY model ORDER BY count DESC, name`).
		Scan(&models).Error; err != nil {
		return DeviceStats{}, fmt.Errorf("device stats: %w", err)
	}
	if len(models) > topModels {
		other := NameCount{Name: OtherModels}
		for _, m := range models[topModels:] {
			other.Count += m.Count
		}
		models = append(models[:topModels:topModels], other)
	}
	st.ByModel = models
	var c struct {
		Wiped, Pending, Compliant int64
	}
	if err := db.Raw(`SELECT
			COALESCE(SUM(CASE WHEN d.wipe_state = ? THEN 1 ELSE 0 END), 0) AS wiped,
			COALESCE(SUM(CASE WHEN d.wipe_state IN (?, ?) THEN 1 ELSE 0 END), 0) AS pending,
			COALESCE(SUM(CASE WHEN `+compliantExpr+` THEN 1 ELSE 0 END), 0) AS compliant`+deviceFrom,
		WipeAcknowledged, WipeRequested, WipeSent).Scan(&c).Error; err != nil {
		return DeviceStats{}, fmt.Errorf("device stats: %w", err)
	}
	st.Wiped, st.WipePending, st.Compliant = int(c.Wiped), int(c.Pending), int(c.Compliant)
	if st.ByOS == nil {
		st.ByOS = []NameCount{}
	}
	if st.ByModel == nil {
		st.ByModel = []NameCount{}
	}
	return st, nil
}

// QueryUsers returns the users whose address or display name contains
// search (case-insensitive; empty: all), ordered by address, the page
// limit/offset of them, and how many match in all.
func (s *Store) QueryUsers(ctx context.Context, search string, limit, offset int) ([]User, int, error) {
	if limit < 0 || offset < 0 {
		return nil, 0, fmt.Errorf("query users: %w: negative limit or offset", ErrInvalidArgument)
	}
	if limit == 0 {
		limit = 100
	}
	where, args := "", []any{}
	if search != "" {
		p := likePattern(search)
		where = ` WHERE (LOWER(u.address) LIKE ? ESCAPE '\' OR LOWER(u.display_name) LIKE ? ESCAPE '\')`
		args = append(args, p, p)
	}
	var total int64
	if err := s.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM users u`+where, args...).Scan(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	var rows []userRow
	if err := s.db.WithContext(ctx).Raw(userSelect+where+` ORDER BY u.address LIMIT ? OFFSET ?`, append(args, limit, offset)...).
		Scan(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("query users: %w", err)
	}
	out := make([]User, len(rows))
	for i, r := range rows {
		out[i] = r.user()
	}
	return out, int(total), nil
}

// QueryAudit returns the page of audit entries f selects (f.Limit of them,
// zero: 100, after skipping offset), newest first, and how many match in
// all.
func (s *Store) QueryAudit(ctx context.Context, f AuditFilter, offset int) ([]AuditEntry, int, error) {
	if f.Limit < 0 || offset < 0 {
		return nil, 0, fmt.Errorf("query audit: %w: negative limit or offset", ErrInvalidArgument)
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	var conds []string
	var args []any
	if !f.Since.IsZero() {
		conds, args = append(conds, "at >= ?"), append(args, timestamp(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "at < ?"), append(args, timestamp(f.Until))
	}
	if f.Actor != "" {
		conds, args = append(conds, "actor = ?"), append(args, f.Actor)
	}
	if f.Action != "" {
		conds, args = append(conds, "action = ?"), append(args, f.Action)
	}
	if f.Target != "" {
		conds, args = append(conds, "target = ?"), append(args, f.Target)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	var total int64
	if err := s.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM audit`+where, args...).Scan(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count audit log: %w", err)
	}
	var rows []auditRow
	if err := s.db.WithContext(ctx).Raw(`SELECT at, actor, action, target, detail, remote_addr FROM audit`+where+
		` ORDER BY at DESC, id DESC LIMIT ? OFFSET ?`, append(args, f.Limit, offset)...).Scan(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("read audit log: %w", err)
	}
	out := make([]AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = AuditEntry{At: timeOf(r.At), Actor: r.Actor, Action: r.Action, Target: r.Target, Detail: r.Detail, RemoteAddr: r.RemoteAddr}
	}
	return out, int(total), nil
}
