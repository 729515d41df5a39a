package sdktest

import (
	"net/http"
	"sync"
	"testing"
	"time"

	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/presenced/presenced"
)

// wire records the status of every response that crossed the wire,
// beneath the SDK's middleware (so each retry is seen).
type wire struct {
	mu       sync.Mutex
	statuses []int
	retry    []string
}

func (w *wire) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		w.mu.Lock()
		w.statuses = append(w.statuses, res.StatusCode)
		w.retry = append(w.retry, res.Header.Get("Retry-After"))
		w.mu.Unlock()
	}
	return res, err
}

// clientOnWire is client with the SDK's default middleware (retry
// included) over w.
func (e *env) clientOnWire(t *testing.T, w *wire) *msgraphsdk.GraphServiceClient {
	t.Helper()
	opts := msgraphsdk.GetDefaultClientOptions()
	mws := msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)
	hc := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(w, mws...)}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(e.appAuth(), nil, nil, hc)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(e.srv.URL() + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter)
}

// An application over its budget gets 429 with Retry-After, and the SDK's
// retry handler waits that long and succeeds: the application never sees
// the 429. (A budget of 2 per 2 s on the wall clock: one request a second.)
func TestSDKRetriesAfterThrottling(t *testing.T) {
	e := startConfigured(t, func(c *presenced.Config) { c.ThrottleRequests, c.ThrottleWindow = 2, 2*time.Second })
	w := &wire{}
	client := e.clientOnWire(t, w)
	adele := e.user("adele")
	for i := range 3 {
		p, err := client.Users().ByUserId(adele).Presence().Get(ctx(t), nil)
		if err != nil {
			t.Fatalf("read %d: %v", i+1, err)
		}
		if got := deref(p.GetAvailability()); got != "Offline" {
			t.Errorf("read %d: %s", i+1, got)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	throttled := 0
	for i, st := range w.statuses {
		if st == http.StatusTooManyRequests {
			throttled++
			if w.retry[i] != "1" {
				t.Errorf("429 with Retry-After %q, want 1", w.retry[i])
			}
		}
	}
	if throttled == 0 || w.statuses[len(w.statuses)-1] != http.StatusOK {
		t.Errorf("statuses on the wire %v: want a 429 that the SDK retried to a 200", w.statuses)
	}
}
