package browser

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/eas"
	"github.com/easd/easd/internal/app"
	"github.com/easd/easd/store"
)

// user creates a mail user with the tests' password.
func (e *env) user(address string) store.User {
	e.t.Helper()
	u, err := e.st.CreateUser(e.t.Context(), store.NewUser{Address: address, Password: userPassword})
	require.NoError(e.t, err)
	return u
}

// device is the partnership of u's device id as the registry holds it.
func (e *env) device(u store.User, id string) devices.Device {
	e.t.Helper()
	d, err := e.srv.Devices.Get(e.t.Context(), devices.Key{User: u.ID, DeviceID: id})
	require.NoError(e.t, err)
	return d
}

// setAccess decides a device's access as the command line would.
func (e *env) setAccess(u store.User, id, state string) {
	e.t.Helper()
	_, err := e.srv.Devices.SetAccess(e.t.Context(), e.device(u, id).ID, state, "cli:test")
	require.NoError(e.t, err)
}

// chartRows reads the data table of the chart in the panel labelled label:
// row label → the number shown.
func (e *env) chartRows(label string) map[string]string {
	e.t.Helper()
	raw := eval[string](e, fmt.Sprintf(`JSON.stringify(Object.fromEntries(
		[...document.querySelectorAll('section[aria-label=%q] table tbody tr')]
			.map((tr) => [tr.querySelector('th').textContent.trim(), tr.querySelector('td').textContent.trim()])))`, label))
	var rows map[string]string
	require.NoError(e.t, json.Unmarshal([]byte(raw), &rows))
	return rows
}

// fact is the value beside label in the definition list inside sel (the
// device page's panels), "" if there is none.
func (e *env) fact(sel, label string) string {
	e.t.Helper()
	return eval[string](e, fmt.Sprintf(`[...document.querySelectorAll(%q)]
		.find((dt) => dt.textContent.trim() === %q)?.nextElementSibling?.textContent.trim() ?? ""`, sel+" dt", label))
}

// cards reads the overview's number cards: the page each links to → the
// number it shows.
func (e *env) cards() map[string]string {
	e.t.Helper()
	raw := eval[string](e, `JSON.stringify(Object.fromEntries(
		[...document.querySelectorAll('.cards a.card')]
			.map((c) => [c.getAttribute('href'), c.querySelector('.big').textContent.trim()])))`)
	var cards map[string]string
	require.NoError(e.t, json.Unmarshal([]byte(raw), &cards))
	return cards
}

// TestLoginAndOverview: a wrong password is refused on the page; the right
// one leads to the overview, whose charts and numbers are the seeded
// devices'.
func TestLoginAndOverview(t *testing.T) {
	e := newEnv(t, app.Config{})
	alice, bob := e.user("alice@example.com"), e.user("bob@example.com")
	for _, p := range []*phone{
		e.newPhone(alice.Address, "AIPHONE1", "iPhone", "iPhone 15", "iOS 18.1"),
		e.newPhone(alice.Address, "AIPAD1", "iPad", "iPad Air", "iPadOS 18.1"),
		e.newPhone(bob.Address, "BIPHONE1", "iPhone", "iPhone 15", "iOS 18.1"),
		e.newPhone(bob.Address, "BPIXEL1", "Android", "Pixel 8", "Android 15"),
		e.newPhone(bob.Address, "BOLD1", "Android", "Galaxy S9", "Android 10"),
	} {
		require.Equal(t, 1, p.provision(), p)
	}
	e.setAccess(bob, "BPIXEL1", store.AccessQuarantined)
	e.setAccess(bob, "BOLD1", store.AccessBlocked)

	e.open()
	assert.False(t, e.visible("#top"), "no navigation before login")
	e.typeLogin(adminName, "not the password")
	e.waitFor(`!document.querySelector('#login-message').hidden && document.querySelector('#login-message').textContent.trim() !== ''`)
	assert.Contains(t, e.text("#login-message"), "wrong name or password")
	assert.Equal(t, "login", eval[string](e, `document.querySelector('#main').dataset.page`))

	e.typeLogin(adminName, adminPassword)
	e.waitPage("overview")
	assert.Equal(t, "admin", eval[string](e, `document.body.dataset.role`))
	assert.True(t, e.visible("#logout"))
	assert.Contains(t, e.text("#top"), adminName)

	for _, panel := range []string{"Devices by state", "Devices by operating system", "Devices by model"} {
		assert.Equal(t, 1, e.count(fmt.Sprintf(`section[aria-label=%q] svg[role="img"]`, panel)), "chart %s", panel)
	}
	assert.Equal(t, map[string]string{"allowed": "3", "quarantined": "1", "blocked": "1"}, e.chartRows("Devices by state"))
	assert.Equal(t, map[string]string{"iOS 18.1": "2", "iPadOS 18.1": "1", "Android 15": "1", "Android 10": "1"},
		e.chartRows("Devices by operating system"))
	assert.Equal(t, map[string]string{"iPhone 15": "2", "iPad Air": "1", "Pixel 8": "1", "Galaxy S9": "1"},
		e.chartRows("Devices by model"))
	// Each phone made two requests (the Provision handshake), all "other"
	// commands; the hours' totals (last column) add up to them.
	assert.Equal(t, 1, e.count(`section[aria-label="ActiveSync requests per hour"] svg[role="img"]`))
	assert.Equal(t, 10, eval[int](e, `[...document.querySelectorAll('section[aria-label="ActiveSync requests per hour"] table tbody tr')]
		.reduce((sum, tr) => sum + Number(tr.lastElementChild.textContent.replace(/[^0-9]/g, '')), 0)`))

	cards := e.cards()
	assert.Equal(t, "5", cards["#/devices"], "cards %v", cards)
	assert.Equal(t, "1", cards["#/quarantine"], "cards %v", cards)
	assert.Equal(t, "1", cards["#/devices?state=blocked"], "cards %v", cards)
}

