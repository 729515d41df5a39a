package mailbox

import (
	"cmp"
	"slices"
	"testing"
)

// firstN keeps what sorting everything offered and taking the first n
// would: fewer offered than n, none kept, ties and a reversed order.
func TestFirstNIsTheSortedPrefix(t *testing.T) {
	for _, c := range []struct {
		name    string
		n       int
		offered []int
	}{
		{"none kept", 0, []int{3, 1, 2}},
		{"nothing offered", 3, nil},
		{"fewer offered than n", 5, []int{4, 2, 9}},
		{"ties", 3, []int{2, 2, 1, 2, 1}},
		{"reversed", 4, []int{9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"mixed", 3, []int{5, 1, 8, 3, 9, 2, 7}},
	} {
		f := newFirstN(c.n, cmp.Compare[int])
		for _, v := range c.offered {
			f.offer(v)
		}
		want := slices.Sorted(slices.Values(c.offered))
		want = want[:min(len(want), c.n)]
		last, full := f.last()
		if got := f.sorted(); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s: kept %v, want %v", c.name, got, want)
		}
		if wantFull := c.n > 0 && len(want) == c.n; full != wantFull || (full && last != want[len(want)-1]) {
			t.Errorf("%s: last %d, %v; want full %v", c.name, last, full, wantFull)
		}
	}
}
