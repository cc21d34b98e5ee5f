// Package policy holds mobile device mailbox policies: every setting of the
// EASProvisionDoc of MS-ASPROV 2.2.2.28 with its type and range, the
// server-side settings around it (AllowNonProvisionableDevices, the
// refresh interval), validation, the JSON form the store keeps, and the
// encoding of the EASProvisionDoc that the Provision command sends, with
// only the elements the client's protocol version knows.
//
// A Policy has a Name, the store's ID and a Version that the store
// increments on every change; a device that acknowledged an older Version
// (or another policy) must provision again (MS-ASCMD 2.2.2 status 143,
// PolicyRefresh). Default returns the settings of the "Default" policy the
// store migration creates: everything allowed, no password, like Exchange's
// Default mobile device mailbox policy.
//
// Settings typed "OrEmpty" in MS-ASPROV (MaxAttachmentSize,
// MaxInactivityTimeDeviceLock, ...) are pointers: nil is the empty element,
// meaning "no limit set".
//
// The package imports store (for the record type) and wbxml; it does not
// import eas: the protocol version is a ProtocolVersion, major*10+minor as
// eas.Version counts it.
package policy

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/easd/easd/store"
)

// ProtocolVersion is an ActiveSync protocol version as major*10+minor
// (12.1 is 121), the numbering of eas.Version: pass uint8(r.Version).
type ProtocolVersion uint8

// Protocol versions that differ in what the EASProvisionDoc carries.
const (
	V120 ProtocolVersion = 120 // 12.0: the password settings only
	V121 ProtocolVersion = 121 // 12.1: every setting
	V140 ProtocolVersion = 140
	V141 ProtocolVersion = 141
	V160 ProtocolVersion = 160
	V161 ProtocolVersion = 161
)

// Bluetooth values of AllowBluetooth (MS-ASPROV 2.2.2.2).
const (
	BluetoothDisabled      = 0
	BluetoothHandsfreeOnly = 1
	BluetoothAllowed       = 2
)

