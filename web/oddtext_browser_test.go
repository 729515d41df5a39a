package web_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/presenced/presenced/directory"
)

// TestBrowserOddStatusMessages: status messages as people write them —
// long without a space (a URL, a row of characters: Graph allows 280),
// right-to-left, emoji, text that looks like HTML — are shown as their
// text, and none makes the board wider than the window (a long one made
// it 3,100 px wide in a 1,100 px window, the Why? buttons off screen),
// on a desktop or a phone.
func TestBrowserOddStatusMessages(t *testing.T) {
	needBrowser(t)
	s := startServer(t, 0)
	ctx := tab(t)
	signIn(t, ctx, s.srv.URL(), false)
	msgs := map[string]string{
		directory.DemoUserAlex:  "https://example.com/" + strings.Repeat("x", 260),
		directory.DemoUserMegan: "שלום עולם — back at 3 🙂👍🏽",
		directory.DemoUserAdele: `<img src=x onerror=alert(1)><b>bold</b> &amp;`,
	}
	for u, m := range msgs {
		s.call("POST", "/v1.0/users/"+u+"/presence/setStatusMessage", map[string]any{"statusMessage": map[string]any{"message": map[string]any{"content": m, "contentType": "text"}}})
	}
	for u, m := range msgs {
		q, _ := json.Marshal(m)
		waitFor(t, ctx, `document.querySelector('`+row(u)+` .status').textContent === `+string(q))
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#people-rows img, #people-rows b, #my-status img').length`); n != 0 {
		t.Errorf("a status message's text became %d elements", n)
	}
	if w, iw := eval[int](t, ctx, `document.documentElement.scrollWidth`), eval[int](t, ctx, `innerWidth`); w > iw {
		t.Errorf("with a long status message the board is %d px wide in a %d px window: it scrolls sideways", w, iw)
	}
	run(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	waitFor(t, ctx, `document.documentElement.clientWidth === 390`)
	if w := eval[int](t, ctx, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("on a phone, with a long status message, the board is %d px wide: it scrolls sideways", w)
	}
	shot(t, ctx, "board-odd-status.png")
}
