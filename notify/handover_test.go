package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/internal/enginetest"
	"github.com/presenced/presenced/internal/testcert"
	"github.com/presenced/presenced/natsstore"
	"github.com/presenced/presenced/notify"
	"github.com/presenced/presenced/notify/richdata"
	"github.com/presenced/presenced/notify/subscription"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store"
)

// steeredLeases are a node's leases with Leads answered by the test: a
// node told it leads the leases stands by and hands its shards over
// (standby.go), which is how a graceful hand-over is forced here.
type steeredLeases struct {
	store.Leases
	lead *atomic.Bool
}

func (s steeredLeases) Leads(context.Context) bool { return s.lead.Load() }

// countingReceiver takes rich notifications and counts each change (user,
// sequenceNumber) it got. It answers each one a little after reading it,
// as a receiver that does some work does: a hand-over then nearly always
// finds a delivery in flight.
type countingReceiver struct {
	url, cert string
	mu        sync.Mutex
	got       map[[2]string]int
	at        map[[2]string][]string // when each copy came, and from where
	total     int
}

func newCountingReceiver(t *testing.T, answerAfter time.Duration) *countingReceiver {
	t.Helper()
	enc := testcert.NewEncryption(t)
	rc := &countingReceiver{cert: enc.B64, got: map[[2]string]int{}, at: map[[2]string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, tok)
			return
		}
		var coll struct {
			Value []struct {
				EncryptedContent richdata.EncryptedContent `json:"encryptedContent"`
			} `json:"value"`
		}
		if err := json.NewDecoder(r.Body).Decode(&coll); err != nil || len(coll.Value) != 1 {
			t.Errorf("notification: %v %+v", err, coll)
			return
		}
		plain, err := richdata.Decrypt(enc.Key, coll.Value[0].EncryptedContent)
		var p struct{ ID, SequenceNumber string }
		if err == nil {
			err = json.Unmarshal(plain, &p)
		}
		if err != nil {
			t.Errorf("decrypting a notification: %v", err)
			return
		}
		rc.mu.Lock()
		k := [2]string{p.ID, p.SequenceNumber}
		rc.got[k]++
		rc.at[k] = append(rc.at[k], time.Now().Format("15:04:05.000")+" from "+r.RemoteAddr)
		rc.total++
		rc.mu.Unlock()
		time.Sleep(answerAfter)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	rc.url = srv.URL
	return rc
}

