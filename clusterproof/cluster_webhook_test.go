package clusterproof_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/nodetest"
)

const (
	// hookUsers are the users the webhook test's subscription names, and
	// hookWriters how many write them, each a change every hookEvery
	// (~60 changes a second in all: a stream, not a flood, on the shared
	// 2-core machine). One writer per user: a write to a partition the
	// dead node led waits for JetStream's election (4–9 s), and a writer
	// of several users would hold back the others' changes meanwhile —
	// the receiver's wait would then time the partitions' election, not
	// the takeover.
	hookUsers   = 30
	hookWriters = hookUsers
	hookEvery   = 500 * time.Millisecond
	// subscriptionsMetric is what a node reports of the webhook
	// subscriptions it delivers (docs/operating.md).
	subscriptionsMetric = "presenced_subscriptions"
)

// Webhook ownership (issue #10): a subscription made through one node is
// delivered by one node, the holder of its shard's lease. kill -9 of that
// node in the middle of a stream of changes written through every node,
// the owner too: another node takes the lease over once it lapses and
// resumes from the saved position. The receiver gets every acknowledged
// change, in order per user; a change comes twice only if the dead owner
// had delivered it after its last saved position — the last changes it
// delivered, re-sent after the takeover — and those are counted. The
// takeover is timed at the receiver (from the kill to the first
// notification after it) and by the nodes' own report of which one
// delivers (presenced_subscriptions). PRESENCED_CLUSTER_RUNS=n kills the
// owner of the moment n times, restarting each victim.
func TestClusterProcessWebhookTakeover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three presenced processes")
	}
	c := nodetest.Start(t, nodetest.Options{DemoUsers: hookUsers})
	rc := newHookReceiver(t)
	var users []string
	for i := range hookUsers {
		users = append(users, directory.DemoUserID(i+1))
	}
	subscribe(t, c.Nodes[0], rc, users)
	owner, err := deliverer(c, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	cw := startChangeWriters(t, c, users, hookWriters, hookEvery)
	var kills []time.Time
	var takeovers, reported []time.Duration
	for run := range clusterRuns() {
		cw.waitMore(3 * hookWriters * int(time.Second/hookEvery)) // ~3 s of changes delivered by the owner
		if owner, err = deliverer(c, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		i := indexOf(c, owner)
		led := ledBy(t, c, owner)
		// Writes go through the owner until it dies (some are cut), and
		// then through the others.
		killedAt := time.Now()
		owner.Kill()
		cw.setUp(i, false)
		kills = append(kills, killedAt)
		next, err := deliverer(c, time.Minute)
		if err != nil {
			t.Fatalf("run %d: after the kill of %s: %v", run, owner.Name, err)
		}
		took := time.Since(killedAt)
		first, ok := rc.firstAfter(killedAt, time.Minute)
		if !ok {
			t.Fatalf("run %d: no notification within a minute of the kill of %s (%s reports it delivers)", run, owner.Name, next.Name)
		}
		takeovers, reported = append(takeovers, first.Sub(killedAt)), append(reported, took)
		last := "none yet"
		if l := rc.lastBefore(killedAt); !l.IsZero() {
			last = killedAt.Sub(l).Round(time.Millisecond).String() + " before"
		}
		t.Logf("run %d: SIGKILL of %s, which delivered the subscription (its last notification: %s) and led %v: %s reports it delivers %v later; the receiver's next notification came %v after the kill",
			run, owner.Name, last, led, next.Name, took.Round(time.Millisecond), first.Sub(killedAt).Round(time.Millisecond))
		cw.waitMore(2 * hookWriters * int(time.Second/hookEvery)) // changes go on after the takeover
		owner.Restart()
		cw.setUp(i, true)
	}
	cw.waitMore(hookWriters * int(time.Second/hookEvery))
	cw.stop()
	if len(cw.invalid) > 0 {
		t.Errorf("%d writes answered with neither 200 nor 5xx; the first: %s", len(cw.invalid), cw.invalid[0])
	}
	want := cw.changes()
	if missing := rc.waitFor(want, time.Minute); len(missing) > 0 {
		var about []string
		for _, m := range missing[:min(5, len(missing))] {
			u, seq, _ := strings.Cut(m, "@")
			about = append(about, cw.about(u, seq))
		}
		t.Errorf("LOST: %d of %d acknowledged changes never reached the receiver (a minute after the last write; kills at %v): %s",
			len(missing), cw.count, timesOf(kills), strings.Join(about, "; "))
	}
	dups := checkDeliveries(t, rc.arrivals(), kills)
	t.Logf("%d changes acknowledged (%d writes unknown: cut by a kill; %d refused), %d notifications received; %d validation handshakes",
		cw.count, cw.unknown, cw.refused, len(rc.arrivals()), rc.handshaken())
	for r := range kills {
		t.Logf("run %d: %s", r, dups[r])
	}
	if len(kills) > 1 {
		t.Logf("takeover at the receiver, %d runs: %s; reported by the nodes: %s", len(kills), pausesText(takeovers), pausesText(reported))
	}
	t.Logf("uptime load at the end: %s", loadAverage())
	if bad := rc.rejected(); len(bad) > 0 {
		t.Errorf("%d notifications were not Graph's; the first: %s", len(bad), bad[0])
	}
}

// subscribe makes, through node n and as the demo user adele (a delegated
// token: Graph has no application permission for presence
// subscriptions), a rich subscription to users' presences for rc, and
// checks the receiver was asked to validate it.
func subscribe(t *testing.T, n *nodetest.Node, rc *hookReceiver, users []string) {
	t.Helper()
	ctx := context.Background()
	tok, err := nodetest.Token(ctx, http.DefaultClient, n.URL, url.Values{"grant_type": {"password"}, "client_id": {directory.DemoClientID},
		"username": {"adele@contoso.dev"}, "password": {directory.DemoPassword}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	quoted := make([]string, len(users))
	for i, u := range users {
		quoted[i] = "'" + u + "'"
	}
	body := fmt.Sprintf(`{"changeType":"updated","notificationUrl":%q,"clientState":%q,"resource":%q,"expirationDateTime":%q,
		"includeResourceData":true,"encryptionCertificate":%q,"encryptionCertificateId":"cert-1"}`,
		rc.srv.URL+"/hook", rc.clientState, "/communications/presences?$filter=id in ("+strings.Join(quoted, ",")+")",
		time.Now().Add(50*time.Minute).UTC().Format(time.RFC3339), rc.enc.B64)
	req, _ := http.NewRequestWithContext(ctx, "POST", n.URL+"/v1.0/subscriptions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1.0/subscriptions through %s: %s", n.Name, resp.Status)
	}
	if n := rc.handshaken(); n != 1 {
		t.Fatalf("the receiver was asked to validate %d times, not once", n)
	}
}

// deliverer is the node that delivers the test's one subscription, by
// what the running nodes report: exactly one of them counts one
// subscription, the others none. It waits up to d for that (a takeover).
func deliverer(c *nodetest.Cluster, d time.Duration) (*nodetest.Node, error) {
	deadline := time.Now().Add(d)
	for {
		var owners []string
		var owner *nodetest.Node
		var last error
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			v, err := n.Metric(context.Background(), subscriptionsMetric)
			switch {
			case err != nil:
				last = err
			case v == 1:
				owner = n
				owners = append(owners, n.Name)
			case v != 0:
				owners = append(owners, fmt.Sprintf("%s (%v)", n.Name, v))
			}
		}
		if len(owners) == 1 && owner != nil && last == nil {
			return owner, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("after %v, the nodes that report delivering the subscription are %v (want exactly one); %v", d, owners, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkDeliveries checks what the receiver got against the kills at
// kills, and says per run how many changes came twice. Every change came
// in order per user (leaving out those that came again); a change comes
// again only right after a takeover: the new owner resumes from the dead
// one's last saved position, so what it sends first after the kill is the
// dead owner's last deliveries — all of them from some point on, in the
// same order — and then new changes. Run r's takeover begins with the first
// notification after its kill that repeats one (a notification stamped
// after the kill may still be the dead owner's: it was on its way).
func checkDeliveries(t *testing.T, got []arrival, kills []time.Time) []string {
	t.Helper()
	first := map[[2]string]int{} // a change → the index of its first arrival
	latest := map[string]string{}
	repeatOf := make([]int, len(got)) // the index of a repeat's first arrival, or -1
	for i, a := range got {
		repeatOf[i] = -1
		if !a.clientStateMatched {
			t.Errorf("notification %d (%s of %s) came without the subscription's clientState", i, a.seq, a.user)
		}
		key := [2]string{a.user, a.seq}
		if j, ok := first[key]; ok {
			repeatOf[i] = j
			continue
		}
		first[key] = i
		if prev := latest[a.user]; a.seq <= prev {
			t.Errorf("out of order: %s's change %s came after its change %s", a.user, a.seq, prev)
		}
		latest[a.user] = a.seq
	}
	out := make([]string, len(kills))
	i := 0
	for r, k := range kills {
		for i < len(got) && !got[i].at.After(k) {
			if repeatOf[i] >= 0 {
				t.Errorf("change %s of %s came again at %s, before kill %d: not around a takeover", got[i].seq, got[i].user, got[i].at.Format("15:04:05.000"), r)
			}
			i++
		}
		// The dead owner's last deliveries may still come after the kill;
		// the takeover's repeats start with the first repeat.
		inRun := func(i int) bool { return r+1 == len(kills) || !got[i].at.After(kills[r+1]) }
		for i < len(got) && repeatOf[i] < 0 && inRun(i) {
			i++
		}
		if i == len(got) || repeatOf[i] < 0 || !inRun(i) {
			out[r] = "0 duplicates"
			continue
		}
		start := i
		for i < len(got) && repeatOf[i] >= 0 && repeatOf[i] < start {
			i++
		}
		dups := got[start:i]
		// The repeats are the dead owner's deliveries from the first of
		// them to its last, each once, in the same order.
		lo := repeatOf[start]
		var resent []int
		for j := lo; j < start; j++ {
			if repeatOf[j] < 0 {
				resent = append(resent, j)
			}
		}
		same := len(resent) == len(dups)
		for n := 0; same && n < len(dups); n++ {
			same = repeatOf[start+n] == resent[n]
		}
		if !same {
			t.Errorf("run %d: after the takeover %d notifications came again, but not the dead owner's %d last deliveries in their order", r, len(dups), len(resent))
		}
		out[r] = fmt.Sprintf("%d duplicates: the dead owner's deliveries of the last %v before the kill (and after it, on their way)",
			len(dups), k.Sub(got[lo].at).Round(time.Millisecond))
	}
	for ; i < len(got); i++ {
		if repeatOf[i] >= 0 {
			t.Errorf("change %s of %s came again at %s, not right after a takeover", got[i].seq, got[i].user, got[i].at.Format("15:04:05.000"))
		}
	}
	return out
}

// timesOf is ts as clock times, to match the nodes' logs.
func timesOf(ts []time.Time) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.UTC().Format("15:04:05.000"))
	}
	return out
}

// ledBy are the streams other than the presence partitions that node n
// leads, and how many partitions: a takeover waits for new leaders of those
// it needs (the leases, the subscriptions and their positions, the change
// log), and the changes of a partition's users for its new leader.
func ledBy(t *testing.T, c *nodetest.Cluster, n *nodetest.Node) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // each look is asked again; this bounds them all
	defer cancel()
	leaders, err := c.StreamLeaders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var led []string
	partitions := 0
	for s, l := range leaders {
		switch {
		case l != n.Name:
		case strings.HasPrefix(s, "KV_presence"):
			partitions++
		default:
			led = append(led, s)
		}
	}
	slices.Sort(led)
	return append(led, fmt.Sprintf("%d presence partitions", partitions))
}
