package presenced_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/presenced/presenced"
	"github.com/presenced/presenced/directory"
	"github.com/presenced/presenced/internal/testcert"
	"github.com/presenced/presenced/notify/richdata"
)

// receiver is a webhook endpoint: it answers Graph's validation handshake
// and records every notification collection it is sent.
type receiver struct {
	t   *testing.T
	srv *httptest.Server
	got chan map[string]any
	mu  sync.Mutex
	// fail, while > 0, makes deliveries fail with 503 (and counts down).
	fail       int
	handshakes int
	// validate=false makes the handshake fail.
	validate bool
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t, got: make(chan map[string]any, 100), validate: true}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			rc.mu.Lock()
			rc.handshakes++
			ok := rc.validate
			rc.mu.Unlock()
			if !ok {
				http.Error(w, "nope", http.StatusForbidden)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, tok)
			return
		}
		rc.mu.Lock()
		failing := rc.fail > 0
		if failing {
			rc.fail--
		}
		rc.mu.Unlock()
		if failing {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("notification is not JSON: %v", err)
		}
		w.WriteHeader(http.StatusAccepted)
		rc.got <- body
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// nextBound is how long next waits. Late is not lost: on a starved box
// (CI at load ~14) a cluster node's lease follow has taken 44 s to give up
// a consumer, its shards handed over meanwhile, and the notification came
// later than 15 s; a lost one still fails here, only later.
const nextBound = 60 * time.Second

// next waits for the next notification collection.
func (rc *receiver) next() map[string]any {
	rc.t.Helper()
	select {
	case b := <-rc.got:
		return b
	case <-time.After(nextBound):
		rc.t.Fatalf("no notification within %v", nextBound)
	}
	return nil
}

// none checks that no notification arrives for a short while.
func (rc *receiver) none(why string) {
	rc.t.Helper()
	select {
	case b := <-rc.got:
		rc.t.Fatalf("%s: unexpected notification %v", why, b)
	case <-time.After(400 * time.Millisecond):
	}
}

type testCert struct {
	b64 string
	key *rsa.PrivateKey
}

// newCert makes a subscriber's self-signed encryption certificate.
func newCert(t *testing.T) testCert {
	e := testcert.NewEncryption(t)
	return testCert{b64: e.B64, key: e.Key}
}