// A graceful hand-over — the node that delivers a subscription stands by
// (it was told it leads the leases) and hands its shard over to the other
// node, again and again — under a stream of changes of several users
// written through both nodes: the receiver gets every acknowledged change
// exactly once. The giving node stops taking changes, lets the delivery
// in flight finish, saves the position after it and only then releases
// its lease; the taker resumes from there.
func TestGracefulHandOverDeliversEachChangeOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	c := enginetest.StartCluster(t, 3, natsstore.Options{})
	fake := clock.NewFake(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	leads := []*atomic.Bool{{}, {}}
	var nodes []*node
	for i := range leads {
		// Leases of 6 s: a hand-over does not wait for one to lapse (it
		// is released, and taken at once), and a loaded machine that holds
		// renewals back for seconds does not make one lapse (a lapse cuts
		// deliveries: not what is tested here).
		nodes = append(nodes, startNodeWith(t, c.Node(i), fmt.Sprintf("n%d", i), fake, 6*time.Second, func(ls store.Leases) store.Leases {
			return steeredLeases{Leases: ls, lead: leads[i]}
		}))
	}
	rc := newCountingReceiver(t, 15*time.Millisecond)
	const tenant = "a5036a1a-166f-4ed5-bf5a-e0ccc1602604"
	var users []core.UserRef
	for i := range 4 {
		users = append(users, core.UserRef{TenantID: tenant, UserID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)})
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.UserID
	}
	owner := notify.Owner{TenantID: tenant, AppID: "6dcddc99-5a7f-430c-a555-551d652a37b1", UserID: users[0].UserID}
	ctx := context.Background()
	s, err := nodes[0].subs.Create(ctx, owner, subscription.Subscription{ChangeType: subscription.ChangeTypeUpdated,
		NotificationURL: rc.url, UserIDs: ids, ExpirationDateTime: fake.Now().Add(55 * time.Minute),
		IncludeResourceData: true, EncryptionCertificate: rc.cert, EncryptionCertificateID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	holder := func(d time.Duration) int {
		t.Helper()
		deadline := time.Now().Add(d)
		for {
			var by []int
			for i, n := range nodes {
				if n.subs.Delivers(s.ID) {
					by = append(by, i)
				}
			}
			if len(by) > 1 {
				t.Fatalf("subscription delivered by nodes %v at once", by)
			}
			if len(by) == 1 {
				return by[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("no node delivers the subscription within %v", d)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	h := holder(30 * time.Second)

	// One writer per user, through both nodes in turn, a change every
	// 80 ms each (50 a second in all); each acknowledged change is kept.
	var (
		mu    sync.Mutex
		acked = map[[2]string]bool{}
		wg    sync.WaitGroup
	)
	wctx, stop := context.WithCancel(ctx)
	pairs := []presence.Pair{{Availability: "Busy", Activity: "InACall"}, {Availability: "Away", Activity: "Away"}}
	for i, u := range users {
		wg.Go(func() {
			for n := 0; wctx.Err() == nil; n++ {
				snap, changed, err := nodes[(i+n)%2].core.Do(wctx, u, presence.SetPresence{SessionID: owner.AppID, Pair: pairs[n%2], Expiration: time.Hour})
				if err == nil && changed {
					mu.Lock()
					acked[[2]string{u.UserID, snap.Seq.String()}] = true
					mu.Unlock()
				} else if err != nil && wctx.Err() == nil {
					t.Errorf("writing %s: %v", u.UserID, err)
				}
				sleepCtx(wctx, 80*time.Millisecond)
			}
		})
	}
	const handOvers = 6
	for r := range handOvers {
		time.Sleep(time.Second) // changes delivered by the holder
		leads[h].Store(true)    // it stands by, and hands the shard over
		leads[1-h].Store(false)
		start := time.Now()
		deadline := time.Now().Add(30 * time.Second)
		for nodes[h].subs.Delivers(s.ID) || !nodes[1-h].subs.Delivers(s.ID) {
			if nodes[h].subs.Delivers(s.ID) && nodes[1-h].subs.Delivers(s.ID) {
				t.Fatalf("hand-over %d: both nodes deliver the subscription", r)
			}
			if time.Now().After(deadline) {
				t.Fatalf("hand-over %d: n%d did not hand the subscription to n%d within 30 s", r, h, 1-h)
			}
			time.Sleep(time.Millisecond)
		}
		t.Logf("hand-over %d at %s: n%d → n%d in %v", r, start.Format("15:04:05.000"), h, 1-h, time.Since(start).Round(time.Millisecond))
		h = 1 - h
	}
	time.Sleep(time.Second)
	stop()
	wg.Wait()

	mu.Lock()
	want := len(acked)
	mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rc.mu.Lock()
		missing := 0
		for k := range acked {
			if rc.got[k] == 0 {
				missing++
			}
		}
		rc.mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("LOST: %d of %d acknowledged changes never reached the receiver", missing, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var dups []string
	for k, n := range rc.got {
		if n > 1 {
			dups = append(dups, fmt.Sprintf("%s of %s ×%d at %v", k[1], k[0], n, rc.at[k]))
		}
	}
	t.Logf("%d hand-overs; %d changes acknowledged, %d notifications received", handOvers, want, rc.total)
	if len(dups) > 0 {
		t.Fatalf("%d changes came more than once around graceful hand-overs: %v", len(dups), dups)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
