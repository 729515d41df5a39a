package presenced_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/natsstore"
)

// BenchmarkScaleFillEquivalence checks BenchmarkScaleFill's data against
// an HTTP fill's at a small size (default 10,000 users): it fills one data
// directory over HTTP as BenchmarkScale/process does (a server on the
// directory file, 2 × n setPresence from 64 clients) and another directly
// (scaleDirectFill), starts a server on each in turn — the first with
// --directory as it was filled, the second without, as the direct fill's
// data is served — and compares, for every user, GET …/presence and the
// user's entry in getPresencesByUserId (650 ids a request), the instants
// and sequence numbers aside, and the engine's message count per stream.
// It fails on any difference.
//
//	PRESENCED_SCALE_USERS=10000 go test -run '^$' -bench BenchmarkScaleFillEquivalence -benchtime 1x -timeout 0 .
func BenchmarkScaleFillEquivalence(b *testing.B) {
	if f := os.Getenv(scaleEnv); f == "" {
		b.Skip(scaleEnv + "=N (10000 is enough) runs it")
	}
	n := scaleUsers(b)
	work := b.TempDir()
	bin := filepath.Join(work, "presenced")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/presenced").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	dirFile := filepath.Join(work, "directory.json")
	if err := writeScaleDirectory(dirFile, n); err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}

	// Over HTTP, as BenchmarkScale/process fills.
	httpData := filepath.Join(work, "http")
	srv := startScaleChild(b, bin, dirFile, httpData, "127.0.0.1:0")
	tok := scaleToken(b, hc, srv.url)
	app := directory.DemoDaemonClientID
	t := time.Now()
	for _, sess := range []struct{ id, avail, act string }{{app + ":a", "Available", "Available"}, {app + ":b", "Busy", "InACall"}} {
		body := `{"sessionId":"` + sess.id + `","availability":"` + sess.avail + `","activity":"` + sess.act + `","expirationDuration":"PT4H"}`
		scaleDrive(b, hc, "setPresence "+sess.id, 64, n, func(i int) *http.Request {
			r, _ := http.NewRequest("POST", srv.url+"/v1.0/users/"+scaleUserID(i)+"/presence/setPresence", strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("Content-Type", "application/json")
			return r
		}, nil)
	}
	scaleLog("HTTP fill: %d users × 2 sessions in %v", n, time.Since(t).Round(time.Millisecond))
	srv.stop(b)
	hc.CloseIdleConnections()

	directData := filepath.Join(work, "direct")
	scaleDirectFill(b, directData, n)

	viaHTTP := scaleAnswers(b, hc, bin, dirFile, httpData, n)
	direct := scaleAnswers(b, hc, bin, "", directData, n)
	diffs := 0
	for i := range n {
		for k := range 2 {
			if viaHTTP[k][i] != direct[k][i] {
				if diffs < 5 {
					b.Errorf("user %d, %s: over HTTP %s, direct %s", i, []string{"GET presence", "getPresencesByUserId"}[k], viaHTTP[k][i], direct[k][i])
				}
				diffs++
			}
		}
	}
	if viaHTTP[0][0] == "" || !strings.Contains(viaHTTP[0][0], `"availability":"Busy"`) {
		b.Fatalf("user 0 over HTTP: %s, want Busy", viaHTTP[0][0])
	}
	scaleLog("answers: %d users × (GET presence, getPresencesByUserId) compared, %d differ; user 0: %s", n, diffs, direct[0][0])

	sh, sd := streamCounts(b, filepath.Join(httpData, "engine")), streamCounts(b, filepath.Join(directData, "engine"))
	for _, name := range sortedKeys(sh, sd) {
		same := "same"
		if sh[name] != sd[name] {
			same = "DIFFERENT"
		}
		scaleLog("stream %-28s over HTTP %9d messages, direct %9d: %s", name, sh[name], sd[name], same)
	}
	for _, name := range []string{"KV_presence"} {
		if sh[name] != sd[name] || sh[name] == 0 {
			b.Errorf("stream %s: %d messages over HTTP, %d direct", name, sh[name], sd[name])
		}
	}
}

// volatile are the parts of an answer that differ between two fills of
// the same commands: the server's address, instants and sequence
// numbers (nanoseconds).
var volatile = regexp.MustCompile(`http://127\.0\.0\.1:\d+|"\d{4}-\d\d-\d\dT[^"]*"|"sequenceNumber":"[^"]*"`)

// scaleAnswers starts a server on data and returns, per user, its GET
// presence answer and its entry in getPresencesByUserId, the volatile
// parts replaced.
func scaleAnswers(b *testing.B, hc *http.Client, bin, dirFile, data string, n int) [2][]string {
	srv := startScaleChild(b, bin, dirFile, data, "127.0.0.1:0")
	defer func() { srv.stop(b); hc.CloseIdleConnections() }()
	tok := scaleToken(b, hc, srv.url)
	var out [2][]string
	out[0], out[1] = make([]string, n), make([]string, n)
	var mu sync.Mutex
	scaleDrive(b, hc, "GET presence", 16, n, func(i int) *http.Request {
		r, _ := http.NewRequest("GET", srv.url+"/v1.0/users/"+scaleUserID(i)+"/presence", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}, func(i int, body []byte) error {
		mu.Lock()
		out[0][i] = volatile.ReplaceAllString(string(body), `"…"`)
		mu.Unlock()
		return nil
	})
	const ids = 650
	entry := regexp.MustCompile(`\{[^{}]*"id":"([0-9a-f-]{36})"[^{}]*(\{[^{}]*\}[^{}]*)*\}`)
	scaleDrive(b, hc, "getPresencesByUserId", 16, (n+ids-1)/ids, func(k int) *http.Request {
		return scaleBatchRequest(srv.url, tok, k, n)
	}, func(k int, body []byte) error {
		mu.Lock()
		defer mu.Unlock()
		got := 0
		for _, m := range entry.FindAllStringSubmatch(string(body), -1) {
			var i int
			if _, err := fmt.Sscanf(m[1][:8], "%x", &i); err != nil || i >= n || scaleUserID(i) != m[1] {
				continue
			}
			out[1][i] = volatile.ReplaceAllString(m[0], `"…"`)
			got++
		}
		if want := min(n, (k+1)*ids) - k*ids; got != want {
			return fmt.Errorf("%d entries in the answer, want %d: %.300s", got, want, body)
		}
		return nil
	})
	return out
}

// streamCounts opens the engine in dir (no server on it) and returns each
// stream's message count.
func streamCounts(b *testing.B, dir string) map[string]uint64 {
	ctx := context.Background()
	eng, err := natsstore.Open(ctx, natsstore.Options{Dir: dir, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	st, err := eng.Streams(ctx)
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]uint64{}
	for _, s := range st {
		out[s.Name] = s.Msgs
	}
	return out
}

func sortedKeys(ms ...map[string]uint64) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}
