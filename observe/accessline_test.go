package observe

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// slogLine is the access line as slog's handler of format writes it.
func slogLine(format string, l *accessLine) []byte {
	var out bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var h slog.Handler = slog.NewTextHandler(&out, opts)
	if format == "json" {
		h = slog.NewJSONHandler(&out, opts)
	}
	level := slog.LevelInfo
	if l.level == "DEBUG" {
		level = slog.LevelDebug
	}
	r := slog.NewRecord(l.at, level, "request", 0)
	r.AddAttrs(slog.String("request_id", l.requestID), slog.String("client_request_id", l.clientRequestID), slog.String("method", l.method),
		slog.String("route", l.route), slog.Int("status", l.status), slog.Duration("latency", l.latency), slog.String("tenant", l.tenant),
		slog.String("app", l.app), slog.Int64("bytes", l.bytes), slog.String("remote", l.remote))
	_ = h.Handle(context.Background(), r)
	return out.Bytes()
}

// FuzzAccessLine holds the hand-written access line to slog's: whenever
// it writes a line, the bytes are those slog's JSON or text handler
// writes for the same record; when it cannot, the caller uses slog.
func FuzzAccessLine(f *testing.F) {
	f.Add("5613e77d-5f6d-4672-b1dd-973cfca832a8", "my-client-1", "GET", "/v1.0/users/{id}/presence", "a5036a1a-166f-4ed5-bf5a-e0ccc1602604",
		"6dcddc99-5a7f-430c-a555-551d652a37b1", "127.0.0.1:4711", 200, int64(57123), int64(312), int64(1764660000), int64(123456789), true)
	f.Add("x", "", "POST", "/{tenant}/oauth2/v2.0/token", "", "", "[::1]:80", 401, int64(0), int64(0), int64(0), int64(999999), false)
	f.Add("r", `quo"te`, "GET", "GET /healthz", "t", "a", "1.2.3.4:5", 503, int64(-5), int64(1), int64(-62135596800), int64(0), true)
	f.Add("r", "a=b c\\d", "OTHER", "unmatched", "é", "\x00", "", 599, int64(1<<62), int64(-1), int64(253402300799), int64(999999999), false)
	f.Fuzz(func(t *testing.T, reqID, clientID, method, route, tenant, app, remote string, status int, latency, size, sec, nsec int64, json bool) {
		l := accessLine{at: time.Unix(sec, nsec).UTC(), level: "INFO", requestID: reqID, clientRequestID: clientID, method: method, route: route,
			tenant: tenant, app: app, remote: remote, status: status, latency: time.Duration(latency), bytes: size}
		if nsec%2 == 0 {
			l.level = "DEBUG"
			l.at = l.at.In(time.FixedZone("x", int(sec%50000)))
		}
		format := "text"
		if json {
			format = "json"
		}
		got, ok := appendAccessLine(nil, format, &l, &secondCache{})
		if !ok {
			return
		}
		if want := slogLine(format, &l); !bytes.Equal(got, want) {
			t.Fatalf("%s line\n got %q\nwant %q", format, got, want)
		}
	})
}

// Lines of plain values take the fast path.
func TestAccessLineFastPath(t *testing.T) {
	l := accessLine{at: time.Date(2026, 12, 2, 4, 5, 6, 789_000_000, time.UTC), level: "INFO", requestID: "5613e77d-5f6d-4672-b1dd-973cfca832a8",
		method: "GET", route: "/v1.0/users/{id}/presence", remote: "127.0.0.1:4711", status: 200, latency: 57 * time.Microsecond, bytes: 312}
	for _, format := range []string{"json", "text"} {
		got, ok := appendAccessLine(nil, format, &l, &secondCache{})
		if !ok || !bytes.Equal(got, slogLine(format, &l)) {
			t.Errorf("%s: %v %q", format, ok, got)
		}
	}
}

