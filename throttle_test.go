package presenced_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
)

// Graph throttles each application in each tenant at 1,500 presence
// requests per 30 s, and presenced does too, by default and in dev mode:
// one application driven past its budget gets 429 TooManyRequests with
// Retry-After in seconds, while another application, and the same
// application in another tenant, go on; after Retry-After it may go on.
func TestThrottleIsGraphsBudgetPerApplicationPerTenant(t *testing.T) {
	e := startWithConfig(t, func(c *presenced.Config) { c.ThrottleRequests = 0 }) // the default
	app := e.appToken()
	adele := e.user("adele")

	// The whole budget at once: 1,500 requests, from 8 clients.
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 1500; i += 8 {
				st := e.call("GET", "/v1.0/users/"+adele+"/presence", app, nil).status
				mu.Lock()
				statuses[st]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if statuses[200] != 1500 {
		t.Fatalf("the first 1,500 requests: %v, want all 200", statuses)
	}

	// Request 1,501 within the same instant: Graph's 429.
	r := e.call("GET", "/v1.0/users/"+adele+"/presence", app, nil)
	if r.status != http.StatusTooManyRequests || r.errCode() != "TooManyRequests" {
		t.Fatalf("request 1,501: %d %s", r.status, r.raw)
	}
	if got := r.header.Get("Retry-After"); got != "1" { // one request every 20 ms, in whole seconds
		t.Errorf("Retry-After %q, want 1", got)
	}
	if !strings.Contains(r.errMessage(), "1500 presence requests per 30s") {
		t.Errorf("message does not name the budget: %s", r.errMessage())
	}
	// Writes count too, and a throttled write writes nothing.
	w := e.call("POST", "/v1.0/users/"+adele+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
	if w.status != http.StatusTooManyRequests {
		t.Fatalf("a write over the budget: %d %s", w.status, w.raw)
	}

	// Another application of the tenant, and another tenant's
	// application, are not affected.
	other := e.userToken("adele", "")
	if r := e.call("GET", "/v1.0/me/presence", other, nil); r.status != 200 {
		t.Errorf("another application: %d %s", r.status, r.raw)
	}
	fabrikam := e.tokenAt(directory.DemoFabrikamTenantID, directory.DemoFabrikamDaemonClientID, directory.DemoFabrikamDaemonSecret)
	if r := e.call("GET", "/v1.0/users/"+directory.DemoFabrikamUserNestor+"/presence", fabrikam, nil); r.status != 200 {
		t.Errorf("another tenant's application: %d %s", r.status, r.raw)
	}

	// After Retry-After the application goes on, and nothing was written.
	secs, _ := strconv.Atoi(r.header.Get("Retry-After"))
	e.fake.Add(time.Duration(secs) * time.Second)
	if got := pair(e.get(app, adele)); got != "Offline/Offline" {
		t.Errorf("after Retry-After: %s (the throttled setPresence was written?)", got)
	}
}

// The budget is configurable: a small one is spent sooner, and 0 on the
// command line (negative in Config) turns throttling off.
func TestThrottleConfigurable(t *testing.T) {
	tests := []struct {
		name     string
		requests int
		window   time.Duration
		allowed  int // of 30
		retry    string
	}{
		{"a budget of 10 per minute", 10, time.Minute, 10, "6"},
		{"off", -1, 0, 30, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startWithConfig(t, func(c *presenced.Config) { c.ThrottleRequests, c.ThrottleWindow = tt.requests, tt.window })
			app := e.appToken()
			allowed, retry := 0, ""
			for range 30 {
				r := e.call("POST", "/v1.0/communications/getPresencesByUserId", app, map[string]any{"ids": []string{e.user("adele")}})
				switch r.status {
				case 200:
					allowed++
				case http.StatusTooManyRequests:
					retry = r.header.Get("Retry-After")
				default:
					t.Fatalf("%d %s", r.status, r.raw)
				}
			}
			if allowed != tt.allowed || retry != tt.retry {
				t.Errorf("allowed %d with Retry-After %q, want %d and %q", allowed, retry, tt.allowed, tt.retry)
			}
		})
	}
}

// A node that serves as many requests as it takes at once answers the
// next at once with 503 serviceNotAvailable and Retry-After, instead of
// queueing it; when a request finishes, the next is served again.
func TestOverloadAnswers503(t *testing.T) {
	e := startWithConfig(t, func(c *presenced.Config) { c.MaxInFlight = 1 })
	app := e.appToken()
	adele := e.user("adele")

	// A live stream stays open for hours: it is not counted.
	_, closeStream := e.openStream(t, app, "ids="+adele, "")
	defer closeStream()
	if r := e.call("GET", "/v1.0/users/"+adele+"/presence", app, nil); r.status != 200 {
		t.Fatalf("with a stream open: %d %s", r.status, r.raw)
	}

	// One request in flight: its body has not all arrived.
	send := func() net.Conn {
		c := e.dial(t)
		fmt.Fprintf(c, "POST /v1.0/users/%s/presence/setPresence HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{", adele, app)
		return c
	}
	c := send()
	deadline := time.Now().Add(bound)
	var r resp
	for time.Now().Before(deadline) { // the request above reaches the server in its own time
		if r = e.call("GET", "/v1.0/users/"+adele+"/presence", app, nil); r.status == http.StatusServiceUnavailable {
			break
		}
		// The request above may have come while this probe held the one
		// place, and been refused itself: then it is sent again.
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if res, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			res.Body.Close()
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("the request left in flight was answered %d", res.StatusCode)
			}
			c.Close()
			c = send()
		}
	}
	c.SetReadDeadline(time.Time{})
	if r.status != http.StatusServiceUnavailable || r.errCode() != "serviceNotAvailable" || r.header.Get("Retry-After") != "1" {
		t.Fatalf("a request over the limit: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.raw)
	}

	// The request in flight ends (its body completes as a bad one)…
	fmt.Fprint(c, strings.Repeat(" ", 199))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// …and the node serves again.
	if r := e.call("GET", "/v1.0/users/"+adele+"/presence", app, nil); r.status != 200 {
		t.Errorf("after the request in flight ended: %d %s", r.status, r.raw)
	}
}
