package policy_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

func ptr[T any](v T) *T { return &v }

func TestDefaultIsValid(t *testing.T) {
	t.Parallel()
	p := policy.Default()
	require.NoError(t, p.Validate())
	assert.False(t, p.DevicePasswordEnabled)
	assert.False(t, p.AllowNonProvisionableDevices)
	assert.True(t, p.AllowCamera)
	assert.Equal(t, policy.BluetoothAllowed, p.AllowBluetooth)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(p *policy.Policy)
		field  string // "" valid
	}{
		{"default", func(*policy.Policy) {}, ""},
		{"empty name", func(p *policy.Policy) { p.Name = " " }, "Name"},
		{"bluetooth 3", func(p *policy.Policy) { p.AllowBluetooth = 3 }, "AllowBluetooth"},
		{"bluetooth handsfree", func(p *policy.Policy) { p.AllowBluetooth = 1 }, ""},
		{"failed attempts 3", func(p *policy.Policy) { p.MaxDevicePasswordFailedAttempts = ptr[uint8](3) }, "MaxDevicePasswordFailedAttempts"},
		{"failed attempts 4", func(p *policy.Policy) { p.MaxDevicePasswordFailedAttempts = ptr[uint8](4) }, ""},
		{"failed attempts 16", func(p *policy.Policy) { p.MaxDevicePasswordFailedAttempts = ptr[uint8](16) }, ""},
		{"failed attempts 17", func(p *policy.Policy) { p.MaxDevicePasswordFailedAttempts = ptr[uint8](17) }, "MaxDevicePasswordFailedAttempts"},
		{"min length 0", func(p *policy.Policy) { p.MinDevicePasswordLength = ptr[uint8](0) }, "MinDevicePasswordLength"},
		{"min length 17", func(p *policy.Policy) { p.MinDevicePasswordLength = ptr[uint8](17) }, "MinDevicePasswordLength"},
		{"min length 8", func(p *policy.Policy) { p.MinDevicePasswordLength = ptr[uint8](8) }, ""},
		{"complex 0", func(p *policy.Policy) { p.MinDevicePasswordComplexCharacters = 0 }, "MinDevicePasswordComplexCharacters"},
		{"complex 5", func(p *policy.Policy) { p.MinDevicePasswordComplexCharacters = 5 }, "MinDevicePasswordComplexCharacters"},
		{"calendar 3", func(p *policy.Policy) { p.MaxCalendarAgeFilter = 3 }, "MaxCalendarAgeFilter"},
		{"calendar 7", func(p *policy.Policy) { p.MaxCalendarAgeFilter = 7 }, ""},
		{"email age 6", func(p *policy.Policy) { p.MaxEmailAgeFilter = 6 }, "MaxEmailAgeFilter"},
		{"truncation -2", func(p *policy.Policy) { p.MaxEmailBodyTruncationSize = ptr[int32](-2) }, "MaxEmailBodyTruncationSize"},
		{"truncation -1", func(p *policy.Policy) { p.MaxEmailBodyTruncationSize = ptr[int32](-1) }, ""},
		{"html truncation -5", func(p *policy.Policy) { p.MaxEmailHTMLBodyTruncationSize = ptr[int32](-5) }, "MaxEmailHTMLBodyTruncationSize"},
		{"encryption algorithm 5", func(p *policy.Policy) { p.RequireEncryptionSMIMEAlgorithm = 5 }, "RequireEncryptionSMIMEAlgorithm"},
		{"signed algorithm 2", func(p *policy.Policy) { p.RequireSignedSMIMEAlgorithm = 2 }, "RequireSignedSMIMEAlgorithm"},
		{"negotiation 3", func(p *policy.Policy) { p.AllowSMIMEEncryptionAlgorithmNegotiation = 3 }, "AllowSMIMEEncryptionAlgorithmNegotiation"},
		{"hash not hex", func(p *policy.Policy) { p.ApprovedApplicationList = []string{"xyz"} }, "ApprovedApplicationList"},
		{"hash sha1", func(p *policy.Policy) {
			p.ApprovedApplicationList = []string{"da39a3ee5e6b4b0d3255bfef95601890afd80709"}
		}, ""},
		{"empty app name", func(p *policy.Policy) { p.UnapprovedInROMApplicationList = []string{""} }, "UnapprovedInROMApplicationList"},
		{"negative refresh", func(p *policy.Policy) { p.RefreshIntervalHours = -1 }, "RefreshIntervalHours"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := policy.Default()
			tc.change(&p)
			err := p.Validate()
			if tc.field == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, policy.ErrInvalid)
			fe, ok := errors.AsType[*policy.FieldError](err)
			require.True(t, ok, "a *FieldError")
			assert.Equal(t, tc.field, fe.Field)
			assert.Contains(t, err.Error(), tc.field)
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	t.Parallel()
	p := policy.Default()
	p.AllowBluetooth = 9
	p.MaxEmailAgeFilter = 9
	err := p.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "AllowBluetooth")
	assert.Contains(t, err.Error(), "MaxEmailAgeFilter")
}

func TestSettingsRoundTrip(t *testing.T) {
	t.Parallel()
	p := policy.Default()
	p.DevicePasswordEnabled = true
	p.MinDevicePasswordLength = ptr[uint8](6)
	p.MaxAttachmentSize = ptr[uint32](10 << 20)
	p.UnapprovedInROMApplicationList = []string{"Solitaire"}
	js, err := p.MarshalSettings()
	require.NoError(t, err)
	got, err := policy.FromRecord(store.PolicyRecord{ID: 7, Name: "Strict", Version: 3, Settings: js})
	require.NoError(t, err)
	want := p
	want.ID, want.Name, want.Version = 7, "Strict", 3
	assert.Equal(t, want, got)

	// The seeded "{}" is every default; unknown keys are refused.
	def, err := policy.FromRecord(store.PolicyRecord{ID: 1, Name: "Default", Version: 1, Settings: "{}"})
	require.NoError(t, err)
	d := policy.Default()
	d.ID, d.Version = 1, 1
	assert.Equal(t, d, def)
	_, err = policy.FromRecord(store.PolicyRecord{Name: "x", Settings: `{"AllowTeleport":true}`})
	assert.Error(t, err)
}

