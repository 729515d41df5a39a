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

// processCPU is the CPU time this process used so far (user and system),
// for benchmarks that report CPU per operation: on a shared machine that
// varies far less than latency.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
