package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// PartnershipID is the database key of a device partnership (one row of
// devices). It is never reused.
type PartnershipID int64

// Access states of a device (issue 6 fills in the rules that set them).
const (
	AccessAllowed     = "allowed"
	AccessBlocked     = "blocked"
	AccessQuarantined = "quarantined"
)

// Access reasons: why a device has its access state (devices/doc.go gives
// the precedence).
const (
	ReasonDefault    = "default"    // the organisation's default access level
	ReasonRule       = "rule"       // a device access rule
	ReasonUserList   = "user-list"  // the user's allow or block list
	ReasonIndividual = "individual" // an administrator's decision for this device
	ReasonWipe       = "wipe"       // the device was wiped: blocked until removed
)

// ErrDeviceLimit: the user already has as many partnerships as allowed
// (DeviceContact.Max), so no new one was created.
var ErrDeviceLimit = errors.New("store: device limit reached")

// Wipe states: "" (none), then requested → sent → acknowledged, or
// cancelled before it was sent.
const (
	WipeNone         = ""
	WipeRequested    = "requested"
	WipeSent         = "sent"
	WipeAcknowledged = "acknowledged"
	WipeCancelled    = "cancelled"
)

// DeviceInfo is what a device says about itself in Settings or Provision
// DeviceInformation (MS-ASCMD 2.2.3.45). Empty fields are unknown.
type DeviceInfo struct {
	Model             string
	IMEI              string
	FriendlyName      string
	OS                string
	OSLanguage        string
	PhoneNumber       string
	MobileOperator    string
	UserAgent         string
	EnableOutboundSMS bool
}

// Device is a device partnership: one DeviceId of one user, created on
// first contact.
type Device struct {
	ID              PartnershipID
	User            UserID
	DeviceID        string // the DeviceId request parameter, as sent
	DeviceType      string
	UserAgent       string // latest non-empty User-Agent header or DeviceInformation UserAgent
	ProtocolVersion string // latest MS-ASProtocolVersion, "16.1"
	Info            DeviceInfo
	FirstSeen       time.Time
	LastSeen        time.Time

	// PolicyKey is the final key of the last completed Provision (0: not
	// provisioned); PolicyID and PolicyVersion name the policy it
	// acknowledged, ProvisionStatus the Status it acknowledged with
	// (MS-ASPROV 2.2.2.54.1: 1 applied, 2 partially, ...).
	PolicyKey       uint32
	PolicyID        PolicyID
	PolicyVersion   int64
	ProvisionStatus int
	ProvisionedAt   time.Time
	// PendingPolicyKey is the temporary key of an initial Provision not yet
	// acknowledged, for PendingPolicyID at PendingPolicyVersion.
	PendingPolicyKey     uint32
	PendingPolicyID      PolicyID
	PendingPolicyVersion int64

	AccessState  string // AccessAllowed, AccessBlocked, AccessQuarantined
	AccessReason string // "default" until issue 6's rules
	AccessSetBy  string
	AccessSetAt  time.Time

	WipeState       string
	WipeAccountOnly bool
	WipeRequestedBy string
	WipeRequestedAt time.Time
	WipeSentAt      time.Time
	WipeAckedAt     time.Time
	WipeAckStatus   int // the client's RemoteWipe Status (MS-ASPROV 2.2.2.54.3): 1 wiped, 2 failed

	TraceEnabled bool
}

// WipePending reports whether a wipe was requested and not yet
// acknowledged: the device must be told to wipe.
func (d Device) WipePending() bool {
	return d.WipeState == WipeRequested || d.WipeState == WipeSent
}

// DeviceContact is what every request says about its device.
type DeviceContact struct {
	User            UserID
	DeviceID        string
	DeviceType      string
	UserAgent       string // "" keeps the stored one
	ProtocolVersion string
	At              time.Time // zero: now
	// Max, if positive, is the most partnerships the user may have: a new
	// device beyond it is not created and TouchDevice returns
	// ErrDeviceLimit.
	Max int
}

// DeviceFilter selects devices; zero fields do not filter.
type DeviceFilter struct {
	User         UserID
	DeviceType   string
	AccessState  string
	SeenBefore   time.Time // LastSeen < SeenBefore
	TraceEnabled bool      // only traced devices
	Limit        int       // zero: 1000
}

