//go:build unix

package presenced_test

import (
	"syscall"
	"time"
)

// smallReceiveBuffer sets a socket's receive buffer before it connects, so
// that the window it offers stays small from the first byte and a sender
// to a client that does not read blocks after a few kilobytes.
func smallReceiveBuffer(network, address string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	}); err != nil {
		return err
	}
	return serr
}

// rusageCPU is the CPU time this process used so far (user and system),
// as getrusage counts it: in scheduler ticks on some kernels (processCPU
// reads a finer clock where there is one).
func rusageCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processUserCPU is the user part of processCPU (getrusage, in scheduler
// ticks: read it over many operations): what the process's own code
// spent, without the system calls.
func processUserCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano())
}
