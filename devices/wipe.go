package devices

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/easd/easd/store"
)

// ErrWipeState: the wipe step does not apply to the partnership's wipe
// state (a wipe is already pending, it was sent and can no longer be
// cancelled, or there is none).
var ErrWipeState = errors.New("devices: not possible in this wipe state")

// RequestWipe asks for a remote wipe of the partnership id, of the whole
// device or (accountOnly, MS-ASPROV 2.2.2.1 AccountOnlyRemoteWipe, 16.1)
// only of this account's data. The device's next request is told to
// provision (140, HTTP 449 before 14.0) and Provision sends the directive.
func (r *Registry) RequestWipe(ctx context.Context, id store.PartnershipID, accountOnly bool, by string) (Device, error) {
	d, err := r.st.RequestDeviceWipe(ctx, id, accountOnly, by, r.now().UTC())
	if err != nil {
		return Device{}, wipeErr(err)
	}
	what := "device.wipe"
	if accountOnly {
		what = "device.wipe-account"
	}
	r.audit(ctx, store.AuditEntry{Actor: by, Action: what, Target: target(d), Detail: "requested"})
	r.changed(ctx, store.AdminChangeDevice, d)
	r.put(Key{User: d.User, DeviceID: d.DeviceID}, d, r.now().UTC())
	return d, nil
}

// CancelWipe cancels a wipe that was not yet sent.
func (r *Registry) CancelWipe(ctx context.Context, id store.PartnershipID, by string) (Device, error) {
	d, err := r.st.CancelDeviceWipe(ctx, id)
	if err != nil {
		return Device{}, wipeErr(err)
	}
	r.audit(ctx, store.AuditEntry{Actor: by, Action: "device.wipe-cancel", Target: target(d)})
	r.changed(ctx, store.AdminChangeDevice, d)
	r.put(Key{User: d.User, DeviceID: d.DeviceID}, d, r.now().UTC())
	return d, nil
}

// WipeSent records that Provision sent the wipe directive to the device k,
// whose request came from the client address remote.
func (r *Registry) WipeSent(ctx context.Context, k Key, remote string) (Device, error) {
	cur, err := r.Get(ctx, k)
	if err != nil {
		return Device{}, err
	}
	d, err := r.st.MarkDeviceWipeSent(ctx, cur.ID, r.now().UTC())
	if err != nil {
		return Device{}, wipeErr(err)
	}
	if cur.WipeState != store.WipeSent {
		r.audit(ctx, store.AuditEntry{Actor: "device", Action: "device.wipe-sent", Target: target(d), RemoteAddr: remote})
	}
	r.changed(ctx, store.AdminChangeDevice, d)
	r.put(k, d, r.now().UTC())
	return d, nil
}

// WipeAcknowledged records the device's acknowledgement of the directive
// (MS-ASPROV 3.2.5.1.2.2: status 1 wiped, 2 failed): the wipe is confirmed
// with its time, the partnership stays blocked until removed, and the
// requester and the user get a confirmation message. remote is the client
// address of the acknowledging request.
func (r *Registry) WipeAcknowledged(ctx context.Context, k Key, status int, remote string) (Device, error) {
	cur, err := r.Get(ctx, k)
	if err != nil {
		return Device{}, err
	}
	d, err := r.st.AckDeviceWipe(ctx, cur.ID, status, r.now().UTC())
	if err != nil {
		return Device{}, wipeErr(err)
	}
	result := "succeeded"
	if status != 1 {
		result = fmt.Sprintf("failed (status %d)", status)
	}
	r.audit(ctx, store.AuditEntry{Actor: "device", Action: "device.wipe-ack", Target: target(d), Detail: result, RemoteAddr: remote})
	r.changed(ctx, store.AdminChangeDevice, d)
	r.put(k, d, r.now().UTC())
	r.notifyWipe(ctx, d, result)
	return d, nil
}

func wipeErr(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: %w", ErrWipeState, err)
	}
	return fmt.Errorf("devices: %w", err)
}

