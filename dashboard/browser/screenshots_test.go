package browser

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/internal/app"
	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
)

// aliceIMEI is the IMEI of Alice's lost iPhone 12.
const aliceIMEI = "356938035643809"

// seed fills the server with what a small company's server holds: users
// with devices in every state, mail and traffic, rules, a second policy and
// queued outbound mail. It returns the phones by DeviceId.
func (e *env) seed() map[string]*phone {
	t := e.t
	t.Helper()
	ctx := t.Context()
	users := map[string]store.User{}
	for _, u := range []struct{ addr, name string }{
		{"alice@example.com", "Alice Adams"}, {"bob@example.com", "Bob Brown"}, {"carol@example.com", "Carol Chen"},
		{"dave@example.com", "Dave Dias"}, {"erin@example.com", "Erin Evans"},
	} {
		nu, err := e.st.CreateUser(ctx, store.NewUser{Address: u.addr, DisplayName: u.name, Password: userPassword})
		require.NoError(t, err)
		users[u.addr] = nu
		e.deliver(nu, "Welcome to easd")
		e.deliver(nu, "Quarterly numbers")
	}
	phones := map[string]*phone{}
	for _, p := range []struct{ user, id, typ, model, os string }{
		{"alice@example.com", "ALICEOLD01", "iPhone", "iPhone 12", "iOS 16.7"},
		{"alice@example.com", "ALICEIPHONE15", "iPhone", "iPhone 15 Pro", "iOS 18.1"},
		{"alice@example.com", "ALICEIPAD", "iPad", "iPad Air", "iPadOS 18.1"},
		{"bob@example.com", "BOBPIXEL8", "Android", "Pixel 8", "Android 15"},
		{"bob@example.com", "BOBIPHONE", "iPhone", "iPhone 14", "iOS 17.6"},
		{"carol@example.com", "CAROLGALAXY", "Android", "Galaxy S24", "Android 14"},
		{"carol@example.com", "CAROLIPHONE", "iPhone", "iPhone 15", "iOS 18.1"},
		{"dave@example.com", "DAVEIPHONE", "iPhone", "iPhone 13", "iOS 17.6"},
		{"dave@example.com", "DAVETABLET", "Android", "Galaxy Tab S9", "Android 14"},
		{"erin@example.com", "ERINPIXEL7", "Android", "Pixel 7", "Android 14"},
		{"erin@example.com", "ERINXPERIA", "Android", "Xperia 5 V", "Android 13"},
	} {
		ph := e.newPhone(p.user, p.id, p.typ, p.model, p.os)
		if p.id == "ALICEOLD01" {
			ph.imei = aliceIMEI
		}
		require.Equal(t, 1, ph.provision(), p.id)
		st, _ := ph.folderSync()
		require.Equal(t, 1, st, p.id)
		ph.subjects("Inbox")
		phones[p.id] = ph
	}
	alice, bob, carol, erin := users["alice@example.com"], users["bob@example.com"], users["carol@example.com"], users["erin@example.com"]
	e.setAccess(carol, "CAROLGALAXY", store.AccessQuarantined)
	e.setAccess(erin, "ERINPIXEL7", store.AccessQuarantined)
	e.setAccess(erin, "ERINXPERIA", store.AccessQuarantined)
	e.setAccess(bob, "BOBPIXEL8", store.AccessBlocked)

	// Alice lost her old phone: wiped and acknowledged; her new one is its
	// likely successor.
	_, err := e.srv.Devices.RequestWipe(ctx, e.device(alice, "ALICEOLD01").ID, false, helpdeskName)
	require.NoError(t, err)
	old := phones["ALICEOLD01"]
	st, _ := old.folderSync()
	require.Equal(t, 140, st)
	_, directive := old.wipeDirective()
	require.Equal(t, "RemoteWipe", directive)
	require.Equal(t, 1, old.acknowledgeWipe())
	// After the reset the same phone comes back with a new DeviceId.
	reset := e.newPhone(alice.Address, "ALICERESET01", "iPhone", "iPhone 12", "iOS 16.7")
	reset.imei = aliceIMEI
	require.Equal(t, 1, reset.provision())
	phones["ALICERESET01"] = reset
	// Dave's tablet has a wipe waiting to be sent.
	_, err = e.srv.Devices.RequestWipe(ctx, e.device(users["dave@example.com"], "DAVETABLET").ID, true, adminName)
	require.NoError(t, err)

	for _, r := range []store.DeviceRule{
		{Field: store.RuleFieldDeviceType, Match: store.RuleMatchPrefix, Pattern: "Android", Action: store.AccessQuarantined},
		{Field: store.RuleFieldUserAgent, Match: store.RuleMatchExact, Pattern: "OldMail/1.0", Action: store.AccessBlocked},
	} {
		_, err := e.srv.Devices.AddRule(ctx, r, adminName)
		require.NoError(t, err)
	}

	pm := policy.NewManager(e.st)
	exec := policy.Default()
	exec.Name = "Executives"
	exec.DevicePasswordEnabled = true
	exec.AlphanumericDevicePasswordRequired = true
	exec.RequireDeviceEncryption = true
	eight := uint8(8)
	exec.MinDevicePasswordLength = &eight
	created, err := pm.Create(ctx, exec)
	require.NoError(t, err)
	require.NoError(t, pm.Assign(ctx, alice.ID, created.ID))

	for i, to := range []string{"partner@example.net", "supplier@example.org"} {
		raw := fmt.Sprintf("From: bob@example.com\r\nTo: %s\r\nSubject: Offer %d\r\nMessage-ID: <offer%d@example.com>\r\n\r\nHello.\r\n", to, i, i)
		_, err := e.st.EnqueueOutbound(ctx, store.NewOutbound{User: bob.ID, EnvelopeFrom: bob.Address,
			MessageID: fmt.Sprintf("offer%d@example.com", i), Raw: []byte(raw), Remote: []string{to}})
		require.NoError(t, err)
	}
	return phones
}

