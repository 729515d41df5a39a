package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/presenced/presenced/directory"
)

// TestBrowserClockMovedElsewhere moves the dev clock from outside the
// board (the CLI, another tab) while the board is open: the board's
// server time and what it computes from it (a status message's expiry)
// must follow the server's clock, not the one it read at sign-in.
func TestBrowserClockMovedElsewhere(t *testing.T) {
	needBrowser(t)
	s := startServer(t, 0)
	ctx := tab(t)
	signIn(t, ctx, s.srv.URL(), false)
	waitFor(t, ctx, `document.getElementById('clock-now').textContent.startsWith('2026-11-25 09:0')`)

	s.call("POST", "/dev/clock/advance", map[string]any{"by": "PT2H"}) // as `presenced clock advance PT2H` does
	run(t, ctx, chromedp.SendKeys(chromedp.CSS("#status-text"), "Back at three"), chromedp.SetValue(chromedp.CSS("#status-for"), "PT4H"),
		chromedp.Click(chromedp.CSS("#status-form button[type=submit]")))
	waitFor(t, ctx, `document.querySelector('`+row(directory.DemoUserAdele)+` .status').textContent === 'Back at three' || !document.getElementById('mine-error').hidden`)
	if e := eval[bool](t, ctx, `!document.getElementById('mine-error').hidden`); e {
		t.Fatalf("setting a status message for 4 hours after the clock moved elsewhere: %q", text(t, ctx, "#mine-error"))
	}
	exp := get(t, ctx, chromedp.Evaluate[string](meFetch(`/v1.0/me/presence`)+`.then(p => p.statusMessage ? p.statusMessage.expiryDateTime.dateTime : 'none')`, chromedp.EvalAwaitPromise))
	if !strings.HasPrefix(exp, "2026-11-25T15:0") {
		t.Errorf("status message for 4 hours set at 2026-11-25T11:00 (the clock moved two hours elsewhere) expires %q", exp)
	}
	waitFor(t, ctx, `document.getElementById('clock-now').textContent.startsWith('2026-11-25 11:0')`)
}
