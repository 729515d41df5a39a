//go:build linux

package loadgen

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// ProcCPU reads a process's CPU time from /proc, and it grows as the
// process works; a process that does not exist is not read as 0 s.
func TestProcCPUReadsAProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	before, ok := ProcCPU(os.Getpid())
	if !ok {
		t.Fatal("this process's CPU time not read")
	}
	sw := ProcSwitches(os.Getpid())
	// Work until the kernel has counted at least two of its 10 ms ticks
	// more (bounded: a loaded machine may give this test few of them).
	deadline := now().Add(20 * time.Second)
	x := 0
	for now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
		if d, _ := ProcCPU(os.Getpid()); d >= before+20*time.Millisecond {
			break
		}
	}
	after, _ := ProcCPU(os.Getpid())
	if after < before+20*time.Millisecond {
		t.Errorf("CPU time %v then %v after 20 s of work (%d)", before, after, x)
	}
	// It is the kernel's account of the process, user and system time
	// together: getrusage's, to within a few of /proc's 10 ms ticks.
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	usage := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if got, _ := ProcCPU(os.Getpid()); got < usage-50*time.Millisecond || got > usage+50*time.Millisecond {
		t.Errorf("/proc says %v, getrusage %v", got, usage)
	}
	if sw <= 0 || ProcSwitches(os.Getpid()) < sw {
		t.Errorf("context switches %d then %d", sw, ProcSwitches(os.Getpid()))
	}

	// A child that has exited (and been reaped) has no /proc entry.
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if d, ok := ProcCPU(cmd.Process.Pid); ok {
		t.Errorf("an exited process read as %v", d)
	}
	if n := ProcSwitches(cmd.Process.Pid); n != 0 {
		t.Errorf("an exited process's switches read as %d", n)
	}
}
