package browser

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/dashboard"
	"github.com/easd/easd/internal/app"
	"github.com/easd/easd/internal/app/apptest"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

const (
	// envChromium names the browser binary; without it every test skips.
	envChromium = "EASD_CHROMIUM"
	// envScreenshots names the folder for the screenshots.
	envScreenshots = "EASD_SCREENSHOTS"
	skipMessage    = envChromium + " not set: browser tests skipped (CI sets it)"

	// stepTimeout bounds one browser step so that a broken page fails the
	// test with a screenshot instead of hanging it. It is a hang guard,
	// not an assertion about speed.
	stepTimeout = 30 * time.Second
)

// The accounts every test server has.
const (
	adminName, adminPassword       = "root", "root password"
	helpdeskName, helpdeskPassword = "desk", "desk password"
)

// clock is the admin API's clock: real time plus an offset the test moves.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// env is a running server over a fresh SQLite store and a Chromium tab on
// its dashboard.
type env struct {
	t     *testing.T
	st    *store.Store
	srv   *apptest.Server
	clock *clock
	tab   context.Context
}

// viewport is a browser window size.
type viewport struct{ width, height int }

var (
	laptop = viewport{1366, 900}
	tablet = viewport{768, 1024}
)

// newEnv starts the server with cfg (AdminIdle defaults to 10 minutes,
// AdminNow is the env's clock) and a browser with a laptop-sized window,
// and creates the admin and helpdesk accounts. It skips the test when
// EASD_CHROMIUM is not set.
func newEnv(t *testing.T, cfg app.Config) *env {
	t.Helper()
	chromium := os.Getenv(envChromium)
	if chromium == "" {
		t.Skip(skipMessage)
	}
	st := storetest.Open(t, storetest.SQLiteURL(t))
	require.NoError(t, st.Migrate(t.Context()))
	clk := &clock{}
	cfg.AdminNow = clk.Now
	if cfg.AdminIdle == 0 {
		cfg.AdminIdle = 10 * time.Minute
	}
	srv := apptest.Start(t, st, cfg)
	_, err := st.CreateAdmin(t.Context(), adminName, store.RoleAdmin, adminPassword)
	require.NoError(t, err)
	_, err = st.CreateAdmin(t.Context(), helpdeskName, store.RoleHelpdesk, helpdeskPassword)
	require.NoError(t, err)

	e := &env{t: t, st: st, srv: srv, clock: clk}
	e.tab = startBrowser(t, chromium, spkiHash(t, srv), laptop)
	return e
}

// spkiHash is the base64 SHA-256 of the server certificate's public key,
// which Chromium then trusts (and nothing else it would not trust anyway).
func spkiHash(t *testing.T, srv *apptest.Server) string {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(srv.URL, "https://"),
		&tls.Config{RootCAs: srv.CertPool, ServerName: "localhost"})
	require.NoError(t, err)
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// startBrowser launches Chromium for the test and returns a context with a
// tab; the browser ends with the test. Uncaught exceptions of the page fail
// the test.
func startBrowser(t *testing.T, chromium, spki string, vp viewport) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
		chromedp.WindowSize(vp.width, vp.height),
		// Chromium leaves shared-memory files (org.chromium.Chromium.*) in
		// TMPDIR: keep them in the test's own directory, removed after it.
		chromedp.Env("TMPDIR="+t.TempDir()),
	)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	require.NoError(t, chromedp.Do(tab), "start %s", chromium)
	// The window size above includes no browser chrome in headless mode;
	// set the viewport explicitly so screenshots have exactly this size.
	require.NoError(t, chromedp.Do(tab, chromedp.EmulateViewport(int64(vp.width), int64(vp.height))))

	messages := chromedp.Console(tab)
	done := make(chan []string, 1)
	go func() {
		var exceptions []string
		for m, err := range messages {
			if err != nil {
				break
			}
			if m.IsException() {
				exceptions = append(exceptions, m.String())
			}
		}
		done <- exceptions
	}()
	t.Cleanup(func() {
		cancelTab()
		if ex := <-done; len(ex) > 0 {
			t.Errorf("uncaught exceptions in the page:\n%s", strings.Join(ex, "\n"))
		}
	})
	return tab
}

// do runs browser steps; a failure ends the test with a screenshot.
func (e *env) do(steps ...chromedp.Action[chromedp.Void]) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.tab, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		e.fail(err)
	}
}

// run runs one browser action and returns its value.
func run[T any](e *env, a chromedp.Action[T]) T {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.tab, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		e.fail(err)
	}
	return v
}

// fail saves a screenshot of the page as FAIL-<test>.png and ends the test.
func (e *env) fail(err error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.tab, 5*time.Second)
	defer cancel()
	if png, serr := chromedp.Run(ctx, chromedp.CaptureScreenshot()); serr == nil {
		name := "FAIL-" + regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(e.t.Name(), "_") + ".png"
		if path, werr := writeScreenshot(name, png); werr == nil {
			e.t.Logf("screenshot of the failure: %s", path)
		}
	}
	e.t.Fatalf("browser: %v", err)
}

