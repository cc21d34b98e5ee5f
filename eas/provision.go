package eas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/policy"
	"github.com/easd/easd/wbxml"
)

// PolicyTypeWBXML is the policy type of the EASProvisionDoc (MS-ASPROV 2.2.2.43), the only
// one easd serves. "MS-WAP-Provisioning-XML" belongs to protocol 2.5, which easd does not
// serve; it gets Policy Status 3 like any unknown type.
const PolicyTypeWBXML = "MS-EAS-Provisioning-WBXML"

// Provision statuses (MS-ASPROV 2.2.2.54.2 Status (Provision), 2.2.2.54.1 Status (Policy)).
const (
	ProvisionProtocolError Status = 2 // Provision: protocol error (malformed request)
	ProvisionServerError   Status = 3 // Provision: general server error

	PolicyNoPolicy       Status = 2 // Policy: there is no policy for this client
	PolicyUnknownType    Status = 3 // Policy: unknown PolicyType value
	PolicyCorrupted      Status = 4 // Policy: the policy data on the server is corrupted
	PolicyWrongPolicyKey Status = 5 // Policy: the client is acknowledging the wrong policy key
)

// Client acknowledgement statuses (MS-ASPROV 2.2.2.54.1, request values).
const (
	ackApplied       = "1" // success
	ackPartial       = "2" // partial success (at least the PIN was enabled)
	ackNotApplied    = "3" // the client did not apply the policy at all
	ackThirdParty    = "4" // the client claims to have been provisioned by a third party
	settingsStatusOK = 1   // MS-ASCMD 2.2.3.177.15 Status (Settings): success
)

// ProvisionCommand returns the Provision command (MS-ASCMD 2.2.1.14, MS-ASPROV 3.2.5.1) over
// the device registry and the users' policies:
//
//   - Initial request (Policies/Policy/PolicyType, no PolicyKey): Status 1, the Policy with
//     Status 1, a temporary PolicyKey and Data/EASProvisionDoc with the settings of the user's
//     policy that the protocol version knows. A resent initial request gets a new temporary
//     key. A settings:DeviceInformation (14.1 and later) is stored on the device and answered
//     with its own Status 1.
//   - Acknowledgement (PolicyKey = the temporary key, Status = what the client applied): the
//     Policy with Status 1 and the final PolicyKey, stored with the policy version the device
//     was sent. A key that is not the pending temporary key gets Policy Status 5 and no key.
//     Client status 3 (not applied) or 4 (provisioned by a third party) gets
//     DeviceNotFullyProvisionable (139, HTTP 403 before 14.0) unless the policy has
//     AllowNonProvisionableDevices; 1 and 2 are accepted.
//   - An unknown PolicyType: Policy Status 3. No Policies: Provision Status 2.
//   - While a remote wipe is pending, every Provision request gets the directive
//     (RemoteWipe, or AccountOnlyRemoteWipe), and the device's acknowledgement records the
//     wipe as confirmed (provisioner.wipe). An acknowledgement when no wipe was sent is a
//     protocol error (2).
func ProvisionCommand(reg *devices.Registry, policies PolicySource) Command {
	p := &provisioner{reg: reg, policies: policies}
	return Command{
		Code:    CmdProvision,
		Handler: p.handle,
		Status:  TopLevelStatus(wbxml.ProvisionProvision, wbxml.ProvisionStatus),
	}
}

type provisioner struct {
	reg      *devices.Registry
	policies PolicySource
}

// provisionRequest is what a Provision request says.
type provisionRequest struct {
	info       *devices.Info
	policies   bool
	policyType string
	hasKey     bool
	key        string
	ackStatus  string
	remoteWipe bool   // a RemoteWipe or AccountOnlyRemoteWipe acknowledgement
	wipeStatus string // its Status (MS-ASPROV 2.2.2.54.3)
}

func readProvision(dec *wbxml.Decoder) (provisionRequest, error) {
	var pr provisionRequest
	if _, err := dec.Expect(wbxml.ProvisionProvision); err != nil {
		return pr, err
	}
	for {
		tok, err := dec.Next()
		if err != nil {
			return pr, err
		}
		if tok.Kind == wbxml.KindEnd {
			return pr, nil
		}
		if tok.Kind != wbxml.KindStart {
			return pr, &wbxml.SyntaxError{Offset: tok.Offset, Msg: "text in Provision", Err: wbxml.ErrContent}
		}
		switch tok.Tag {
		case wbxml.SettingsDeviceInformation: // MS-ASPROV 2.2.2.52: 14.1 and later
			info, err := readDeviceInformation(dec)
			if err != nil {
				return pr, err
			}
			pr.info = &info
		case wbxml.ProvisionPolicies:
			pr.policies = true
			if err := readPolicies(dec, tok.Content, &pr); err != nil {
				return pr, err
			}
		case wbxml.ProvisionRemoteWipe, wbxml.ProvisionAccountOnlyRemoteWipe:
			// MS-ASPROV 3.1.5.1.2.2, 3.1.5.1.2.3: <RemoteWipe><Status>1</Status></RemoteWipe>.
			pr.remoteWipe = true
			if tok.Content {
				if err := readWipeAck(dec, &pr); err != nil {
					return pr, err
				}
			}
		default:
			if err := dec.Skip(); err != nil {
				return pr, err
			}
		}
	}
}