// deliver puts a message with subject into the user's Inbox.
func (e *env) deliver(u store.User, subject string) {
	e.t.Helper()
	raw := fmt.Sprintf("From: carol@example.net\r\nTo: %s\r\nSubject: %s\r\nDate: Fri, 27 Nov 2026 09:00:00 +0000\r\n"+
		"Message-ID: <%d.%s>\r\nContent-Type: text/plain\r\n\r\nHello.\r\n", u.Address, subject, len(subject), u.Address)
	_, err := e.st.Deliver(e.t.Context(), u.Address, []byte(raw))
	require.NoError(e.t, err)
}

// row is the CSS selector of a device's row in a device table.
func row(d devices.Device) string { return fmt.Sprintf(`tr[data-device-id="%d"]`, d.ID) }

// TestQuarantineApproval: a new device lands in quarantine and sees only
// its Inbox with the explanation; the admin approves it with one click in
// the queue, the page confirms, and the same device's next requests sync
// every folder and its mail. Two more devices are approved and two blocked
// in bulk.
func TestQuarantineApproval(t *testing.T) {
	e := newEnv(t, app.Config{DefaultAccess: store.AccessQuarantined})
	alice, bob, zoe := e.user("alice@example.com"), e.user("bob@example.com"), e.user("zoe@example.com")
	e.deliver(alice, "Quarterly numbers")
	// Zoe's phone has waited longest: the queue shows it first although
	// her address sorts last.
	require.Equal(t, 1, e.newPhone(zoe.Address, "ZOEPHONE1", "Android", "Pixel 6", "Android 14").provision())
	zoePhone := e.device(zoe, "ZOEPHONE1")

	p := e.newPhone(alice.Address, "NEWPHONE1", "iPhone", "iPhone 16", "iOS 18.2")
	require.Equal(t, 1, p.provision())
	d := e.device(alice, "NEWPHONE1")
	require.Equal(t, store.AccessQuarantined, d.AccessState)
	st, names := p.folderSync()
	require.Equal(t, 1, st)
	assert.Equal(t, []string{"Inbox"}, names, "quarantined: only the Inbox")
	// The Inbox holds the explanation. (The Inbox's other mail syncs too:
	// eas/quarantine.go lets a quarantined device sync its whole Inbox.)
	assert.Contains(t, p.subjects("Inbox"), "Your device is waiting for approval")

	others := map[string]*phone{}
	for _, id := range []string{"BULKA1", "BULKA2", "BULKB1", "BULKB2"} {
		others[id] = e.newPhone(bob.Address, id, "Android", "Pixel 9", "Android 15")
		require.Equal(t, 1, others[id].provision())
	}

	e.login(adminName, adminPassword)
	e.nav("quarantine")
	require.Equal(t, 6, e.count(`#main tr[data-device-id]`), "six devices wait")
	assert.Equal(t, fmt.Sprint(zoePhone.ID), eval[string](e, `document.querySelector('#main tr[data-device-id]').dataset.deviceId`),
		"longest waiting first")
	assert.Contains(t, e.text(row(d)), alice.Address)
	assert.Contains(t, e.text(row(d)), "NEWPHONE1")

	e.click(row(d) + ` button[data-action="approve"]`)
	msg := e.status("NEWPHONE1")
	assert.Contains(t, msg, alice.Address)
	assert.Contains(t, msg, "allowed", "the server's answer")
	e.waitFor(fmt.Sprintf(`!document.querySelector(%q)`, row(d)))
	d = e.device(alice, "NEWPHONE1")
	assert.Equal(t, store.AccessAllowed, d.AccessState)
	assert.Equal(t, adminName, d.AccessSetBy)

	// The same device, without provisioning again, now gets everything.
	st, names = p.folderSync()
	require.Equal(t, 1, st)
	assert.Contains(t, names, "Sent Items")
	assert.Contains(t, names, "Calendar")
	assert.NotContains(t, names, "Inbox", "it had the Inbox already")
	assert.ElementsMatch(t, []string{"Quarterly numbers", "Your device is waiting for approval"}, p.subjects("Inbox"))
	assert.Empty(t, p.subjects("Sent Items"))

	// Bulk: tick two, approve; tick the other two, block.
	bulk := func(ids []string, button, done, state string) {
		t.Helper()
		for _, id := range ids {
			e.click(row(e.device(bob, id)) + ` input[data-select]`)
		}
		e.click(button)
		e.status(done + " 2 of 2")
		for _, id := range ids {
			assert.Equal(t, state, e.device(bob, id).AccessState, id)
			e.waitFor(fmt.Sprintf(`!document.querySelector(%q)`, row(e.device(bob, id))))
		}
	}
	bulk([]string{"BULKA1", "BULKA2"}, "#bulk-approve", "Approved", store.AccessAllowed)
	bulk([]string{"BULKB1", "BULKB2"}, "#bulk-block", "Blocked", store.AccessBlocked)
	assert.Equal(t, 1, e.count(`#main tr[data-device-id]`), "only Zoe's phone waits")
	assert.Equal(t, 1, e.count(row(zoePhone)))

	for id, state := range map[string]int{"BULKA1": 1, "BULKB1": int(eas.StatusDeviceIsBlockedForThisUser)} {
		st, _ := others[id].folderSync()
		assert.Equal(t, state, st, "%s FolderSync", id)
	}
}

