package sdktest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/presenced/presenced/directory"
)

// TestSubscriptionThroughSDK creates, reads, renews and deletes a presence
// subscription with the official client, and receives a notification.
func TestSubscriptionThroughSDK(t *testing.T) {
	e := start(t)
	alex := e.user("alex")
	got := make(chan map[string]any, 10)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, tok)
			return
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		w.WriteHeader(http.StatusAccepted)
		got <- body
	}))
	defer rc.Close()

	adele := e.client(e.userAuth("adele"), "v1.0")
	sub := models.NewSubscription()
	sub.SetChangeType(ptr("updated"))
	sub.SetNotificationUrl(ptr(rc.URL + "/notify"))
	sub.SetResource(ptr("/communications/presences?$filter=id in ('" + alex + "')"))
	exp := e.srv.Clock().Now().Add(45 * time.Minute).Truncate(time.Second) // the SDK writes whole seconds
	sub.SetExpirationDateTime(&exp)
	sub.SetClientState(ptr("sdk-secret"))
	created, err := adele.Subscriptions().Post(ctx(t), sub, nil)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	id := deref(created.GetId())
	if id == "" || deref(created.GetChangeType()) != "updated" || created.GetExpirationDateTime() == nil ||
		created.GetExpirationDateTime().Sub(exp).Abs() > time.Microsecond {
		t.Fatalf("created subscription: id %q, expiry %v", id, created.GetExpirationDateTime())
	}

	app := e.client(e.appAuth(), "v1.0")
	if err := app.Users().ByUserId(alex).Presence().SetPresence().Post(ctx(t), usersSetPresence(directory.DemoDaemonClientID, "Busy", "InACall", nil), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-got:
		items, _ := body["value"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["subscriptionId"] != id || items[0].(map[string]any)["clientState"] != "sdk-secret" {
			t.Fatalf("notification %v", body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no notification")
	}

	read, err := adele.Subscriptions().BySubscriptionId(id).Get(ctx(t), nil)
	if err != nil || deref(read.GetResource()) != deref(sub.GetResource()) {
		t.Fatalf("get: %v", err)
	}
	renew := models.NewSubscription()
	later := e.srv.Clock().Now().Add(55 * time.Minute).Truncate(time.Second)
	renew.SetExpirationDateTime(&later)
	renewed, err := adele.Subscriptions().BySubscriptionId(id).Patch(ctx(t), renew, nil)
	if err != nil || renewed.GetExpirationDateTime().Sub(later).Abs() > time.Microsecond {
		t.Fatalf("renew: %v", err)
	}
	if err := adele.Subscriptions().BySubscriptionId(id).Delete(ctx(t), nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = adele.Subscriptions().BySubscriptionId(id).Get(ctx(t), nil)
	wantODataError(t, "get after delete", err, 404, "itemNotFound")
}
