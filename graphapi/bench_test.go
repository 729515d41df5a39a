package graphapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/auth"
	"github.com/presenced/presenced/auth/throttle"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/presence"
)

// The benchmarks here measure what graphapi adds to a read: one
// getPresencesByUserId of 650 ids and one GET /users/{id}/presence, every
// user cached in memory ("warm"), with real tokens (auth's issuer and
// validator), a real core over the embedded engine (memory storage) and a
// directory of a few thousand generated users.
//
//	go test -run '^$' -bench . -count 5 ./graphapi/
//	go test -run '^$' -bench 'GetPresencesByUserID/handler' -cpuprofile cpu.out ./graphapi/
//
// BenchmarkGetPresencesByUserID/http is end to end through a loopback
// listener with one client (the client's own JSON and HTTP work share the
// machine); it reports p50/p99 latency besides ns/op. /handler calls
// API.ServeHTTP directly: the server-side cost alone.

const benchUsers = 5000

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func benchUserID(i int) string { return fmt.Sprintf("%08x-be0c-4000-8000-%012x", i, i) }

// fixture is an API over a warm core, and a listener serving it.
type fixture struct {
	api *API
	// throttled is api with throttling on: a budget per application (so
	// large that it never refuses, so that every request does the work)
	// and the in-flight guard.
	throttled *API
	url       string
	token     string // the demo daemon's app token (Presence.ReadWrite.All)
	owner     string // a delegated token of benchUserID(0) (Presence.Read.All)
	client    *http.Client
}

var (
	fixtureOnce sync.Once
	fixtureVal  *fixture
	fixtureErr  error
)

// benchFixture builds the fixture once per test binary: the demo directory
// plus benchUsers generated users of the demo tenant, each with two sessions
// (Available, and Busy/InACall, which wins) and every tenth with a status
// message that needs escaping; every user is read once so all are cached.
func benchFixture(tb testing.TB) *fixture {
	tb.Helper()
	fixtureOnce.Do(func() { fixtureVal, fixtureErr = newFixture() })
	if fixtureErr != nil {
		tb.Fatal(fixtureErr)
	}
	return fixtureVal
}

