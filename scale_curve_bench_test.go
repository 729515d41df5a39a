package presenced_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/loadgen"
)

// How each of BenchmarkScale's figures grows with the number of users
// (issue #16 point 6): with several sizes in PRESENCED_SCALE_USERS,
//
//	PRESENCED_SCALE_USERS=10000,100000,1000000 go test -run '^$' -bench '^BenchmarkScale$/users=/process' -benchtime 1x -timeout 0 .
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
	writeRate, bareRate   float64       // setPresence/s while filling (64 clients), the bare handler's
	ratios                []float64     // setPresence ÷ bare, %, alternated rounds
	warm1, warm16         latStats      // 650 ids, warm: 1 client, 16 clients
}

// scaleWriteRatio measures setPresence against the bare net/http handler
// in a process of its own (`presenced bare`, the load tool's baseline):
// three rounds, each the same 64-client load of setPresence (session b of
// the users in turn, as written: each a real write, acknowledged by the
// engine) first to the bare handler, then to the server, alternating so
// that the machine's other work weighs on both alike. It returns each
// round's ratio (server/bare, %) and the bare handler's rate of the last.
func scaleWriteRatio(b *testing.B, hc *http.Client, bin, base, tok string, n int) (ratios []float64, bareRate float64) {
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
	count := min(n, 20_000)
	drive := func(what, url string, round int) float64 {
		t := time.Now()
		scaleDrive(b, hc, what, 64, count, func(i int) *http.Request {
			u := (round*count + i) % n
			r, _ := http.NewRequest("POST", url+"/v1.0/users/"+scaleUserID(u)+"/presence/setPresence", strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+tok)
			r.Header.Set("Content-Type", "application/json")
			return r
		}, nil)
		return float64(count) / time.Since(t).Seconds()
	}
	for round := range 3 {
		bareRate = drive("setPresence, bare handler", bare.URL(), round)
		rate := drive("setPresence, presenced", base, round)
		ratios = append(ratios, 100*rate/bareRate)
		scaleLog("setPresence ratio round %d: presenced %.0f/s, bare %.0f/s: %.1f %% (load %s)", round+1, rate, bareRate, 100*rate/bareRate, loadAverage())
	}
	return ratios, bareRate
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
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
	row("setPresence, 64 clients, % of the bare handler (3 alternated rounds)", func(f scaleFigures) string {
		var c []string
		for _, r := range f.ratios {
			c = append(c, fmt.Sprintf("%.0f", r))
		}
		return strings.Join(c, ", ") + " %"
	})
	row("setPresence while filling: writes/s", func(f scaleFigures) string { return fmt.Sprintf("%.0f", f.writeRate) })
	row("getPresencesByUserId, 650 ids, 1 client, warm: p50 / p99", func(f scaleFigures) string {
		return fmt.Sprintf("%.1f / %.1f ms", ms(f.warm1.p50), ms(f.warm1.p99))
	})
	row("… 16 clients: p50 / p99", func(f scaleFigures) string {
		return fmt.Sprintf("%.1f / %.1f ms", ms(f.warm16.p50), ms(f.warm16.p99))
	})
	fmt.Fprintln(w)
}