// openDevice goes to the device list and clicks through to d.
func (e *env) openDevice(d devices.Device) {
	e.t.Helper()
	e.nav("devices")
	e.click(fmt.Sprintf(`%s a[href="#/devices/%d"]`, row(d), d.ID))
	e.waitPage("device")
}

// dialogOpen says whether the confirmation dialog is open.
func (e *env) dialogOpen() bool {
	e.t.Helper()
	return eval[bool](e, `document.querySelector('#confirm').open`)
}

// adminOnly are the pages a helpdesk agent does not see.
var adminOnly = []string{"rules", "policies", "outbound", "audit"}

// TestHelpdeskWipe: a helpdesk agent sees no admin controls, wipes a lost
// phone after a confirmation that names it and its user, and sees the
// server's answer; the phone's next request gets 140, Provision sends
// RemoteWipe, the phone acknowledges it; the admin then finds the wipe in
// the audit log.
func TestHelpdeskWipe(t *testing.T) {
	e := newEnv(t, app.Config{})
	alice := e.user("alice@example.com")
	p := e.newPhone(alice.Address, "LOSTPHONE7", "iPhone", "iPhone 13 mini", "iOS 17.6")
	require.Equal(t, 1, p.provision())
	st, _ := p.folderSync()
	require.Equal(t, 1, st)
	d := e.device(alice, "LOSTPHONE7")

	e.login(helpdeskName, helpdeskPassword)
	assert.Equal(t, "helpdesk", eval[string](e, `document.body.dataset.role`))
	for _, page := range adminOnly {
		assert.False(t, e.visible(fmt.Sprintf(`#nav a[href="#/%s"]`, page)), "helpdesk sees no %s link", page)
	}
	assert.True(t, e.visible(`#nav a[href="#/devices"]`))
	e.nav("users")
	assert.Equal(t, 0, e.count("#create-user"), "helpdesk cannot create users")
	e.do(chromedp.Navigate(e.srv.URL + "/admin/#/rules"))
	e.waitPage("rules")
	assert.Contains(t, e.text("#main"), "for administrators", "an admin page typed in says why it is empty")
	assert.Equal(t, 0, e.count("#main form"))

	e.openDevice(d)
	e.screenshot("device-helpdesk")
	// The policy by name, though helpdesk cannot read /policies.
	assert.Contains(t, e.text("#main .o-policy"), "Acknowledged Default v1.")
	for _, action := range []string{"remove", "quarantine", "reset", "trace"} {
		assert.Equal(t, 0, e.count(fmt.Sprintf(`button[data-action=%q]`, action)), "helpdesk has no %s button", action)
	}
	e.click(`button[data-action="wipe"]`)
	e.waitFor(`document.querySelector('#confirm').open`)
	question := e.text("#confirm")
	assert.Contains(t, question, "iPhone 13 mini", "the dialog names the device")
	assert.Contains(t, question, "LOSTPHONE7")
	assert.Contains(t, question, alice.Address, "and its user")
	assert.Empty(t, e.device(alice, "LOSTPHONE7").WipeState, "nothing happens before the confirmation")
	e.click("#confirm-ok")
	msg := e.status("LOSTPHONE7")
	assert.Contains(t, msg, "requested", "the server's answer")
	assert.False(t, e.dialogOpen())
	d = e.device(alice, "LOSTPHONE7")
	assert.Equal(t, store.WipeRequested, d.WipeState)
	assert.Equal(t, helpdeskName, d.WipeRequestedBy)

	// The phone: 140 on its next request, RemoteWipe on Provision, then it
	// acknowledges.
	st, _ = p.folderSync()
	assert.Equal(t, int(eas.StatusRemoteWipeRequested), st)
	st, directive := p.wipeDirective()
	assert.Equal(t, 1, st)
	assert.Equal(t, "RemoteWipe", directive)
	assert.Equal(t, 1, p.acknowledgeWipe())
	assert.Equal(t, store.WipeAcknowledged, e.device(alice, "LOSTPHONE7").WipeState)

	// The agent's page shows the acknowledged wipe after a refresh.
	e.nav("devices")
	e.click(fmt.Sprintf(`%s a[href="#/devices/%d"]`, row(d), d.ID))
	e.waitPage("device")
	assert.Contains(t, e.text("#main"), "acknowledged")
	assert.Equal(t, "remote wipe", e.fact("#main .o-access", "Reason"), "blocked by the wipe")
	assert.Equal(t, helpdeskName, e.fact("#main .o-access", "Set by"), "the agent who asked for the wipe")
	assert.NotContains(t, e.text("#main .o-policy"), "provision again", "a wiped device does not provision again")
	assert.Zero(t, e.count(`button[data-action="allow"]`), "a wiped device stays blocked")

	// The admin sees who asked for the wipe and what the phone did.
	e.click("#logout")
	e.waitPage("login")
	e.typeLogin(adminName, adminPassword)
	e.waitPage("overview")
	e.nav("audit")
	for _, action := range []string{"device.wipe", "device.wipe-sent", "device.wipe-ack"} {
		sel := fmt.Sprintf(`tr[data-audit-action=%q]`, action)
		assert.Equal(t, 1, e.count(sel), "one %s row", action)
		if action == "device.wipe" {
			assert.Contains(t, e.text(sel), helpdeskName, "who asked")
		}
	}
}

