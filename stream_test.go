package presenced_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/graphapi"
)

type sseEvent struct {
	id, kind string
	data     map[string]any
}

// openStream connects to the live stream and returns its events.
func (e *env) openStream(t *testing.T, token, query, lastID string) (<-chan sseEvent, func()) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL()+graphapi.StreamPath+"?"+query+"&access_token="+token, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("stream: %s %s", resp.Status, body)
	}
	ch := make(chan sseEvent, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.kind != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.kind = line[7:]
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(line[6:]), &ev.data)
			}
		}
	}()
	return ch, func() { resp.Body.Close() }
}

func nextEvent(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("no event within 15 s")
	}
	return sseEvent{}
}

func TestLiveStream(t *testing.T) {
	e := start(t)
	app := e.appToken()
	alex, megan := e.user("alex"), e.user("megan")
	ch, closeStream := e.openStream(t, app, "ids="+alex+",megan@contoso.dev", "")
	initial := map[string]string{}
	for range 2 {
		ev := nextEvent(t, ch)
		if ev.kind != "presence" {
			t.Fatalf("initial event %+v", ev)
		}
		initial[ev.data["id"].(string)] = ev.data["availability"].(string) + "/" + ev.data["activity"].(string)
	}
	if initial[alex] != "Offline/Offline" || initial[megan] != "Offline/Offline" {
		t.Fatalf("initial state %v", initial)
	}
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("Busy", "InACall", "PT1H"))
	ev := nextEvent(t, ch)
	if ev.data["id"] != alex || ev.data["activity"] != "InACall" || ev.data["sequenceNumber"] == "" {
		t.Fatalf("change event %+v", ev)
	}
	e.must("POST", "/v1.0/users/"+megan+"/presence/setPresence", app, setBody("Available", "Available", "PT1H"))
	if ev := nextEvent(t, ch); ev.data["id"] != megan || ev.data["activity"] != "Available" {
		t.Fatalf("change event %+v", ev)
	}
	e.fake.Add(5 * time.Minute)
	ev = nextEvent(t, ch)
	if ev.data["id"] != megan || ev.data["activity"] != "AvailableInactive" {
		t.Fatalf("time alone: %+v", ev)
	}
	lastID := ev.id
	closeStream()

	// Changes while disconnected arrive after a resume with Last-Event-ID.
	app = e.appToken()
	e.must("POST", "/v1.0/users/"+alex+"/presence/setPresence", app, setBody("DoNotDisturb", "Presenting", "PT1H"))
	e.must("POST", "/v1.0/users/"+alex+"/presence/clearPresence", app, map[string]any{"sessionId": setBody("", "", "")["sessionId"]})
	ch, closeStream = e.openStream(t, app, "ids="+alex+","+megan, lastID)
	defer closeStream()
	got := []string{}
	for range 2 {
		ev := nextEvent(t, ch)
		got = append(got, ev.kind+":"+ev.data["activity"].(string))
	}
	if strings.Join(got, " ") != "presence:Presenting presence:Offline" {
		t.Fatalf("after resume: %v", got)
	}
}

func TestStreamRejects(t *testing.T) {
	e := start(t)
	app := e.appToken()
	own := e.userToken("adele", "Presence.Read")
	for _, c := range []struct {
		name, query string
		status      int
	}{
		{"no ids", "access_token=" + app, 400},
		{"unknown user", "ids=nobody@contoso.dev&access_token=" + app, 404},
		{"no token", "ids=" + e.user("alex"), 401},
		{"others without Presence.Read.All", "ids=alex@contoso.dev&access_token=" + own, 403},
		{"bad Last-Event-ID", "ids=alex@contoso.dev&lastEventId=x&access_token=" + app, 400},
	} {
		resp, err := http.Get(e.srv.URL() + graphapi.StreamPath + "?" + c.query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.status)
		}
	}
}

// A graceful shutdown does not wait for open streams: they end.
func TestShutdownEndsStreams(t *testing.T) {
	e := start(t)
	ch, closeStream := e.openStream(t, e.appToken(), "ids=alex@contoso.dev", "")
	defer closeStream()
	nextEvent(t, ch)
	done := make(chan struct{})
	go func() { e.stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(8 * time.Second):
		t.Fatal("shutdown waits for an open stream")
	}
	for range ch {
	}
}

// Streams of one user share the change's encoding per shape: the user's
// own stream and another reader's, open together, each get the change as
// they would read it (the owner sees the status message's publication,
// the other does not), whichever encodes it first.
func TestStreamsOfOneUserEachGetTheirShape(t *testing.T) {
	e := start(t)
	app := e.appToken()
	id := e.user("lynne")
	me := e.userToken("lynne", "")
	var owners, others []<-chan sseEvent
	for range 3 {
		ch, stop := e.openStream(t, me, "ids="+id, "")
		defer stop()
		owners = append(owners, ch)
		ch, stop = e.openStream(t, app, "ids="+id, "")
		defer stop()
		others = append(others, ch)
	}
	for _, ch := range append(append([]<-chan sseEvent{}, owners...), others...) {
		if ev := nextEvent(t, ch); ev.kind != "presence" {
			t.Fatalf("initial event %+v", ev)
		}
	}
	e.must("POST", "/v1.0/me/presence/setStatusMessage", me, map[string]any{"statusMessage": map[string]any{
		"message": map[string]any{"content": "In a workshop", "contentType": "text"}}})
	check := func(ch <-chan sseEvent, owner bool) {
		ev := nextEvent(t, ch)
		sm, _ := ev.data["statusMessage"].(map[string]any)
		if msg, _ := sm["message"].(map[string]any); ev.kind != "presence" || ev.id == "" || msg["content"] != "In a workshop" {
			t.Fatalf("change event %+v", ev)
		}
		if _, published := sm["publishedDateTime"]; published != owner {
			t.Fatalf("owner %v: statusMessage %v", owner, sm)
		}
	}
	for i := range owners {
		check(owners[i], true)
		check(others[i], false)
	}
}

// Over HTTP/1.1 a stream's body is the rest of its connection: no chunks
// to frame each event in, and the connection is not reused after it.
func TestStreamBodyIsTheConnection(t *testing.T) {
	e := start(t)
	res, err := http.Get(e.srv.URL() + graphapi.StreamPath + "?ids=" + e.user("alex") + "&access_token=" + e.appToken())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.ProtoMajor != 1 || len(res.TransferEncoding) != 0 || res.ContentLength != -1 || !res.Close {
		t.Fatalf("%s %s: transfer encoding %v, length %d, close %v", res.Proto, res.Status, res.TransferEncoding, res.ContentLength, res.Close)
	}
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || line != "retry: 1000\n" {
		t.Fatalf("first line %q (%v)", line, err)
	}
}