// Policy is a mobile device mailbox policy. Field names are the
// EASProvisionDoc element names (MS-ASPROV 2.2.2.x, cited per field); the
// JSON form uses them too.
type Policy struct {
	ID      store.PolicyID `json:"-"`
	Name    string         `json:"-"`
	Version int64          `json:"-"`

	// AllowNonProvisionableDevices admits devices that never provision: a
	// request that carries no policy key at all (no X-MS-PolicyKey header,
	// no key in the base64 query) passes the policy-key gate. A request
	// with key 0 or a wrong key is still told to provision. Not sent to
	// devices (Exchange's setting of the same name).
	AllowNonProvisionableDevices bool `json:"AllowNonProvisionableDevices"`
	// RefreshIntervalHours makes devices provision again after this many
	// hours (0: never). Not sent to devices; the gate answers 143.
	RefreshIntervalHours int `json:"RefreshIntervalHours"`

	AllowBluetooth                           int      `json:"AllowBluetooth"`                           // 2.2.2.2 0 disabled, 1 handsfree only, 2 allowed; 12.1+
	AllowBrowser                             bool     `json:"AllowBrowser"`                             // 2.2.2.3; 12.1+
	AllowCamera                              bool     `json:"AllowCamera"`                              // 2.2.2.4; 12.1+
	AllowConsumerEmail                       bool     `json:"AllowConsumerEmail"`                       // 2.2.2.5; 12.1+
	AllowDesktopSync                         bool     `json:"AllowDesktopSync"`                         // 2.2.2.6; 12.1+
	AllowHTMLEmail                           bool     `json:"AllowHTMLEmail"`                           // 2.2.2.7; 12.1+
	AllowInternetSharing                     bool     `json:"AllowInternetSharing"`                     // 2.2.2.8; 12.1+
	AllowIrDA                                bool     `json:"AllowIrDA"`                                // 2.2.2.9; 12.1+
	AllowPOPIMAPEmail                        bool     `json:"AllowPOPIMAPEmail"`                        // 2.2.2.10; 12.1+
	AllowRemoteDesktop                       bool     `json:"AllowRemoteDesktop"`                       // 2.2.2.11; 12.1+
	AllowSimpleDevicePassword                bool     `json:"AllowSimpleDevicePassword"`                // 2.2.2.12; 12.0+
	AllowSMIMEEncryptionAlgorithmNegotiation int      `json:"AllowSMIMEEncryptionAlgorithmNegotiation"` // 2.2.2.13 0 no, 1 strong only, 2 any; 12.1+
	AllowSMIMESoftCerts                      bool     `json:"AllowSMIMESoftCerts"`                      // 2.2.2.14; 12.1+
	AllowStorageCard                         bool     `json:"AllowStorageCard"`                         // 2.2.2.15; 12.1+
	AllowTextMessaging                       bool     `json:"AllowTextMessaging"`                       // 2.2.2.16; 12.1+
	AllowUnsignedApplications                bool     `json:"AllowUnsignedApplications"`                // 2.2.2.17; 12.1+
	AllowUnsignedInstallationPackages        bool     `json:"AllowUnsignedInstallationPackages"`        // 2.2.2.18; 12.1+
	AllowWifi                                bool     `json:"AllowWifi"`                                // 2.2.2.19 (token AllowWiFi); 12.1+
	AlphanumericDevicePasswordRequired       bool     `json:"AlphanumericDevicePasswordRequired"`       // 2.2.2.20; 12.0+
	ApprovedApplicationList                  []string `json:"ApprovedApplicationList"`                  // 2.2.2.22 Hash values (SHA-1, hex); 12.1+
	AttachmentsEnabled                       bool     `json:"AttachmentsEnabled"`                       // 2.2.2.23; 12.0+
	DevicePasswordEnabled                    bool     `json:"DevicePasswordEnabled"`                    // 2.2.2.25; 12.0+
	DevicePasswordExpiration                 *uint32  `json:"DevicePasswordExpiration"`                 // 2.2.2.26 days, 0 never, nil empty; 12.0+
	DevicePasswordHistory                    uint32   `json:"DevicePasswordHistory"`                    // 2.2.2.27; 12.0+
	MaxAttachmentSize                        *uint32  `json:"MaxAttachmentSize"`                        // 2.2.2.30 bytes, nil no limit; 12.0+
	MaxCalendarAgeFilter                     int      `json:"MaxCalendarAgeFilter"`                     // 2.2.2.31 0 all, 4 2 weeks, 5 1 month, 6 3 months, 7 6 months; 12.1+
	MaxDevicePasswordFailedAttempts          *uint8   `json:"MaxDevicePasswordFailedAttempts"`          // 2.2.2.32 4-16, nil none; 12.0+
	MaxEmailAgeFilter                        int      `json:"MaxEmailAgeFilter"`                        // 2.2.2.33 0 all, 1 1 day ... 5 1 month; 12.1+
	MaxEmailBodyTruncationSize               *int32   `json:"MaxEmailBodyTruncationSize"`               // 2.2.2.34 KB, -1 none, 0 headers only, nil empty; 12.1+
	MaxEmailHTMLBodyTruncationSize           *int32   `json:"MaxEmailHTMLBodyTruncationSize"`           // 2.2.2.35 KB, as above; 12.1+
	MaxInactivityTimeDeviceLock              *uint32  `json:"MaxInactivityTimeDeviceLock"`              // 2.2.2.36 seconds, >= 9999 unlimited, nil none; 12.0+
	MinDevicePasswordComplexCharacters       int      `json:"MinDevicePasswordComplexCharacters"`       // 2.2.2.37 1-4; 12.1+
	MinDevicePasswordLength                  *uint8   `json:"MinDevicePasswordLength"`                  // 2.2.2.38 1-16, nil none; 12.0+
	PasswordRecoveryEnabled                  bool     `json:"PasswordRecoveryEnabled"`                  // 2.2.2.39; 12.0+
	RequireDeviceEncryption                  bool     `json:"RequireDeviceEncryption"`                  // 2.2.2.46; 12.1+
	RequireEncryptedSMIMEMessages            bool     `json:"RequireEncryptedSMIMEMessages"`            // 2.2.2.47; 12.1+
	RequireEncryptionSMIMEAlgorithm          int      `json:"RequireEncryptionSMIMEAlgorithm"`          // 2.2.2.48 0 3DES, 1 DES, 2 RC2-128, 3 RC2-64, 4 RC2-40; 12.1+
	RequireManualSyncWhenRoaming             bool     `json:"RequireManualSyncWhenRoaming"`             // 2.2.2.49; 12.1+
	RequireSignedSMIMEAlgorithm              int      `json:"RequireSignedSMIMEAlgorithm"`              // 2.2.2.50 0 SHA1, 1 MD5; 12.1+
	RequireSignedSMIMEMessages               bool     `json:"RequireSignedSMIMEMessages"`               // 2.2.2.51; 12.1+
	RequireStorageCardEncryption             bool     `json:"RequireStorageCardEncryption"`             // 2.2.2.53; 12.0+
	UnapprovedInROMApplicationList           []string `json:"UnapprovedInROMApplicationList"`           // 2.2.2.55 ApplicationName values; 12.1+
}

