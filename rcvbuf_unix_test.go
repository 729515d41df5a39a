//go:build unix

package presenced_test

import "syscall"

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
