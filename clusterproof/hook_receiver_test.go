package clusterproof_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/testcert"
	"github.com/presenced/presenced/notify/richdata"
)

// hookReceiver is a webhook endpoint on a real loopback listener, as a
// Graph receiver is: it answers the validation handshake (the token back,
// as text/plain) and takes each change notification, decrypting its
// resource data for the change's sequenceNumber. It records every
// notification with when it came, duplicates too.
type hookReceiver struct {
	srv         *httptest.Server
	enc         testcert.Encryption
	clientState string

	mu         sync.Mutex
	got        []arrival
	handshakes int
	bad        []string // notifications that were not what Graph sends
}

// arrival is one change notification as the receiver got it.
type arrival struct {
	at                 time.Time
	user, seq, avail   string
	subscriptionID     string
	clientStateMatched bool
	// from is the sender's address: a node delivers over connections of
	// its own.
	from string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	rc := &hookReceiver{enc: testcert.NewEncryption(t), clientState: "clusterproof-hook"}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	if tok := r.URL.Query().Get("validationToken"); tok != "" {
		rc.mu.Lock()
		rc.handshakes++
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, tok)
		return
	}
	at := time.Now()
	var coll struct {
		Value []struct {
			SubscriptionID   string                    `json:"subscriptionId"`
			ClientState      string                    `json:"clientState"`
			EncryptedContent richdata.EncryptedContent `json:"encryptedContent"`
		} `json:"value"`
	}
	if err := json.NewDecoder(r.Body).Decode(&coll); err != nil {
		rc.reject(w, fmt.Sprintf("not a notification collection: %v", err))
		return
	}
	var got []arrival
	for _, n := range coll.Value {
		plain, err := richdata.Decrypt(rc.enc.Key, n.EncryptedContent)
		if err != nil {
			rc.reject(w, fmt.Sprintf("encryptedContent of subscription %s: %v", n.SubscriptionID, err))
			return
		}
		var p struct{ ID, Availability, SequenceNumber string }
		if err := json.Unmarshal(plain, &p); err != nil || p.SequenceNumber == "" {
			rc.reject(w, fmt.Sprintf("resource data %s: %v", plain, err))
			return
		}
		got = append(got, arrival{at: at, user: p.ID, seq: p.SequenceNumber, avail: p.Availability,
			subscriptionID: n.SubscriptionID, clientStateMatched: n.ClientState == rc.clientState, from: r.RemoteAddr})
	}
	rc.mu.Lock()
	rc.got = append(rc.got, got...)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// reject records a notification that is not what Graph sends, and
// answers 400 (the server retries; the test fails on rc.bad anyway).
func (rc *hookReceiver) reject(w http.ResponseWriter, why string) {
	rc.mu.Lock()
	rc.bad = append(rc.bad, why)
	rc.mu.Unlock()
	http.Error(w, why, http.StatusBadRequest)
}

// arrivals is a copy of what came so far, in the order it came.
func (rc *hookReceiver) arrivals() []arrival {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]arrival(nil), rc.got...)
}

// handshaken is how many validation handshakes the receiver answered.
func (rc *hookReceiver) handshaken() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.handshakes
}

// rejected are the notifications that were not what Graph sends.
func (rc *hookReceiver) rejected() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.bad...)
}

// lastBefore is when the last notification before t came.
func (rc *hookReceiver) lastBefore(t time.Time) time.Time {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var last time.Time
	for _, a := range rc.got {
		if a.at.Before(t) {
			last = a.at
		}
	}
	return last
}

// firstAfter waits up to d for a notification that came after t over a
// connection not used until t, and returns when it came: after a kill, the
// first the new owner sent (a notification the dead owner had sent may
// still be read after the kill, over its connection).
func (rc *hookReceiver) firstAfter(t time.Time, d time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(d)
	for {
		rc.mu.Lock()
		old := map[string]bool{}
		for _, a := range rc.got {
			if !a.at.After(t) {
				old[a.from] = true
			}
		}
		var first time.Time
		for _, a := range rc.got {
			if a.at.After(t) && !old[a.from] && (first.IsZero() || a.at.Before(first)) {
				first = a.at
			}
		}
		rc.mu.Unlock()
		if !first.IsZero() {
			return first, true
		}
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor waits up to d until every change of want (user → sequence
// numbers) has come, and returns those that have not.
func (rc *hookReceiver) waitFor(want map[string][]string, d time.Duration) (missing []string) {
	deadline := time.Now().Add(d)
	for {
		rc.mu.Lock()
		have := map[[2]string]bool{}
		for _, a := range rc.got {
			have[[2]string{a.user, a.seq}] = true
		}
		rc.mu.Unlock()
		missing = missing[:0]
		for u, seqs := range want {
			for _, s := range seqs {
				if !have[[2]string{u, s}] {
					missing = append(missing, u+"@"+s)
				}
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(100 * time.Millisecond)
	}
}
