package presenced_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/loadgen"
)

// How each of BenchmarkScale's figures grows with the number of users
// (issue #16 point 6): with several sizes in PRESENCED_SCALE_USERS,
//
//	PRESENCED_SCALE_USERS=10000,100000,1000000 go test -run '^$' -bench 'BenchmarkScale/users=/process' -benchtime 1x -timeout 0 .
//
// BenchmarkScale runs its process part at each size in turn (each with its
// own directory file, data and server) and ends with one table, a column a
// size, in docs/performance.md's form.

// scaleFigures are one size's figures from BenchmarkScale's process part.
type scaleFigures struct {
	n                     int
	rss, liveHeap         float64       // B per user, 2 live sessions: RSS, live heap after the writes
	rssAboveEmpty         float64       // B per user: RSS above a server with the demo directory alone
	restartServe          time.Duration // SIGTERM → serving the written state again
	savedListen, savedCPU time.Duration // the restart from the saved cache: exec → listening, CPU time then
	savedFirst            latStats      // 650 ids in its first second
	writeRate, bareRate   float64       // setPresence/s (64 clients) and the bare handler's
	warm1, warm16         latStats      // 650 ids, warm: 1 client, 16 clients
}

// scaleBareWrites sends the setPresence load (64 clients, the same
// requests) to the bare net/http handler in a process of its own (`presenced
// bare`, the load tool's baseline) and returns its rate, for the ratio
// beside the server's. It runs right after the server's writes, on the same
// machine: at least 50,000 requests, at most 200,000.
func scaleBareWrites(b *testing.B, hc *http.Client, bin, base, tok string, n int) float64 {
	b.Helper()
	// A real GET presence answer, as `presenced bench` gives the baseline.
	r, _ := http.NewRequest("GET", base+"/v1.0/users/"+scaleUserID(0)+"/presence", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(r)
	if err != nil {
		b.Fatal(err)
	}
	getBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("GET presence: %s: %s", resp.Status, getBody)
	}
	bare, err := loadgen.StartBareProcess([]string{bin, "bare"}, getBody)
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Stop()
	body := `{"sessionId":"` + directory.DemoDaemonClientID + `:b","availability":"Busy","activity":"InACall","expirationDuration":"PT4H"}`
	count := min(max(n, 50_000), 200_000)
	t := time.Now()
	scaleDrive(b, hc, "setPresence, bare handler", 64, count, func(i int) *http.Request {
		r, _ := http.NewRequest("POST", bare.URL()+"/v1.0/users/"+scaleUserID(i%n)+"/presence/setPresence", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		return r
	}, nil)
	return float64(count) / time.Since(t).Seconds()
}

// scaleCurveTable writes the figures of several sizes as one markdown table.
func scaleCurveTable(w io.Writer, fs []scaleFigures) {
	if len(fs) == 0 {
		return
	}
	row := func(name string, cell func(f scaleFigures) string) {
		fmt.Fprintf(w, "| %s |", name)
		for _, f := range fs {
			fmt.Fprintf(w, " %s |", cell(f))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n=== how the figures grow (load average now %s) ===\n\n| users |", loadAverage())
	for _, f := range fs {
		fmt.Fprintf(w, " %d |", f.n)
	}
	fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---|", len(fs)))
	row("RSS per user, 2 live sessions", func(f scaleFigures) string { return fmt.Sprintf("%.0f B", f.rss) })
	row("… above a server with an empty directory", func(f scaleFigures) string { return fmt.Sprintf("%.0f B", f.rssAboveEmpty) })
	row("live heap per user after the writes", func(f scaleFigures) string { return fmt.Sprintf("%.0f B", f.liveHeap) })
	row("restart after SIGTERM → serving the written state", func(f scaleFigures) string {
		return fmt.Sprintf("%.2f s", f.restartServe.Seconds())
	})
	row("restart from the saved cache: exec → listening (CPU then)", func(f scaleFigures) string {
		return fmt.Sprintf("%.2f s (%.2f s)", f.savedListen.Seconds(), f.savedCPU.Seconds())
	})
	row("… 650 ids in its first second: p99", func(f scaleFigures) string { return fmt.Sprintf("%.1f ms", ms(f.savedFirst.p99)) })
	row("setPresence, 64 clients: writes/s (bare handler's, % of it)", func(f scaleFigures) string {
		return fmt.Sprintf("%.0f (%.0f, %.1f %%)", f.writeRate, f.bareRate, 100*f.writeRate/f.bareRate)
	})
	row("getPresencesByUserId, 650 ids, 1 client, warm: p50 / p99", func(f scaleFigures) string {
		return fmt.Sprintf("%.1f / %.1f ms", ms(f.warm1.p50), ms(f.warm1.p99))
	})
	row("… 16 clients: p50 / p99", func(f scaleFigures) string {
		return fmt.Sprintf("%.1f / %.1f ms", ms(f.warm16.p50), ms(f.warm16.p99))
	})
	fmt.Fprintln(w)
}