// docElements decodes an EASProvisionDoc and returns element name → text ("<empty>" for an
// empty element, children joined with "," for the two lists).
func docElements(t *testing.T, p *policy.Policy, v policy.ProtocolVersion) map[string]string {
	t.Helper()
	enc := wbxml.NewEncoder(nil)
	enc.Start(wbxml.ProvisionData)
	p.AppendProvisionDoc(enc, v)
	enc.End()
	doc := enc.Bytes()
	require.NoError(t, enc.Err())

	dec := wbxml.NewDecoder(doc)
	_, err := dec.Expect(wbxml.ProvisionData)
	require.NoError(t, err)
	_, err = dec.Expect(wbxml.ProvisionEASProvisionDoc)
	require.NoError(t, err)
	out := map[string]string{}
	for {
		tok, err := dec.Next()
		require.NoError(t, err)
		if tok.Kind == wbxml.KindEnd {
			break
		}
		require.Equal(t, wbxml.KindStart, tok.Kind)
		name := strings.TrimPrefix(tok.Tag.String(), "Provision:")
		_, dup := out[name]
		require.False(t, dup, "element %s twice", name)
		switch {
		case !tok.Content:
			out[name] = "<empty>"
		case tok.Tag == wbxml.ProvisionApprovedApplicationList || tok.Tag == wbxml.ProvisionUnapprovedInROMApplicationList:
			var items []string
			for {
				c, err := dec.Next()
				require.NoError(t, err)
				if c.Kind == wbxml.KindEnd {
					break
				}
				s, err := dec.String()
				require.NoError(t, err)
				items = append(items, s)
			}
			out[name] = strings.Join(items, ",")
		default:
			s, err := dec.String()
			require.NoError(t, err)
			out[name] = s
		}
	}
	_, err = dec.Next()
	require.NoError(t, err) // Data's End
	_, err = dec.Next()
	require.ErrorIs(t, err, io.EOF)
	return out
}

// password12 are the elements 12.0 knows (MS-ASPROV 2.2.2.x Protocol Versions tables).
var password12 = []string{
	"DevicePasswordEnabled", "AlphanumericDevicePasswordRequired", "RequireStorageCardEncryption",
	"PasswordRecoveryEnabled", "AttachmentsEnabled", "MinDevicePasswordLength", "MaxInactivityTimeDeviceLock",
	"MaxDevicePasswordFailedAttempts", "MaxAttachmentSize", "AllowSimpleDevicePassword",
	"DevicePasswordExpiration", "DevicePasswordHistory",
}

func TestAppendProvisionDocVersions(t *testing.T) {
	t.Parallel()
	p := policy.Default()
	p.DevicePasswordEnabled = true
	p.MinDevicePasswordLength = ptr[uint8](6)
	p.MaxInactivityTimeDeviceLock = ptr[uint32](900)
	p.AllowCamera = false
	p.AllowBluetooth = policy.BluetoothHandsfreeOnly
	p.MaxEmailBodyTruncationSize = ptr[int32](-1)
	p.UnapprovedInROMApplicationList = []string{"Solitaire", "Games"}

	v120 := docElements(t, &p, policy.V120)
	assert.Len(t, v120, len(password12))
	for _, name := range password12 {
		assert.Contains(t, v120, name)
	}
	assert.NotContains(t, v120, "AllowCamera")
	assert.NotContains(t, v120, "RequireDeviceEncryption")
	assert.Equal(t, "1", v120["DevicePasswordEnabled"])
	assert.Equal(t, "6", v120["MinDevicePasswordLength"])
	assert.Equal(t, "900", v120["MaxInactivityTimeDeviceLock"])
	assert.Equal(t, "<empty>", v120["MaxAttachmentSize"], "unsignedIntOrEmpty without a limit")
	assert.Equal(t, "<empty>", v120["MaxDevicePasswordFailedAttempts"])

	for _, v := range []policy.ProtocolVersion{policy.V121, policy.V140, policy.V141, policy.V160, policy.V161} {
		all := docElements(t, &p, v)
		assert.Len(t, all, 42, "version %d: every EASProvisionDoc child of MS-ASPROV 2.2.2.28", v)
		assert.Equal(t, "0", all["AllowCamera"])
		assert.Equal(t, "1", all["AllowBluetooth"])
		assert.Equal(t, "1", all["AllowWiFi"])
		assert.Equal(t, "-1", all["MaxEmailBodyTruncationSize"])
		assert.Equal(t, "<empty>", all["MaxEmailHTMLBodyTruncationSize"])
		assert.Equal(t, "Solitaire,Games", all["UnapprovedInROMApplicationList"])
		assert.Equal(t, "<empty>", all["ApprovedApplicationList"])
		assert.Equal(t, "0", all["MaxCalendarAgeFilter"])
	}
}

func BenchmarkAppendProvisionDoc(b *testing.B) {
	p := policy.Default()
	enc := wbxml.NewEncoder(make([]byte, 0, 2048))
	b.ReportAllocs()
	for b.Loop() {
		enc.Reset(enc.Bytes()[:0])
		enc.Start(wbxml.ProvisionData)
		p.AppendProvisionDoc(enc, policy.V161)
		enc.End()
	}
	b.SetBytes(int64(len(enc.Bytes())))
}