// decrypt opens a rich notification item and returns its presence.
func (c testCert) decrypt(t *testing.T, item map[string]any) map[string]any {
	t.Helper()
	raw, _ := json.Marshal(item["encryptedContent"])
	var ec richdata.EncryptedContent
	if err := json.Unmarshal(raw, &ec); err != nil || ec.Data == "" {
		t.Fatalf("no encryptedContent in %v", item)
	}
	plain, err := richdata.Decrypt(c.key, ec)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(plain, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func item(t *testing.T, coll map[string]any) map[string]any {
	t.Helper()
	v, _ := coll["value"].([]any)
	if len(v) != 1 {
		t.Fatalf("value = %v", coll["value"])
	}
	return v[0].(map[string]any)
}

func (e *env) subscribe(token string, body map[string]any) resp {
	return e.call("POST", "/v1.0/subscriptions", token, body)
}

func subBody(url string, ids []string, exp time.Time) map[string]any {
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = "'" + id + "'"
	}
	return map[string]any{
		"changeType": "updated", "notificationUrl": url, "clientState": "secret-42",
		"resource":           "/communications/presences?$filter=id in (" + strings.Join(quoted, ",") + ")",
		"expirationDateTime": exp.UTC().Format(time.RFC3339),
	}
}

func TestWebhookNotifications(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele := e.userToken("adele", "")
	alex, megan := e.user("alex"), e.user("megan")
	rc := newReceiver(t)
	cert := newCert(t)

	body := subBody(rc.srv.URL+"/hook?tenant=contoso", []string{alex, "megan@contoso.dev"}, t0.Add(45*time.Minute))
	body["includeResourceData"] = true
	body["encryptionCertificate"] = cert.b64
	body["encryptionCertificateId"] = "cert-1"
	r := e.subscribe(adele, body)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	subID := r.str("id")
	if subID == "" || r.str("changeType") != "updated" || r.str("expirationDateTime") != "2026-11-25T09:45:00.0000000Z" || r.str("creatorId") != e.user("adele") {
		t.Fatalf("subscription = %s", r.raw)
	}
	if rc.handshakes != 1 {
		t.Fatalf("handshakes = %d", rc.handshakes)
	}

	t.Run("a write is delivered, encrypted, with its clientState", func(t *testing.T) {
		e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Available", "Available", "PT1H"))
		coll := rc.next()
		it := item(t, coll)
		toks, _ := coll["validationTokens"].([]any)
		if len(toks) != 1 {
			t.Fatalf("validationTokens = %v", coll["validationTokens"])
		}
		vt, err := jwt.Parse([]byte(toks[0].(string)), jwt.WithKeySet(e.srv.Issuer().PublicKeys()), jwt.WithValidate(false))
		if err != nil {
			t.Fatalf("validation token does not verify against the published keys: %v", err)
		}
		aud, _ := vt.Audience()
		iss, _ := vt.Issuer()
		var azp string
		_ = vt.Get("azp", &azp)
		if len(aud) != 1 || aud[0] != directory.DemoClientID || iss != "https://sts.windows.net/"+directory.DemoTenantID+"/" || azp != "0bf30f3b-4a52-48df-9a82-234910c4a086" {
			t.Fatalf("validation token aud %v iss %s azp %s", aud, iss, azp)
		}
		if it["subscriptionId"] != subID || it["clientState"] != "secret-42" || it["resource"] != "communications/presences/"+alex || it["changeType"] != "updated" {
			t.Fatalf("item = %v", it)
		}
		p := cert.decrypt(t, it)
		if p["id"] != alex || p["availability"] != "Available" || p["activity"] != "Available" || p["@odata.type"] != "#microsoft.graph.presence" {
			t.Fatalf("decrypted = %v", p)
		}
	})
	t.Run("a write that changes nothing visible is not delivered", func(t *testing.T) {
		e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Available", "Available", "PT1H"))
		rc.none("refresh")
	})
	t.Run("time alone: the fade is delivered when it happens", func(t *testing.T) {
		e.fake.Add(5 * time.Minute)
		p := cert.decrypt(t, item(t, rc.next()))
		if p["activity"] != "AvailableInactive" {
			t.Fatalf("after 5 idle minutes: %v", p)
		}
		e.must("POST", "/dev/clock/advance?by=PT5M", "", nil)
		if p := cert.decrypt(t, item(t, rc.next())); p["availability"] != "Away" {
			t.Fatalf("after 10 idle minutes: %v", p)
		}
	})
	t.Run("retries until the receiver takes it, in order", func(t *testing.T) {
		rc.mu.Lock()
		rc.fail = 2
		rc.mu.Unlock()
		app = e.appToken()
		e.must("POST", "/v1.0/users/"+megan+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
		e.must("POST", "/v1.0/users/"+megan+"/presence/setPresence", app, setBody("DoNotDisturb", "Presenting", "PT1H"))
		first := cert.decrypt(t, item(t, rc.next()))
		second := cert.decrypt(t, item(t, rc.next()))
		if first["activity"] != "InACall" || second["activity"] != "Presenting" {
			t.Fatalf("order: %v then %v", first["activity"], second["activity"])
		}
		if !(second["sequenceNumber"].(string) > first["sequenceNumber"].(string)) {
			t.Fatalf("sequenceNumbers %v, %v", first["sequenceNumber"], second["sequenceNumber"])
		}
	})
	t.Run("one subscription per user per app: 409", func(t *testing.T) {
		r := e.subscribe(adele, subBody(rc.srv.URL, []string{alex}, e.srv.Clock().Now().Add(30*time.Minute)))
		if r.status != 409 || r.errCode() != "conflict" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("get, list, renew", func(t *testing.T) {
		if r := e.call("GET", "/v1.0/subscriptions/"+subID, adele, nil); r.status != 200 || r.str("id") != subID {
			t.Fatalf("get: %d %s", r.status, r.raw)
		}
		if r := e.call("GET", "/v1.0/subscriptions", adele, nil); r.status != 200 || len(r.body["value"].([]any)) != 1 {
			t.Fatalf("list: %d %s", r.status, r.raw)
		}
		exp := e.srv.Clock().Now().Add(60 * time.Minute).UTC()
		r := e.call("PATCH", "/v1.0/subscriptions/"+subID, adele, map[string]any{"expirationDateTime": exp.Format(time.RFC3339Nano)})
		if r.status != 200 || r.str("expirationDateTime") != exp.Format("2006-01-02T15:04:05.0000000Z") {
			t.Fatalf("renew: %d %s", r.status, r.raw)
		}
		if r := e.call("PATCH", "/v1.0/subscriptions/"+subID, adele, map[string]any{"expirationDateTime": exp.Add(2 * time.Hour).Format(time.RFC3339)}); r.status != 400 {
			t.Fatalf("renew beyond 60 minutes: %d %s", r.status, r.raw)
		}
		other := e.userToken("lynne", "")
		if r := e.call("GET", "/v1.0/subscriptions/"+subID, other, nil); r.status != 404 {
			t.Fatalf("another user's subscription: %d", r.status)
		}
	})
	t.Run("delete stops deliveries", func(t *testing.T) {
		if r := e.call("DELETE", "/v1.0/subscriptions/"+subID, adele, nil); r.status != 204 {
			t.Fatalf("delete: %d %s", r.status, r.raw)
		}
		e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
		rc.none("after delete")
		if r := e.call("GET", "/v1.0/subscriptions/"+subID, adele, nil); r.status != 404 {
			t.Fatalf("get after delete: %d", r.status)
		}
	})
}

func TestSubscriptionLifecycle(t *testing.T) {
	e := start(t)
	adele := e.userToken("adele", "")
	alex := e.user("alex")
	rc, life := newReceiver(t), newReceiver(t)
	body := subBody(rc.srv.URL, []string{alex}, t0.Add(30*time.Minute))
	body["lifecycleNotificationUrl"] = life.srv.URL
	r := e.subscribe(adele, body)
	if r.status != 201 || life.handshakes != 1 {
		t.Fatalf("create: %d %s (lifecycle handshakes %d)", r.status, r.raw, life.handshakes)
	}
	id := r.str("id")
	e.fake.Add(20 * time.Minute) // 10 minutes before expiry
	it := item(t, life.next())
	if it["lifecycleEvent"] != "reauthorizationRequired" || it["subscriptionId"] != id || it["clientState"] != "secret-42" {
		t.Fatalf("lifecycle notification = %v", it)
	}
	e.fake.Add(10 * time.Minute) // expired
	adele = e.userToken("adele", "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.call("GET", "/v1.0/subscriptions/"+id, adele, nil)
		if r.status == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired subscription still there: %d", r.status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	app := e.appToken()
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
	rc.none("after expiry")
	// Once expired and removed, a new one may be made.
	if r := e.subscribe(adele, subBody(rc.srv.URL, []string{alex}, e.srv.Clock().Now().Add(30*time.Minute))); r.status != 201 {
		t.Fatalf("new subscription after expiry: %d %s", r.status, r.raw)
	}
}

func TestQueuedDeliveriesSurviveRestart(t *testing.T) {
	e := start(t)
	adele := e.userToken("adele", "")
	alex := e.user("alex")
	rc := newReceiver(t)
	if r := e.subscribe(adele, subBody(rc.srv.URL, []string{alex}, t0.Add(50*time.Minute))); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	rc.mu.Lock()
	rc.fail = 1 << 30 // the receiver is down
	rc.mu.Unlock()
	app := e.appToken()
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("DoNotDisturb", "Presenting", "PT1H"))
	e.restart()
	rc.mu.Lock()
	rc.fail = 0 // and back up
	rc.mu.Unlock()
	for i := range 2 {
		it := item(t, rc.next())
		if it["resource"] != "communications/presences/"+alex {
			t.Fatalf("delivery %d after restart: %v", i, it)
		}
	}
	rc.none("each change once")
}

func TestSubscriptionRequestsRejected(t *testing.T) {
	e := start(t)
	adele := e.userToken("adele", "")
	readOnly := e.userToken("adele", "Presence.Read")
	app := e.appToken()
	alex := e.user("alex")
	rc := newReceiver(t)
	exp := t0.Add(30 * time.Minute)
	bad := newReceiver(t)
	bad.validate = false
	with := func(k string, v any) map[string]any {
		b := subBody(rc.srv.URL, []string{alex}, exp)
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	for _, c := range []struct {
		name   string
		token  string
		body   map[string]any
		status int
		msg    string
	}{
		{"app token", app, subBody(rc.srv.URL, []string{alex}, exp), 403, "Application permissions"},
		{"scope without Presence.Read.All", readOnly, subBody(rc.srv.URL, []string{alex}, exp), 403, "Presence.Read.All"},
		{"handshake fails", adele, subBody(bad.srv.URL, []string{alex}, exp), 400, "validation request failed"},
		{"too far ahead", adele, subBody(rc.srv.URL, []string{alex}, t0.Add(61*time.Minute)), 400, "expirationDateTime"},
		{"in the past", adele, subBody(rc.srv.URL, []string{alex}, t0.Add(-time.Minute)), 400, "expirationDateTime"},
		{"wrong changeType", adele, with("changeType", "created"), 400, "updated"},
		{"other resource", adele, with("resource", "/users/"+alex+"/presence"), 400, "resource"},
		{"unknown user", adele, with("resource", "/communications/presences/00000000-0000-0000-0000-00000000abcd"), 404, "not found"},
		{"clientState too long", adele, with("clientState", strings.Repeat("x", 129)), 400, "128"},
		{"resource data without certificate", adele, with("includeResourceData", true), 400, "encryptionCertificate"},
		{"unknown property", adele, with("notificationURL", "x"), 400, "notificationURL"},
		{"no notificationUrl", adele, with("notificationUrl", nil), 400, "notificationUrl"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.subscribe(c.token, c.body)
			if r.status != c.status || !strings.Contains(r.errMessage(), c.msg) {
				t.Fatalf("%d %s, want %d mentioning %q", r.status, r.raw, c.status, c.msg)
			}
		})
	}
	if r := e.call("GET", "/v1.0/subscriptions", adele, nil); r.status != 200 || len(r.body["value"].([]any)) != 0 {
		t.Fatalf("a rejected request created a subscription: %s", r.raw)
	}
}

// Outside dev mode notification URLs must be https and may not point into
// the server's own network unless the operator allows it (no SSRF).
func TestNotificationURLPolicyOutsideDevMode(t *testing.T) {
	for _, allow := range []bool{false, true} {
		srv, err := presenced.New(presenced.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Directory: directory.DemoFile(0),
			AllowPrivateWebhooks: allow, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown(context.Background())
		e := &env{t: t, srv: srv}
		adele := e.userToken("adele", "")
		alex := e.user("alex")
		exp := srv.Clock().Now().Add(30 * time.Minute)
		cases := []struct {
			url, msg string
		}{
			{"http://receiver.example/hook", "https"},
			{"https://127.0.0.1:9/hook", "127.0.0.1"},
			{"https://169.254.169.254/latest", "169.254.169.254"},
			{"https://[::1]:9/hook", "::1"},
			{"https://10.1.2.3/hook", "10.1.2.3"},
		}
		for _, c := range cases {
			if allow && !strings.Contains(c.url, "127.0.0.1") && !strings.Contains(c.url, "[::1]") {
				continue // allowed targets are contacted: only ever loopback from a test
			}
			r := e.subscribe(adele, subBody(c.url, []string{alex}, exp))
			if r.status != 400 {
				t.Fatalf("allow=%v %s: %d %s", allow, c.url, r.status, r.raw)
			}
			refusedByPolicy := strings.Contains(r.errMessage(), c.msg) && !strings.Contains(r.errMessage(), "validation request failed")
			if c.msg == "https" || !allow {
				if !refusedByPolicy {
					t.Errorf("allow=%v %s: %s, want a refusal naming %q", allow, c.url, r.errMessage(), c.msg)
				}
			} else if !strings.Contains(r.errMessage(), "validation request failed") {
				// Allowed by the operator: the handshake is attempted (and
				// fails, nothing listens there).
				t.Errorf("allow=%v %s: %s, want the handshake to be attempted", allow, c.url, r.errMessage())
			}
		}
	}
}

// A receiver that hangs holds up only its own subscription: the write is
// acknowledged and another receiver gets the change while the first is
// still stuck.
func TestStuckReceiverSlowsNobody(t *testing.T) {
	e := start(t)
	alex := e.user("alex")
	stuck := make(chan struct{})
	entered := make(chan struct{}, 10)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, tok)
			return
		}
		entered <- struct{}{}
		<-stuck // never answers while the test runs
	}))
	defer slow.Close()
	defer close(stuck) // runs before Close, which waits for the handler
	healthy := newReceiver(t)
	if r := e.subscribe(e.userToken("adele", ""), subBody(slow.URL, []string{alex}, t0.Add(30*time.Minute))); r.status != 201 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r := e.subscribe(e.userToken("megan", ""), subBody(healthy.srv.URL, []string{alex}, t0.Add(30*time.Minute))); r.status != 201 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	app := e.appToken()
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
	<-entered // the stuck receiver holds the first change…
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("DoNotDisturb", "Presenting", "PT1H"))
	// …while the healthy one gets both, and writes go on being acknowledged.
	for range 2 {
		if it := item(t, healthy.next()); it["resource"] != "communications/presences/"+alex {
			t.Fatalf("healthy receiver got %v", it)
		}
	}
}

