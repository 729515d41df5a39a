package natsstore

import (
	"fmt"
	"math"
	"testing"
)

// PartitionOf decides where every stored user is: it must never change.
// The expected values were computed by an independent implementation of
// the two published algorithms (a few lines of Python, with its IEEE
// double arithmetic for Jump's division), not by this code.
func TestPartitionOfIsFrozen(t *testing.T) {
	for _, tc := range []struct {
		key  string
		n    int
		want int
	}{
		{"u.0f8fad5b-d9cb-469f-a165-70867728950e.a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", 6, 1},
		{"u.0f8fad5b-d9cb-469f-a165-70867728950e.b1ffcd88-8d1a-4df9-ac7e-7cc8ce491b22", 6, 3},
		{"u.7c9e6679-7425-40de-944b-e07fc1f90ae7.a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", 6, 1},
		{"u.0f8fad5b-d9cb-469f-a165-70867728950e.a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", 3, 1},
		{"u.0f8fad5b-d9cb-469f-a165-70867728950e.a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", 64, 1},
		{"u.tenant.user", 6, 4},
		{"x.y", 6, 4},
		{"single", 6, 1},
		{"anything", 1, 0},
	} {
		if got := PartitionOf(tc.key, tc.n); got != tc.want {
			t.Errorf("PartitionOf(%q, %d) = %d, want %d", tc.key, tc.n, got, tc.want)
		}
	}
	// The published FNV-1a 64 vectors.
	for s, want := range map[string]uint64{"": 0xcbf29ce484222325, "a": 0xaf63dc4c8601ec8c, "foobar": 0x85944171f73967e8} {
		if got := fnv1a64(s); got != want {
			t.Errorf("fnv1a64(%q) = %#x, want %#x", s, got, want)
		}
	}
	// Jump Consistent Hash, from the paper's reference implementation.
	for _, tc := range []struct {
		key  uint64
		n    int
		want int
	}{{0, 1, 0}, {1, 2, 0}, {12345, 10, 1}, {0xdeadbeef, 100, 87}, {math.MaxUint64, 6, 2}} {
		if got := jump(tc.key, tc.n); got != tc.want {
			t.Errorf("jump(%d, %d) = %d, want %d", tc.key, tc.n, got, tc.want)
		}
	}
}

// Everything of one user is in one partition: only the tenant and user
// tokens count.
func TestPartitionKeyIsTenantAndUser(t *testing.T) {
	for key, want := range map[string]string{
		"u.T.U":       "T.U",
		"u.T.U.extra": "T.U",
		"u.T.U.a.b":   "T.U",
		"x.y":         "x.y",
		"single":      "single",
		"u.T.":        "T.",
	} {
		if got := partitionKey(key); got != want {
			t.Errorf("partitionKey(%q) = %q, want %q", key, got, want)
		}
	}
	if PartitionOf("u.T.U", 7) != PartitionOf("u.T.U.settings", 7) {
		t.Error("a user's keys are in different partitions")
	}
}

// Users spread evenly: no partition gets much more than its share.
func TestPartitionsSpreadUsers(t *testing.T) {
	for _, n := range []int{3, 6, 12} {
		count := make([]int, n)
		const users = 60000
		for i := range users {
			count[PartitionOf(fmt.Sprintf("u.0f8fad5b-d9cb-469f-a165-70867728950e.%08x-0000-4000-8000-%012x", i, i*7919), n)]++
		}
		share := users / n
		for p, c := range count {
			if c < share*9/10 || c > share*11/10 {
				t.Errorf("%d partitions: partition %d has %d users, want %d ± 10 %%", n, p, c, share)
			}
		}
	}
}
