package mailbox

import (
	"container/heap"
	"slices"
)

// firstN keeps the first n of the values offered to it in cmp's order,
// without holding or sorting the rest: a max-heap of at most n, whose top
// is the last value kept. A calendar view or a work plan view paged at
// $skip=49000 would otherwise expand and sort every series' first 49,000
// instances (GBs and tens of seconds from one user's own token).
type firstN[T any] struct {
	n    int
	cmp  func(a, b T) int
	kept []T
}

func newFirstN[T any](n int, cmp func(a, b T) int) *firstN[T] {
	return &firstN[T]{n: n, cmp: cmp}
}

// offer keeps v if it is among the first n offered so far.
func (f *firstN[T]) offer(v T) {
	switch {
	case len(f.kept) < f.n:
		heap.Push((*maxHeap[T])(f), v)
	case f.n > 0 && f.cmp(v, f.kept[0]) < 0:
		f.kept[0] = v
		heap.Fix((*maxHeap[T])(f), 0)
	}
}

// last is the last value kept, and whether n are kept: then no value
// after it in cmp's order can be kept any more.
func (f *firstN[T]) last() (T, bool) {
	if f.n == 0 || len(f.kept) < f.n {
		var zero T
		return zero, false
	}
	return f.kept[0], true
}

// sorted is the values kept, in cmp's order.
func (f *firstN[T]) sorted() []T {
	slices.SortFunc(f.kept, f.cmp)
	return f.kept
}

// maxHeap is firstN as container/heap's interface: the last value on top.
type maxHeap[T any] firstN[T]

func (h *maxHeap[T]) Len() int           { return len(h.kept) }
func (h *maxHeap[T]) Less(i, j int) bool { return h.cmp(h.kept[j], h.kept[i]) < 0 }
func (h *maxHeap[T]) Swap(i, j int)      { h.kept[i], h.kept[j] = h.kept[j], h.kept[i] }
func (h *maxHeap[T]) Push(x any)         { h.kept = append(h.kept, x.(T)) }
func (h *maxHeap[T]) Pop() any {
	x := h.kept[len(h.kept)-1]
	h.kept = h.kept[:len(h.kept)-1]
	return x
}
