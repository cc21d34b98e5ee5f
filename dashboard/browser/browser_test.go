package browser

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
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
	cards := e.cards()
	assert.Equal(t, "5", cards["#/devices"], "cards %v", cards)
	assert.Equal(t, "1", cards["#/quarantine"], "cards %v", cards)
	assert.Equal(t, "1", cards["#/devices?state=blocked"], "cards %v", cards)
}
