package presenced_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/internal/nodetest"
	"github.com/presenced/presenced/natsstore"
)

// richSubscribe subscribes, through node e, the signed-in adele to alex's
// presence with rich notifications to rc, and returns the subscription id.
func richSubscribe(t *testing.T, e *env, rc *receiver, cert testCert, ids []string) string {
	t.Helper()
	body := subBody(rc.srv.URL, ids, t0.Add(55*time.Minute))
	body["includeResourceData"] = true
	body["encryptionCertificate"] = cert.b64
	body["encryptionCertificateId"] = "cert-1"
	r := e.subscribe(e.userToken("adele", ""), body)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	return r.str("id")
}

// within polls cond every 50 ms until it holds or d passed.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// holderOf waits until a node delivers subscription id, and returns its
// index.
func holderOf(t *testing.T, nodes []*env, id string) int {
	t.Helper()
	owner := -1
	if !within(30*time.Second, func() bool {
		for i, e := range nodes {
			if e.srv.Delivers(id) {
				owner = i
			}
		}
		return owner >= 0
	}) {
		t.Fatal("no node delivers the subscription within 30 s")
	}
	return owner
}

// arrived is a notification and when the receiver got it.
type arrived struct {
	at   time.Time
	coll map[string]any
}

// arrivals relays rc's notifications, each with the time it arrived, while
// the test goes on writing (the pause at the receiver is measured from
// these times, not from when the test reads them), until stop; stop then
// fails the test if a relayed one was not read, and leaves rc.none to
// check for more.
func arrivals(t *testing.T, rc *receiver) (got <-chan arrived, stop func()) {
	out := make(chan arrived, cap(rc.got))
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case c := <-rc.got:
				out <- arrived{time.Now(), c}
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() { close(done); <-stopped })
		if len(out) > 0 {
			t.Fatalf("%d notifications more than expected", len(out))
		}
	}
	t.Cleanup(func() { once.Do(func() { close(done); <-stopped }) })
	return out, stop
}

