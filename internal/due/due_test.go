package due

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/core"
)

func TestHeapPopsInTimeOrder(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	var h Heap
	var want []time.Time
	for i := range 200 {
		at := t0.Add(time.Duration(rand.IntN(1000)) * time.Second)
		want = append(want, at)
		h.Push(at, core.UserRef{TenantID: "t", UserID: string(rune('a' + i%26))})
	}
	slices.SortFunc(want, time.Time.Compare)
	if h.Len() != len(want) || !h.Next().At.Equal(want[0]) {
		t.Fatalf("len %d next %v, want %d %v", h.Len(), h.Next().At, len(want), want[0])
	}
	for i, w := range want {
		if got := h.Pop(); !got.At.Equal(w) {
			t.Fatalf("pop %d: %v, want %v", i, got.At, w)
		}
	}
	if h.Len() != 0 {
		t.Fatalf("left %d", h.Len())
	}
}
