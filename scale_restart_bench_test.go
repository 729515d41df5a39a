package presenced_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
)

// The restarts of BenchmarkScale/process (issue #16 point 2): from the
// cache saved at a graceful stop, after a crash with an older saved cache
// (kill -9 after writes made since it was saved: loaded, then caught up),
// and after a crash without one (today's warm-up). For each: exec →
// listening, the process's CPU time by then, and getPresencesByUserId
// with 650 ids from one client through the first second after listening.

// startFigures are one restart's.
type startFigures struct {
	what       string
	listen     time.Duration // exec → listening
	cpuListen  time.Duration // the process's CPU time when it listened
	cpuFirst   time.Duration // … one second later
	first      latStats      // getPresencesByUserId, 650 ids, 1 client, first second after listening
	firstCount int
	steps      []string
}

func (f startFigures) String() string {
	return fmt.Sprintf("%s: listening %.2f s after exec (CPU %.2f s; %.2f s one second later); first second, 650 ids, 1 client: %d requests, %s",
		f.what, f.listen.Seconds(), f.cpuListen.Seconds(), f.cpuFirst.Seconds(), f.firstCount, f.first)
}

// gpbuBodies are batches of 650 random ids among n, made before a restart
// so that the first second is spent on requests, with how many distinct
// users each names.
func gpbuBodies(n, batches int, seed uint64) ([][]byte, []int) {
	rng := rand.New(rand.NewPCG(seed, 16))
	bodies, want := make([][]byte, batches), make([]int, batches)
	for k := range bodies {
		seen := map[int]bool{}
		var sb bytes.Buffer
		sb.WriteString(`{"ids":[`)
		for j := range 650 {
			i := rng.IntN(n)
			seen[i] = true
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(`"` + scaleUserID(i) + `"`)
		}
		sb.WriteString("]}")
		bodies[k], want[k] = sb.Bytes(), len(seen)
	}
	return bodies, want
}

// firstSecond sends getPresencesByUserId (650 ids) from one client from now
// until one second after c listened, each answer checked (every user
// Busy), and returns the figures.
func firstSecond(b *testing.B, hc *http.Client, c *scaleChild, tok, what string, n int, seed uint64) startFigures {
	f := startFigures{what: what, listen: c.listen, cpuListen: c.cpu(b)}
	bodies, want := gpbuBodies(n, 400, seed)
	end := c.exec.Add(c.listen + time.Second)
	var lat []time.Duration
	for k := 0; time.Now().Before(end) && k < len(bodies); k++ {
		r, _ := http.NewRequest("POST", c.url+"/v1.0/communications/getPresencesByUserId", bytes.NewReader(bodies[k]))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		t := time.Now()
		resp, err := hc.Do(r)
		if err != nil {
			b.Fatalf("%s: %v", what, err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(t))
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %s %.300s", what, resp.Status, body.Bytes())
		}
		if got := bytes.Count(body.Bytes(), []byte(`"availability":"Busy"`)); got != want[k] {
			b.Fatalf("%s: %d Busy presences, want %d", what, got, want[k])
		}
	}
	if len(lat) == 0 {
		b.Fatalf("%s: no request within the first second", what)
	}
	time.Sleep(time.Until(end))
	f.cpuFirst = c.cpu(b)
	f.first, f.firstCount = percentiles(lat), len(lat)
	c.mu.Lock()
	f.steps = append([]string(nil), c.steps...)
	c.mu.Unlock()
	scaleLog("%s", f)
	for _, s := range f.steps {
		scaleLog("  step: %s", s)
	}
	return f
}

// kill9 kills c at once: nothing is saved.
func (c *scaleChild) kill9() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// scaleRestarts runs the two crash restarts after srv (running, every user
// written) and returns the last server, still running, with the figures.
func scaleRestarts(b *testing.B, hc *http.Client, srv *scaleChild, bin, dirFile, data, addr, tok string, n int) (*scaleChild, []startFigures) {
	var out []startFigures
	base := srv.url
	// Writes after the cache was saved (the graceful stop before srv's
	// start): a tenth of the users' session b again, a new revision each.
	again := max(1, n/10)
	bodyB := `{"sessionId":"` + directory.DemoDaemonClientID + `:b","availability":"Busy","activity":"InACall","expirationDuration":"PT4H"}`
	t := time.Now()
	scaleDrive(b, hc, "setPresence after the save", 64, again, func(i int) *http.Request {
		r, _ := http.NewRequest("POST", base+"/v1.0/users/"+scaleUserID(i*10%n)+"/presence/setPresence", strings.NewReader(bodyB))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		return r
	}, nil)
	scaleLog("%d setPresence after the cache was saved, in %v", again, time.Since(t).Round(time.Millisecond))
	srv.kill9()
	hc.CloseIdleConnections()
	srv = startScaleChild(b, bin, dirFile, data, addr)
	out = append(out, firstSecond(b, hc, srv, tok, fmt.Sprintf("restart after kill -9, saved cache %d writes old", again), n, 21))

	srv.kill9()
	hc.CloseIdleConnections()
	if err := os.Remove(filepath.Join(data, presenced.CacheFile)); err != nil {
		b.Fatal(err)
	}
	srv = startScaleChild(b, bin, dirFile, data, addr)
	out = append(out, firstSecond(b, hc, srv, tok, "restart after kill -9, no saved cache (warm-up)", n, 22))
	return srv, out
}
