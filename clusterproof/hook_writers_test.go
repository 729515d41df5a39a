package clusterproof_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/nodetest"
)

// changeWriters write a steady stream of visible presence changes through
// the nodes of a cluster, for the webhook test: each writer owns some
// users and sets them, one after the other, to the next of four
// presences, so that every write changes what a subscriber sees (a write
// that changes nothing visible is not notified). Each writer sends through
// its own node while it is up, else the next one up. Once a write is
// acknowledged, its writer reads the user's sequenceNumber back: nobody
// else writes the user, so that is the change the write made, and the one
// the receiver must get.
type changeWriters struct {
	t      *testing.T
	c      *nodetest.Cluster
	hc     *http.Client
	tokens []string
	upNodes

	mu      sync.Mutex
	acked   map[string][]ackedChange // user → acknowledged changes, in order
	count   int                      // acknowledged changes
	unknown int                      // writes without an answer, or with a 5xx: they may be there or not
	refused int                      // writes whose node refused the connection: not sent
	invalid []string                 // other answers: the test's mistake or the server's

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ackedChange is an acknowledged change: its sequenceNumber, the node it
// was written through and when it was acknowledged.
type ackedChange struct {
	seq, node string
	at        time.Time
}

// presencePairs are the presences a user goes through in turn: any two
// consecutive ones differ, even when the write between them was lost.
var presencePairs = [][2]string{{"Busy", "InACall"}, {"DoNotDisturb", "Presenting"}, {"Available", "Available"}, {"Away", "Away"}}

// startChangeWriters starts writers writers over users, each writing
// every `every`.
func startChangeWriters(t *testing.T, c *nodetest.Cluster, users []string, writers int, every time.Duration) *changeWriters {
	cw := &changeWriters{t: t, c: c, upNodes: make(upNodes, len(c.Nodes)), acked: map[string][]ackedChange{},
		hc: &http.Client{Timeout: 30 * time.Second}}
	for i, n := range c.Nodes {
		cw.tokens = append(cw.tokens, n.AppToken())
		cw.upNodes[i].Store(true)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cw.cancel = cancel
	t.Cleanup(cw.stop)
	for wr := range writers {
		var mine []string
		for i := wr; i < len(users); i += writers {
			mine = append(mine, users[i])
		}
		cw.wg.Go(func() { cw.writer(ctx, wr%len(c.Nodes), mine, every) })
	}
	return cw
}

func (cw *changeWriters) stop() {
	cw.cancel()
	cw.wg.Wait()
}

func (cw *changeWriters) writer(ctx context.Context, home int, users []string, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		u := users[i%len(users)]
		p := presencePairs[(i/len(users))%len(presencePairs)]
		node := cw.pick(home)
		status, detail := cw.set(ctx, node, u, p)
		if ctx.Err() != nil && status != http.StatusOK {
			return // cut by the test's end: the user is not written again
		}
		switch {
		case status == http.StatusOK:
			// Read back even when the test's end came meanwhile: an
			// acknowledged write is checked like any other (on a
			// cancelled context seqOf read nothing and answered "",
			// which no notification carries — a "LOST" change in CI).
			seq, err := cw.seqOf(context.WithoutCancel(ctx), node, u, p[0])
			if err != nil {
				if ctx.Err() == nil {
					cw.t.Errorf("the acknowledged write of %s as %s is not read back within 20 s: %v", u, p[0], err)
				}
				return
			}
			cw.mu.Lock()
			cw.acked[u] = append(cw.acked[u], ackedChange{seq, cw.c.Nodes[node].Name, time.Now()})
			cw.count++
			cw.mu.Unlock()
		case status == 0 && detail == "refused":
			cw.mu.Lock()
			cw.refused++
			cw.mu.Unlock()
		case status == 0 || status >= 500:
			cw.mu.Lock()
			cw.unknown++
			cw.mu.Unlock()
		default:
			cw.mu.Lock()
			cw.invalid = append(cw.invalid, fmt.Sprintf("%s: %d %s", cw.c.Nodes[node].Name, status, detail))
			cw.mu.Unlock()
		}
	}
}

// set sets user u to presence p through node i: the answer's status (0
// when none came) and what else there is to say.
func (cw *changeWriters) set(ctx context.Context, i int, u string, p [2]string) (int, string) {
	body := fmt.Sprintf(`{"sessionId":"%s","availability":"%s","activity":"%s","expirationDuration":"PT1H"}`, directory.DemoDaemonClientID, p[0], p[1])
	req, _ := http.NewRequestWithContext(ctx, "POST", cw.c.Nodes[i].URL+"/v1.0/users/"+u+"/presence/setPresence", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+cw.tokens[i])
	resp, err := cw.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return 0, "refused"
		}
		return 0, err.Error()
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(raw)
}

// seqOf reads user u's sequenceNumber once it shows avail: through node i
// (which shows its own acknowledged write at once), or, if node i has
// died meanwhile, through another (which follows within moments).
func (cw *changeWriters) seqOf(ctx context.Context, i int, u, avail string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var last error
	for try := 0; ctx.Err() == nil; try++ {
		node := i
		if try > 0 {
			node = cw.pick(i + try)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", cw.c.Nodes[node].URL+"/v1.0/users/"+u+"/presence", nil)
		req.Header.Set("Authorization", "Bearer "+cw.tokens[node])
		resp, err := cw.hc.Do(req)
		if err == nil {
			var p struct{ Availability, SequenceNumber string }
			err = json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
			switch {
			case err == nil && resp.StatusCode == http.StatusOK && p.Availability == avail:
				return p.SequenceNumber, nil
			case err == nil:
				err = fmt.Errorf("%s answered %s with %s", cw.c.Nodes[node].Name, resp.Status, p.Availability)
			}
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	if last == nil {
		last = ctx.Err()
	}
	return "", last
}

// acknowledged is how many changes were acknowledged so far.
func (cw *changeWriters) acknowledged() int {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	return cw.count
}

// waitMore waits until n more changes have been acknowledged, bounded by
// a minute.
func (cw *changeWriters) waitMore(n int) {
	cw.t.Helper()
	want := cw.acknowledged() + n
	deadline := time.Now().Add(time.Minute)
	for cw.acknowledged() < want {
		if time.Now().After(deadline) {
			cw.t.Fatalf("fewer than %d changes acknowledged in a minute", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// changes is a copy of the acknowledged changes, user → sequence numbers.
func (cw *changeWriters) changes() map[string][]string {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	out := make(map[string][]string, len(cw.acked))
	for u, cs := range cw.acked {
		for _, c := range cs {
			out[u] = append(out[u], c.seq)
		}
	}
	return out
}

// about says when change seq of user u was acknowledged, through which
// node, and what was written of u just before and after it.
func (cw *changeWriters) about(u, seq string) string {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	cs := cw.acked[u]
	for i, c := range cs {
		if c.seq == seq {
			s := fmt.Sprintf("%s@%s acknowledged through %s at %s", u, seq, c.node, c.at.UTC().Format("15:04:05.000"))
			if i > 0 {
				s += fmt.Sprintf(", after %s (%s, %s)", cs[i-1].seq, cs[i-1].node, cs[i-1].at.UTC().Format("15:04:05.000"))
			}
			if i+1 < len(cs) {
				s += fmt.Sprintf(", before %s (%s, %s)", cs[i+1].seq, cs[i+1].node, cs[i+1].at.UTC().Format("15:04:05.000"))
			}
			return s
		}
	}
	return u + "@" + seq + ": not acknowledged"
}
