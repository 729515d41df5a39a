package observe_test

import (
	"net/http"
	"testing"

	"github.com/presenced/presenced/observe"
)

// BenchmarkWrapParallel is the middleware with metrics on, serving from
// every core at once as a server does: what BenchmarkWrap (one thread)
// cannot show, the cost of state the cores share (the in-flight gauge, the
// request-id's generator). ns/op is wall time per request over all cores.
//
//	go test -run '^$' -bench WrapParallel -benchmem -count 6 ./observe/
func BenchmarkWrapParallel(b *testing.B) {
	body := []byte(`{"availability":"Available"}`)
	h := observe.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) }),
		observe.HTTPOptions{Metrics: observe.NewMetrics()})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r, _ := http.NewRequest("GET", "http://x/v1.0/users/b0000000-0000-4000-8000-000000000001/presence", nil)
		w := &nopWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}
	})
}