// The time's second is formatted once and kept (secondCache): lines in
// the same second, in the next one, in another location, and at a whole
// second (no fraction in JSON) are the bytes slog writes, whatever the
// cache held before.
func TestAccessLineSecondCache(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	odd := time.FixedZone("odd", -(5*3600 + 30*60 + 17)) // seconds in the offset: RFC 3339 drops them
	base := time.Date(2026, 12, 3, 23, 59, 59, 0, time.UTC)
	times := []time.Time{
		base.Add(123_456_789), base.Add(999_999_999), base, base.Add(time.Second), base.Add(time.Second + 120_000_000),
		base.Add(time.Second).In(paris), base.Add(time.Second + 1).In(odd), base.Add(time.Second + 1), base.Add(-365 * 24 * time.Hour).Local(),
		base.Add(time.Second + 1_000).Local(), time.Date(0, 1, 1, 0, 0, 0, 5, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
	}
	for _, format := range []string{"json", "text"} {
		var sc secondCache
		for _, at := range times {
			l := accessLine{at: at, level: "INFO", requestID: "r", method: "GET", route: "/x", remote: "1.2.3.4:5", status: 200, latency: time.Millisecond}
			got, ok := appendAccessLine(nil, format, &l, &sc)
			if want := slogLine(format, &l); !ok || !bytes.Equal(got, want) {
				t.Errorf("%s at %v: %v\n got %q\nwant %q", format, at, ok, got, want)
			}
		}
	}
}

// FuzzAccessLineCached is FuzzAccessLine's comparison through one
// secondCache kept across the inputs, with times within a few seconds of
// each other so that the cache is hit as well as missed.
func FuzzAccessLineCached(f *testing.F) {
	var caches [2]secondCache
	base := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC).Unix()
	f.Add(int64(0), int64(0), uint8(0), false)
	f.Add(int64(1), int64(500_000_000), uint8(1), true)
	f.Add(int64(1), int64(500_100_000), uint8(2), false)
	f.Add(int64(2), int64(1), uint8(3), true)
	f.Fuzz(func(t *testing.T, sec, nsec int64, zone uint8, json bool) {
		at := time.Unix(base+sec%4, nsec%1_000_000_000)
		switch zone % 4 {
		case 0:
			at = at.UTC()
		case 1:
			at = at.In(time.FixedZone("x", 7200))
		case 2:
			at = at.Local()
		}
		format, c := "text", &caches[0]
		if json {
			format, c = "json", &caches[1]
		}
		l := accessLine{at: at, level: "INFO", requestID: "r", method: "GET", route: "/x", status: 200, latency: time.Duration(nsec)}
		got, ok := appendAccessLine(nil, format, &l, c)
		if want := slogLine(format, &l); !ok || !bytes.Equal(got, want) {
			t.Fatalf("%s line\n got %q\nwant %q", format, got, want)
		}
	})
}

// The access line's level check follows a Leveler that changes (a
// LevelVar): the fast path reads it for every line, as slog's Enabled
// does, rather than once.
func TestAccessLineFollowsALevelVar(t *testing.T) {
	var out bytes.Buffer
	sink := NewLogSink(&out, time.Hour)
	var lv slog.LevelVar
	log, err := NewLogger("text", &lv, sink)
	if err != nil {
		t.Fatal(err)
	}
	h := Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), HTTPOptions{AccessLog: log, Quiet: []string{"/healthz"}})
	if h.(*handler).fast == nil {
		t.Fatal("NewLogger's logger does not take the fast path")
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", h)
	mux.Handle("/x", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	count := func() int {
		if err := sink.Flush(); err != nil {
			t.Fatal(err)
		}
		return bytes.Count(out.Bytes(), []byte("msg=request"))
	}
	get("/x")
	get("/healthz") // DEBUG: not at INFO
	if n := count(); n != 1 {
		t.Fatalf("at INFO: %d lines, want 1:\n%s", n, out.Bytes())
	}
	lv.Set(slog.LevelWarn)
	get("/x")
	if n := count(); n != 1 {
		t.Fatalf("at WARN: %d lines, want still 1:\n%s", n, out.Bytes())
	}
	lv.Set(slog.LevelDebug)
	get("/healthz")
	if n := count(); n != 2 || !bytes.Contains(out.Bytes(), []byte("level=DEBUG msg=request")) {
		t.Fatalf("at DEBUG: %d lines, want 2 with a DEBUG one:\n%s", n, out.Bytes())
	}
	sink.Close()
}