// expiredMessage is what the login page says after a session ends.
const expiredMessage = "Your session expired — log in again."

// TestInactivityTimeout: ten idle minutes and a second end the session;
// the next click shows the login page with the reason, and logging in
// again returns to where the user was going, filters and all.
func TestInactivityTimeout(t *testing.T) {
	e := newEnv(t, app.Config{AdminIdle: 10 * time.Minute})
	alice := e.user("alice@example.com")
	require.Equal(t, 1, e.newPhone(alice.Address, "KEEPPHONE1", "iPhone", "iPhone 15", "iOS 18.1").provision())
	d := e.device(alice, "KEEPPHONE1")
	e.login(adminName, adminPassword)
	e.nav("devices")

	e.clock.Advance(9 * time.Minute)
	e.nav("users")
	e.clock.Advance(9 * time.Minute)
	e.nav("overview")
	assert.Equal(t, "admin", eval[string](e, `document.body.dataset.role`), "activity keeps the session")

	e.clock.Advance(10*time.Minute + time.Second)
	e.click(`#nav a[href="#/devices"]`)
	e.waitPage("login")
	assert.Equal(t, expiredMessage, strings.TrimSpace(e.text("#login-message")))
	assert.False(t, e.visible("#top"), "no navigation after the session ended")
	assert.Empty(t, eval[string](e, `document.body.dataset.role ?? ""`))

	e.typeLogin(adminName, adminPassword)
	e.waitPage("devices")
	assert.Equal(t, "#/devices", eval[string](e, `location.hash`), "back on the page the click led to, not the overview")
	assert.Equal(t, 1, e.count(row(d)))

	// On a device page, idle too long: the page's own action finds the
	// session gone, and logging in again shows the same device.
	devHash := fmt.Sprintf("#/devices/%d", d.ID)
	e.click(fmt.Sprintf(`%s a[href=%q]`, row(d), devHash))
	e.waitPage("device")
	e.clock.Advance(10*time.Minute + time.Second)
	e.click(`button[data-action="block"]`)
	e.waitFor(`document.querySelector('#confirm').open`)
	e.click("#confirm-ok")
	e.waitPage("login")
	assert.Equal(t, expiredMessage, strings.TrimSpace(e.text("#login-message")))
	assert.Equal(t, store.AccessAllowed, e.device(alice, "KEEPPHONE1").AccessState, "the refused action changed nothing")
	e.typeLogin(adminName, adminPassword)
	e.waitPage("device")
	assert.Equal(t, devHash, eval[string](e, `location.hash`))
	assert.Contains(t, e.text("#main h1"), "iPhone 15")

	// Logging out on purpose and in again starts at the overview.
	e.click("#logout")
	e.waitPage("login")
	e.typeLogin(adminName, adminPassword)
	e.waitPage("overview")
}

