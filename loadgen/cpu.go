package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// CPU is the processor time the processes on this machine spent during one
// phase, per request that phase finished: the load generator itself (this
// process), the server under test (the bare child for the baseline, the
// --server-pid processes for presenced), and the other server, idle then
// (its background work: timers, the collector). Zero where unknown — off
// Linux, a server not on this machine, or no pid given.
//
// The ratio of throughputs is a ratio of CPU when both phases keep the
// cores busy; these say which process a difference between the phases is in.
type CPU struct {
	Client time.Duration `json:"client_ns"`
	Server time.Duration `json:"server_ns"`
	Other  time.Duration `json:"other_ns,omitempty"`
	// ClientSwitches and ServerSwitches are the context switches of the
	// two processes' threads a request (the kernel's voluntary and
	// involuntary ones together): a thread that sleeps because its process
	// has nothing to do, and is woken for the next request or answer,
	// adds two.
	ClientSwitches float64 `json:"client_switches"`
	ServerSwitches float64 `json:"server_switches"`
	// Known is set when at least the client's time was read.
	Known bool `json:"known"`
}

// cpuSample is the CPU time so far of this process and of the servers.
type cpuSample struct {
	self, bare, pres       time.Duration
	swSelf, swBare, swPres int64
	ok                     bool
}

// cpuPIDs are the processes a run accounts: the bare child (0: none or in
// this process) and presenced's (none when it is not local, or not given).
type cpuPIDs struct {
	bare int
	pres []int
}

func (p cpuPIDs) sample() cpuSample {
	self, ok := ProcCPU(os.Getpid())
	s := cpuSample{self: self, ok: ok, swSelf: ProcSwitches(os.Getpid())}
	if p.bare != 0 {
		s.bare, _ = ProcCPU(p.bare)
		s.swBare = ProcSwitches(p.bare)
	}
	for _, pid := range p.pres {
		d, _ := ProcCPU(pid)
		s.pres += d
		s.swPres += ProcSwitches(pid)
	}
	return s
}

// ProcCPU is pid's user and system time so far, from /proc/PID/stat
// (Linux; elsewhere false). The kernel counts it in ticks of 10 ms
// (USER_HZ 100): over a phase of seconds and thousands of requests the
// error is a fraction of a percent.
func ProcCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, true
}

// ProcSwitches is the context switches of pid's threads so far (those
// still running), from /proc/PID/task/*/status; 0 where unknown.
func ProcSwitches(pid int) int64 {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, key := range []string{"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"} {
			if i := bytes.Index(b, []byte("\n"+key)); i >= 0 {
				rest := b[i+1+len(key):]
				if j := bytes.IndexByte(rest, '\n'); j >= 0 {
					rest = rest[:j]
				}
				v, _ := strconv.ParseInt(string(bytes.TrimSpace(rest)), 10, 64)
				n += v
			}
		}
	}
	return n
}
