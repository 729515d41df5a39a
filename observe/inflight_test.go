package observe

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// The in-flight gauge counts the requests being served, whatever shards
// they were counted in, and comes back to zero when they are done.
func TestInFlightGauge(t *testing.T) {
	m := NewMetrics()
	const n = 40
	var entered sync.WaitGroup
	entered.Add(n)
	release := make(chan struct{})
	h := Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		entered.Done()
		<-release
	}), HTTPOptions{Metrics: m})
	var done sync.WaitGroup
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		}()
	}
	entered.Wait()
	if got := gaugeValue(t, m, "presenced_http_requests_in_flight"); got != n {
		t.Errorf("in flight while %d requests wait: %v", n, got)
	}
	close(release)
	done.Wait()
	if got := gaugeValue(t, m, "presenced_http_requests_in_flight"); got != 0 {
		t.Errorf("in flight after every request: %v", got)
	}
}

func gaugeValue(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// The request-id's hex digits spread requests over every shard.
func TestHexDigitShards(t *testing.T) {
	seen := map[uint8]bool{}
	for i, c := range []byte("0123456789abcdef") {
		if d := hexDigit(c); d != uint8(i) {
			t.Errorf("hexDigit(%q) = %d, want %d", c, d, i)
		}
		seen[hexDigit(c)%inFlightShards] = true
	}
	if len(seen) != inFlightShards {
		t.Errorf("%d shards of %d reached", len(seen), inFlightShards)
	}
}