// TestAbsoluteTimeout: a session ends 8 hours after login however active
// it is.
func TestAbsoluteTimeout(t *testing.T) {
	e := newEnv(t, app.Config{AdminIdle: 2 * time.Hour})
	e.login(adminName, adminPassword)
	pages := []string{"devices", "overview"}
	// Activity every 110 minutes for 7 h 59 min: the session lives on.
	for i := range 4 {
		e.clock.Advance(110 * time.Minute)
		e.nav(pages[i%2])
	}
	e.clock.Advance(39 * time.Minute)
	e.nav("users")
	assert.Equal(t, "admin", eval[string](e, `document.body.dataset.role`), "7 h 59 min after login")

	// Two minutes later (41 minutes idle, well within the 2 h inactivity
	// timeout) the 8 hours are over.
	e.clock.Advance(2 * time.Minute)
	e.click(`#nav a[href="#/devices"]`)
	e.waitPage("login")
	assert.Equal(t, expiredMessage, strings.TrimSpace(e.text("#login-message")))
}

// focused says whether the focused element matches sel.
func (e *env) focused(sel string) bool {
	e.t.Helper()
	return eval[bool](e, fmt.Sprintf(`!!document.activeElement?.matches(%q)`, sel))
}

// TestKeyboard: logging in and answering a confirmation dialog work with
// the keyboard alone: Tab moves, Enter acts, Escape cancels.
func TestKeyboard(t *testing.T) {
	e := newEnv(t, app.Config{})
	alice := e.user("alice@example.com")
	p := e.newPhone(alice.Address, "KBPHONE1", "Android", "Pixel 7", "Android 14")
	require.Equal(t, 1, p.provision())
	d := e.device(alice, "KBPHONE1")

	e.open()
	require.True(t, e.focused("#login-user"), "the login form starts in the name field")
	e.keys(adminName)
	e.keys(kb.Tab)
	require.True(t, e.focused("#login-password"))
	e.keys(adminPassword + kb.Enter)
	e.waitPage("overview")

	e.tabTo(`#nav a[href="#/devices"]`, 80)
	e.keys(kb.Enter)
	e.waitPage("devices")
	e.tabTo(fmt.Sprintf(`%s a[href="#/devices/%d"]`, row(d), d.ID), 60)
	e.keys(kb.Enter)
	e.waitPage("device")
	e.tabTo(`button[data-action="block"]`, 40)

	// Enter opens the dialog with the focus inside it; Escape closes it
	// and changes nothing.
	e.keys(kb.Enter)
	e.waitFor(`document.querySelector('#confirm').open`)
	assert.True(t, eval[bool](e, `document.querySelector('#confirm').contains(document.activeElement)`), "focus moves into the dialog")
	assert.Contains(t, e.text("#confirm"), "KBPHONE1")
	e.keys(kb.Escape)
	e.waitFor(`!document.querySelector('#confirm').open`)
	assert.Equal(t, store.AccessAllowed, e.device(alice, "KBPHONE1").AccessState, "Escape changes nothing")
	assert.True(t, e.focused(`button[data-action="block"]`), "focus returns to the button")

	// Escape and at once Enter again (a user changing their mind fast):
	// the dialog is open again and stays open (a late "close" event of the
	// first must not cancel the second).
	e.keys(kb.Enter)
	e.waitFor(`document.querySelector('#confirm').open`)
	e.keys(kb.Escape + kb.Enter)
	e.waitFor(`document.querySelector('#confirm').open`)
	// Tab to the confirmation; the focus stays in the dialog however often
	// Tab is pressed.
	for range 5 {
		e.keys(kb.Tab)
		assert.True(t, eval[bool](e, `document.querySelector('#confirm').contains(document.activeElement)`), "focus stays in the dialog")
	}
	e.tabTo("#confirm-ok", 5)
	e.keys(kb.Enter)
	e.status("Blocked")
	assert.Equal(t, store.AccessBlocked, e.device(alice, "KBPHONE1").AccessState)
}

