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
// The selectors they use are the dashboard's selector contract, listed in
// dashboard/static/js/app.js.
package browser
