//go:build linux

package presenced_test

import (
	"syscall"
	"time"
	"unsafe"
)

// processCPU is the CPU time this process used so far (all its threads,
// user and system), for benchmarks that report CPU per operation: on a
// shared machine that varies far less than latency. Read with
// clock_gettime, to the nanosecond: getrusage moves in scheduler ticks
// here (4 ms, 5 % of an 80 ms round).
func processCPU() time.Duration { return cpuClock(2 /* CLOCK_PROCESS_CPUTIME_ID */) }

// threadCPU is the calling OS thread's CPU time so far: the goroutine's
// own, while it is locked to its thread (runtime.LockOSThread), without
// the other threads' (the collector's background workers, the engine's).
func threadCPU() time.Duration { return cpuClock(3 /* CLOCK_THREAD_CPUTIME_ID */) }

func cpuClock(id uintptr) time.Duration {
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, id, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
