package presenced_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/nodetest"
)

// A deleted user's presence, subscriptions and streams end at once: a
// subscription they created, or one on them alone, is removed with Graph's
// subscriptionRemoved lifecycle notification; a subscription on them and
// others goes on for the others; a stream watching them drops them (event:
// removed); a stream they read ends; their tokens stop working; and if a
// user is made again with their id, none of their presence comes back.
func TestDeletedUserEndsPresenceSubscriptionsAndStreams(t *testing.T) {
	e := startWith(t, orgFile())
	ctx := context.Background()
	store := e.srv.DirectoryStore()
	alex, megan := e.user("alex"), e.user("megan")
	app := e.appToken()
	adeleTok, lynneTok, alexTok := e.userToken("adele", ""), e.userToken("lynne", ""), e.userToken("alex", "")
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))

	onAlex, onAlexLife := newReceiver(t), newReceiver(t)
	body := subBody(onAlex.srv.URL, []string{alex}, t0.Add(30*time.Minute))
	body["lifecycleNotificationUrl"] = onAlexLife.srv.URL
	r := e.subscribe(adeleTok, body)
	if r.status != 201 {
		t.Fatalf("subscription on alex: %d %s", r.status, r.raw)
	}
	onAlexID := r.str("id")
	onBoth, onBothLife := newReceiver(t), newReceiver(t)
	body = subBody(onBoth.srv.URL, []string{alex, megan}, t0.Add(30*time.Minute))
	body["lifecycleNotificationUrl"] = onBothLife.srv.URL
	if r := e.subscribe(lynneTok, body); r.status != 201 {
		t.Fatalf("subscription on alex and megan: %d %s", r.status, r.raw)
	}
	byAlex, byAlexLife := newReceiver(t), newReceiver(t)
	body = subBody(byAlex.srv.URL, []string{megan}, t0.Add(30*time.Minute))
	body["lifecycleNotificationUrl"] = byAlexLife.srv.URL
	r = e.subscribe(alexTok, body)
	if r.status != 201 {
		t.Fatalf("subscription by alex: %d %s", r.status, r.raw)
	}
	byAlexID := r.str("id")

	watching, closeWatching := e.openStream(t, app, "ids="+alex+","+megan, "")
	defer closeWatching()
	events(t, watching, 2)
	reading, closeReading := e.openStream(t, alexTok, "ids="+megan, "")
	defer closeReading()
	events(t, reading, 1)

	if r := e.call("DELETE", "/v1.0/users/alex@contoso.dev", e.adminToken(), nil); r.status != 204 {
		t.Fatalf("DELETE alex: %d %s", r.status, r.raw)
	}

	for _, c := range []struct {
		rc *receiver
		id string
	}{{onAlexLife, onAlexID}, {byAlexLife, byAlexID}} {
		it := item(t, c.rc.next())
		if it["lifecycleEvent"] != "subscriptionRemoved" || it["subscriptionId"] != c.id || it["clientState"] != "secret-42" {
			t.Fatalf("lifecycle notification %v, want subscriptionRemoved of %s", it, c.id)
		}
	}
	if r := e.call("GET", "/v1.0/subscriptions/"+onAlexID, adeleTok, nil); r.status != 404 {
		t.Fatalf("the subscription on alex alone: %d", r.status)
	}
	if got := events(t, watching, 1); got != "removed:"+alex {
		t.Fatalf("the stream watching alex: %s, want alex removed", got)
	}
	if ev := streamEnds(t, reading); ev.kind != "end" || ev.data["reason"] != "tokenInvalid" {
		t.Fatalf("the stream alex read: %+v", ev)
	}
	if r := e.call("GET", "/v1.0/users/"+megan+"/presence", alexTok, nil); r.status != 401 {
		t.Fatalf("alex's token after alex was deleted: %d", r.status)
	}
	if r := e.call("GET", "/v1.0/users/"+alex+"/presence", app, nil); r.status != 404 {
		t.Fatalf("alex's presence: %d", r.status)
	}

	// Megan goes on: on the subscription on both, and on the stream.
	e.must("POST", "/v1.0/users/"+megan+"/presence/setPresence", app, setBody("Away", "Away", "PT1H"))
	if it := item(t, onBoth.next()); it["resource"] != "communications/presences/"+megan {
		t.Fatalf("the subscription on both after alex left: %v", it)
	}
	if got := events(t, watching, 1); got != "presence:Away" {
		t.Fatalf("the stream after alex left: %s", got)
	}
	onBothLife.none("the subscription on both still has megan")
	// Alex's presence was set before every subscription: none was told of it.
	onAlex.none("the subscription on alex alone, of presence set before it")

	// A user made again with alex's id starts with nothing.
	if _, err := store.CreateUser(ctx, directory.UserEntry{ID: alex, TenantID: directory.DemoTenantID, UserPrincipalName: "alex@contoso.dev"}); err != nil {
		t.Fatal(err)
	}
	if got := pair(e.get(app, alex)); got != "Offline/Offline" {
		t.Fatalf("alex made again reads %s", got)
	}
}