// DefaultName is the name of the policy migration 2 creates.
const DefaultName = "Default"

// Default returns the settings of the default policy: every feature
// allowed, no device password, no limits — what Exchange's Default mobile
// device mailbox policy sends. AllowNonProvisionableDevices is false:
// every device that can provision must (the policy-key gate applies).
func Default() Policy {
	return Policy{
		Name:                                     DefaultName,
		AllowBluetooth:                           BluetoothAllowed,
		AllowBrowser:                             true,
		AllowCamera:                              true,
		AllowConsumerEmail:                       true,
		AllowDesktopSync:                         true,
		AllowHTMLEmail:                           true,
		AllowInternetSharing:                     true,
		AllowIrDA:                                true,
		AllowPOPIMAPEmail:                        true,
		AllowRemoteDesktop:                       true,
		AllowSimpleDevicePassword:                true,
		AllowSMIMEEncryptionAlgorithmNegotiation: 2,
		AllowSMIMESoftCerts:                      true,
		AllowStorageCard:                         true,
		AllowTextMessaging:                       true,
		AllowUnsignedApplications:                true,
		AllowUnsignedInstallationPackages:        true,
		AllowWifi:                                true,
		AttachmentsEnabled:                       true,
		MinDevicePasswordComplexCharacters:       1,
		RequireEncryptionSMIMEAlgorithm:          0,
		RequireSignedSMIMEAlgorithm:              0,
	}
}

// FieldError is one invalid setting.
type FieldError struct {
	Field string // the element name, e.g. "MaxDevicePasswordFailedAttempts"
	Msg   string
}

func (e *FieldError) Error() string { return "policy: " + e.Field + ": " + e.Msg }

// ErrInvalid is wrapped by every error Validate returns.
var ErrInvalid = errors.New("policy: invalid")

func (e *FieldError) Unwrap() error { return ErrInvalid }

