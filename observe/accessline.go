package observe

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Why by hand: slog's handlers format a record through a generic path
// (a Record with its attributes, a value switch per attribute, escaping
// checks), which was most of the access log's cost — ~2.5 µs of CPU a
// request on the 2-core box, against ~1 µs for the rest of the
// middleware (BenchmarkWrap). The access line has fixed fields whose
// values are almost always plain ASCII (GUIDs, route patterns, addresses),
// so it is appended directly, in the exact bytes slog's JSON or text
// handler would write (FuzzAccessLine holds the two equal); a value that
// would need quoting or escaping sends the line through slog instead.

// accessLine is one request's access line.
type accessLine struct {
	at                                 time.Time
	level                              string // "INFO" or "DEBUG"
	requestID, clientRequestID, method string
	route, tenant, app, remote         string
	status                             int
	latency                            time.Duration
	bytes                              int64
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendAccessLine appends l as format ("json" or "text") writes it, its
// time's second formatted through sc, or reports false when a value needs
// quoting (the caller uses slog then).
func appendAccessLine(b []byte, format string, l *accessLine, sc *secondCache) ([]byte, bool) {
	json := format == "json"
	ok := true
	str := func(key, v string) {
		if !ok {
			return
		}
		b = appendKey(b, key, json)
		switch {
		case v == "":
			b = append(b, `""`...)
		case !plain(v):
			ok = false
		case json:
			b = append(b, '"')
			b = append(b, v...)
			b = append(b, '"')
		default:
			b = append(b, v...)
		}
	}
	num := func(key string, v int64) {
		b = appendKey(b, key, json)
		b = strconv.AppendInt(b, v, 10)
	}
	if y := l.at.Year(); y < 0 || y >= 10000 || l.at.IsZero() {
		return b, false // slog writes an error for such a time, or no time
	}
	if json {
		b = append(b, `{"time":"`...)
		b = sc.appendTime(b, l.at, true)
		b = append(b, `","level":"`...)
		b = append(b, l.level...)
		b = append(b, `","msg":"request"`...)
	} else {
		b = append(b, "time="...)
		b = sc.appendTime(b, l.at, false)
		b = append(b, " level="...)
		b = append(b, l.level...)
		b = append(b, " msg=request"...)
	}
	str("request_id", l.requestID)
	str("client_request_id", l.clientRequestID)
	str("method", l.method)
	str("route", l.route)
	num("status", int64(l.status))
	if json {
		num("latency", int64(l.latency))
	} else {
		b = appendKey(b, "latency", false)
		b = append(b, l.latency.String()...)
	}
	str("tenant", l.tenant)
	str("app", l.app)
	num("bytes", l.bytes)
	str("remote", l.remote)
	if json {
		b = append(b, '}')
	}
	return append(b, '\n'), ok
}

func appendKey(b []byte, key string, json bool) []byte {
	if json {
		b = append(b, `,"`...)
		b = append(b, key...)
		return append(b, `":`...)
	}
	b = append(b, ' ')
	b = append(b, key...)
	return append(b, '=')
}

// plain reports whether s is written as is by both handlers: printable
// ASCII without a space, '=', '"' or '\'.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || c == '=' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// secondCache holds the last second's formatted time, for lines written
// in the same second (most of them, at any rate that matters): formatting
// a time costs ~0.1 µs, most of it the calendar's arithmetic and the
// zone's lookup, which are the same for the whole second.
type secondCache struct {
	last atomic.Pointer[formattedSecond]
}

// formattedSecond is one second in one location as RFC 3339 writes it,
// split around where the fraction goes.
type formattedSecond struct {
	unix int64
	loc  *time.Location // a Location does not change once made
	head string         // "2006-01-02T15:04:05"
	zone string         // "Z" or "-07:00"
}

// appendTime appends t as slog's handlers do: RFC 3339 with exactly three
// digits of milliseconds (the text handler's, log/slog's
// appendRFC3339Millis) or, for nanos, with the nanoseconds and their
// trailing zeros dropped (time.RFC3339Nano, the JSON handler's). t's year
// is 0 to 9999 (four digits).
func (c *secondCache) appendTime(b []byte, t time.Time, nanos bool) []byte {
	unix, loc := t.Unix(), t.Location()
	f := c.last.Load()
	if f == nil || f.unix != unix || f.loc != loc {
		s := t.Truncate(time.Second).AppendFormat(make([]byte, 0, 32), time.RFC3339)
		const headLen = len("2006-01-02T15:04:05")
		f = &formattedSecond{unix: unix, loc: loc, head: string(s[:headLen]), zone: string(s[headLen:])}
		c.last.Store(f)
	}
	b = append(b, f.head...)
	ns := t.Nanosecond()
	if nanos {
		if ns != 0 {
			b = append(b, '.')
			b = appendDigits(b, ns, 9)
			for b[len(b)-1] == '0' { // ns ≠ 0: a digit other than 0 stays
				b = b[:len(b)-1]
			}
		}
	} else {
		b = append(b, '.')
		b = appendDigits(b, ns/1e6, 3)
	}
	return append(b, f.zone...)
}

// appendDigits appends v (≥ 0) in exactly n digits, zero-padded.
func appendDigits(b []byte, v, n int) []byte {
	var d [9]byte
	for i := n - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:n]...)
}