// notifyQuarantine tells the user that the device waits for approval and
// the admin recipients that a device is in quarantine.
func (r *Registry) notifyQuarantine(ctx context.Context, d Device) {
	u, err := r.st.UserByID(ctx, d.User)
	if err != nil {
		r.log.Error("quarantine message", "user", d.User, "err", err)
		return
	}
	desc := describe(d)
	r.send(ctx, u.Address, u.Address, "Your device is waiting for approval",
		"Your device "+desc+" connected to your mailbox and is in quarantine:\r\n"+
			"it shows only this Inbox until an administrator approves it.\r\n"+
			"Approval usually takes up to one business day; you need not do anything on the device:\r\n"+
			"it synchronises fully on its next connection after approval.\r\n")
	for _, a := range r.admins {
		r.send(ctx, u.Address, a, "Device quarantined: "+u.Address+" "+d.DeviceID,
			"The device "+desc+" of "+u.Address+" is in quarantine (partnership "+fmt.Sprint(d.ID)+
				", "+d.AccessReason+" "+d.AccessSetBy+").\r\n"+
				"Approve it with: easd device allow "+fmt.Sprint(d.ID)+"\r\n"+
				"Block it with:   easd device block "+fmt.Sprint(d.ID)+"\r\n")
	}
}

// notifyWipe confirms an acknowledged wipe to the user and to the
// requester: the address in the requesting actor ("admin:bob@example.com",
// "bob@example.com"), or else the admin recipients.
func (r *Registry) notifyWipe(ctx context.Context, d Device, result string) {
	u, err := r.st.UserByID(ctx, d.User)
	if err != nil {
		r.log.Error("wipe message", "user", d.User, "err", err)
		return
	}
	kind := "remote wipe"
	if d.WipeAccountOnly {
		kind = "account-only remote wipe"
	}
	body := "The " + kind + " of the device " + describe(d) + " of " + u.Address + " " + result +
		".\r\nRequested by " + d.WipeRequestedBy + " at " + sinceText(d.WipeRequestedAt) +
		",\r\nacknowledged by the device at " + sinceText(d.WipeAckedAt) + ".\r\n" +
		"The partnership stays blocked until an administrator removes it.\r\n"
	subject := "Remote wipe of " + d.DeviceID + " " + result
	r.send(ctx, u.Address, u.Address, subject, body)
	to := r.admins
	if _, addr, ok := strings.Cut(d.WipeRequestedBy, ":"); ok && strings.Contains(addr, "@") {
		to = []string{addr}
	} else if strings.Contains(d.WipeRequestedBy, "@") {
		to = []string{d.WipeRequestedBy}
	}
	for _, a := range to {
		if !strings.EqualFold(a, u.Address) {
			r.send(ctx, u.Address, a, subject, body)
		}
	}
}

func describe(d Device) string {
	s := d.DeviceType
	if d.Info.Model != "" {
		s += " " + d.Info.Model
	}
	if d.Info.FriendlyName != "" {
		s += " \"" + d.Info.FriendlyName + "\""
	}
	return strings.TrimSpace(s + " (DeviceId " + d.DeviceID + ")")
}

// send delivers a system message into the mailbox of to (a local user) as a
// notice (the only items a quarantined device sees). The
// sender is Options.From at the domain of user.
func (r *Registry) send(ctx context.Context, user, to, subject, body string) {
	from := r.from
	if !strings.Contains(from, "@") {
		if _, dom, ok := strings.Cut(user, "@"); ok {
			from += "@" + dom
		}
	}
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	_, dom, _ := strings.Cut(from, "@")
	raw := "From: easd <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + oneLine(subject) + "\r\nDate: " +
		sinceText(r.now()) + "\r\nMessage-ID: <" + hex.EncodeToString(rnd[:]) + "@" + dom + ">\r\n" +
		"Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n\r\n" + body
	if _, err := r.st.DeliverNotice(ctx, to, []byte(raw)); err != nil {
		r.log.Warn("system message not delivered", "to", to, "subject", subject, "err", err)
	}
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