// Validate checks every setting against its MS-ASPROV range. It returns nil
// or the errors.Join of one *FieldError per invalid field.
func (p *Policy) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(p.Name) == "" {
		bad("Name", "must not be empty")
	}
	inRange := func(field string, v, lo, hi int) {
		if v < lo || v > hi {
			bad(field, "%d is outside %d-%d", v, lo, hi)
		}
	}
	inRange("AllowBluetooth", p.AllowBluetooth, 0, 2)                                                     // MS-ASPROV 2.2.2.2
	inRange("AllowSMIMEEncryptionAlgorithmNegotiation", p.AllowSMIMEEncryptionAlgorithmNegotiation, 0, 2) // MS-ASPROV 2.2.2.13
	inRange("MaxEmailAgeFilter", p.MaxEmailAgeFilter, 0, 5)                                               // MS-ASPROV 2.2.2.33
	inRange("MinDevicePasswordComplexCharacters", p.MinDevicePasswordComplexCharacters, 1, 4)             // MS-ASPROV 2.2.2.37
	inRange("RequireEncryptionSMIMEAlgorithm", p.RequireEncryptionSMIMEAlgorithm, 0, 4)                   // MS-ASPROV 2.2.2.48
	inRange("RequireSignedSMIMEAlgorithm", p.RequireSignedSMIMEAlgorithm, 0, 1)                           // MS-ASPROV 2.2.2.50
	switch p.MaxCalendarAgeFilter {                                                                       // MS-ASPROV 2.2.2.31
	case 0, 4, 5, 6, 7:
	default:
		bad("MaxCalendarAgeFilter", "%d is not one of 0 (all), 4, 5, 6, 7", p.MaxCalendarAgeFilter)
	}
	if v := p.MaxDevicePasswordFailedAttempts; v != nil && (*v < 4 || *v > 16) { // MS-ASPROV 2.2.2.32
		bad("MaxDevicePasswordFailedAttempts", "%d is outside 4-16", *v)
	}
	if v := p.MinDevicePasswordLength; v != nil && (*v < 1 || *v > 16) { // MS-ASPROV 2.2.2.38
		bad("MinDevicePasswordLength", "%d is outside 1-16", *v)
	}
	if v := p.MaxEmailBodyTruncationSize; v != nil && *v < -1 { // MS-ASPROV 2.2.2.34
		bad("MaxEmailBodyTruncationSize", "%d is below -1 (no truncation)", *v)
	}
	if v := p.MaxEmailHTMLBodyTruncationSize; v != nil && *v < -1 { // MS-ASPROV 2.2.2.35
		bad("MaxEmailHTMLBodyTruncationSize", "%d is below -1 (no truncation)", *v)
	}
	for i, h := range p.ApprovedApplicationList { // MS-ASPROV 2.2.2.29 Hash: SHA-1 of the application
		if b, err := hex.DecodeString(h); err != nil || len(b) != 20 {
			bad("ApprovedApplicationList", "entry %d %q is not a hex SHA-1 hash", i, h)
		}
	}
	for i, n := range p.UnapprovedInROMApplicationList { // MS-ASPROV 2.2.2.21 ApplicationName
		if strings.TrimSpace(n) == "" || strings.ContainsRune(n, 0) {
			bad("UnapprovedInROMApplicationList", "entry %d is empty or contains NUL", i)
		}
	}
	if p.RefreshIntervalHours < 0 {
		bad("RefreshIntervalHours", "%d is negative", p.RefreshIntervalHours)
	}
	return errors.Join(errs...)
}

// MarshalSettings returns the JSON the store keeps for p (every setting;
// not Name, ID or Version, which are columns).
func (p *Policy) MarshalSettings() (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("policy: marshal %q: %w", p.Name, err)
	}
	return string(b), nil
}

// FromRecord returns the policy a store record holds: its settings JSON
// laid over Default, so a setting the JSON lacks (a policy stored before
// the setting existed, or the seeded "{}") has its default value. Unknown
// JSON keys are an error.
func FromRecord(r store.PolicyRecord) (Policy, error) {
	p := Default()
	if s := strings.TrimSpace(r.Settings); s != "" {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return Policy{}, fmt.Errorf("policy: settings of %q: %w", r.Name, err)
		}
	}
	p.ID, p.Name, p.Version = r.ID, r.Name, r.Version
	return p, nil
}
