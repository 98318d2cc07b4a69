// Package browsertest drives a real headless Chromium (Debian's chromium
// package) from tests, through the DevTools protocol with chromedp.
//
// Each Browser is its own chromium process with a fresh profile in a
// temporary directory, so cookies and storage never leak between tests, and
// without any Korean system font, as on a fresh machine: Korean must come
// from the pages' own web font (see KoreanGlyphs).
// Every step is bounded by StepTimeout, and the helpers fail the test with
// what they were waiting for and what they saw instead.
//
// Browser tests must not be skipped silently: without chromium, New fails
// the test and says how to install it. Setting WAITROOM_SKIP_BROWSER=1
// skips them instead, on purpose.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// SkipEnv names the environment variable that, set to 1, skips browser tests.
const SkipEnv = "WAITROOM_SKIP_BROWSER"

// StepTimeout bounds each helper call. It is generous because chromium
// shares two cores with the rest of the test run; waits return as soon as
// their condition holds, so a passing test never waits this long.
const StepTimeout = 20 * time.Second

// Browser is one headless chromium with one tab.
type Browser struct {
	t   testing.TB
	ctx context.Context // the tab; never carries a deadline (it would end the browser)
}

// Options of New. The zero value is a Korean-speaking desktop browser.
type Options struct {
	// AcceptLanguage is the browser's language list, sent as
	// Accept-Language. Default "ko-KR,ko": the people the waiting room is
	// for.
	AcceptLanguage string
}

// New starts chromium for t and stops it when t ends.
func New(t testing.TB, o Options) *Browser {
	t.Helper()
	if os.Getenv(SkipEnv) == "1" {
		t.Skip("browser test skipped: " + SkipEnv + "=1")
	}
	path, err := exec.LookPath("chromium") // Debian's package: /usr/bin/chromium
	if err != nil {
		t.Fatal("chromium is not installed (not on PATH): run `make test-deps` as root or `sudo apt-get install chromium`, " +
			"or set " + SkipEnv + "=1 to skip the browser tests")
	}
	if o.AcceptLanguage == "" {
		o.AcceptLanguage = "ko-KR,ko"
	}
	// The defaults are headless, --no-first-run, --disable-background-networking,
	// --disable-sync and more of the kind: nothing but the test talks to the
	// network.
	fontconf, err := noKoreanFonts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.Env("FONTCONFIG_FILE="+fontconf),
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // root in CI and containers, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("lang", strings.Split(o.AcceptLanguage, ",")[0]),
		chromedp.Flag("accept-lang", o.AcceptLanguage),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	b := &Browser{t: t, ctx: ctx}
	// The first action starts the browser, and lives as long as it: no
	// deadline here, so the start is bounded by chromedp's own 20 s wait
	// for the DevTools endpoint.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	b.watchConsole()
	return b
}

// watchConsole keeps what pages write to the console, shows it when the
// test fails, and fails the test for an exception nothing caught: a page
// that throws is broken even when the test's checks happen to pass.
func (b *Browser) watchConsole() {
	var (
		mu         sync.Mutex
		lines      []string
		exceptions int
	)
	messages := chromedp.Console(b.ctx) // subscribed now, read below
	go func() {
		for m, err := range messages {
			if err != nil { // the browser is gone
				return
			}
			mu.Lock()
			lines = append(lines, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
			if m.IsException() {
				exceptions++
			}
			mu.Unlock()
		}
	}()
	b.t.Cleanup(func() { // runs before the browser stops
		mu.Lock()
		defer mu.Unlock()
		if exceptions > 0 {
			b.t.Errorf("browser: %d uncaught JavaScript exceptions", exceptions)
		}
		if b.t.Failed() && len(lines) > 0 {
			b.t.Logf("browser console:\n%s", strings.Join(lines, "\n"))
		}
	})
}

// Do runs chromedp actions in the tab within StepTimeout and fails the test
// on error; what says what they do, for the failure message.
func (b *Browser) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// Navigate loads url and waits for its load event.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.Do("navigate to "+url, chromedp.Navigate(url))
}

// Desktop sets a 1280x800 desktop viewport.
func (b *Browser) Desktop() {
	b.t.Helper()
	b.Do("desktop viewport", chromedp.EmulateViewport(1280, 800))
}

