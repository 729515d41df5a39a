package presenced_test

import (
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/observe"
)

// BenchmarkHTTPObserved measures what metrics and the access log cost a
// GET: presenced with both off beside presenced with both on (metrics on
// the main listener, one JSON access line per request into a file,
// buffered as the command does, the buffer written out at the end of each
// of its rounds), in alternating rounds (pairedCost); off-vs-off runs two
// servers with both off the same way, the noise floor.
//
//	go test -run '^$' -bench HTTPObserved -benchtime 400000x -count 3 .
func BenchmarkHTTPObserved(b *testing.B) {
	for _, on := range []bool{true, false} {
		b.Run(costName(on), func(b *testing.B) { benchObserved(b, on) })
	}
}

func benchObserved(b *testing.B, observed bool) {
	d, users := notifyBenchDirectory(b, 1000)
	logFile, err := os.Create(filepath.Join(b.TempDir(), "access.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logFile.Close() })
	var sink *observe.LogSink
	boot := func(on bool) *env {
		e := &env{t: b, fake: clock.NewFake(t0), dir: b.TempDir(), addr: "127.0.0.1:0", d: d, cfg: func(c *presenced.Config) {
			c.MetricsAddr, c.AccessLog = presenced.MetricsOff, false
			if on {
				c.MetricsAddr, c.AccessLog = "", true
			}
		}}
		if on {
			// As the command makes it: JSON into a buffered sink.
			sink = observe.NewLogSink(logFile, 100*time.Millisecond)
			b.Cleanup(func() { sink.Close() })
			log, err := observe.NewLogger("json", slog.LevelInfo, sink)
			if err != nil {
				b.Fatal(err)
			}
			e.log = log
		}
		e.boot()
		return e
	}
	off, on := boot(false), boot(observed)
	tokOff, tokOn := off.appToken(), on.appToken()
	get := func(base, tok string) func(i int) *http.Request {
		return func(i int) *http.Request {
			r, _ := http.NewRequest("GET", base+"/v1.0/users/"+users[i%len(users)]+"/presence", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			return r
		}
	}
	sides := costSides{bare: get(bareServer(b, off.get(tokOff, users[0]).raw), tokOff),
		off: get(off.srv.URL(), tokOff), on: get(on.srv.URL(), tokOn), offH: off.srv.Handler(), onH: on.srv.Handler()}
	if sink != nil {
		sides.settleOn = func() { _ = sink.Flush() }
	}
	pairedCost(b, sides)
}