// TestPolicyValidation: the policy form shows its own check and the
// server's refusal next to the field concerned, and stores nothing until
// the input is right.
func TestPolicyValidation(t *testing.T) {
	e := newEnv(t, app.Config{})
	policies := func() []string {
		t.Helper()
		list, err := e.st.Policies(t.Context())
		require.NoError(t, err)
		var names []string
		for _, p := range list {
			names = append(names, p.Name)
		}
		return names
	}
	before := policies()
	require.Contains(t, before, "Default")

	e.login(adminName, adminPassword)
	e.nav("policies")
	e.click("#policy-new")
	e.waitFor(`document.querySelector('#pol-Name') && document.querySelector('#main').dataset.ready === 'true'`)

	// The page's own check: out of range, nothing sent.
	e.fill("#pol-Name", "Default")
	e.fill("#pol-MinDevicePasswordLength", "40")
	e.click("#policy-save")
	e.waitFor(`!document.querySelector('#pol-MinDevicePasswordLength-error').hidden`)
	assert.Contains(t, e.text("#pol-MinDevicePasswordLength-error"), "40")
	assert.Equal(t, before, policies())

	// The server's refusal: the name is taken. The message appears next to
	// the name field and nothing changes.
	e.fill("#pol-MinDevicePasswordLength", "8")
	e.click("#policy-save")
	e.waitFor(`!document.querySelector('#pol-Name-error').hidden`)
	assert.NotEmpty(t, strings.TrimSpace(e.text("#pol-Name-error")))
	assert.True(t, eval[bool](e, `document.querySelector('#pol-MinDevicePasswordLength-error').hidden`), "the fixed field is clear")
	assert.Contains(t, e.status("refused"), "exists")
	assert.Equal(t, before, policies())

	e.fill("#pol-Name", "Sales phones")
	e.click("#policy-save")
	e.status("Sales phones")
	assert.ElementsMatch(t, append(before, "Sales phones"), policies())
	rec, err := e.st.PolicyByName(t.Context(), "Sales phones")
	require.NoError(t, err)
	assert.Contains(t, rec.Settings, `"MinDevicePasswordLength":8`)
}