// Phone sets a 390x844 phone viewport (an iPhone 12 to 15) with mobile
// emulation: the meta viewport applies, and touch events replace the mouse.
func (b *Browser) Phone() {
	b.t.Helper()
	b.Do("phone viewport", chromedp.EmulateViewport(390, 844,
		chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
}

// Click clicks the element matching the CSS selector sel, once it is visible.
func (b *Browser) Click(sel string) {
	b.t.Helper()
	b.Do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Keys types keys into the page as a keyboard does, to whatever has the
// focus: "\t" moves it on, "\r" is Enter, " " Space (see chromedp/kb).
func (b *Browser) Keys(keys string) {
	b.t.Helper()
	b.Do("type "+quote(keys), chromedp.KeyEvent(keys))
}

// Focused returns the id of the element that has the keyboard focus ("" for
// none, or one without an id).
func (b *Browser) Focused() string {
	b.t.Helper()
	var id string
	b.Eval(`document.activeElement ? document.activeElement.id : ""`, &id)
	return id
}

// Fill replaces the value of the input matching sel, once it is visible,
// by focusing it, emptying it and typing s key by key, as a person would
// (so the page sees focus and input events).
func (b *Browser) Fill(sel, s string) {
	b.t.Helper()
	b.Do("fill "+sel, chromedp.Focus(chromedp.CSS(sel), chromedp.NodeVisible),
		chromedp.Evaluate[chromedp.Void](`document.querySelector(`+quote(sel)+`).value = ""`),
		chromedp.SendKeys(chromedp.CSS(sel), s))
}

// Screenshot writes a PNG of the whole page to path, making its directory.
func (b *Browser) Screenshot(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 means PNG
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o755)
	}
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", path, err)
	}
}

// Eval evaluates the JavaScript expression expr in the page and decodes its
// value into out (a pointer).
func (b *Browser) Eval(expr string, out any) {
	b.t.Helper()
	if err := b.eval(b.ctx, expr, out); err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
}

func (b *Browser) eval(parent context.Context, expr string, out any) error {
	ctx, cancel := context.WithTimeout(parent, StepTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr)) // the value as JSON
	if err != nil {
		return err
	}
	if len(raw) == 0 { // undefined
		raw = []byte("null")
	}
	return json.Unmarshal(raw, out)
}

// textJS is the text of the element matching a selector, or null.
const textJS = `(e => e ? e.textContent.trim() : null)(document.querySelector(%s))`

// Text returns the trimmed text content of the element matching sel, and
// fails the test when there is none.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	var s *string
	b.Eval(fmt.Sprintf(textJS, quote(sel)), &s)
	if s == nil {
		b.t.Fatalf("browser: no element %s on %s", sel, b.location())
	}
	return *s
}

// WaitText waits until the text of the element matching sel contains want,
// and returns that text.
func (b *Browser) WaitText(sel, want string) string {
	b.t.Helper()
	var got *string
	err := b.poll(func(ctx context.Context) (bool, error) {
		err := b.eval(ctx, fmt.Sprintf(textJS, quote(sel)), &got)
		return err == nil && got != nil && strings.Contains(*got, want), err
	})
	if err != nil {
		seen := "no such element"
		if got != nil {
			seen = fmt.Sprintf("%q", *got)
		}
		b.t.Fatalf("browser: %s never contained %q within %v on %s: %s (last error: %v)", sel, want, StepTimeout, b.location(), seen, err)
	}
	return *got
}

// Wait waits until the JavaScript expression expr is true; what says what
// that means, for the failure message.
func (b *Browser) Wait(what, expr string) {
	b.t.Helper()
	err := b.poll(func(ctx context.Context) (bool, error) {
		var ok bool
		err := b.eval(ctx, "!!("+expr+")", &ok)
		return ok, err
	})
	if err != nil {
		b.t.Fatalf("browser: waited %v for %s on %s (%s): %v", StepTimeout, what, b.location(), expr, err)
	}
}

// poll calls check every 50 ms until it reports true or StepTimeout passes.
// Errors (a page navigating away destroys its JavaScript context) are kept
// for the report but do not stop the wait: a redirect is often what a test
// waits for.
func (b *Browser) poll(check func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(b.ctx, StepTimeout)
	defer cancel()
	last := errors.New("condition not met")
	for {
		ok, err := check(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// location is the tab's URL, for failure messages.
func (b *Browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "(unknown page: " + err.Error() + ")"
	}
	return u
}

// quote makes s a JavaScript string literal.
func quote(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}
