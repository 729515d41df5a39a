package presenced_test

import (
	"testing"
	"time"
)

// A change waiting for a retry when its subscription expires is not
// delivered: the subscription's delivery ends with it, as Graph sends
// nothing on an expired subscription (docs/notifications.md). Pinned
// against a subscription on the same user and receiver that has not
// expired: its change, retried on the same schedule, is delivered once
// the receiver is back, and the expired one's never is.
func TestPendingDeliveriesEndWithTheSubscription(t *testing.T) {
	e := start(t)
	alex := e.user("alex")
	rc := newReceiver(t)
	const down = 1 << 30
	rc.mu.Lock()
	rc.fail = down // the receiver is down
	rc.mu.Unlock()
	expiring := e.subscribe(e.userToken("adele", ""), subBody(rc.srv.URL, []string{alex}, t0.Add(30*time.Minute)))
	staying := e.subscribe(e.userToken("megan", ""), subBody(rc.srv.URL, []string{alex}, t0.Add(50*time.Minute)))
	if expiring.status != 201 || staying.status != 201 {
		t.Fatalf("create: %d %s; %d %s", expiring.status, expiring.raw, staying.status, staying.raw)
	}
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", e.appToken(), setBody("Busy", "InACall", "PT1H"))

	// Both tried once and refused: the change waits for a retry.
	attempted := func() int {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return down - rc.fail
	}
	for deadline := time.Now().Add(30 * time.Second); attempted() < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d delivery attempts within 30 s, want 2", attempted())
		}
	}
	e.fake.Add(30 * time.Minute) // the first subscription expires
	adele := e.userToken("adele", "")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r := e.call("GET", "/v1.0/subscriptions/"+expiring.str("id"), adele, nil); r.status == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired subscription is still there after 10 s")
		}
	}
	rc.mu.Lock()
	rc.fail = 0 // and back up
	rc.mu.Unlock()

	if it := item(t, rc.next()); it["subscriptionId"] != staying.str("id") || it["resource"] != "communications/presences/"+alex {
		t.Fatalf("delivered after the receiver came back: %v; want the change, on the subscription that did not expire", it)
	}
	// The expired one's retry was due on the same schedule (both were
	// refused once, at the same time; the next retries are 1 s, then 2 s
	// apart): a delivery still under way would come within 3 s.
	select {
	case b := <-rc.got:
		t.Fatalf("the expired subscription's pending change was delivered: %v", b)
	case <-time.After(3 * time.Second):
	}
}
