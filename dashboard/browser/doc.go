// Package browser holds the dashboard's browser tests: each test starts the
// whole server (internal/app/apptest) on a real TLS listener, drives a real
// headless Chromium through chromedp with clicks and key presses, and checks
// what the page shows and what the API, the store and real ActiveSync
// requests (eas/easclient) then see.
//
// The tests run when EASD_CHROMIUM names the browser (CI sets
// EASD_CHROMIUM=/usr/bin/chromium) and skip otherwise. They write one PNG
// per page to $EASD_SCREENSHOTS, by default artifacts/screenshots at the
// repository root.
//
// Each test starts its own server and its own Chromium (trusting exactly
// that server's certificate), so tests share nothing; they run one at a
// time all the same, as a browser each at once would crowd a small CI
// machine. A step that hangs fails after a generous bound with a screenshot
// FAIL-<test>.png beside the others; no assertion depends on timing.
//
// The selectors they use are the dashboard's selector contract, listed in
// dashboard/static/js/app.js; a few more (form ids, the overview's chart
// tables) are named where they are used.
package browser