// A basic notification names the subscription and the user, not the
// change, so a subscription sends the same bytes for the next change of the
// same user — and new ones for another user and once it was renewed.
func TestBasicNotificationsFollowUserAndRenewal(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele := e.userToken("adele", "")
	alex, megan := e.user("alex"), e.user("megan")
	rc := newReceiver(t)
	r := e.subscribe(adele, subBody(rc.srv.URL+"/hook", []string{alex, megan}, t0.Add(45*time.Minute)))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	subID := r.str("id")
	renewed := t0.Add(55 * time.Minute)
	steps := []struct {
		name, user string
		pair       [2]string
		renew      bool
		expiry     string
	}{
		{"first change", alex, [2]string{"Busy", "InACall"}, false, "2026-11-25T09:45:00.0000000Z"},
		{"the same user again", alex, [2]string{"Away", "Away"}, false, "2026-11-25T09:45:00.0000000Z"},
		{"another user", megan, [2]string{"Busy", "InACall"}, false, "2026-11-25T09:45:00.0000000Z"},
		{"renewed", megan, [2]string{"Away", "Away"}, true, "2026-11-25T09:55:00.0000000Z"},
		{"the first user, renewed", alex, [2]string{"Busy", "InACall"}, false, "2026-11-25T09:55:00.0000000Z"},
	}
	for _, st := range steps {
		if st.renew {
			if r := e.call("PATCH", "/v1.0/subscriptions/"+subID, adele, map[string]any{"expirationDateTime": renewed.Format(time.RFC3339)}); r.status != 200 {
				t.Fatalf("renew: %d %s", r.status, r.raw)
			}
		}
		e.must("POST", "/v1.0/users/"+st.user+"/presence/setPresence", app, setBody(st.pair[0], st.pair[1], "PT1H"))
		it := item(t, rc.next())
		rd, _ := it["resourceData"].(map[string]any)
		if it["subscriptionId"] != subID || it["resource"] != "communications/presences/"+st.user || rd["id"] != st.user ||
			it["subscriptionExpirationDateTime"] != st.expiry || it["clientState"] != "secret-42" || it["encryptedContent"] != nil {
			t.Fatalf("%s: item = %v", st.name, it)
		}
	}
}

