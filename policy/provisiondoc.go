package policy

import (
	"strconv"

	"github.com/easd/easd/wbxml"
)

// docField is one element of the EASProvisionDoc: its tag, the first
// protocol version that has it (MS-ASPROV 2.2.2.x "Protocol Versions"
// tables: the password settings exist from 12.0, everything else from
// 12.1; nothing was added after 12.1) and how to write it.
type docField struct {
	tag   wbxml.Tag
	since ProtocolVersion
	write func(enc *wbxml.Encoder, t wbxml.Tag, p *Policy)
}

func boolField(get func(*Policy) bool) func(*wbxml.Encoder, wbxml.Tag, *Policy) {
	return func(enc *wbxml.Encoder, t wbxml.Tag, p *Policy) {
		// MS-ASDTYPE 2.1: boolean is 0 or 1.
		if get(p) {
			enc.String(t, "1")
		} else {
			enc.String(t, "0")
		}
	}
}

func intField(get func(*Policy) int) func(*wbxml.Encoder, wbxml.Tag, *Policy) {
	return func(enc *wbxml.Encoder, t wbxml.Tag, p *Policy) {
		enc.String(t, strconv.Itoa(get(p)))
	}
}

// optField writes an "OrEmpty" setting: the empty element for nil
// (MS-ASPROV 2.2.3.1-2.2.3.3).
func optField[T uint8 | uint32 | int32](get func(*Policy) *T) func(*wbxml.Encoder, wbxml.Tag, *Policy) {
	return func(enc *wbxml.Encoder, t wbxml.Tag, p *Policy) {
		if v := get(p); v != nil {
			enc.String(t, strconv.FormatInt(int64(*v), 10))
		} else {
			enc.Empty(t)
		}
	}
}

// listField writes a container of child elements, the empty element for an
// empty list.
func listField(child wbxml.Tag, get func(*Policy) []string) func(*wbxml.Encoder, wbxml.Tag, *Policy) {
	return func(enc *wbxml.Encoder, t wbxml.Tag, p *Policy) {
		l := get(p)
		if len(l) == 0 {
			enc.Empty(t)
			return
		}
		enc.Start(t)
		for _, v := range l {
			enc.String(child, v)
		}
		enc.End()
	}
}

