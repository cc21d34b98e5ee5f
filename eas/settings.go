package eas

import (
	"context"
	"errors"
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/store"
	"github.com/easd/easd/wbxml"
)

// Settings statuses (MS-ASCMD 2.2.3.177.15): the same values for the top-level Status and
// for the Status of each part (Oof, DevicePassword, DeviceInformation, UserInformation,
// RightsManagementInformation).
const (
	StatusSettingsProtocolError       Status = 2 // MS-ASCMD 2.2.3.177.15 Protocol error
	StatusSettingsAccessDenied        Status = 3 // MS-ASCMD 2.2.3.177.15 Access denied
	StatusSettingsServerUnavailable   Status = 4 // MS-ASCMD 2.2.3.177.15 Server unavailable
	StatusSettingsInvalidArguments    Status = 5 // MS-ASCMD 2.2.3.177.15 Invalid arguments
	StatusSettingsConflictingArgument Status = 6 // MS-ASCMD 2.2.3.177.15 Conflicting arguments
	StatusSettingsDeniedByPolicy      Status = 7 // MS-ASCMD 2.2.3.177.15 Denied by policy
)

// SettingsStore is what the Settings command needs of the store.
type SettingsStore interface {
	Oof(ctx context.Context, user store.UserID) (store.Oof, error)
	SetOof(ctx context.Context, user store.UserID, o store.Oof) error
	SetDevicePassword(ctx context.Context, box *store.SecretBox, user store.UserID, deviceID, password string) error
}

var _ SettingsStore = (*store.Store)(nil)

// DeviceInfoSetter stores what a device says about itself (*devices.Registry).
type DeviceInfoSetter interface {
	SetInfo(ctx context.Context, k devices.Key, info devices.Info) error
}

var _ DeviceInfoSetter = (*devices.Registry)(nil)

// SettingsOptions configures NewSettings. Store is required.
type SettingsOptions struct {
	Store SettingsStore
	// Devices stores DeviceInformation. Nil: DeviceInformation is answered 1 and dropped
	// (logged at Debug).
	Devices DeviceInfoSetter
	// Secrets seals device recovery passwords (DevicePassword). Nil: they are answered 1
	// and not stored, with a Warn log line (never the password).
	Secrets *store.SecretBox
}

// Settings serves the Settings command (MS-ASCMD 2.2.1.18): Oof get and set,
// DeviceInformation set, UserInformation get, DevicePassword set and
// RightsManagementInformation get, in any number and order in one request. Each part
// answers its own Status, in request order, after the top-level Status. A request that does
// not parse answers only the top-level Status 2 (protocol error).
//
// Out-of-office settings are only stored: replying to mail while the user is away belongs to
// mail delivery (the SMTP issue), which reads store.Oof.
type Settings struct {
	st      SettingsStore
	devices DeviceInfoSetter
	secrets *store.SecretBox
}

// NewSettings returns the Settings command over opts.
func NewSettings(opts SettingsOptions) *Settings {
	return &Settings{st: opts.Store, devices: opts.Devices, secrets: opts.Secrets}
}

// Command returns the command for Server.Handle.
func (s *Settings) Command() Command {
	return Command{Code: CmdSettings, Handler: s.handle,
		Status: TopLevelStatus(wbxml.SettingsSettings, wbxml.SettingsStatus)}
}

// settingsPart is one answered part: it writes its element into the response.
type settingsPart func(enc *wbxml.Encoder)

func protocolError(err error) error {
	return &StatusError{Status: StatusSettingsProtocolError, Err: err}
}

func (s *Settings) handle(ctx context.Context, r *Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
	tok, err := dec.Expect(wbxml.SettingsSettings)
	if err != nil {
		return protocolError(err)
	}
	var parts []settingsPart
	for tok.Content {
		t, err := dec.Next()
		if err != nil {
			return protocolError(err)
		}
		if t.Kind == wbxml.KindEnd {
			break
		}
		if t.Kind != wbxml.KindStart {
			return protocolError(errors.New("text in Settings"))
		}
		var p settingsPart
		switch t.Tag {
		case wbxml.SettingsOof:
			p, err = s.oof(ctx, r, dec, t.Content)
		case wbxml.SettingsDeviceInformation:
			p, err = s.deviceInformation(ctx, r, dec, t.Content)
		case wbxml.SettingsUserInformation:
			p, err = s.userInformation(r, dec)
		case wbxml.SettingsDevicePassword:
			p, err = s.devicePassword(ctx, r, dec, t.Content)
		case wbxml.SettingsRightsManagementInformation:
			p, err = s.rightsManagement(r, dec)
		default:
			r.Log.Debug("settings: unknown part skipped", "tag", t.Tag.String())
			err = dec.Skip()
		}
		if err != nil {
			if _, ok := errors.AsType[*StatusError](err); ok {
				return err
			}
			if _, ok := errors.AsType[*wbxml.SyntaxError](err); ok {
				return protocolError(err)
			}
			return err
		}
		if p != nil {
			parts = append(parts, p)
		}
	}
	enc.Start(wbxml.SettingsSettings)
	enc.Int(wbxml.SettingsStatus, int64(StatusSuccess))
	for _, p := range parts {
		p(enc)
	}
	enc.End()
	return nil
}