// optTimestamp is a nullable timestamp: NULL reads as the zero time and the
// zero time is written as NULL.
type optTimestamp time.Time

func (t optTimestamp) Value() (driver.Value, error) {
	if time.Time(t).IsZero() {
		return nil, nil
	}
	return timestamp(t).Value()
}

func (t *optTimestamp) Scan(v any) error {
	if v == nil {
		*t = optTimestamp{}
		return nil
	}
	var ts timestamp
	if err := ts.Scan(v); err != nil {
		return err
	}
	*t = optTimestamp(ts)
	return nil
}

type deviceRow struct {
	ID                   int64
	UserID               int64
	DeviceID             string
	DeviceType           string
	UserAgent            string
	ProtocolVersion      string
	Model                string
	IMEI                 string `gorm:"column:imei"`
	FriendlyName         string
	OS                   string `gorm:"column:os"`
	OSLanguage           string `gorm:"column:os_language"`
	PhoneNumber          string
	MobileOperator       string
	EnableOutboundSMS    bool `gorm:"column:enable_outbound_sms"`
	FirstSeen            timestamp
	LastSeen             timestamp
	PolicyKey            int64
	PolicyKeyPending     int64
	PendingPolicyID      int64
	PendingPolicyVersion int64
	PolicyID             int64
	PolicyVersion        int64
	ProvisionStatus      int
	ProvisionedAt        optTimestamp
	AccessState          string
	AccessReason         string
	AccessSetBy          string
	AccessSetAt          optTimestamp
	WipeState            string
	WipeAccountOnly      bool
	WipeRequestedBy      string
	WipeRequestedAt      optTimestamp
	WipeSentAt           optTimestamp
	WipeAckedAt          optTimestamp
	WipeAckStatus        int
	TraceEnabled         bool
}

const deviceCols = `id, user_id, device_id, device_type, user_agent, protocol_version, model, imei,
	friendly_name, os, os_language, phone_number, mobile_operator, enable_outbound_sms, first_seen, last_seen,
	policy_key, policy_key_pending, pending_policy_id, pending_policy_version, policy_id, policy_version,
	provision_status, provisioned_at, access_state, access_reason, access_set_by, access_set_at,
	wipe_state, wipe_account_only, wipe_requested_by, wipe_requested_at, wipe_sent_at, wipe_acked_at, wipe_ack_status, trace_enabled`

func (r deviceRow) device() Device {
	return Device{
		ID: PartnershipID(r.ID), User: UserID(r.UserID), DeviceID: r.DeviceID, DeviceType: r.DeviceType,
		UserAgent: r.UserAgent, ProtocolVersion: r.ProtocolVersion,
		Info: DeviceInfo{Model: r.Model, IMEI: r.IMEI, FriendlyName: r.FriendlyName, OS: r.OS,
			OSLanguage: r.OSLanguage, PhoneNumber: r.PhoneNumber, MobileOperator: r.MobileOperator,
			UserAgent: r.UserAgent, EnableOutboundSMS: r.EnableOutboundSMS},
		FirstSeen: timeOf(r.FirstSeen), LastSeen: timeOf(r.LastSeen),
		PolicyKey: uint32(r.PolicyKey), PolicyID: PolicyID(r.PolicyID), PolicyVersion: r.PolicyVersion,
		ProvisionStatus: r.ProvisionStatus, ProvisionedAt: time.Time(r.ProvisionedAt),
		PendingPolicyKey: uint32(r.PolicyKeyPending), PendingPolicyID: PolicyID(r.PendingPolicyID),
		PendingPolicyVersion: r.PendingPolicyVersion,
		AccessState:          r.AccessState, AccessReason: r.AccessReason, AccessSetBy: r.AccessSetBy,
		AccessSetAt: time.Time(r.AccessSetAt),
		WipeState:   r.WipeState, WipeAccountOnly: r.WipeAccountOnly, WipeRequestedBy: r.WipeRequestedBy,
		WipeRequestedAt: time.Time(r.WipeRequestedAt), WipeSentAt: time.Time(r.WipeSentAt),
		WipeAckedAt:   time.Time(r.WipeAckedAt),
		WipeAckStatus: r.WipeAckStatus,
		TraceEnabled:  r.TraceEnabled,
	}
}

