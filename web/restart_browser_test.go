package web_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
)

// restartable is a dev-mode server that can be stopped and started again
// on its address and data directory, as an operator restarts one.
type restartable struct {
	*server
	dir, addr string
	directory *directory.File // nil: the demo directory
}

func startRestartable(t *testing.T) *restartable {
	t.Helper()
	return startRestartableWith(t, nil)
}

func startRestartableWith(t *testing.T, dir *directory.File) *restartable {
	t.Helper()
	r := &restartable{dir: t.TempDir(), addr: "127.0.0.1:0", directory: dir}
	r.start(t)
	r.addr = r.srv.Addr().String()
	return r
}

func (r *restartable) start(t *testing.T) {
	t.Helper()
	srv, err := presenced.New(presenced.Config{Addr: r.addr, DataDir: r.dir, Dev: true, Clock: clock.NewFake(t0),
		Logger: slog.New(slog.DiscardHandler), DemoUsers: 0, Directory: r.directory})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.stop(t) })
	tok, err := srv.Issuer().AppToken(directory.DemoDaemonClientID)
	if err != nil {
		t.Fatal(err)
	}
	r.server = &server{t: t, srv: srv, app: tok}
}

func (r *restartable) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
	// The port is free again once nothing listens on it.
	if c, err := net.DialTimeout("tcp", r.addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Shutdown", r.addr)
	}
}

// TestBrowserServerRestart restarts the server while the board is open:
// the board says it lost the server, reconnects by itself, and shows the
// truth again without a reload.
func TestBrowserServerRestart(t *testing.T) {
	needBrowser(t)
	r := startRestartable(t)
	ctx := tab(t)
	signIn(t, ctx, r.srv.URL(), false)
	waitFor(t, ctx, `document.getElementById('live').textContent.startsWith('Live')`)
	r.setPresence(directory.DemoUserAdele, "Busy", "InACall")
	adele := `document.querySelector('` + row(directory.DemoUserAdele) + ` .presence').textContent`
	waitFor(t, ctx, adele+` === 'Busy'`)
	eval[chromedp.Void](t, ctx, `window.__loads = (window.__loads || 0) + 1`)

	start := time.Now()
	r.stop(t)
	waitFor(t, ctx, `!document.getElementById('live').textContent.startsWith('Live')`)
	t.Logf("down %v: live says %q", time.Since(start).Round(time.Millisecond), text(t, ctx, "#live"))
	// The board says so where it is seen, whatever is scrolled into view:
	// a line under the list, below the fold, says nothing to someone
	// looking at the people at the top.
	for _, y := range []string{"0", "document.documentElement.scrollHeight"} {
		eval[chromedp.Void](t, ctx, `window.scrollTo(0, `+y+`)`)
		waitFor(t, ctx, `[...document.querySelectorAll('[role=status], [role=alert]')].some(e => {
			const r = e.getBoundingClientRect();
			return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight && /lost the connection/i.test(e.textContent) && e.textContent.includes('Reconnecting');
		})`)
	}
	if op := eval[string](t, ctx, `getComputedStyle(document.querySelector('`+row(directory.DemoUserAdele)+` .badge')).opacity`); op == "1" {
		t.Errorf("Adele's badge from before the server was lost is shown as live (opacity %s)", op)
	}
	shot(t, ctx, "board-down.png")

	r.start(t)
	r.setPresence(directory.DemoUserAdele, "Available", "Available")
	waitFor(t, ctx, adele+` === 'Available' && document.getElementById('live').textContent.startsWith('Live')`)
	t.Logf("back %v after the stop", time.Since(start).Round(time.Millisecond))
	if eval[bool](t, ctx, `!document.getElementById('conn').hidden || document.body.classList.contains('stale')`) {
		t.Errorf("connected again, the board still says it lost the server: %q", text(t, ctx, "#conn"))
	}
	r.setPresence(directory.DemoUserAdele, "DoNotDisturb", "Presenting")
	waitFor(t, ctx, adele+` === 'Do not disturb'`)
	if eval[int](t, ctx, `window.__loads`) != 1 {
		t.Fatal("the board was reloaded")
	}
}

// TestBrowserTokenDueWhileServerDown: the board's token falls due while
// the server is down (an hour passes for the page: its Date.now moved).
// The refresh gets no answer, which is not a refusal: the board keeps
// its sign-in, says it lost the server, and is live again when the
// server is back — not signed out and reloaded onto the browser's error
// page.
func TestBrowserTokenDueWhileServerDown(t *testing.T) {
	needBrowser(t)
	r := startRestartable(t)
	ctx := tab(t)
	signIn(t, ctx, r.srv.URL(), false)
	waitFor(t, ctx, `document.getElementById('live').textContent.startsWith('Live')`)
	eval[chromedp.Void](t, ctx, `window.__loaded = true`)

	r.stop(t)
	waitFor(t, ctx, `!document.getElementById('conn').hidden`)
	// An hour later, for the page: its token is due for a refresh, which
	// the next call (the dev clock's read, every 5 s) asks for.
	eval[chromedp.Void](t, ctx, `{ const now = Date.now.bind(Date); Date.now = () => now() + 3600e3; }`)
	// Waits until the refresh was tried (the second request to the token
	// endpoint, after the sign-in's) or the page was replaced.
	waitAcross(t, ctx, `!window.__loaded || performance.getEntriesByType('resource').filter(e => e.name.endsWith('/oauth2/v2.0/token')).length >= 2`)
	if !eval[bool](t, ctx, `window.__loaded === true && location.href.startsWith('http')`) {
		t.Fatalf("the board reloaded (signed out) when its token's refresh got no answer\n%s", pageState(ctx))
	}

	r.start(t)
	r.setPresence(directory.DemoUserAdele, "Busy", "InACall")
	adele := `document.querySelector('` + row(directory.DemoUserAdele) + ` .presence').textContent`
	waitAcross(t, ctx, `window.__loaded && `+adele+` === 'Busy' && document.getElementById('live').textContent.startsWith('Live') && document.getElementById('conn').hidden`)
	if got := eval[string](t, ctx, `sessionStorage.getItem('presenced.board') ? 'kept' : 'gone'`); got != "kept" {
		t.Fatalf("the sign-in is %s", got)
	}
}

// TestBrowserRefusedRefreshSignsOut: a refresh the server answers with a
// refusal (the refresh token outlived by a dev clock moved two days) ends
// the sign-in: the board shows its Sign in button, as before.
func TestBrowserRefusedRefreshSignsOut(t *testing.T) {
	needBrowser(t)
	s := startServer(t, 0)
	ctx := tab(t)
	signIn(t, ctx, s.srv.URL(), false)
	s.call("POST", "/dev/clock/advance", map[string]any{"by": "P2D"})
	waitAcross(t, ctx, visible("#signin-buttons button")+` && !sessionStorage.getItem('presenced.board')`)
}
