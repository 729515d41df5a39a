package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// The memory limit (--memory-limit): the Go runtime's soft limit
// (debug.SetMemoryLimit, what GOMEMLIMIT sets), so that the collector
// works harder as the process nears it instead of letting the heap grow to
// GOGC's goal. A large server's heap is nearly all long-lived (the
// directory, the cache, the engine's index), and GOGC's goal is a multiple
// of it: at ten million users the 50 % over the live heap that GOGC=50
// allows is ~2 GB the machine may not have. The limit turns that headroom
// into a number the operator chooses; the collector still runs at GOGC's
// pace below it, and the runtime caps the collector's share of CPU near
// it (so a limit under the live heap slows the server rather than
// stopping it). docs/running.md#memory-and-start-up, and the measured
// cost in docs/performance.md.

// memoryLimitFlag is --memory-limit: a size ("6GiB", "600MB", bytes) or a
// share of the machine's memory ("75%"); "0" is no limit; "auto" or ""
// (the default) is a limit derived from the live heap (memauto.go).
type memoryLimitFlag struct {
	text  string
	bytes int64 // resolved; 0 = none or auto
	// total is the machine's memory for a percentage (tests replace it).
	total func() (int64, error)
}

func (m *memoryLimitFlag) String() string {
	if m == nil || m.text == "" {
		return "auto"
	}
	return m.text
}

func (m *memoryLimitFlag) Set(s string) error {
	s = strings.TrimSpace(s)
	if s == "auto" {
		m.text, m.bytes = s, 0
		return nil
	}
	n, err := m.parse(s)
	if err != nil {
		return err
	}
	m.text, m.bytes = s, n
	return nil
}

// auto reports whether the limit is to be derived from the live heap: the
// default.
func (m *memoryLimitFlag) auto() bool { return m.text == "" || m.text == "auto" }

// memoryUnits are the suffixes a size takes, longest first.
var memoryUnits = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// minMemoryLimit is the smallest limit taken: under it the server would
// spend its time collecting before it had loaded anything.
const minMemoryLimit = 64 << 20

func (m *memoryLimitFlag) parse(s string) (int64, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		pct, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || pct <= 0 || pct > 100 || math.IsNaN(pct) {
			return 0, fmt.Errorf("want a share of the machine's memory above 0 and at most 100%%, not %q", s)
		}
		total := m.total
		if total == nil {
			total = machineMemory
		}
		t, err := total()
		if err != nil {
			return 0, fmt.Errorf("%q: the machine's memory: %w", s, err)
		}
		return checkMemoryLimit(s, float64(t)*pct/100)
	}
	num, mult := s, 1.0
	for _, u := range memoryUnits {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("want a size such as 6GiB, 600MB or 75%%, not %q", s)
	}
	return checkMemoryLimit(s, v*mult)
}

func checkMemoryLimit(s string, b float64) (int64, error) {
	if b < minMemoryLimit {
		return 0, fmt.Errorf("%q is under the smallest limit taken, 64MiB", s)
	}
	if b >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(b), nil
}

// apply sets the runtime's limit if the flag gave one (else GOMEMLIMIT, if
// set, stays as the runtime read it), and returns the limit in force
// (math.MaxInt64: none) and whether it is to be derived from the live
// heap once the server has started (auto, the default, and no GOMEMLIMIT).
func (m *memoryLimitFlag) apply() (int64, bool) {
	if m.bytes > 0 {
		debug.SetMemoryLimit(m.bytes)
		return m.bytes, false
	}
	cur := debug.SetMemoryLimit(-1) // -1 reads it
	return cur, cur == math.MaxInt64 && m.auto()
}

// machineMemory is the memory this process may use: the cgroup's limit
// (v2 memory.max, or v1 memory.limit_in_bytes) when there is one and it is
// smaller, else the machine's MemTotal.
func machineMemory() (int64, error) {
	total, err := memTotal()
	if err != nil {
		return 0, err
	}
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if v, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64); err == nil && v > 0 && v < total {
			total = v
		}
		break
	}
	return total, nil
}

func memTotal() (int64, error) {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, errors.New("no /proc/meminfo: give the limit as a size")
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				break
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no MemTotal in /proc/meminfo: give the limit as a size")
}