// A disabled account can no longer sign in, and its tokens stop working;
// enabled again, it signs in.
func TestDisabledAccountCannotSignIn(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	tok := e.userToken("adele", "")
	adele := e.user("adele")
	setEnabled := func(on bool) {
		t.Helper()
		if _, err := e.srv.DirectoryStore().UpdateUser(ctx, directory.DemoTenantID, adele, func(u *directory.UserEntry) error {
			u.AccountEnabled = directory.Bool(on)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setEnabled(false)
	if r := e.call("GET", "/v1.0/me/presence", tok, nil); r.status != 401 {
		t.Fatalf("a disabled user's token: %d %s", r.status, r.raw)
	}
	r := e.call("POST", "/"+directory.DemoTenantID+"/oauth2/v2.0/token", "", url.Values{"grant_type": {"password"}, "client_id": {directory.DemoClientID},
		"username": {"adele@contoso.dev"}, "password": {directory.DemoPassword}, "scope": {"Presence.Read"}}.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if r.status != 400 || r.body["error_codes"].([]any)[0].(float64) != 50057 {
		t.Fatalf("a disabled user's sign-in: %d %s", r.status, r.raw)
	}
	setEnabled(true)
	if r := e.call("GET", "/v1.0/me/presence", e.userToken("adele", ""), nil); r.status != 200 {
		t.Fatalf("enabled again: %d %s", r.status, r.raw)
	}
}

// The directory lives in the engine: a user added while the server runs
// is there after a restart, with their presence.
func TestDirectoryKeptAcrossRestart(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	u, err := e.srv.DirectoryStore().CreateUser(ctx, directory.UserEntry{TenantID: directory.DemoTenantID, UserPrincipalName: "newcomer@contoso.dev", DisplayName: "New Comer"})
	if err != nil {
		t.Fatal(err)
	}
	e.must("POST", "/v1.0/users/newcomer@contoso.dev/presence/setPresence", e.appToken(), setBody("Busy", "InACall", "PT1H"))
	e.restart()
	if got := pair(e.get(e.appToken(), u.ID)); got != "Busy/InACall" {
		t.Fatalf("after a restart the new user reads %s", got)
	}
}

// In a cluster the directory is one, replicated as the engine's other
// buckets are: the nodes, started together, each seed the same directory
// and all end with it whole (the application the test's tokens come from
// included); a user made through one node's Graph API is read through the
// others, deleted through another and gone at the first, and the
// directory's bucket has the cluster's three replicas (so it outlives any
// one node).
func TestClusterKeepsOneDirectory(t *testing.T) {
	t.Parallel()
	nodes, natsURLs := clusterOfWith(t, 3, 1, func(_ int, e *env) { e.d = orgFile() })
	r := nodes[0].call("POST", "/v1.0/users", nodes[0].adminToken(), map[string]any{"displayName": "Clara Cluster", "userPrincipalName": "clara@contoso.dev"})
	if r.status != 201 {
		t.Fatalf("create at node 0: %d %s", r.status, r.raw)
	}
	id := r.str("id")
	for _, n := range nodes[1:] {
		tok := n.adminToken()
		waitFor(t, "the user read at another node", func() bool {
			return n.call("GET", "/v1.0/users/clara@contoso.dev", tok, nil).str("id") == id
		})
	}
	if r := nodes[2].call("DELETE", "/v1.0/users/"+id, nodes[2].adminToken(), nil); r.status != 204 {
		t.Fatalf("delete at node 2: %d %s", r.status, r.raw)
	}
	tok := nodes[0].adminToken()
	waitFor(t, "the deletion seen at node 0", func() bool { return nodes[0].call("GET", "/v1.0/users/"+id, tok, nil).status == 404 })

	nc, err := nats.Connect(strings.Join(natsURLs, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := nodetest.Ask(ctx, t, "the directory bucket's status", func(ctx context.Context) (jetstream.KeyValueStatus, error) {
		kv, err := js.KeyValue(ctx, "directory")
		if err != nil {
			return nil, err
		}
		return kv.Status(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas != 3 {
		t.Fatalf("the directory bucket has %d replicas, not the cluster's 3", st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas)
	}
}

// A change of a user logged before the user was deleted, and not yet
// taken by the receiver of a subscription on them and others, is not
// delivered once they are gone: the subscription goes on with the others
// only, as a stream drops the user (event: removed) at the same point.
// The receiver refuses deliveries until alex is deleted, which holds open
// the window in which the subscription still had alex's change to send.
func TestDeletedUserChangeNotDeliveredAfterward(t *testing.T) {
	e := startWith(t, orgFile())
	alex, megan := e.user("alex"), e.user("megan")
	app := e.appToken()
	rc := newReceiver(t)
	if r := e.subscribe(e.userToken("lynne", ""), subBody(rc.srv.URL, []string{alex, megan}, t0.Add(30*time.Minute))); r.status != 201 {
		t.Fatalf("subscription: %d %s", r.status, r.raw)
	}
	rc.mu.Lock()
	rc.fail = 1 << 30 // the receiver is down
	rc.mu.Unlock()
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
	if r := e.call("DELETE", "/v1.0/users/alex@contoso.dev", e.adminToken(), nil); r.status != 204 {
		t.Fatalf("DELETE alex: %d %s", r.status, r.raw)
	}
	rc.mu.Lock()
	rc.fail = 0 // and back up
	rc.mu.Unlock()
	e.must("POST", "/v1.0/users/"+megan+"/presence/setPresence", app, setBody("Away", "Away", "PT1H"))
	if it := item(t, rc.next()); it["resource"] != "communications/presences/"+megan {
		t.Fatalf("after alex was deleted: %v, want megan's change only", it)
	}
	rc.none("nothing more")
}
