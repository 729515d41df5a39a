package observe

import (
	"bytes"
	"context"
	"log/slog"
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
		got, ok := appendAccessLine(nil, format, &l)
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
		got, ok := appendAccessLine(nil, format, &l)
		if !ok || !bytes.Equal(got, slogLine(format, &l)) {
			t.Errorf("%s: %v %q", format, ok, got)
		}
	}
}
