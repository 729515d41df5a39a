package presenced_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/presenced/presenced/directory"
)

// TestSetPresenceStack: a setPresence, every client's write, fits in 8 KiB
// of its connection goroutine's stack, as a GET does (TestPresenceGetStack,
// whose reasons apply: a write that needs 16 KiB has its stack halved by
// every collection and copied to grow again by the connection's next
// write; docs/performance.md, branch setpath). What the writes add to the
// process's stacks is under 6 KiB a connection (on main before setpath,
// 9–11 KiB): requestStackFits.
func TestSetPresenceStack(t *testing.T) {
	if raceBuild || testing.CoverMode() != "" {
		t.Skip("the race detector's and coverage's builds have frames of other sizes; this measures the ordinary build")
	}
	e := startWith(t, directory.DemoFile(5))
	tok := e.appToken()
	path := "/v1.0/users/" + directory.DemoUserID(2) + "/presence/setPresence"
	body := fmt.Sprintf(`{"sessionId":"%s:s1","availability":"Busy","activity":"InACall","expirationDuration":"PT1H"}`, directory.DemoDaemonClientID)
	requestStackFits(t, e, "setPresence", func() *http.Request {
		req, _ := http.NewRequest("POST", e.base()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		return req
	})
}