// TestScreenshots saves one screenshot per page of a seeded server, at
// laptop size and the main pages at tablet size, for people to look at
// (CI keeps them as an artifact). It checks each page rendered.
func TestScreenshots(t *testing.T) {
	e := newEnv(t, app.Config{})
	e.seed()
	e.user("frank@example.com") // a user without devices
	// Long values: an address and a model name that do not fit a column.
	long := e.user(longAddress)
	require.Equal(t, 1, e.newPhone(long.Address, "MAXFOLD6", "Android", "Galaxy Z Fold6 Enterprise Edition SM-F956B", "Android 14").provision())

	e.open()
	e.screenshot("login")
	e.typeLogin(adminName, adminPassword)
	e.waitPage("overview")
	assert.Zero(t, e.count(`#main .notice.error`), "the overview shows an error")
	e.fullScreenshot("overview")
	for _, page := range []string{"quarantine", "devices", "users", "rules", "policies", "outbound", "audit"} {
		e.nav(page)
		assert.Zero(t, e.count(`#main .notice.error`), "%s shows an error", page)
		e.fullScreenshot(page)
		assert.Zero(t, e.sidewaysTables(), "%s: no table scrolls sideways", page)
	}

	// The device list sorts by first contact: newest first, then oldest
	// first, in the API across all pages.
	ids := e.deviceIDs()
	e.nav("devices")
	firstRow := `document.querySelector('#main tr[data-device-id]')?.dataset.deviceId`
	for _, want := range []struct{ sort, first string }{{"-first_seen", "MAXFOLD6"}, {"first_seen", "ALICEOLD01"}} {
		e.click(`#main button.sort[data-sort="first_seen"]`)
		e.waitFor(fmt.Sprintf(`location.hash.includes('sort=%s') && document.querySelector('#main').dataset.ready === 'true' && %s === %q`,
			want.sort, firstRow, ids[want.first]))
	}

	// A user's page: her devices, policy and switches.
	e.nav("users")
	e.click(`#main a[href="#/users/alice@example.com"]`)
	e.waitFor(`document.querySelector('#main').dataset.ready === 'true' && document.querySelector('#main h1')?.textContent.includes('Alice')`)
	assert.Zero(t, e.count(`#main .notice.error`), "the user page shows an error")
	e.fullScreenshot("user")

	// A policy's form: the viewport only, as its sticky button bar would
	// land mid-page in a full-page capture.
	e.nav("policies")
	e.click(`#main a[href^="#/policies/"]:not([href="#/policies/new"])`)
	e.waitFor(`document.querySelector('#pol-Name') && document.querySelector('#main').dataset.ready === 'true'`)
	e.screenshot("policy-form")

	// The wiped phone, with its likely successor, and the wipe dialog of
	// its successor.
	e.do(chromedp.Navigate(e.srv.URL + "/admin/#/devices/" + ids["ALICEOLD01"]))
	e.waitPage("device")
	e.fullScreenshot("device")
	assert.Equal(t, "remote wipe", e.fact("#main .o-access", "Reason"))
	assert.Equal(t, helpdeskName, e.fact("#main .o-access", "Set by"), "who asked for the wipe")
	assert.NotContains(t, e.text("#main .o-policy"), "provision again")
	successor := `#main a[href="#/devices/` + ids["ALICERESET01"] + `"]`
	require.Equal(t, 1, e.count(successor), "the new phone is the wiped one's likely successor")
	e.click(successor)
	// Both pages are "device" pages: wait for the new one's DeviceId.
	e.waitFor(`document.querySelector('#main').dataset.ready === 'true' &&
		document.querySelector('#main .o-info').textContent.includes('ALICERESET01')`)
	// The new phone acknowledged the default policy before Alice got
	// Executives.
	assert.Contains(t, e.text("#main .o-policy"), "Acknowledged Default v1; the user's policy is Executives v1.")
	e.click(`button[data-action="wipe"]`)
	e.waitFor(`document.querySelector('#confirm').open`)
	e.screenshot("wipe-dialog")
	e.click("#confirm-cancel")
	e.waitFor(`!document.querySelector('#confirm').open`)

	// Dave's tablet waits for its wipe: no call to provision again.
	e.do(chromedp.Navigate(e.srv.URL + "/admin/#/devices/" + ids["DAVETABLET"]))
	e.waitFor(`document.querySelector('#main').dataset.ready === 'true' && document.querySelector('#main .o-info')?.textContent.includes('DAVETABLET')`)
	assert.Contains(t, e.fact("#main .o-policy", "Compliance"), "A wipe is pending")
	assert.NotContains(t, e.text("#main .o-policy"), "provision again")

	// Tablet size: nothing wider than the window, five cards as three and
	// two, and device names on one line.
	e.do(chromedp.EmulateViewport(int64(tablet.width), int64(tablet.height)))
	for _, page := range []string{"overview", "quarantine", "devices"} {
		e.nav(page)
		e.fullScreenshot(page + "-tablet")
		assert.LessOrEqual(t, eval[int](e, `document.documentElement.scrollWidth`), tablet.width, "%s fits the tablet's width", page)
		assert.Zero(t, e.sidewaysTables(), "%s: no table scrolls sideways", page)
		switch page {
		case "overview":
			assert.Equal(t, []int{3, 2}, eval[[]int](e, `Object.values([...document.querySelectorAll('.cards a.card')]
				.reduce((rows, c) => { const y = Math.round(c.getBoundingClientRect().top); rows[y] = (rows[y] || 0) + 1; return rows; }, {}))`),
				"cards per row")
		case "devices":
			// One line: a name's link is no taller than one line of text.
			assert.Zero(t, eval[int](e, `[...document.querySelectorAll('#main td.device-cell > a')]
				.filter((a) => a.getClientRects().length > 1 || a.getBoundingClientRect().height > 1.6 * parseFloat(getComputedStyle(a).lineHeight || 20)).length`),
				"device names do not wrap")
		}
	}
	// The wiped phone's page, one column.
	e.do(chromedp.Navigate(e.srv.URL + "/admin/#/devices/" + ids["ALICEOLD01"]))
	e.waitFor(`document.querySelector('#main').dataset.ready === 'true' && document.querySelector('#main .o-info')?.textContent.includes('ALICEOLD01')`)
	e.fullScreenshot("device-tablet")
	assert.LessOrEqual(t, eval[int](e, `document.documentElement.scrollWidth`), tablet.width, "the device page fits the tablet's width")
}

// sidewaysTables counts the page's tables wider than their box (which
// then scroll sideways, hiding a column).
func (e *env) sidewaysTables() int {
	e.t.Helper()
	return eval[int](e, `[...document.querySelectorAll('#main .table-wrap')].filter((w) => w.scrollWidth > w.clientWidth).length`)
}

// longAddress is a user's address longer than a table column.
const longAddress = "maximilian.von.hohenzollern-sigmaringen@subsidiary.example.com"

// deviceIDs maps DeviceId to the partnership id, from the device list the
// page shows.
func (e *env) deviceIDs() map[string]string {
	e.t.Helper()
	list, err := e.srv.Devices.List(e.t.Context(), store.DeviceFilter{})
	require.NoError(e.t, err)
	out := map[string]string{}
	for _, d := range list {
		out[d.DeviceID] = fmt.Sprint(d.ID)
	}
	return out
}
