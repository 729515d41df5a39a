package main

import (
	"errors"
	"flag"
	"io"
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

func TestMemoryLimitFlag(t *testing.T) {
	const gib = 1 << 30
	total := func() (int64, error) { return 24 * gib, nil }
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"", 0},
		{"6GiB", 6 * gib}, {"600MB", 600e6}, {"600 MB", 600e6}, {"1.5GiB", 3 * gib / 2},
		{"134217728", 128 << 20}, {"128MiB", 128 << 20}, {"2TB", 2e12}, {"65536KiB", 64 << 20},
		{"25%", 6 * gib}, {"100%", 24 * gib}, {"12.5 %", 3 * gib},
	} {
		m := memoryLimitFlag{total: total}
		if err := m.Set(c.in); err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if m.bytes != c.want {
			t.Errorf("%q: %d bytes, want %d", c.in, m.bytes, c.want)
		}
	}
	for _, in := range []string{"-1GiB", "6XB", "GiB", "abc", "0%", "101%", "-5%", "NaN", "Inf", "1MiB", "63MiB", "1e30TiB", "NaN%"} {
		m := memoryLimitFlag{total: total}
		if err := m.Set(in); err == nil {
			t.Errorf("%q accepted: %d bytes", in, m.bytes)
		}
	}
	m := memoryLimitFlag{total: func() (int64, error) { return 0, errors.New("no meminfo") }}
	if err := m.Set("50%"); err == nil || !strings.Contains(err.Error(), "no meminfo") {
		t.Errorf("a share without the machine's memory: %v", err)
	}
}

// The flag is a serve flag (and PRESENCED_MEMORY_LIMIT), and apply gives
// the runtime the limit, or leaves GOMEMLIMIT's.
func TestMemoryLimitApplies(t *testing.T) {
	orig := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(orig)

	var m memoryLimitFlag
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&m, "memory-limit", "")
	if err := fs.Parse([]string{"--memory-limit", "1GiB"}); err != nil {
		t.Fatal(err)
	}
	if got, auto := m.apply(); got != 1<<30 || auto {
		t.Fatalf("apply: %d, auto %v", got, auto)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Fatalf("runtime limit %d, want 1GiB", got)
	}
	if err := fs.Parse([]string{"--memory-limit", "lots"}); err == nil {
		t.Fatal("--memory-limit lots accepted")
	}

	// auto: derived from the live heap, unless GOMEMLIMIT gave one.
	debug.SetMemoryLimit(math.MaxInt64)
	var auto memoryLimitFlag
	if err := auto.Set("auto"); err != nil || auto.String() != "auto" {
		t.Fatalf("auto: %v, reads as %q", err, auto.String())
	}
	if got, derive := auto.apply(); got != math.MaxInt64 || !derive {
		t.Fatalf("auto: apply says %d, derive %v", got, derive)
	}
	debug.SetMemoryLimit(3 << 30) // as GOMEMLIMIT would have
	if got, derive := auto.apply(); got != 3<<30 || derive {
		t.Fatalf("auto with GOMEMLIMIT: apply says %d, derive %v; want the runtime's", got, derive)
	}
	// Unset: auto, the default.
	debug.SetMemoryLimit(math.MaxInt64)
	var unset memoryLimitFlag
	if got, derive := unset.apply(); got != math.MaxInt64 || !derive || unset.String() != "auto" {
		t.Fatalf("unset: apply says %d, derive %v, reads as %q; want auto", got, derive, unset.String())
	}
	// 0: none, and GOMEMLIMIT's if set.
	debug.SetMemoryLimit(math.MaxInt64)
	var none memoryLimitFlag
	if err := none.Set("0"); err != nil {
		t.Fatal(err)
	}
	if none.String() != "0" {
		t.Fatalf("0 reads as %q", none.String())
	}
	if got, derive := none.apply(); got != math.MaxInt64 || derive {
		t.Fatalf("0: apply says %d, derive %v", got, derive)
	}
	debug.SetMemoryLimit(3 << 30)
	if got, derive := none.apply(); got != 3<<30 || derive {
		t.Fatalf("0 with GOMEMLIMIT: apply says %d, derive %v", got, derive)
	}
}

func TestMachineMemory(t *testing.T) {
	n, err := machineMemory()
	if err != nil {
		t.Skip(err)
	}
	if n < 64<<20 {
		t.Fatalf("machine memory %d", n)
	}
}