// maxDeviceField bounds the text a device may store about itself.
const maxDeviceField = 1024

func deviceText(s string) string {
	s = cleanText(strings.TrimSpace(s))
	if len(s) > maxDeviceField {
		s = s[:maxDeviceField]
	}
	return s
}

// TouchDevice records a request of a device: it creates the partnership on
// first contact and otherwise updates last_seen, the device type, the
// protocol version and (when not empty) the user agent. Without a cap
// (c.Max <= 0) it is one statement (INSERT ... ON CONFLICT DO UPDATE ...
// RETURNING), so concurrent first contacts of the same device create
// exactly one row on both databases.
//
// With a cap, a known device is updated as above; a new one is created in a
// transaction that first takes the user's lock (SELECT ... FOR UPDATE on the
// users row on PostgreSQL; SQLite transactions take the write lock at BEGIN)
// and counts the user's other partnerships, so concurrent first contacts of
// many devices cannot overshoot c.Max; the one beyond it gets
// ErrDeviceLimit and nothing is written. Errors: ErrInvalidArgument for an
// empty DeviceID, ErrNotFound for an unknown user.
func (s *Store) TouchDevice(ctx context.Context, c DeviceContact) (Device, error) {
	if c.DeviceID == "" {
		return Device{}, fmt.Errorf("touch device: %w: empty device id", ErrInvalidArgument)
	}
	at := c.At
	if at.IsZero() {
		at = now()
	}
	args := []any{int64(c.User), deviceText(c.DeviceID), deviceText(c.DeviceType), deviceText(c.UserAgent),
		deviceText(c.ProtocolVersion), timestamp(at), timestamp(at)}
	var rows []deviceRow
	var err error
	if c.Max <= 0 {
		err = s.db.WithContext(ctx).Raw(upsertDevice, args...).Scan(&rows).Error
	} else {
		err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Raw(`UPDATE devices SET `+touchSet(`?`, `?`, `?`, `?`)+
				` WHERE user_id = ? AND device_id = ? RETURNING `+deviceCols,
				timestamp(at), timestamp(at), deviceText(c.DeviceType), deviceText(c.DeviceType),
				deviceText(c.UserAgent), deviceText(c.UserAgent), deviceText(c.ProtocolVersion),
				deviceText(c.ProtocolVersion), int64(c.User), deviceText(c.DeviceID)).Scan(&rows).Error; err != nil {
				return err
			}
			if len(rows) > 0 {
				return nil
			}
			lock := ""
			if s.dialect == dialectPostgres {
				lock = " FOR UPDATE"
			}
			var ids []int64
			if err := tx.Raw(`SELECT id FROM users WHERE id = ?`+lock, int64(c.User)).Scan(&ids).Error; err != nil {
				return err
			}
			if len(ids) == 0 {
				return ErrNotFound
			}
			// Another request of this very device may have created it while
			// we waited for the lock: count the others only.
			var n int64
			if err := tx.Raw(`SELECT COUNT(*) FROM devices WHERE user_id = ? AND device_id <> ?`,
				int64(c.User), deviceText(c.DeviceID)).Scan(&n).Error; err != nil {
				return err
			}
			if n >= int64(c.Max) {
				return ErrDeviceLimit
			}
			return tx.Raw(upsertDevice, args...).Scan(&rows).Error
		})
	}
	switch {
	case errors.Is(err, ErrDeviceLimit), errors.Is(err, ErrNotFound):
		return Device{}, fmt.Errorf("touch device %s of user %d: %w", c.DeviceID, c.User, err)
	case isForeignKeyViolation(err):
		return Device{}, fmt.Errorf("touch device %s of user %d: %w", c.DeviceID, c.User, ErrNotFound)
	case err != nil:
		return Device{}, fmt.Errorf("touch device %s of user %d: %w", c.DeviceID, c.User, err)
	}
	if len(rows) == 0 {
		return Device{}, fmt.Errorf("touch device %s of user %d: no row returned", c.DeviceID, c.User)
	}
	return rows[0].device(), nil
}

