package presenced_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
)

// closedStreams is a log handler that reports every stream the server
// closed, and drops everything else.
type closedStreams chan string

func (c closedStreams) Enabled(context.Context, slog.Level) bool { return true }
func (c closedStreams) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c closedStreams) WithGroup(string) slog.Handler            { return c }
func (c closedStreams) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "stream closed" {
		c <- r.Message
	}
	return nil
}

// startNoticingStreams is start with a server that says when it closed a
// stream, so that a test can wait until it noticed that a client left.
func startNoticingStreams(t *testing.T) (*env, closedStreams) {
	closed := make(closedStreams, 16)
	e := &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", log: slog.New(closed)}
	e.boot()
	return e, closed
}

// waitClosed waits until the server closed a stream.
func (c closedStreams) wait(t *testing.T) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not close the stream within 10 s")
	}
}

// events reads n events and returns them as "kind:activity" (or
// "kind:id" for events without a presence), space-separated.
func events(t *testing.T, ch <-chan sseEvent, n int) string {
	t.Helper()
	var got []string
	for range n {
		ev := nextEvent(t, ch)
		what, _ := ev.data["activity"].(string)
		if what == "" {
			what, _ = ev.data["id"].(string)
		}
		got = append(got, ev.kind+":"+what)
	}
	return strings.Join(got, " ")
}

// resumeGaps are how long a stream's client stays away, and the events it
// gets when it comes back, after two changes in its last ten minutes away.
var resumeGaps = []struct {
	gap  time.Duration
	want string
}{
	{30 * time.Minute, "presence:Presenting presence:Away"},
	{90 * time.Minute, "presence:Presenting presence:Away"},
	{6 * time.Hour, "reset:Away"},
}

// A stream that reconnects with Last-Event-ID gets every change it missed
// while it was away, as long as a resume is promised (the change log's
// five hours); after longer it gets event: reset with the state now. Never
// a silent gap: before, the hub stopped logging a user an hour after the
// last watcher left, and a client back after 90 minutes got only the state
// now, as an ordinary event.
func TestStreamResumeAfterAGap(t *testing.T) {
	for _, c := range resumeGaps {
		t.Run(c.gap.String(), func(t *testing.T) {
			e, closed := startNoticingStreams(t)
			alex := e.user("alex")
			ch, closeStream := e.openStream(t, e.appToken(), "ids="+alex, "")
			nextEvent(t, ch)
			e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", e.appToken(), setBody("Busy", "InACall", "PT4H"))
			last := nextEvent(t, ch).id
			closeStream()
			closed.wait(t) // the last watcher left now

			// Two changes while the client is away, the last ten minutes
			// before it comes back.
			e.fake.Add(c.gap - 10*time.Minute)
			e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", e.appToken(), setBody("DoNotDisturb", "Presenting", "PT4H"))
			e.fake.Add(5 * time.Minute)
			e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", e.appToken(), setBody("Away", "Away", "PT4H"))
			e.fake.Add(5 * time.Minute)

			app := e.appToken()
			ch, closeStream = e.openStream(t, app, "ids="+alex, last)
			defer closeStream()
			n := strings.Count(c.want, " ") + 1
			if got := events(t, ch, n); got != c.want {
				t.Fatalf("after %v away: %s, want %s", c.gap, got, c.want)
			}
			// And the stream goes on.
			e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT4H"))
			if got := events(t, ch, 1); got != "presence:InACall" {
				t.Fatalf("then: %s", got)
			}
		})
	}
}

// Last-Event-ID: 0 is a position, the very start of the log, not "no
// position": every change from id 1 on is delivered. A Last-Event-ID the
// log has not reached (a server whose data was reset or restored) cannot be
// served: the stream starts with reset, then delivers what comes.
func TestStreamResumeFromZeroAndBeyondTheEnd(t *testing.T) {
	t.Run("Last-Event-ID 0", func(t *testing.T) {
		e := start(t)
		alex := e.user("alex")
		app := e.appToken()
		ch, closeStream := e.openStream(t, app, "ids="+alex, "")
		if ev := nextEvent(t, ch); ev.id != "0" {
			t.Fatalf("initial event on an empty log has id %q", ev.id)
		}
		e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
		e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("DoNotDisturb", "Presenting", "PT1H"))
		if got := events(t, ch, 2); got != "presence:InACall presence:Presenting" {
			t.Fatalf("live: %s", got)
		}
		closeStream()
		ch, closeStream = e.openStream(t, app, "ids="+alex, "0")
		defer closeStream()
		first := nextEvent(t, ch)
		if first.kind != "presence" || first.id != "1" || first.data["activity"] != "InACall" {
			t.Fatalf("resumed from 0, first event %+v; want the change at id 1", first)
		}
		if got := events(t, ch, 1); got != "presence:Presenting" {
			t.Fatalf("then %s", got)
		}
	})
	t.Run("Last-Event-ID beyond the end of the log", func(t *testing.T) {
		e := start(t)
		alex := e.user("alex")
		app := e.appToken()
		e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
		ch, closeStream := e.openStream(t, app, "ids="+alex, "1000")
		defer closeStream()
		ev := nextEvent(t, ch)
		if ev.kind != "reset" || ev.data["activity"] != "InACall" {
			t.Fatalf("first event %+v; want reset with the state now", ev)
		}
		e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("DoNotDisturb", "Presenting", "PT1H"))
		if got := events(t, ch, 1); got != "presence:Presenting" {
			t.Fatalf("then %s", got)
		}
	})
}

// A resume is decided from the change log alone, so a restarted server
// serves it as the one that logged the changes would have: before, a
// restart forgot where each user's logging began, and every user changed
// while the client was away came back as reset.
func TestStreamResumeAfterARestart(t *testing.T) {
	e, closed := startNoticingStreams(t)
	alex := e.user("alex")
	app := e.appToken()
	ch, closeStream := e.openStream(t, app, "ids="+alex, "")
	nextEvent(t, ch)
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT4H"))
	last := nextEvent(t, ch).id
	closeStream()
	closed.wait(t)
	e.fake.Add(10 * time.Minute)
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("DoNotDisturb", "Presenting", "PT4H"))
	e.fake.Add(5 * time.Minute)
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Away", "Away", "PT4H"))

	e.restart()
	app = e.appToken()
	ch, closeStream = e.openStream(t, app, "ids="+alex, last)
	defer closeStream()
	if got := events(t, ch, 2); got != "presence:Presenting presence:Away" {
		t.Fatalf("resumed after a restart: %s", got)
	}
}