// statusOnly is a part that answers <tag><Status>st</Status></tag>.
func statusOnly(tag wbxml.Tag, st Status) settingsPart {
	return func(enc *wbxml.Encoder) {
		enc.Start(tag)
		enc.Int(wbxml.SettingsStatus, int64(st))
		enc.End()
	}
}

// operation reads the children of a part element (its Start just returned, with content)
// and returns the first Get or Set start token; other children are skipped. The caller reads
// the operation's content and then calls finish.
func operation(dec *wbxml.Decoder) (wbxml.Token, error) {
	for {
		t, err := dec.Next()
		if err != nil {
			return t, err
		}
		if t.Kind == wbxml.KindEnd {
			return wbxml.Token{}, &wbxml.SyntaxError{Offset: t.Offset, Msg: "no Get or Set", Err: wbxml.ErrContent}
		}
		if t.Kind != wbxml.KindStart {
			return t, &wbxml.SyntaxError{Offset: t.Offset, Msg: "text where Get or Set was expected", Err: wbxml.ErrContent}
		}
		if t.Tag == wbxml.SettingsGet || t.Tag == wbxml.SettingsSet {
			return t, nil
		}
		if err := dec.Skip(); err != nil {
			return t, err
		}
	}
}

// finish skips what follows the operation in a part element, through its End.
func finish(dec *wbxml.Decoder) error {
	for {
		t, err := dec.Next()
		if err != nil {
			return err
		}
		switch t.Kind {
		case wbxml.KindEnd:
			return nil
		case wbxml.KindStart:
			if err := dec.Skip(); err != nil {
				return err
			}
		default:
			return &wbxml.SyntaxError{Offset: t.Offset, Msg: "unexpected text", Err: wbxml.ErrContent}
		}
	}
}

// deviceInformation stores DeviceInformation Set (MS-ASCMD 2.2.3.45).
func (s *Settings) deviceInformation(ctx context.Context, r *Request, dec *wbxml.Decoder, content bool) (settingsPart, error) {
	if !content {
		return nil, protocolError(errors.New("empty DeviceInformation"))
	}
	info, err := readDeviceInformation(dec)
	if err != nil {
		return nil, err
	}
	if s.devices == nil {
		r.Log.Debug("settings: device information not stored: no device registry")
		return statusOnly(wbxml.SettingsDeviceInformation, StatusSuccess), nil
	}
	if err := s.devices.SetInfo(ctx, devices.Key{User: r.Account.ID, DeviceID: r.DeviceID}, info); err != nil {
		r.Log.Error("settings: store device information", "err", err)
		return statusOnly(wbxml.SettingsDeviceInformation, StatusSettingsServerUnavailable), nil
	}
	return statusOnly(wbxml.SettingsDeviceInformation, StatusSuccess), nil
}

// devicePassword stores DevicePassword Set (MS-ASCMD 2.2.3.46): the recovery password,
// sealed. The password is never logged.
func (s *Settings) devicePassword(ctx context.Context, r *Request, dec *wbxml.Decoder, content bool) (settingsPart, error) {
	if !content {
		return nil, protocolError(errors.New("empty DevicePassword"))
	}
	op, err := operation(dec)
	if err != nil {
		return nil, err
	}
	if op.Tag != wbxml.SettingsSet {
		if err := dec.Skip(); err != nil {
			return nil, err
		}
		if err := finish(dec); err != nil {
			return nil, err
		}
		return statusOnly(wbxml.SettingsDevicePassword, StatusSettingsProtocolError), nil
	}
	f, err := readChildren(dec, op.Content, wbxml.SettingsPassword)
	if err != nil {
		return nil, err
	}
	if err := finish(dec); err != nil {
		return nil, err
	}
	pw, ok := f[wbxml.SettingsPassword]
	if !ok {
		return statusOnly(wbxml.SettingsDevicePassword, StatusSettingsProtocolError), nil
	}
	if s.secrets == nil {
		r.Log.Warn("settings: device recovery password not stored: no secret key configured")
		return statusOnly(wbxml.SettingsDevicePassword, StatusSuccess), nil
	}
	if err := s.st.SetDevicePassword(ctx, s.secrets, r.Account.ID, r.DeviceID, pw); err != nil {
		r.Log.Error("settings: store device password", "err", err)
		return statusOnly(wbxml.SettingsDevicePassword, StatusSettingsServerUnavailable), nil
	}
	return statusOnly(wbxml.SettingsDevicePassword, StatusSuccess), nil
}