// touchSet is the SET list of a touch, given the new last_seen, device
// type, user agent and protocol version (each used twice).
func touchSet(seen, typ, ua, proto string) string {
	return `last_seen = CASE WHEN ` + seen + ` > devices.last_seen THEN ` + seen + ` ELSE devices.last_seen END,
			device_type = CASE WHEN ` + typ + ` <> '' THEN ` + typ + ` ELSE devices.device_type END,
			user_agent = CASE WHEN ` + ua + ` <> '' THEN ` + ua + ` ELSE devices.user_agent END,
			protocol_version = CASE WHEN ` + proto + ` <> '' THEN ` + proto + ` ELSE devices.protocol_version END`
}

var upsertDevice = `INSERT INTO devices (user_id, device_id, device_type, user_agent, protocol_version, first_seen, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, device_id) DO UPDATE SET
			` + touchSet(`excluded.last_seen`, `excluded.device_type`, `excluded.user_agent`, `excluded.protocol_version`) + `
		RETURNING ` + deviceCols

// CountDevices returns how many partnerships the user has, wiped ones
// included.
func (s *Store) CountDevices(ctx context.Context, user UserID) (int, error) {
	var n int64
	if err := s.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM devices WHERE user_id = ?`, int64(user)).Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("count devices of user %d: %w", user, err)
	}
	return int(n), nil
}

func (s *Store) deviceWhere(ctx context.Context, what string, where string, args ...any) (Device, error) {
	var rows []deviceRow
	if err := s.db.WithContext(ctx).Raw(`SELECT `+deviceCols+` FROM devices WHERE `+where, args...).Scan(&rows).Error; err != nil {
		return Device{}, fmt.Errorf("device %s: %w", what, err)
	}
	if len(rows) == 0 {
		return Device{}, fmt.Errorf("device %s: %w", what, ErrNotFound)
	}
	return rows[0].device(), nil
}

// DeviceByID returns the partnership with this key, or ErrNotFound.
func (s *Store) DeviceByID(ctx context.Context, id PartnershipID) (Device, error) {
	return s.deviceWhere(ctx, fmt.Sprint(id), `id = ?`, int64(id))
}

// DeviceOf returns the partnership of the user's device deviceID, or
// ErrNotFound.
func (s *Store) DeviceOf(ctx context.Context, user UserID, deviceID string) (Device, error) {
	return s.deviceWhere(ctx, deviceID, `user_id = ? AND device_id = ?`, int64(user), deviceID)
}

// Devices returns the partnerships matching f, by user then DeviceId.
func (s *Store) Devices(ctx context.Context, f DeviceFilter) ([]Device, error) {
	q := s.db.WithContext(ctx).Table("devices").Select(deviceCols)
	if f.User != 0 {
		q = q.Where("user_id = ?", int64(f.User))
	}
	if f.DeviceType != "" {
		q = q.Where("device_type = ?", f.DeviceType)
	}
	if f.AccessState != "" {
		q = q.Where("access_state = ?", f.AccessState)
	}
	if !f.SeenBefore.IsZero() {
		q = q.Where("last_seen < ?", timestamp(f.SeenBefore))
	}
	if f.TraceEnabled {
		q = q.Where("trace_enabled")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	var rows []deviceRow
	if err := q.Order("user_id, device_id").Limit(limit).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	out := make([]Device, len(rows))
	for i, r := range rows {
		out[i] = r.device()
	}
	return out, nil
}

// updateDevice runs an UPDATE on one partnership and maps "no row" to
// ErrNotFound.
func (s *Store) updateDevice(ctx context.Context, id PartnershipID, set string, args ...any) error {
	args = append(args, int64(id))
	res := s.db.WithContext(ctx).Exec(`UPDATE devices SET `+set+` WHERE id = ?`, args...)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// SetDeviceInfo replaces what the device said about itself. An empty
// UserAgent keeps the stored one.
func (s *Store) SetDeviceInfo(ctx context.Context, id PartnershipID, info DeviceInfo) error {
	err := s.updateDevice(ctx, id, `model = ?, imei = ?, friendly_name = ?, os = ?, os_language = ?,
		phone_number = ?, mobile_operator = ?, enable_outbound_sms = ?,
		user_agent = CASE WHEN ? <> '' THEN ? ELSE user_agent END`,
		deviceText(info.Model), deviceText(info.IMEI), deviceText(info.FriendlyName), deviceText(info.OS),
		deviceText(info.OSLanguage), deviceText(info.PhoneNumber), deviceText(info.MobileOperator),
		info.EnableOutboundSMS, deviceText(info.UserAgent), deviceText(info.UserAgent))
	if err != nil {
		return fmt.Errorf("set device info of %d: %w", id, err)
	}
	return nil
}

// SetPendingPolicyKey records the temporary key handed out by an initial
// Provision for policy p at version v, replacing any earlier pending key.
// The final key stays valid until the acknowledgement replaces it.
func (s *Store) SetPendingPolicyKey(ctx context.Context, id PartnershipID, key uint32, p PolicyID, v int64) error {
	if key == 0 {
		return fmt.Errorf("set pending policy key of %d: %w: key 0", id, ErrInvalidArgument)
	}
	if err := s.updateDevice(ctx, id, `policy_key_pending = ?, pending_policy_id = ?, pending_policy_version = ?`,
		int64(key), int64(p), v); err != nil {
		return fmt.Errorf("set pending policy key of %d: %w", id, err)
	}
	return nil
}

// ConfirmPolicyKey completes a Provision: if the partnership's pending key
// is pending (non-zero), final becomes its policy key, the pending policy
// becomes the acknowledged one, with the client's status, and the pending
// key is cleared; provisioned_at becomes at (zero: now). Otherwise (no such pending key, or another acknowledgement
// won the race) it returns ErrConflict and changes nothing.
func (s *Store) ConfirmPolicyKey(ctx context.Context, id PartnershipID, pending, final uint32, status int, at time.Time) (Device, error) {
	if pending == 0 || final == 0 {
		return Device{}, fmt.Errorf("confirm policy key of %d: %w: key 0", id, ErrInvalidArgument)
	}
	if at.IsZero() {
		at = now()
	}
	var rows []deviceRow
	err := s.db.WithContext(ctx).Raw(`UPDATE devices SET policy_key = ?, policy_key_pending = 0,
			policy_id = pending_policy_id, policy_version = pending_policy_version,
			pending_policy_id = 0, pending_policy_version = 0, provision_status = ?, provisioned_at = ?
		WHERE id = ? AND policy_key_pending = ? RETURNING `+deviceCols,
		int64(final), status, timestamp(at), int64(id), int64(pending)).Scan(&rows).Error
	if err != nil {
		return Device{}, fmt.Errorf("confirm policy key of %d: %w", id, err)
	}
	if len(rows) == 0 {
		if _, err := s.DeviceByID(ctx, id); err != nil {
			return Device{}, fmt.Errorf("confirm policy key: %w", err)
		}
		return Device{}, fmt.Errorf("confirm policy key of %d: %w: not the pending key", id, ErrConflict)
	}
	return rows[0].device(), nil
}

// SetDeviceTrace switches the protocol trace of a device on or off.
func (s *Store) SetDeviceTrace(ctx context.Context, id PartnershipID, on bool) error {
	if err := s.updateDevice(ctx, id, `trace_enabled = ?`, on); err != nil {
		return fmt.Errorf("set trace of device %d: %w", id, err)
	}
	return nil
}

// RemoveDevice deletes a partnership with its traces and everything the
// device held: its folder and collection sync states, Ping parameters and
// recovery password. The device's next request creates a new, unprovisioned
// partnership, so it must provision again and then sync from key 0, as after
// removing a partnership in Exchange.
func (s *Store) RemoveDevice(ctx context.Context, id PartnershipID) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`DELETE FROM device_traces WHERE device = ?`, int64(id)).Error; err != nil {
			return err
		}
		for _, table := range []string{"sync_states", "folder_sync_states", "ping_states", "device_passwords"} {
			if err := tx.Exec(`DELETE FROM `+table+` WHERE (user_id, device_id) IN
				(SELECT user_id, device_id FROM devices WHERE id = ?)`, int64(id)).Error; err != nil {
				return err
			}
		}
		res := tx.Exec(`DELETE FROM devices WHERE id = ?`, int64(id))
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove device %d: %w", id, err)
	}
	return nil
}