// readWipeAck reads the children of a RemoteWipe or AccountOnlyRemoteWipe acknowledgement.
func readWipeAck(dec *wbxml.Decoder, pr *provisionRequest) error {
	for {
		tok, err := dec.Next()
		if err != nil {
			return err
		}
		switch {
		case tok.Kind == wbxml.KindEnd:
			return nil
		case tok.Kind == wbxml.KindStart && tok.Tag == wbxml.ProvisionStatus:
			if pr.wipeStatus, err = dec.String(); err != nil {
				return err
			}
		case tok.Kind == wbxml.KindStart:
			if err := dec.Skip(); err != nil {
				return err
			}
		default:
			return &wbxml.SyntaxError{Offset: tok.Offset, Msg: "text in RemoteWipe", Err: wbxml.ErrContent}
		}
	}
}

// readPolicies reads Policies/Policy (MS-ASPROV 2.2.2.40, 2.2.2.41): the first Policy counts.
func readPolicies(dec *wbxml.Decoder, content bool, pr *provisionRequest) error {
	if !content {
		return nil
	}
	seen := false
	for {
		tok, err := dec.Next()
		if err != nil {
			return err
		}
		if tok.Kind == wbxml.KindEnd {
			return nil
		}
		if tok.Kind != wbxml.KindStart || tok.Tag != wbxml.ProvisionPolicy || seen {
			if tok.Kind == wbxml.KindStart {
				if err := dec.Skip(); err != nil {
					return err
				}
				continue
			}
			return &wbxml.SyntaxError{Offset: tok.Offset, Msg: "text in Policies", Err: wbxml.ErrContent}
		}
		seen = true
		if !tok.Content {
			continue
		}
		for {
			tok, err := dec.Next()
			if err != nil {
				return err
			}
			if tok.Kind == wbxml.KindEnd {
				break
			}
			if tok.Kind != wbxml.KindStart {
				return &wbxml.SyntaxError{Offset: tok.Offset, Msg: "text in Policy", Err: wbxml.ErrContent}
			}
			switch tok.Tag {
			case wbxml.ProvisionPolicyType:
				if pr.policyType, err = dec.String(); err != nil {
					return err
				}
			case wbxml.ProvisionPolicyKey:
				pr.hasKey = true
				if pr.key, err = dec.String(); err != nil {
					return err
				}
			case wbxml.ProvisionStatus:
				if pr.ackStatus, err = dec.String(); err != nil {
					return err
				}
			default:
				if err := dec.Skip(); err != nil {
					return err
				}
			}
		}
	}
}

func (p *provisioner) handle(ctx context.Context, r *Request, dec *wbxml.Decoder, enc *wbxml.Encoder) error {
	pr, err := readProvision(dec)
	if err != nil {
		return err
	}
	if _, err := dec.Next(); !errors.Is(err, io.EOF) {
		return &wbxml.SyntaxError{Msg: "content after Provision", Err: wbxml.ErrContent}
	}
	key := devices.Key{User: r.Account.ID, DeviceID: r.DeviceID}
	if pr.info != nil {
		if err := p.reg.SetInfo(ctx, key, *pr.info); err != nil {
			return fmt.Errorf("provision: store device information: %w", err)
		}
	}
	if done, err := p.wipe(ctx, r, key, pr, enc); done || err != nil {
		return err
	}
	if !pr.policies {
		return &StatusError{Status: ProvisionProtocolError, Err: errors.New("no Policies")}
	}
	rec, err := p.policies.UserPolicy(ctx, r.Account.ID)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	pol, err := policy.FromRecord(rec)
	if err != nil {
		r.Log.Error("stored policy does not parse", "policy", rec.Name, "err", err)
		return p.answer(enc, r, pr, PolicyCorrupted, 0, nil)
	}

	switch {
	case pr.policyType != PolicyTypeWBXML:
		r.Log.Debug("provision: unknown policy type", "policy_type", pr.policyType)
		return p.answer(enc, r, pr, PolicyUnknownType, 0, nil)
	case !pr.hasKey:
		// MS-ASPROV 3.2.5.1.1: the initial request; a temporary key and the settings.
		temp, err := p.reg.BeginProvision(ctx, key, rec.ID, rec.Version)
		if err != nil {
			return fmt.Errorf("provision: %w", err)
		}
		r.Log.Info("provision: policy sent", "policy", rec.Name, "policy_version", rec.Version)
		return p.answer(enc, r, pr, StatusSuccess, temp, &pol)
	}

	// MS-ASPROV 3.2.5.1.2: the acknowledgement.
	switch pr.ackStatus {
	case ackApplied, ackPartial:
	case ackNotApplied, ackThirdParty:
		if !pol.AllowNonProvisionableDevices {
			return &StatusError{Status: StatusDeviceNotFullyProvisionable,
				Err: fmt.Errorf("client acknowledged with status %s", pr.ackStatus)}
		}
	default:
		return &StatusError{Status: ProvisionProtocolError, Err: fmt.Errorf("acknowledgement status %q", pr.ackStatus)}
	}
	temp, err := strconv.ParseUint(pr.key, 10, 32)
	if err != nil || temp == 0 {
		return p.answer(enc, r, pr, PolicyWrongPolicyKey, 0, nil)
	}
	ackStatus, _ := strconv.Atoi(pr.ackStatus)
	final, err := p.reg.Acknowledge(ctx, key, uint32(temp), ackStatus)
	if errors.Is(err, devices.ErrWrongPolicyKey) {
		r.Log.Info("provision: acknowledgement with a wrong policy key")
		return p.answer(enc, r, pr, PolicyWrongPolicyKey, 0, nil)
	} else if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	r.Log.Info("provision: acknowledged", "policy", rec.Name, "client_status", pr.ackStatus)
	return p.answer(enc, r, pr, StatusSuccess, final, nil)
}