// readChildren reads the children of an element whose Start was just returned (content
// says whether it has any), through its End, keeping the text of those tagged with one of
// tags.
func readChildren(dec *wbxml.Decoder, content bool, tags ...wbxml.Tag) (map[wbxml.Tag]string, error) {
	out := map[wbxml.Tag]string{}
	if !content {
		return out, nil
	}
	for {
		t, err := dec.Next()
		if err != nil {
			return nil, err
		}
		if t.Kind == wbxml.KindEnd {
			return out, nil
		}
		if t.Kind != wbxml.KindStart {
			return nil, &wbxml.SyntaxError{Offset: t.Offset, Msg: "unexpected text", Err: wbxml.ErrContent}
		}
		known := false
		for _, tag := range tags {
			known = known || tag == t.Tag
		}
		if !known {
			if err := dec.Skip(); err != nil {
				return nil, err
			}
			continue
		}
		v, err := dec.String()
		if err != nil {
			return nil, err
		}
		out[t.Tag] = v
	}
}

// userInformation answers UserInformation Get (MS-ASCMD 2.2.3.192). MS-ASCMD 2.2.3.57: for
// 14.1 and later EmailAddresses is a child of Accounts/Account (with AccountName and
// UserDisplayName) and holds SMTPAddress and PrimarySmtpAddress; for 12.x and 14.0 it is a
// child of Get and holds SMTPAddress. The store has one address per user (no aliases yet).
func (s *Settings) userInformation(r *Request, dec *wbxml.Decoder) (settingsPart, error) {
	// Get carries nothing; whatever is inside is skipped.
	if err := dec.Skip(); err != nil {
		return nil, err
	}
	u, v := r.Account, r.Version
	return func(enc *wbxml.Encoder) {
		enc.Start(wbxml.SettingsUserInformation)
		enc.Int(wbxml.SettingsStatus, int64(StatusSuccess))
		enc.Start(wbxml.SettingsGet)
		if v >= Version141 {
			enc.Start(wbxml.SettingsAccounts)
			enc.Start(wbxml.SettingsAccount)
			enc.String(wbxml.SettingsAccountName, u.Address)
			if u.DisplayName != "" {
				enc.String(wbxml.SettingsUserDisplayName, u.DisplayName)
			}
			// MS-ASCMD 2.2.3.171: SMTPAddress is required (1...N) in every version;
			// 2.2.3.138: PrimarySmtpAddress is 14.1 and later.
			enc.Start(wbxml.SettingsEmailAddresses)
			enc.String(wbxml.SettingsSMTPAddress, u.Address)
			enc.String(wbxml.SettingsPrimarySmtpAddress, u.Address)
			enc.End()
			enc.End()
			enc.End()
		} else {
			enc.Start(wbxml.SettingsEmailAddresses)
			enc.String(wbxml.SettingsSMTPAddress, u.Address)
			enc.End()
		}
		enc.End()
		enc.End()
	}, nil
}

// rightsManagement answers RightsManagementInformation Get (MS-ASCMD 2.2.3.156, 14.1 and
// later) with no templates: easd has no rights management server.
func (s *Settings) rightsManagement(r *Request, dec *wbxml.Decoder) (settingsPart, error) {
	if err := dec.Skip(); err != nil {
		return nil, err
	}
	if r.Version < Version141 {
		return statusOnly(wbxml.SettingsRightsManagementInformation, StatusSettingsProtocolError), nil
	}
	return func(enc *wbxml.Encoder) {
		enc.Start(wbxml.SettingsRightsManagementInformation)
		enc.Int(wbxml.SettingsStatus, int64(StatusSuccess))
		enc.Start(wbxml.SettingsGet)
		enc.Empty(wbxml.RightsManagementRightsManagementTemplates)
		enc.End()
		enc.End()
	}, nil
}

// Body types of OofMessage and Oof Get (MS-ASCMD 2.2.3.122 Oof).
const (
	oofText = "TEXT"
	oofHTML = "HTML"
)