// eval evaluates a JavaScript expression and returns its value.
func eval[T any](e *env, expr string) T {
	e.t.Helper()
	return run(e, chromedp.Evaluate[T](expr))
}

// waitFor waits until the JavaScript expression is truthy.
func (e *env) waitFor(expr string) {
	e.t.Helper()
	// An interval, not requestAnimationFrame: a page that does not paint
	// (nothing changed on screen) may run no animation frames.
	e.do(chromedp.Poll[chromedp.Void]("!!("+expr+")",
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout-time.Second)))
}

// waitPage waits until #main shows page name with its data loaded.
func (e *env) waitPage(name string) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf(`document.querySelector('#main[data-page=%q][data-ready="true"]')`, name))
}

// click clicks the element that matches the CSS selector with the mouse.
func (e *env) click(sel string) {
	e.t.Helper()
	e.do(chromedp.Click(chromedp.CSS(sel)))
}

// text is the text content of the first element matching sel, "" if none.
func (e *env) text(sel string) string {
	e.t.Helper()
	return eval[string](e, fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ""`, sel))
}

// count is the number of elements matching sel.
func (e *env) count(sel string) int {
	e.t.Helper()
	return eval[int](e, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// visible says whether an element matches sel and is rendered (not hidden).
func (e *env) visible(sel string) bool {
	e.t.Helper()
	return eval[bool](e, fmt.Sprintf(`(() => { const el = document.querySelector(%q); return !!el && el.getClientRects().length > 0; })()`, sel))
}

// status waits until the #status region says something containing want
// and returns what it says.
func (e *env) status(want string) string {
	e.t.Helper()
	e.waitFor(fmt.Sprintf(`document.querySelector('#status').textContent.includes(%q)`, want))
	return e.text("#status")
}

// nav clicks the navigation link to page and waits for it.
func (e *env) nav(page string) {
	e.t.Helper()
	e.click(fmt.Sprintf(`#nav a[href="#/%s"]`, page))
	e.waitPage(page)
}

// open loads the dashboard (a fresh page: no session) and waits for the
// login form.
func (e *env) open() {
	e.t.Helper()
	e.do(chromedp.Navigate(e.srv.URL + dashboard.Prefix + "/"))
	e.waitPage("login")
}

// typeLogin types name and password into the login form and submits it
// with a click.
func (e *env) typeLogin(name, password string) {
	e.t.Helper()
	e.fill("#login-user", name)
	e.fill("#login-password", password)
	e.click("#login-submit")
}

// fill empties the input matching sel and types value into it.
func (e *env) fill(sel, value string) {
	e.t.Helper()
	e.do(
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ""`, sel)),
		chromedp.SendKeys(chromedp.CSS(sel), value),
	)
}

// login opens the dashboard and logs in; it returns on the overview.
func (e *env) login(name, password string) {
	e.t.Helper()
	e.open()
	e.typeLogin(name, password)
	e.waitPage("overview")
}

// keys presses keys (see package kb) on the focused element.
func (e *env) keys(keys string) {
	e.t.Helper()
	e.do(chromedp.KeyEvent(keys))
}

// tabTo presses Tab until the focused element matches sel, at most max
// times, and fails if it never does.
func (e *env) tabTo(sel string, max int) {
	e.t.Helper()
	for range max {
		if eval[bool](e, fmt.Sprintf(`!!document.activeElement?.matches(%q)`, sel)) {
			return
		}
		e.keys(kb.Tab)
	}
	e.t.Fatalf("%s never got the focus in %d Tab presses (focus on %s)", sel, max,
		eval[string](e, `document.activeElement?.outerHTML.slice(0, 200) ?? "nothing"`))
}

// screenshotDir is where screenshots go: $EASD_SCREENSHOTS or
// artifacts/screenshots at the repository root.
func screenshotDir() string {
	if d := os.Getenv(envScreenshots); d != "" {
		return d
	}
	return filepath.Join("..", "..", "artifacts", "screenshots")
}

func writeScreenshot(name string, png []byte) (string, error) {
	dir := screenshotDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, png, 0o644)
}

// screenshot saves the visible viewport as name.png.
func (e *env) screenshot(name string) {
	e.t.Helper()
	png := run(e, chromedp.CaptureScreenshot())
	path, err := writeScreenshot(name+".png", png)
	require.NoError(e.t, err)
	e.t.Logf("screenshot %s", path)
}

// fullScreenshot saves the whole page (not only the viewport) as name.png.
func (e *env) fullScreenshot(name string) {
	e.t.Helper()
	png := run(e, chromedp.FullScreenshot(100))
	path, err := writeScreenshot(name+".png", png)
	require.NoError(e.t, err)
	e.t.Logf("screenshot %s", path)
}
