package directory

import (
	"fmt"
	"testing"
)

// fill, which inserts in slot order rather than user order, makes an
// index that finds every user, past several regions and past the table's
// wrap-around, and reports the first user (in user order) whose key an
// earlier one has, as inserting one by one did.
func TestIndexFill(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1000, 100_000} {
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("user-%07d", i)
		}
		x := newIndex(n)
		if dup := x.fill(n, func(i int) string { return keys[i] }, func(i, j int) bool { return keys[i] == keys[j] }); dup != -1 {
			t.Fatalf("n=%d: duplicate %d reported among distinct keys", n, dup)
		}
		if n > 1000 && x.mask+1 <= 1<<fillRegionBits {
			t.Fatalf("n=%d: one region only (%d slots): the test covers nothing", n, x.mask+1)
		}
		filled := 0
		for _, v := range x.slots {
			if v != 0 {
				filled++
			}
		}
		if filled != n {
			t.Fatalf("n=%d: %d slots filled", n, filled)
		}
		for i, k := range keys {
			if _, _, got := x.find(k, func(j int) bool { return keys[j] == k }); got != i {
				t.Fatalf("n=%d: key %q finds user %d, want %d", n, k, got, i)
			}
		}
		if _, _, got := x.find("nobody", func(j int) bool { return keys[j] == "nobody" }); got != -1 {
			t.Fatalf("n=%d: a missing key finds user %d", n, got)
		}
	}

	// Duplicates: 70,000 and 90,000 repeat 69,999 and 3; 80,000 repeats
	// 70,000's key (a third user with it). The first in user order that
	// repeats an earlier key is 70,000, whichever region each lies in.
	const n = 100_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%07d", i)
	}
	keys[70_000], keys[80_000], keys[90_000] = keys[69_999], keys[69_999], keys[3]
	x := newIndex(n)
	if dup := x.fill(n, func(i int) string { return keys[i] }, func(i, j int) bool { return keys[i] == keys[j] }); dup != 70_000 {
		t.Fatalf("duplicate reported: %d, want 70000", dup)
	}
	// Inserted one by one, the first duplicate stops the build at the same
	// user.
	y := newIndex(n)
	first := -1
	for i, k := range keys {
		slot, tag, found := y.find(k, func(j int) bool { return keys[j] == k })
		if found >= 0 {
			first = i
			break
		}
		y.set(slot, i, tag)
	}
	if first != 70_000 {
		t.Fatalf("one by one: %d", first)
	}
}