// docFields is the EASProvisionDoc in code page order (MS-ASWBXML
// 2.1.2.1.15), which is the order Exchange writes.
var docFields = []docField{
	{wbxml.ProvisionDevicePasswordEnabled, V120, boolField(func(p *Policy) bool { return p.DevicePasswordEnabled })},
	{wbxml.ProvisionAlphanumericDevicePasswordRequired, V120, boolField(func(p *Policy) bool { return p.AlphanumericDevicePasswordRequired })},
	{wbxml.ProvisionRequireStorageCardEncryption, V120, boolField(func(p *Policy) bool { return p.RequireStorageCardEncryption })},
	{wbxml.ProvisionPasswordRecoveryEnabled, V120, boolField(func(p *Policy) bool { return p.PasswordRecoveryEnabled })},
	{wbxml.ProvisionAttachmentsEnabled, V120, boolField(func(p *Policy) bool { return p.AttachmentsEnabled })},
	{wbxml.ProvisionMinDevicePasswordLength, V120, optField(func(p *Policy) *uint8 { return p.MinDevicePasswordLength })},
	{wbxml.ProvisionMaxInactivityTimeDeviceLock, V120, optField(func(p *Policy) *uint32 { return p.MaxInactivityTimeDeviceLock })},
	{wbxml.ProvisionMaxDevicePasswordFailedAttempts, V120, optField(func(p *Policy) *uint8 { return p.MaxDevicePasswordFailedAttempts })},
	{wbxml.ProvisionMaxAttachmentSize, V120, optField(func(p *Policy) *uint32 { return p.MaxAttachmentSize })},
	{wbxml.ProvisionAllowSimpleDevicePassword, V120, boolField(func(p *Policy) bool { return p.AllowSimpleDevicePassword })},
	{wbxml.ProvisionDevicePasswordExpiration, V120, optField(func(p *Policy) *uint32 { return p.DevicePasswordExpiration })},
	{wbxml.ProvisionDevicePasswordHistory, V120, func(enc *wbxml.Encoder, t wbxml.Tag, p *Policy) {
		enc.String(t, strconv.FormatUint(uint64(p.DevicePasswordHistory), 10))
	}},
	{wbxml.ProvisionAllowStorageCard, V121, boolField(func(p *Policy) bool { return p.AllowStorageCard })},
	{wbxml.ProvisionAllowCamera, V121, boolField(func(p *Policy) bool { return p.AllowCamera })},
	{wbxml.ProvisionRequireDeviceEncryption, V121, boolField(func(p *Policy) bool { return p.RequireDeviceEncryption })},
	{wbxml.ProvisionAllowUnsignedApplications, V121, boolField(func(p *Policy) bool { return p.AllowUnsignedApplications })},
	{wbxml.ProvisionAllowUnsignedInstallationPackages, V121, boolField(func(p *Policy) bool { return p.AllowUnsignedInstallationPackages })},
	{wbxml.ProvisionMinDevicePasswordComplexCharacters, V121, intField(func(p *Policy) int { return p.MinDevicePasswordComplexCharacters })},
	{wbxml.ProvisionAllowWiFi, V121, boolField(func(p *Policy) bool { return p.AllowWifi })},
	{wbxml.ProvisionAllowTextMessaging, V121, boolField(func(p *Policy) bool { return p.AllowTextMessaging })},
	{wbxml.ProvisionAllowPOPIMAPEmail, V121, boolField(func(p *Policy) bool { return p.AllowPOPIMAPEmail })},
	{wbxml.ProvisionAllowBluetooth, V121, intField(func(p *Policy) int { return p.AllowBluetooth })},
	{wbxml.ProvisionAllowIrDA, V121, boolField(func(p *Policy) bool { return p.AllowIrDA })},
	{wbxml.ProvisionRequireManualSyncWhenRoaming, V121, boolField(func(p *Policy) bool { return p.RequireManualSyncWhenRoaming })},
	{wbxml.ProvisionAllowDesktopSync, V121, boolField(func(p *Policy) bool { return p.AllowDesktopSync })},
	{wbxml.ProvisionMaxCalendarAgeFilter, V121, intField(func(p *Policy) int { return p.MaxCalendarAgeFilter })},
	{wbxml.ProvisionAllowHTMLEmail, V121, boolField(func(p *Policy) bool { return p.AllowHTMLEmail })},
	{wbxml.ProvisionMaxEmailAgeFilter, V121, intField(func(p *Policy) int { return p.MaxEmailAgeFilter })},
	{wbxml.ProvisionMaxEmailBodyTruncationSize, V121, optField(func(p *Policy) *int32 { return p.MaxEmailBodyTruncationSize })},
	{wbxml.ProvisionMaxEmailHTMLBodyTruncationSize, V121, optField(func(p *Policy) *int32 { return p.MaxEmailHTMLBodyTruncationSize })},
	{wbxml.ProvisionRequireSignedSMIMEMessages, V121, boolField(func(p *Policy) bool { return p.RequireSignedSMIMEMessages })},
	{wbxml.ProvisionRequireEncryptedSMIMEMessages, V121, boolField(func(p *Policy) bool { return p.RequireEncryptedSMIMEMessages })},
	{wbxml.ProvisionRequireSignedSMIMEAlgorithm, V121, intField(func(p *Policy) int { return p.RequireSignedSMIMEAlgorithm })},
	{wbxml.ProvisionRequireEncryptionSMIMEAlgorithm, V121, intField(func(p *Policy) int { return p.RequireEncryptionSMIMEAlgorithm })},
	{wbxml.ProvisionAllowSMIMEEncryptionAlgorithmNegotiation, V121, intField(func(p *Policy) int { return p.AllowSMIMEEncryptionAlgorithmNegotiation })},
	{wbxml.ProvisionAllowSMIMESoftCerts, V121, boolField(func(p *Policy) bool { return p.AllowSMIMESoftCerts })},
	{wbxml.ProvisionAllowBrowser, V121, boolField(func(p *Policy) bool { return p.AllowBrowser })},
	{wbxml.ProvisionAllowConsumerEmail, V121, boolField(func(p *Policy) bool { return p.AllowConsumerEmail })},
	{wbxml.ProvisionAllowRemoteDesktop, V121, boolField(func(p *Policy) bool { return p.AllowRemoteDesktop })},
	{wbxml.ProvisionAllowInternetSharing, V121, boolField(func(p *Policy) bool { return p.AllowInternetSharing })},
	{wbxml.ProvisionUnapprovedInROMApplicationList, V121, listField(wbxml.ProvisionApplicationName, func(p *Policy) []string { return p.UnapprovedInROMApplicationList })},
	{wbxml.ProvisionApprovedApplicationList, V121, listField(wbxml.ProvisionHash, func(p *Policy) []string { return p.ApprovedApplicationList })},
}

// AppendProvisionDoc writes <EASProvisionDoc> with the settings protocol
// version v knows (MS-ASPROV 2.2.2.28): for 12.0 the twelve password and
// attachment settings, for 12.1 and later all of them. The caller has
// opened Provision:Data. Encoder misuse is reported by enc.Err.
func (p *Policy) AppendProvisionDoc(enc *wbxml.Encoder, v ProtocolVersion) {
	enc.Start(wbxml.ProvisionEASProvisionDoc)
	for _, f := range docFields {
		if v >= f.since {
			f.write(enc, f.tag, p)
		}
	}
	enc.End()
}
