package notify

import (
	"context"
	"errors"
	"testing"
)

// A tap hands out what was pushed in order, whether its queue drained in
// between (its array kept), was taken from part-way (what waits moved to
// the front rather than grown past), or held a backlog (its array let go
// once drained); and it is dropped past max as before.
func TestTapQueueKeepsOrderAcrossReuse(t *testing.T) {
	ctx := context.Background()
	tap := &Tap{signal: make(chan struct{}, 1)}
	pushed, taken := uint64(0), uint64(0)
	push := func(n int) {
		for range n {
			pushed++
			if ok, _ := tap.push(Entry{Seq: pushed}, 100); !ok {
				t.Fatalf("push %d dropped the tap", pushed)
			}
		}
	}
	take := func(n int) {
		for range n {
			e, err := tap.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if taken++; e.Seq != taken {
				t.Fatalf("took %d, want %d", e.Seq, taken)
			}
		}
	}
	push(3)
	take(3)
	if tap.Len() != 0 || cap(tap.queue) == 0 || cap(tap.queue) > keptQueue {
		t.Fatalf("drained: len %d cap %d, want the small array kept", tap.Len(), cap(tap.queue))
	}
	kept := &tap.queue[:1][0]
	push(2)
	if &tap.queue[0] != kept {
		t.Fatal("a drained tap's array was not reused")
	}
	take(2)
	push(cap(tap.queue))
	take(cap(tap.queue) - 2)
	push(5) // full array, taken from part-way: moved to the front
	if tap.Len() != 7 {
		t.Fatalf("len %d, want 7", tap.Len())
	}
	take(7)
	push(3 * keptQueue)
	take(3 * keptQueue)
	if tap.queue != nil {
		t.Fatalf("a drained backlog kept its array (cap %d)", cap(tap.queue))
	}
	push(100)
	if ok, _ := tap.push(Entry{Seq: pushed + 1}, 100); ok {
		t.Fatal("push past max kept the tap")
	}
	if _, err := tap.Next(ctx); !errors.Is(err, ErrLagged) || tap.Len() != 0 {
		t.Fatalf("after overflow: %v, len %d", err, tap.Len())
	}
}
