package browsertest

import (
	"context"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// What a person does with a page while they wait elsewhere, through the
// DevTools protocol: another tab in front, a frozen page (a locked phone,
// a discarded background tab), notifications allowed, reduced motion.

// OnEveryPage runs the JavaScript src in every page the tab loads from now
// on, before the page's own scripts. DevTools evaluates it, so the page's
// Content-Security-Policy does not apply; tests use it to watch what a page
// does (a spy on Notification, a MutationObserver).
func (b *Browser) OnEveryPage(src string) {
	b.t.Helper()
	b.Do("add a script to every page", cdpCall(page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}))
}

// AllowNotifications grants the notifications permission to origin
// (scheme://host:port), as a person who answered "Allow" would have.
func (b *Browser) AllowNotifications(origin string) {
	b.t.Helper()
	b.Do("allow notifications for "+origin, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := cdp.Call(ctx, chromedp.FromContext(ctx).Browser, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted, Origin: origin,
		})
		return err
	}))
}

// ReducedMotion makes the page see prefers-reduced-motion: reduce.
func (b *Browser) ReducedMotion() {
	b.t.Helper()
	b.Do("emulate reduced motion", cdpCall(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
	}))
}

// Background opens another tab in front of the tab's, in the same window,
// so the tab's page is hidden (document.hidden, visibilitychange) while it
// keeps running, throttled, as a tab the person switched away from. Front
// brings it back.
func (b *Browser) Background() {
	b.t.Helper()
	other, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewWindow(false))
	b.t.Cleanup(cancel)
	ctx, stop := context.WithTimeout(other, StepTimeout)
	defer stop()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.t.Fatalf("browser: open a tab in front: %v", err)
	}
}

// Front brings the tab's page to the front: visible again.
func (b *Browser) Front() {
	b.t.Helper()
	b.Do("bring the tab to the front", cdpCall(page.BringToFront, cdp.Empty{}))
}

// Freeze freezes the page (its timers and tasks stop; it sees freeze, and
// visibilitychange if it was visible), as a phone whose screen was locked.
// Thaw resumes it (resume), still hidden: a page frozen while in front
// stays hidden for good, so hide it first with Background, and show it
// again with Front.
func (b *Browser) Freeze() {
	b.t.Helper()
	b.Do("freeze the page", cdpCall(page.SetWebLifecycleState, page.SetWebLifecycleStateParams{State: page.SetWebLifecycleStateStateFrozen}))
}

// Thaw resumes a frozen page.
func (b *Browser) Thaw() {
	b.t.Helper()
	b.Do("resume the page", cdpCall(page.SetWebLifecycleState, page.SetWebLifecycleStateParams{State: page.SetWebLifecycleStateStateActive}))
}

// cdpCall is an action sending one DevTools command to the tab.
func cdpCall[P, R any](c cdp.Command[P, R], params P) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, c, params)
		return err
	})
}
