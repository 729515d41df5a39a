package sdktest

import (
	"net/http"
	"testing"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/presenced/presenced/directory"
)

// msgraph-sdk-go-core's BatchRequest (BatchRequestContent) and
// BatchResponse work against presenced unchanged: reads and a write in one
// batch, a read that depends on the write, and a failed request reported
// among the others.
func TestBatchThroughSDK(t *testing.T) {
	e := start(t)
	c := ctx(t)
	adele, alex := e.user("adele"), e.user("alex")
	client := e.client(e.appAuth(), "v1.0")
	adapter := client.GetAdapter()
	batch := msgraphcore.NewBatchRequest(adapter)

	add := func(name string, info func() (*abstractions.RequestInformation, error)) msgraphcore.BatchItem {
		t.Helper()
		ri, err := info()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		item, err := batch.AddBatchRequestStep(*ri)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return item
	}
	before := add("get alex", func() (*abstractions.RequestInformation, error) {
		return client.Users().ByUserId(alex).Presence().ToGetRequestInformation(c, nil)
	})
	set := add("setPresence", func() (*abstractions.RequestInformation, error) {
		return client.Users().ByUserId(adele).Presence().SetPresence().ToPostRequestInformation(c,
			usersSetPresence(directory.DemoDaemonClientID, "Busy", "InACall", isoDuration(t, time.Hour, "PT1H")), nil)
	})
	after := add("get adele", func() (*abstractions.RequestInformation, error) {
		return client.Users().ByUserId(adele).Presence().ToGetRequestInformation(c, nil)
	})
	after.DependsOnItem(set)
	clear := users.NewItemPresenceClearPresencePostRequestBody()
	clear.SetSessionId(ptr(directory.DemoDaemonClientID + ":nowhere"))
	missing := add("clearPresence of a missing session", func() (*abstractions.RequestInformation, error) {
		return client.Users().ByUserId(alex).Presence().ClearPresence().ToPostRequestInformation(c, clear, nil)
	})

	resp, err := batch.Send(c, adapter)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	codes := resp.GetStatusCodes()
	want := map[string]int32{*before.GetId(): 200, *set.GetId(): 200, *after.GetId(): 200, *missing.GetId(): http.StatusNotFound}
	for id, st := range want {
		if codes[id] != st {
			t.Errorf("request %s: status %d, want %d (all: %v)", id, codes[id], st, codes)
		}
	}
	if failed := resp.GetFailedResponses(); len(failed) != 1 || failed[*missing.GetId()] != http.StatusNotFound {
		t.Errorf("failed responses %v", failed)
	}
	p, err := msgraphcore.GetBatchResponseById[models.Presenceable](resp, *after.GetId(), models.CreatePresenceFromDiscriminatorValue)
	if err != nil {
		t.Fatalf("the read after the write: %v", err)
	}
	wantPair(t, "read in the batch after its write", p, "Busy", "InACall")
	q, err := msgraphcore.GetBatchResponseById[models.Presenceable](resp, *before.GetId(), models.CreatePresenceFromDiscriminatorValue)
	if err != nil {
		t.Fatalf("the other read: %v", err)
	}
	wantPair(t, "the other user", q, "Offline", "Offline")
	if deref(q.GetId()) != alex {
		t.Errorf("id %s, want %s", deref(q.GetId()), alex)
	}
}

// $select through the SDK's query parameters: the presence holds only the
// selected properties.
func TestSelectThroughSDK(t *testing.T) {
	e := start(t)
	c := ctx(t)
	adele := e.user("adele")
	client := e.client(e.appAuth(), "v1.0")
	p, err := client.Users().ByUserId(adele).Presence().Get(c, &users.ItemPresenceRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemPresenceRequestBuilderGetQueryParameters{Select: []string{"availability", "activity"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantPair(t, "$select=availability,activity", p, "Offline", "Offline")
	if p.GetId() != nil || p.GetSequenceNumber() != nil || p.GetOutOfOfficeSettings() != nil {
		t.Errorf("properties not selected came back: id %v, sequenceNumber %v", deref(p.GetId()), deref(p.GetSequenceNumber()))
	}
}