// wipe handles the remote wipe exchange (MS-ASPROV 3.2.5.1.2): while a wipe is pending, any
// Provision request gets the directive (RemoteWipe, or AccountOnlyRemoteWipe at 16.1 for an
// account-only wipe; the gate never lets an account-only wipe reach an older version), and
// the device's acknowledgement confirms it (3.2.5.1.2.2: Status 1 when the client reports
// success; Status 2 and the directive again when it reports failure). It reports whether it
// wrote the response.
func (p *provisioner) wipe(ctx context.Context, r *Request, key devices.Key, pr provisionRequest, enc *wbxml.Encoder) (bool, error) {
	dev, err := p.reg.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("provision: %w", err)
	}
	directive := wbxml.ProvisionRemoteWipe
	if dev.WipeAccountOnly {
		directive = wbxml.ProvisionAccountOnlyRemoteWipe
	}
	if pr.remoteWipe {
		st, _ := strconv.Atoi(pr.wipeStatus)
		if st != 1 && st != 2 {
			return false, &StatusError{Status: ProvisionProtocolError, Err: fmt.Errorf("remote wipe status %q", pr.wipeStatus)}
		}
		if _, err := p.reg.WipeAcknowledged(ctx, key, st, r.RemoteAddr); errors.Is(err, devices.ErrWipeState) {
			return false, &StatusError{Status: ProvisionProtocolError, Err: err}
		} else if err != nil {
			return false, fmt.Errorf("provision: %w", err)
		}
		r.Log.Info("provision: remote wipe acknowledged", "client_status", st, "account_only", dev.WipeAccountOnly)
		enc.Start(wbxml.ProvisionProvision)
		if st == 1 {
			enc.Int(wbxml.ProvisionStatus, int64(StatusSuccess))
		} else {
			enc.Int(wbxml.ProvisionStatus, int64(ProvisionProtocolError))
			enc.Empty(directive)
		}
		enc.End()
		return true, nil
	}
	if !dev.WipePending() {
		return false, nil
	}
	if _, err := p.reg.WipeSent(ctx, key, r.RemoteAddr); err != nil {
		return false, fmt.Errorf("provision: %w", err)
	}
	r.Log.Info("provision: remote wipe sent", "account_only", dev.WipeAccountOnly)
	enc.Start(wbxml.ProvisionProvision)
	enc.Int(wbxml.ProvisionStatus, int64(StatusSuccess))
	enc.Empty(directive)
	enc.End()
	return true, nil
}

// answer writes the response (MS-ASPROV 2.2.2.44): DeviceInformation's status when the request
// had one, Provision Status 1, and one Policy with its status, the key (when non-zero) and the
// settings (when doc is set).
func (*provisioner) answer(enc *wbxml.Encoder, r *Request, pr provisionRequest, st Status, key uint32, doc *policy.Policy) error {
	enc.Start(wbxml.ProvisionProvision)
	if pr.info != nil {
		enc.Start(wbxml.SettingsDeviceInformation)
		enc.Int(wbxml.SettingsStatus, settingsStatusOK)
		enc.End()
	}
	enc.Int(wbxml.ProvisionStatus, int64(StatusSuccess))
	enc.Start(wbxml.ProvisionPolicies)
	enc.Start(wbxml.ProvisionPolicy)
	enc.String(wbxml.ProvisionPolicyType, pr.policyType)
	enc.Int(wbxml.ProvisionStatus, int64(st))
	if key != 0 {
		enc.String(wbxml.ProvisionPolicyKey, strconv.FormatUint(uint64(key), 10))
	}
	if doc != nil {
		enc.Start(wbxml.ProvisionData)
		doc.AppendProvisionDoc(enc, policy.ProtocolVersion(r.Version))
		enc.End()
	}
	enc.End()
	enc.End()
	enc.End()
	return nil
}
