package loadgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/presenced/presenced/loadgen"
)

// counter stands in front of a real presenced and notes, in the order they
// arrive, the presence requests it passes on: "set <path> <sessionId>" or
// "get <path>".
type counter struct {
	mu   sync.Mutex
	seen []string
}

func countingProxy(t *testing.T, target string) (*counter, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{}
	rp := httputil.NewSingleHostReverseProxy(u)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/presence") {
			note := "get " + r.URL.Path
			if r.Method == http.MethodPost {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				var set struct{ SessionID string }
				_ = json.Unmarshal(body, &set)
				note = "set " + r.URL.Path + " " + set.SessionID
			}
			c.mu.Lock()
			c.seen = append(c.seen, note)
			c.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return c, front.URL
}

func (c *counter) notes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.seen...)
}

// The warm-up writes each (user, session) pair once and reads each user
// once, all before the run's first request, and none of it is in a
// figure: the run then sends exactly its bound. Without it the server sees
// the run's requests alone.
func TestRunWarmsUpEveryPairOnce(t *testing.T) {
	srv := startServer(t)
	for _, warm := range []bool{true, false} {
		cnt, front := countingProxy(t, srv.URL())
		cfg := demoConfig(front)
		cfg.SessionsPerUser, cfg.Mix, cfg.Requests, cfg.Concurrency = 3, loadgen.Mix{Set: 1, Get: 1}, 40, 4
		cfg.Baseline, cfg.Rounds, cfg.Warmup = true, 2, warm
		rep, err := loadgen.Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		users, pairs := len(cfg.Users), len(cfg.Users)*cfg.SessionsPerUser
		seen := cnt.notes()
		// First the baseline's sizing GET of the first user, then the
		// warm-up, then the run.
		if len(seen) == 0 || !strings.HasPrefix(seen[0], "get ") {
			t.Fatalf("warm-up %v: the server saw %v first", warm, seen)
		}
		seen = seen[1:]
		if tot, b := rep.Presenced.Total, rep.Baseline.Total; tot.Count != 40 || tot.Errors != 0 || b.Count != 40 || b.Errors != 0 {
			t.Fatalf("warm-up %v: presenced %+v, baseline %+v: want the run's 40 requests each", warm, tot, b)
		}
		if !warm {
			if rep.Warmup != nil || len(seen) != 40 {
				t.Errorf("without a warm-up: %+v, the server saw %d requests after the probe, want the run's 40", rep.Warmup, len(seen))
			}
			continue
		}
		if w := rep.Warmup; w == nil || w.Sets != int64(pairs) || w.Gets != int64(users) || w.Elapsed <= 0 ||
			w.BareRequests != int64(pairs+users) || w.BareElapsed <= 0 {
			t.Fatalf("warm-up report %+v, want %d sets and %d gets, and as many to the baseline", rep.Warmup, pairs, users)
		}
		if len(seen) != pairs+users+40 {
			t.Fatalf("the server saw %d requests after the probe, want %d warm-up and 40 measured", len(seen), pairs+users)
		}
		got := map[string]int{}
		for _, s := range seen[:pairs+users] {
			got[s]++
		}
		for _, u := range cfg.Users {
			p := "/v1.0/users/" + u + "/presence"
			for k := range cfg.SessionsPerUser {
				if n := got["set "+p+"/setPresence "+cfg.ClientID+":s"+string(rune('0'+k))]; n != 1 {
					t.Errorf("the warm-up wrote %s's session s%d %d times, want once", u, k, n)
				}
			}
			if n := got["get "+p]; n != 1 {
				t.Errorf("the warm-up read %s %d times, want once", u, n)
			}
		}
	}
}

// A warm-up request that fails ends the run before any load, saying so.
func TestRunFailsOnAFailedWarmup(t *testing.T) {
	srv := startServer(t)
	cnt, front := countingProxy(t, srv.URL())
	cfg := demoConfig(front)
	cfg.Users = append(cfg.Users, "nobody@contoso.dev")
	cfg.Mix, cfg.Requests, cfg.Warmup = loadgen.Mix{Set: 1}, 1000, true
	rep, err := loadgen.Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "warm-up") || !strings.Contains(err.Error(), "404") ||
		!strings.Contains(err.Error(), "nobody@contoso.dev") || !strings.Contains(err.Error(), "--warmup=false") {
		t.Fatalf("a warm-up with an unknown user: %v", err)
	}
	if rep.Presenced.Total.Count != 0 || rep.Warmup != nil {
		t.Errorf("a failed warm-up reported %+v, warm-up %+v", rep.Presenced.Total, rep.Warmup)
	}
	if n := len(cnt.notes()); n > len(cfg.Users)*4 {
		t.Errorf("the server saw %d requests: more than the warm-up's %d", n, len(cfg.Users)*4)
	}
}