func normBodyType(s string) (string, bool) {
	switch strings.ToUpper(s) {
	case oofText:
		return "Text", true
	case oofHTML:
		return "HTML", true
	}
	return "", false
}

// oof serves Oof Get and Set (MS-ASCMD 2.2.3.122).
func (s *Settings) oof(ctx context.Context, r *Request, dec *wbxml.Decoder, content bool) (settingsPart, error) {
	if !content {
		return nil, protocolError(errors.New("empty Oof"))
	}
	op, err := operation(dec)
	if err != nil {
		return nil, err
	}
	var part settingsPart
	if op.Tag == wbxml.SettingsGet {
		part, err = s.oofGet(ctx, r, dec, op.Content)
	} else {
		part, err = s.oofSet(ctx, r, dec, op.Content)
	}
	if err != nil {
		return nil, err
	}
	if err := finish(dec); err != nil {
		return nil, err
	}
	return part, nil
}

func (s *Settings) oofGet(ctx context.Context, r *Request, dec *wbxml.Decoder, content bool) (settingsPart, error) {
	f, err := readChildren(dec, content, wbxml.SettingsBodyType)
	if err != nil {
		return nil, err
	}
	want, ok := normBodyType(f[wbxml.SettingsBodyType])
	if !ok {
		if _, given := f[wbxml.SettingsBodyType]; given {
			return statusOnly(wbxml.SettingsOof, StatusSettingsInvalidArguments), nil
		}
		want = "Text"
	}
	o, err := s.st.Oof(ctx, r.Account.ID)
	if err != nil {
		r.Log.Error("settings: read oof", "err", err)
		return statusOnly(wbxml.SettingsOof, StatusSettingsServerUnavailable), nil
	}
	return func(enc *wbxml.Encoder) {
		enc.Start(wbxml.SettingsOof)
		enc.Int(wbxml.SettingsStatus, int64(StatusSuccess))
		enc.Start(wbxml.SettingsGet)
		enc.Int(wbxml.SettingsOofState, int64(o.State))
		if !o.Start.IsZero() {
			enc.String(wbxml.SettingsStartTime, o.Start.UTC().Format(easDateTime))
		}
		if !o.End.IsZero() {
			enc.String(wbxml.SettingsEndTime, o.End.UTC().Format(easDateTime))
		}
		for _, m := range []struct {
			audience wbxml.Tag
			msg      store.OofMessage
		}{
			{wbxml.SettingsAppliesToInternal, o.Internal},
			{wbxml.SettingsAppliesToExternalKnown, o.ExternalKnown},
			{wbxml.SettingsAppliesToExternalUnknown, o.ExternalUnknown},
		} {
			enc.Start(wbxml.SettingsOofMessage)
			enc.Empty(m.audience)
			enc.Int(wbxml.SettingsEnabled, boolInt(m.msg.Enabled))
			if m.msg.Message != "" {
				enc.String(wbxml.SettingsReplyMessage, convertBody(m.msg.Message, m.msg.BodyType, want))
			}
			enc.String(wbxml.SettingsBodyType, want)
			enc.End()
		}
		enc.End()
		enc.End()
	}, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// easDateTime is the dateTime format of MS-ASDTYPE 2.3 (UTC, milliseconds, Z).
const easDateTime = "2006-01-02T15:04:05.000Z"

func parseEASTime(s string) (time.Time, bool) {
	if t, err := time.Parse(easDateTime, s); err == nil {
		return t, true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err == nil
}

// convertBody returns an out-of-office message stored as type from in type to: HTML is
// reduced to its text, text is escaped into HTML.
func convertBody(msg, from, to string) string {
	switch {
	case strings.EqualFold(from, to), from == "":
		return msg
	case strings.EqualFold(to, oofHTML):
		return "<html><body>" + strings.ReplaceAll(html.EscapeString(msg), "\n", "<br>") + "</body></html>"
	}
	var b strings.Builder
	in := false
	for _, c := range msg {
		switch {
		case c == '<':
			in = true
		case c == '>':
			in = false
		case !in:
			b.WriteRune(c)
		}
	}
	return strings.TrimSpace(html.UnescapeString(b.String()))
}

// oofSet applies Oof Set to the stored setting: the elements present replace what is
// stored, the others stay.
func (s *Settings) oofSet(ctx context.Context, r *Request, dec *wbxml.Decoder, content bool) (settingsPart, error) {
	o, err := s.st.Oof(ctx, r.Account.ID)
	if err != nil {
		return nil, fmt.Errorf("settings: read oof: %w", err)
	}
	bad := Status(0) // the first invalid value found; the rest is still read
	fail := func(st Status) {
		if bad == 0 {
			bad = st
		}
	}
	for content {
		t, err := dec.Next()
		if err != nil {
			return nil, err
		}
		if t.Kind == wbxml.KindEnd {
			break
		}
		if t.Kind != wbxml.KindStart {
			return nil, &wbxml.SyntaxError{Offset: t.Offset, Msg: "text in Oof Set", Err: wbxml.ErrContent}
		}
		switch t.Tag {
		case wbxml.SettingsOofState:
			v, err := dec.String()
			if err != nil {
				return nil, err
			}
			// MS-ASCMD 2.2.3.122: OofState is 0 (disabled), 1 (global) or 2 (time based).
			switch v {
			case "0", "1", "2":
				o.State = store.OofState(v[0] - '0')
			default:
				fail(StatusSettingsInvalidArguments)
			}
		case wbxml.SettingsStartTime, wbxml.SettingsEndTime:
			v, err := dec.String()
			if err != nil {
				return nil, err
			}
			tm, ok := parseEASTime(v)
			if !ok {
				fail(StatusSettingsInvalidArguments)
			} else if t.Tag == wbxml.SettingsStartTime {
				o.Start = tm
			} else {
				o.End = tm
			}
		case wbxml.SettingsOofMessage:
			if err := readOofMessage(dec, t.Content, &o, fail); err != nil {
				return nil, err
			}
		default:
			if err := dec.Skip(); err != nil {
				return nil, err
			}
		}
	}
	if bad == 0 && o.State == store.OofScheduled {
		switch {
		case o.Start.IsZero() || o.End.IsZero():
			fail(StatusSettingsInvalidArguments)
		case !o.End.After(o.Start):
			fail(StatusSettingsConflictingArgument)
		}
	}
	if bad != 0 {
		return statusOnly(wbxml.SettingsOof, bad), nil
	}
	if err := s.st.SetOof(ctx, r.Account.ID, o); errors.Is(err, store.ErrInvalidArgument) {
		return statusOnly(wbxml.SettingsOof, StatusSettingsInvalidArguments), nil
	} else if err != nil {
		r.Log.Error("settings: store oof", "err", err)
		return statusOnly(wbxml.SettingsOof, StatusSettingsServerUnavailable), nil
	}
	return statusOnly(wbxml.SettingsOof, StatusSuccess), nil
}

// readOofMessage reads one OofMessage into the audience it names.
func readOofMessage(dec *wbxml.Decoder, content bool, o *store.Oof, fail func(Status)) error {
	var (
		target       *store.OofMessage
		msg          store.OofMessage
		sawEnabled   bool
		sawMessage   bool
		sawBodyType  bool
		enabledValid = true
	)
	for content {
		t, err := dec.Next()
		if err != nil {
			return err
		}
		if t.Kind == wbxml.KindEnd {
			break
		}
		if t.Kind != wbxml.KindStart {
			return &wbxml.SyntaxError{Offset: t.Offset, Msg: "text in OofMessage", Err: wbxml.ErrContent}
		}
		switch t.Tag {
		case wbxml.SettingsAppliesToInternal:
			target = &o.Internal
			err = dec.Skip()
		case wbxml.SettingsAppliesToExternalKnown:
			target = &o.ExternalKnown
			err = dec.Skip()
		case wbxml.SettingsAppliesToExternalUnknown:
			target = &o.ExternalUnknown
			err = dec.Skip()
		case wbxml.SettingsEnabled:
			var v string
			v, err = dec.String()
			sawEnabled = true
			switch v {
			case "0":
			case "1":
				msg.Enabled = true
			default:
				enabledValid = false
			}
		case wbxml.SettingsReplyMessage:
			msg.Message, err = dec.String()
			sawMessage = true
		case wbxml.SettingsBodyType:
			var v string
			v, err = dec.String()
			sawBodyType = true
			var ok bool
			if msg.BodyType, ok = normBodyType(v); !ok {
				fail(StatusSettingsInvalidArguments)
			}
		default:
			err = dec.Skip()
		}
		if err != nil {
			return err
		}
	}
	if target == nil || !enabledValid {
		fail(StatusSettingsInvalidArguments)
		return nil
	}
	if sawEnabled {
		target.Enabled = msg.Enabled
	}
	if sawMessage {
		target.Message = msg.Message
		if !sawBodyType {
			msg.BodyType = "Text"
		}
	}
	if sawBodyType || sawMessage {
		target.BodyType = msg.BodyType
	}
	return nil
}
