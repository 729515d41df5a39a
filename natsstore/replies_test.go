package natsstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/store"
)

// Many writes at once, each waiting on a reply slot of its own: every
// writer gets its own write's answer — the revision the engine stored its
// value at, or the conflict of its own stale write — and slots are reused,
// one per writer at a time.
// Both ways a single node writes: its raw connection (rawconn.go), and
// nats.go (a cluster's way, and the raw connection's fallback).
func TestConcurrentUpdatesGetTheirOwnAnswers(t *testing.T) {
	for _, path := range writePaths {
		t.Run(path, func(t *testing.T) { concurrentUpdates(t, path) })
	}
}

// writePaths are the two ways update writes on a single node.
var writePaths = []string{"raw", "nats.go"}

// onPath makes b's engine write by path, and checks that it can.
func onPath(t *testing.T, b *kv, path string) {
	t.Helper()
	if !b.e.raw.usable() {
		t.Fatal("a single node's engine has no raw connection")
	}
	if path == "nats.go" {
		b.e.raw.closing.Store(true)
	}
}

// slotsMade is how many reply slots path's writes have made.
func slotsMade(b *kv, path string) uint64 {
	if path == "raw" {
		b.e.raw.smu.Lock()
		defer b.e.raw.smu.Unlock()
		return b.e.raw.made
	}
	b.rep.mu.Lock()
	defer b.rep.mu.Unlock()
	return uint64(b.rep.made)
}

func concurrentUpdates(t *testing.T, path string) {
	ctx := ctxT(t)
	b := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence").(*kv)
	onPath(t, b, path)
	stream, err := b.js.Stream(ctx, b.stream)
	if err != nil {
		t.Fatal(err)
	}
	const writers, rounds = 64, 30
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := ukey(tenantA, fmt.Sprintf("user-%d", w))
			rev, err := b.Put(ctx, k, []byte("0"), 0)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range rounds {
				if i%5 == 4 {
					// A stale write: its own conflict, nothing stored.
					if _, err := b.Put(ctx, k, []byte("stale"), rev-1); !errors.Is(err, store.ErrConflict) {
						t.Errorf("%s: stale write: %v, want a conflict", k, err)
						return
					}
					continue
				}
				// Values of several lengths: a slot's frame is reused from
				// write to write (rawconn.go), grown past its room (512
				// bytes) and dropped past maxSlotFrame (4 KiB).
				v := fmt.Sprintf("%d-%d", w, i) + strings.Repeat("v", []int{0, 300, 700, 5000}[(w+i)%4])
				got, err := b.Put(ctx, k, []byte(v), rev)
				if err != nil {
					t.Errorf("%s: %v", k, err)
					return
				}
				m, err := stream.GetLastMsgForSubject(ctx, b.prefix+k)
				if err != nil {
					t.Error(err)
					return
				}
				if m.Sequence != got || string(m.Data) != v {
					t.Errorf("%s: answered revision %d for %q; the engine holds %q at %d", k, got, v, m.Data, m.Sequence)
					return
				}
				rev = got
			}
		}()
	}
	wg.Wait()
	if made := slotsMade(b, path); made == 0 || made > writers {
		t.Fatalf("%d reply slots made for %d writers", made, writers)
	}
}

// A write to a subject no stream takes fails at once with the engine's
// "no stream" error, as nats.go's request did.
func TestUpdateWithoutStream(t *testing.T) {
	for _, path := range writePaths {
		t.Run(path, func(t *testing.T) { updateWithoutStream(t, path) })
	}
}

func updateWithoutStream(t *testing.T, path string) {
	ctx := ctxT(t)
	b := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence").(*kv)
	onPath(t, b, path)
	other := *b
	other.prefix = "$KV.nosuchbucket."
	if _, err := other.update(ctx, ukey(tenantA, user1), []byte("x"), 1, true); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("update without a stream: %v, want ErrNoStreamResponse", err)
	}
	// Its slot was answered: it is reused by the next write.
	rev, err := b.Put(ctx, ukey(tenantA, user1), []byte("one"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.update(ctx, ukey(tenantA, user1), []byte("two"), rev, true); err != nil {
		t.Fatal(err)
	}
	if made := slotsMade(b, path); made != 1 {
		t.Fatalf("%d slots made for writes one at a time", made)
	}
}

// A dropped slot (its writer stopped waiting) receives nothing more and is
// never handed out again: a late answer cannot reach another write.
func TestDroppedReplySlot(t *testing.T) {
	b := bucketT(t, openT(t, Options{Dir: t.TempDir()}), "presence").(*kv)
	s, err := b.rep.get()
	if err != nil {
		t.Fatal(err)
	}
	b.rep.drop(s)
	if err := b.nc.Publish(s.subject, []byte("late")); err != nil {
		t.Fatal(err)
	}
	if err := b.nc.Flush(); err != nil { // the server has routed the message, and we read what it sent
		t.Fatal(err)
	}
	select {
	case m := <-s.ch:
		t.Fatalf("a dropped slot received %q", m.Data)
	default:
	}
	n, err := b.rep.get()
	if err != nil {
		t.Fatal(err)
	}
	if n == s || n.subject == s.subject {
		t.Fatalf("a dropped slot was handed out again: %s", n.subject)
	}
}

// A reply slot's writer takes only the answer to its own use of the slot.
// A clustered engine can answer one publish twice (CI, 2026-12-03: while a
// paused leader resumed, writes through the other nodes were answered with
// other partitions' acknowledgements); when the slot was reused after its
// first answer, the second went to the slot's next request. Here a
// responder answers every request twice.
func TestReplySlotTakesOnlyItsOwnAnswer(t *testing.T) {
	e := openT(t, Options{Dir: t.TempDir()})
	sub, err := e.nc.Subscribe("test.twice", func(m *nats.Msg) {
		_ = m.Respond(m.Data)
		_ = m.Respond(m.Data)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for i := range 20 {
		want := strconv.Itoa(i)
		resp, err := e.request(context.Background(), &nats.Msg{Subject: "test.twice", Data: []byte(want)}, 5*time.Second)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if string(resp.Data) != want {
			t.Fatalf("request %d was answered %q, an answer to an earlier request", i, resp.Data)
		}
	}
}