func newFixture() (*fixture, error) {
	ctx := context.Background()
	tenants, users, apps := directory.DemoData()
	for i := range benchUsers {
		users = append(users, directory.UserEntry{ID: benchUserID(i), TenantID: directory.DemoTenantID,
			UserPrincipalName: fmt.Sprintf("user%d@contoso.dev", i), DisplayName: fmt.Sprintf("User %d", i)})
	}
	dir, err := directory.New(tenants, users, apps)
	if err != nil {
		return nil, err
	}
	// The engine lives as long as the test binary (the fixture is shared).
	eng, err := natsstore.Open(ctx, natsstore.Options{Memory: true, Logger: quiet})
	if err != nil {
		return nil, err
	}
	kv, err := eng.Bucket(ctx, "presence")
	if err != nil {
		return nil, err
	}
	clk := clock.Real{}
	c := core.New(core.Options{KV: kv, Clock: clk})

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < benchUsers; i += 8 {
				u := core.UserRef{TenantID: directory.DemoTenantID, UserID: benchUserID(i)}
				cmds := []presence.Command{
					presence.SetPresence{SessionID: directory.DemoDaemonClientID + ":a", Pair: presence.Pair{Availability: "Available", Activity: "Available"}, Expiration: 4 * time.Hour},
					presence.SetPresence{SessionID: directory.DemoDaemonClientID + ":b", Pair: presence.Pair{Availability: "Busy", Activity: "InACall"}, Expiration: 4 * time.Hour},
				}
				if i%10 == 0 {
					cmds = append(cmds, presence.SetStatus{Content: fmt.Sprintf("Back at <3> & \"soon\" — café %d\n", i), ContentType: "text"})
				}
				for _, cmd := range cmds {
					if _, _, err := c.Do(ctx, u, cmd); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	base := "http://" + ln.Addr().String()
	iss, err := auth.NewIssuer(auth.IssuerOptions{Directory: dir, Clock: clk, BaseURL: base})
	if err != nil {
		return nil, err
	}
	val := auth.NewValidator(auth.ValidatorOptions{Issuer: iss, Directory: dir, Clock: clk, BaseURL: base})
	api := New(Options{BaseURL: base, Core: c, Directory: dir, Auth: val, Clock: clk, Logger: quiet})
	srv := httptest.NewUnstartedServer(api)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start() // lives as long as the test binary, like the engine
	tok, err := iss.AppToken(directory.DemoDaemonClientID)
	if err != nil {
		return nil, err
	}
	owner, err := iss.UserToken(directory.DemoClientID, benchUserID(0), nil)
	if err != nil {
		return nil, err
	}
	throttled := New(Options{BaseURL: base, Core: c, Directory: dir, Auth: val, Clock: clk, Logger: quiet,
		Budget: throttle.NewBudget(throttle.BudgetOptions{Requests: 1 << 30, Clock: clk}), MaxInFlight: DefaultMaxInFlight})
	f := &fixture{api: api, throttled: throttled, url: base, token: tok, owner: owner,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	// Warm: read every user once through the API.
	for lo := 0; lo < benchUsers; lo += MaxIDs {
		ids := make([]string, 0, MaxIDs)
		for i := lo; i < min(lo+MaxIDs, benchUsers); i++ {
			ids = append(ids, benchUserID(i))
		}
		if _, err := f.post(idsBody(ids)); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// idsBody is a getPresencesByUserId request body.
func idsBody(ids []string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"ids":[`)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + id + `"`)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// randomIDs is n ids of generated users drawn with replacement (so a few
// repeat, as in the scale benchmark).
func randomIDs(seed uint64, n int) []string {
	rng := rand.New(rand.NewPCG(seed, 650))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = benchUserID(rng.IntN(benchUsers))
	}
	return ids
}

func (f *fixture) request(method, path, token string, body []byte) *http.Request {
	r, _ := http.NewRequest(method, f.url+path, bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

func (f *fixture) post(body []byte) ([]byte, error) {
	resp, err := f.client.Do(f.request("POST", "/v1.0/communications/getPresencesByUserId", f.token, body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %.300s", resp.Status, out)
	}
	return out, nil
}

// discard is a ResponseWriter that keeps only the status and the length:
// the handler benchmarks measure the handler, not a recorder.
type discard struct {
	h      http.Header
	status int
	n      int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(s int)           { d.status = s }
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// serve sends one request made from tmpl, with body if not nil, to h, and
// fails b unless h answered 200.
func (d *discard) serve(b *testing.B, h http.Handler, tmpl *http.Request, body []byte) {
	r := *tmpl // a fresh request costs more than the handler
	if body != nil {
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	clear(d.h)
	d.status, d.n = 0, 0
	h.ServeHTTP(d, &r)
	if d.status != 200 {
		b.Fatalf("status %d", d.status)
	}
}

func BenchmarkGetPresencesByUserID(b *testing.B) {
	f := benchFixture(b)
	body := idsBody(randomIDs(1, MaxIDs))
	b.Run("http", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			t := time.Now()
			if _, err := f.post(body); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	})
	b.Run("handler", func(b *testing.B) {
		tmpl := httptest.NewRequest("POST", "/v1.0/communications/getPresencesByUserId", nil)
		tmpl.Header.Set("Authorization", "Bearer "+f.token)
		tmpl.Header.Set("Content-Type", "application/json")
		w := &discard{h: http.Header{}}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			w.serve(b, f.api, tmpl, body)
		}
	})
}

func BenchmarkGetPresence(b *testing.B) {
	f := benchFixture(b)
	path := "/v1.0/users/" + benchUserID(11) + "/presence" // two sessions, no status message
	b.Run("handler", func(b *testing.B) {
		tmpl := httptest.NewRequest("GET", path, nil)
		tmpl.Header.Set("Authorization", "Bearer "+f.token)
		w := &discard{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			w.serve(b, f.api, tmpl, nil)
		}
	})
	b.Run("http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := f.client.Do(f.request("GET", path, f.token, nil))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatal(resp.Status)
			}
		}
	})
}

// BenchmarkSetPresence is one setPresence through API.ServeHTTP, the
// engine's acknowledgement included (memory storage), alternating two
// pairs over 1,000 users so that every write is a change.
func BenchmarkSetPresence(b *testing.B) {
	f := benchFixture(b)
	bodies := [2][]byte{
		[]byte(`{"sessionId":"` + directory.DemoDaemonClientID + `:bench","availability":"Available","activity":"Available","expirationDuration":"PT1H"}`),
		[]byte(`{"sessionId":"` + directory.DemoDaemonClientID + `:bench","availability":"Busy","activity":"InACall","expirationDuration":"PT1H"}`),
	}
	tmpls := make([]*http.Request, 1000)
	for i := range tmpls {
		tmpls[i] = httptest.NewRequest("POST", "/v1.0/users/"+benchUserID(i)+"/presence/setPresence", nil)
		tmpls[i].Header.Set("Authorization", "Bearer "+f.token)
		tmpls[i].Header.Set("Content-Type", "application/json")
	}
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w.serve(b, f.api, tmpls[i%len(tmpls)], bodies[(i/len(tmpls))%2])
		i++
	}
}

// BenchmarkThrottleOverhead is what throttling adds to a GET presence
// (BenchmarkGetPresence/handler): the same request through an API without
// throttling and one with it on (a budget per application that never
// refuses, and the in-flight guard), alternating in rounds so that the
// shared machine's load weighs on both alike.
//
//	go test -run '^$' -bench ThrottleOverhead -count 5 ./graphapi/
func BenchmarkThrottleOverhead(b *testing.B) {
	f := benchFixture(b)
	tmpl := httptest.NewRequest("GET", "/v1.0/users/"+benchUserID(11)+"/presence", nil)
	tmpl.Header.Set("Authorization", "Bearer "+f.token)
	w := &discard{h: http.Header{}}
	// Short rounds, many of them: the shared machine's load changes
	// within a second, and both sides must see the same load.
	const n = 200
	rounds := max(b.N/n, 10)
	var off, on time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	run := func(api *API) time.Duration {
		t := time.Now()
		for range n {
			w.serve(b, api, tmpl, nil)
		}
		return time.Since(t)
	}
	for i := range rounds {
		// Each goes first in half the rounds: the first of a pair ran
		// measurably faster (a warmer cache), whichever it was.
		if i%2 == 0 {
			off += run(f.api)
			on += run(f.throttled)
		} else {
			on += run(f.throttled)
			off += run(f.api)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(off.Nanoseconds())/float64(n*rounds), "off-ns/req")
	b.ReportMetric(float64(on.Nanoseconds())/float64(n*rounds), "on-ns/req")
	b.ReportMetric(100*(float64(on)-float64(off))/float64(off), "overhead-pct")
}

// BenchmarkBatch compares one $batch of 20 GETs with the same 20 GETs sent
// one by one: over a loopback connection (http: round trips included) and
// through API.ServeHTTP (handler: the server's work alone). The two
// alternate in rounds; batch-vs-single is the batch's time as a
// percentage of the 20 single requests'.
//
//	go test -run '^$' -bench Batch -count 5 ./graphapi/
func BenchmarkBatch(b *testing.B) {
	f := benchFixture(b)
	var reqs []string
	paths := make([]string, MaxBatch)
	for i := range paths {
		paths[i] = "/users/" + benchUserID(100+i) + "/presence"
		reqs = append(reqs, fmt.Sprintf(`{"id":"%d","method":"GET","url":%q}`, i, paths[i]))
	}
	batch := []byte(`{"requests":[` + strings.Join(reqs, ",") + `]}`)
	for _, via := range []string{"http", "handler"} {
		b.Run(via, func(b *testing.B) {
			w := &discard{h: http.Header{}}
			single := func() {
				for _, p := range paths {
					if via == "handler" {
						tmpl := httptest.NewRequest("GET", "/v1.0"+p, nil)
						tmpl.Header.Set("Authorization", "Bearer "+f.token)
						w.serve(b, f.api, tmpl, nil)
						continue
					}
					resp, err := f.client.Do(f.request("GET", "/v1.0"+p, f.token, nil))
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
			batched := func() {
				if via == "handler" {
					tmpl := httptest.NewRequest("POST", "/v1.0/$batch", nil)
					tmpl.Header.Set("Authorization", "Bearer "+f.token)
					tmpl.Header.Set("Content-Type", "application/json")
					w.serve(b, f.api, tmpl, batch)
					return
				}
				resp, err := f.client.Do(f.request("POST", "/v1.0/$batch", f.token, batch))
				if err != nil {
					b.Fatal(err)
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || bytes.Count(out, []byte(`"status":200`)) != MaxBatch {
					b.Fatalf("%s: %.300s", resp.Status, out)
				}
			}
			const rounds = 10
			n := max(b.N/rounds, 1)
			var tSingle, tBatch time.Duration
			b.ResetTimer()
			for range rounds {
				t := time.Now()
				for range n {
					single()
				}
				tSingle += time.Since(t)
				t = time.Now()
				for range n {
					batched()
				}
				tBatch += time.Since(t)
			}
			b.StopTimer()
			b.ReportMetric(float64(tSingle.Nanoseconds())/float64(n*rounds), "20-single-ns")
			b.ReportMetric(float64(tBatch.Nanoseconds())/float64(n*rounds), "batch-of-20-ns")
			b.ReportMetric(100*float64(tBatch)/float64(tSingle), "batch-vs-single-pct")
		})
	}
}
