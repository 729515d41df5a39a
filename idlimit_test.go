package presenced_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/graphapi"
)

// TestIDLimitCountsEveryEntryEverywhere: getPresencesByUserId, a
// subscription's $filter=id in (…) and the live stream's ids take up to 650
// entries, counted the same way (every entry, a repeated id too), and
// refuse the 651st with the same words.
func TestIDLimitCountsEveryEntryEverywhere(t *testing.T) {
	e := start(t)
	app := e.appToken()
	adele := e.userToken("adele", "")
	alex := e.user("alex")
	rc := newReceiver(t)
	repeat := func(n int) []string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = alex
		}
		return ids
	}
	const fragment = "has 651 entries; at most 650 are accepted"
	try := map[string]func(ids []string) (int, string){
		"getPresencesByUserId": func(ids []string) (int, string) {
			r := e.call("POST", "/v1.0/communications/getPresencesByUserId", app, map[string]any{"ids": ids})
			return r.status, r.errMessage()
		},
		"subscription": func(ids []string) (int, string) {
			r := e.subscribe(adele, subBody(rc.srv.URL, ids, t0.Add(30*time.Minute)))
			return r.status, r.errMessage()
		},
		"stream": func(ids []string) (int, string) {
			resp, err := http.Get(e.srv.URL() + graphapi.StreamPath + "?ids=" + strings.Join(ids, ",") + "&access_token=" + app)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode == 200 {
				return 200, "" // an open stream: leave it
			}
			raw, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(raw)
		},
	}
	for name, f := range try {
		t.Run(name, func(t *testing.T) {
			// 651 first: a subscription is one per user and application.
			status, msg := f(repeat(651))
			if status != 400 || !strings.Contains(msg, fragment) {
				t.Fatalf("651 entries (one user repeated): %d %s; want 400 saying %q", status, msg, fragment)
			}
			if status, msg := f(repeat(650)); status != 200 && status != 201 {
				t.Fatalf("650 entries (one user repeated): %d %s", status, msg)
			}
		})
	}
}