// A subscription is told of its users' changes made after it was created,
// never of their presence as it already was — on a clock that stands still
// too (this suite's, dev mode's), where a presence set before the
// subscription carries its very CreatedAt. Nobody watched alex when he set
// his presence, so it was first logged when the subscription's worker
// watched him, after the subscription's start in the log: it was
// delivered as an "updated" of alex (what
// TestDeletedUserEndsPresenceSubscriptionsAndStreams saw on a loaded
// machine, through another subscription's late watch). Megan's change,
// made after, must be the first notification; alex's next change is
// delivered as any other.
func TestSubscriptionNotToldOfPresenceBeforeIt(t *testing.T) {
	e := start(t)
	alex, megan := e.user("alex"), e.user("megan")
	app := e.appToken()
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
	rc := newReceiver(t)
	if r := e.subscribe(e.userToken("lynne", ""), subBody(rc.srv.URL, []string{alex, megan}, t0.Add(30*time.Minute))); r.status != 201 {
		t.Fatalf("subscription: %d %s", r.status, r.raw)
	}
	e.must("POST", "/v1.0/users/"+megan+"/presence/setPresence", app, setBody("Away", "Away", "PT1H"))
	if it := item(t, rc.next()); it["resource"] != "communications/presences/"+megan {
		t.Fatalf("first notification: %v, want megan's change (alex's presence was set before the subscription)", it)
	}
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Available", "Available", "PT1H"))
	if it := item(t, rc.next()); it["resource"] != "communications/presences/"+alex {
		t.Fatalf("alex's change after the subscription: %v", it)
	}
}