// A subscription made through one node is one the whole cluster knows:
// read, listed, renewed and deleted through the others, the one-per-owner
// rule holds across nodes, and it is delivered by one node, once per
// change, whichever node the write went through (the node that delivers
// it hears of the others' writes from the engine), never of its user's
// presence as it was before it.
func TestClusterSubscriptionThroughAnyNode(t *testing.T) {
	t.Parallel()
	nodes, _ := clusterOf(t, 3, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	alex := a.user("alex")
	// Set before the subscription, nobody watching alex: whichever node
	// delivers it starts after the log's catch-up of it, and is not told
	// of it (the first notification below is node 0's write).
	a.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", a.appToken(), setBody("Available", "Available", "PT1H"))
	rc := newReceiver(t)
	cert := newCert(t)
	id := richSubscribe(t, a, rc, cert, []string{alex})

	r := b.call("GET", "/v1.0/subscriptions/"+id, b.userToken("adele", ""), nil)
	if r.status != 200 || r.str("id") != id {
		t.Fatalf("GET through another node: %d %s", r.status, r.raw)
	}
	r = c.call("GET", "/v1.0/subscriptions", c.userToken("adele", ""), nil)
	if r.status != 200 || !strings.Contains(string(r.raw), id) {
		t.Fatalf("LIST through another node: %d %s", r.status, r.raw)
	}
	if r := c.subscribe(c.userToken("adele", ""), subBody(rc.srv.URL, []string{alex}, t0.Add(30*time.Minute))); r.status != 409 {
		t.Fatalf("a second subscription of the same owner through another node: %d %s", r.status, r.raw)
	}
	r = b.call("PATCH", "/v1.0/subscriptions/"+id, b.userToken("adele", ""), map[string]any{"expirationDateTime": "2026-11-25T09:58:00Z"})
	if r.status != 200 {
		t.Fatalf("PATCH through another node: %d %s", r.status, r.raw)
	}
	if r := c.call("GET", "/v1.0/subscriptions/"+id, c.userToken("adele", ""), nil); r.str("expirationDateTime") != "2026-11-25T09:58:00.0000000Z" {
		t.Fatalf("the renewal read through a third node: %s", r.raw)
	}
	if !within(30*time.Second, func() bool { return a.srv.Delivers(id) || b.srv.Delivers(id) || c.srv.Delivers(id) }) {
		t.Fatal("no node delivers the subscription within 30 s")
	}
	var holder *env
	n := 0
	for _, e := range nodes {
		if e.srv.Delivers(id) {
			holder = e
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d nodes deliver the subscription", n)
	}
	// Through every node, the holder among them.
	for i, e := range nodes {
		p := [][2]string{{"Busy", "InACall"}, {"DoNotDisturb", "Presenting"}, {"Away", "Away"}}[i]
		e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", e.appToken(), setBody(p[0], p[1], "PT1H"))
		if got := cert.decrypt(t, item(t, rc.next())); got["activity"] != p[1] {
			t.Fatalf("the write through node %d (holder %v): delivered %v", i, e == holder, got)
		}
	}
	rc.none("each change once")

	if r := c.call("DELETE", "/v1.0/subscriptions/"+id, c.userToken("adele", ""), nil); r.status != 204 {
		t.Fatalf("DELETE through another node: %d %s", r.status, r.raw)
	}
	if r := a.call("GET", "/v1.0/subscriptions/"+id, a.userToken("adele", ""), nil); r.status != 404 {
		t.Fatalf("GET after the delete, through the creating node: %d %s", r.status, r.raw)
	}
	if !within(10*time.Second, func() bool { return !a.srv.Delivers(id) && !b.srv.Delivers(id) && !c.srv.Delivers(id) }) {
		t.Fatal("a node still delivers the deleted subscription")
	}
	a.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", a.appToken(), setBody("Busy", "InACall", "PT1H"))
	rc.none("deleted")
	if r := b.subscribe(b.userToken("adele", ""), subBody(rc.srv.URL, []string{alex}, t0.Add(30*time.Minute))); r.status != 201 {
		t.Fatalf("a new subscription once the first was deleted: %d %s", r.status, r.raw)
	}
}

// The node that delivers a subscription stops in the middle of a stream of
// changes: another node takes its shard over within seconds and resumes
// from the saved position; the receiver gets every change, and a change
// comes twice only around the takeover (counted here, bounded in
// docs/notifications.md).
func TestClusterSubscriptionTakeover(t *testing.T) {
	t.Parallel()
	nodes, _ := clusterOf(t, 3, 3)
	alex := nodes[0].user("alex")
	rc := newReceiver(t)
	rc.got = make(chan map[string]any, 1000)
	cert := newCert(t)
	id := richSubscribe(t, nodes[0], rc, cert, []string{alex})
	owner := holderOf(t, nodes, id)
	got, stopArrivals := arrivals(t, rc)
	// The writer does not deliver the subscription: the holder hears of
	// each write from the engine and logs it, and so does the node that
	// takes over after the stop.
	writer := nodes[(owner+1)%3]
	other := nodes[(owner+2)%3]
	app := writer.appToken()
	pairs := [][2]string{{"Busy", "InACall"}, {"DoNotDisturb", "Presenting"}, {"Available", "Available"}, {"Away", "Away"}}
	const writes = 40
	stopped := make(chan time.Time, 1)
	tookOver := make(chan time.Duration, 1)
	for i := range writes {
		p := pairs[i%len(pairs)]
		writer.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody(p[0], p[1], "PT1H"))
		if i == writes/2 {
			stopDone := make(chan struct{})
			// The env's own cleanup stops it too: it waits for this stop
			// (cleanups run last-registered first).
			t.Cleanup(func() { <-stopDone })
			go func() {
				defer close(stopDone)
				stopped <- time.Now()
				nodes[owner].stop()
			}()
			go func() {
				// When another node delivers it (polled; at most 30 s).
				st := time.Now()
				if within(30*time.Second, func() bool { return other.srv.Delivers(id) || writer.srv.Delivers(id) }) {
					tookOver <- time.Since(st)
				}
				close(tookOver)
			}()
		}
		time.Sleep(20 * time.Millisecond) // a steady stream of changes, not a burst
	}
	stop := <-stopped
	seen := map[string]int{}
	var order []string
	var pause time.Duration
	last := stop
	for len(seen) < writes {
		select {
		case a := <-got:
			now := a.at
			p := cert.decrypt(t, item(t, a.coll))
			seq := p["sequenceNumber"].(string)
			if seen[seq] == 0 {
				order = append(order, seq)
			}
			seen[seq]++
			if now.After(stop) {
				pause = max(pause, now.Sub(last))
				last = now
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d changes delivered; none more within 30 s", len(seen), writes)
		}
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			t.Fatalf("delivered out of order: %s after %s", order[i], order[i-1])
		}
	}
	stopArrivals()
	rc.none("nothing more")
	t.Logf("takeover: another node delivers %v after the stop began; longest pause at the receiver %v; %d duplicates of %d changes",
		(<-tookOver).Round(time.Millisecond), pause.Round(time.Millisecond), dups, writes)
	if dups > writes/2 {
		t.Fatalf("%d duplicates of %d changes: more than around a takeover", dups, writes)
	}
}

// Several nodes watching one user (each has a stream on them) each hear of
// every change — here written through a third node — and announce its
// time-caused changes; the change log gets one record per change, and a
// subscription one notification per change. Before, every node appended
// what it saw: a fade watched by two nodes was logged twice.
func TestClusterChangeLoggedOnce(t *testing.T) {
	t.Parallel()
	nodes, natsURLs := clusterOf(t, 3, 3)
	a, b := nodes[0], nodes[1]
	alex := a.user("alex")
	var streams []<-chan sseEvent
	for _, e := range []*env{a, b} {
		ch, closeStream := e.openStream(t, e.appToken(), "ids="+alex, "")
		defer closeStream()
		nextEvent(t, ch)
		streams = append(streams, ch)
	}
	rc := newReceiver(t)
	cert := newCert(t)
	richSubscribe(t, a, rc, cert, []string{alex})
	c := nodes[2]
	c.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", c.appToken(), setBody("Available", "Available", "PT1H"))
	for _, ch := range streams {
		nextEvent(t, ch)
	}
	// Every node's clock moves on (each test node has a fake clock of its
	// own): the fade at +5 min and the one at +10 min.
	for _, step := range []string{"AvailableInactive", "Away"} {
		for _, e := range nodes {
			e.fake.Add(5 * time.Minute)
		}
		for i, ch := range streams {
			if ev := nextEvent(t, ch); ev.data["activity"] != step && ev.data["availability"] != step {
				t.Fatalf("stream on node %d: %v, want %s", i, ev.data, step)
			}
		}
	}
	// The write and the two fades: three changes since the subscription.
	want := []string{"Available", "AvailableInactive", "Away"}
	for _, w := range want {
		if p := cert.decrypt(t, item(t, rc.next())); p["activity"] != w && p["availability"] != w {
			t.Fatalf("notification %v, want %s", p, w)
		}
	}
	rc.none("each change once")

	nc, err := nats.Connect(strings.Join(natsURLs, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The count is the stream leader's (an ordered consumer may be served
	// by a replica that has not stored the last records yet); the records
	// read are for the message. Each request is asked again when it gets
	// no answer (nodetest.Ask).
	subject := "chg." + directory.DemoTenantID + "." + alex
	info, err := nodetest.Ask(ctx, t, "CHANGES' info", func(ctx context.Context) (*jetstream.StreamInfo, error) {
		s, err := js.Stream(ctx, "CHANGES")
		if err != nil {
			return nil, err
		}
		return s.Info(ctx, jetstream.WithSubjectFilter(subject))
	})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := nodetest.Ask(ctx, t, "an ordered consumer of CHANGES", func(ctx context.Context) (jetstream.Consumer, error) {
		return js.OrderedConsumer(ctx, "CHANGES", jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(100, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var logged []string
	for m := range batch.Messages() {
		var c struct {
			Seq  json.RawMessage `json:"seq"`
			View struct {
				Pair struct{ Activity string } `json:"pair"`
			} `json:"view"`
		}
		_ = json.Unmarshal(m.Data(), &c)
		logged = append(logged, fmt.Sprintf("%s@%s", c.View.Pair.Activity, c.Seq))
	}
	if n := info.State.Subjects[subject]; n != uint64(len(want)) {
		t.Fatalf("the log holds %d records of alex's changes, want %d: %v", n, len(want), logged)
	}
}

// A stream that reconnects to another node with Last-Event-ID misses
// nothing: the other node decides from the change log alone which of the
// user's changes it can replay (each record names the one it followed).
// Before, a resume was decided from the first node's memory, and any other
// node answered reset for every user. The gaps are those of a single node
// (TestStreamResumeAfterAGap): within the log's five hours the changes
// come back; after six hours, reset with the state now.
func TestClusterStreamResumesOnAnotherNode(t *testing.T) {
	t.Parallel()
	nodes, _ := clusterOf(t, 3, 3)
	a, b := nodes[0], nodes[1]
	advance := func(d time.Duration) {
		for _, e := range nodes {
			e.fake.Add(d)
		}
	}
	users := []string{"alex", "megan", "adele"}
	for i, c := range resumeGaps {
		t.Run(c.gap.String(), func(t *testing.T) {
			u := a.user(users[i])
			ch, closeStream := a.openStream(t, a.appToken(), "ids="+u, "")
			nextEvent(t, ch)
			a.must("POST", "/v1.0/users/"+u+"/presence/setPresence", a.appToken(), setBody("Busy", "InACall", "PT4H"))
			last := nextEvent(t, ch).id
			closeStream()
			// The last watcher left now: the linger counts from here.
			if !within(10*time.Second, func() bool { return a.srv.OpenStreams() == 0 }) {
				t.Fatal("node a did not notice the stream closed within 10 s")
			}
			advance(c.gap - 10*time.Minute)
			a.must("POST", "/v1.0/users/"+u+"/presence/setPresence", a.appToken(), setBody("DoNotDisturb", "Presenting", "PT4H"))
			advance(5 * time.Minute)
			a.must("POST", "/v1.0/users/"+u+"/presence/setPresence", a.appToken(), setBody("Away", "Away", "PT4H"))
			advance(5 * time.Minute)

			ch, closeStream = b.openStream(t, b.appToken(), "ids="+u, last)
			defer closeStream()
			n := strings.Count(c.want, " ") + 1
			if got := events(t, ch, n); got != c.want {
				t.Fatalf("resumed on another node after %v: %s, want %s", c.gap, got, c.want)
			}
		})
	}
	t.Run("Last-Event-ID 0 and beyond the end", func(t *testing.T) {
		u := a.user("megan")
		ch, closeStream := b.openStream(t, b.appToken(), "ids="+u, "0")
		// megan's first record chains from zero (she was never written
		// before), then the writes above (and what time did since).
		if got := events(t, ch, 3); got != "presence:InACall presence:Presenting presence:Away" {
			t.Fatalf("resumed from 0 on another node: %s", got)
		}
		closeStream()
		ch, closeStream = b.openStream(t, b.appToken(), "ids="+u, "100000")
		defer closeStream()
		if ev := nextEvent(t, ch); ev.kind != "reset" {
			t.Fatalf("resumed beyond the end: %s %v", ev.kind, ev.data)
		}
	})
}

// Servers in external mode on an engine cluster of their own, each given
// the URL of one engine node: the engine node of the server that delivers
// a subscription stops in the middle of a stream of changes. Its
// connection moves to another engine node (the URLs the cluster
// advertises), its lease holds or moves, and the receiver gets every
// change, duplicates counted.
func TestClusterSubscriptionWhenTheHoldersEngineNodeStops(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	c := enginetest.StartCluster(t, 3, natsstore.Options{Partitions: 3})
	urls := c.ClientURLs()
	nodes := make([]*env, 3)
	for i := range nodes {
		nodes[i] = &env{t: t, fake: clock.NewFake(t0), dir: t.TempDir(), addr: "127.0.0.1:0", cfg: func(cfg *presenced.Config) {
			cfg.Cluster = &presenced.ClusterConfig{NodeName: fmt.Sprintf("ext-%d", i), NATSURLs: []string{urls[i]}}
		}}
		if err := nodes[i].bootErr(); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	alex := nodes[0].user("alex")
	rc := newReceiver(t)
	rc.got = make(chan map[string]any, 1000)
	cert := newCert(t)
	id := richSubscribe(t, nodes[0], rc, cert, []string{alex})
	owner := holderOf(t, nodes, id)
	got, stopArrivals := arrivals(t, rc)
	writer := nodes[(owner+1)%3]
	app := writer.appToken()
	pairs := [][2]string{{"Busy", "InACall"}, {"DoNotDisturb", "Presenting"}, {"Available", "Available"}, {"Away", "Away"}}
	const writes = 40
	var cut time.Time
	for i := range writes {
		p := pairs[i%len(pairs)]
		writer.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody(p[0], p[1], "PT1H"))
		if i == writes/2 {
			cut = time.Now()
			c.Stop(owner) // the engine node the owner was given
		}
		time.Sleep(50 * time.Millisecond)
	}
	seen := map[string]int{}
	var pause time.Duration
	last := cut
	for len(seen) < writes {
		select {
		case a := <-got:
			now := a.at
			seen[cert.decrypt(t, item(t, a.coll))["sequenceNumber"].(string)]++
			if now.After(cut) {
				pause = max(pause, now.Sub(last))
				last = now
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d changes delivered; none more within 30 s", len(seen), writes)
		}
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	stopArrivals()
	rc.none("nothing more")
	t.Logf("the holder's engine node stopped: longest pause at the receiver %v; %d duplicates of %d changes", pause.Round(time.Millisecond), dups, writes)
	if dups > writes/2 {
		t.Fatalf("%d duplicates of %d changes", dups, writes)
	}
	c.Restart(owner)
}
