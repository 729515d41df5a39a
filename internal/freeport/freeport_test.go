package freeport

import (
	"fmt"
	"net"
	"testing"
)

// Ports' ports are distinct, bindable, and below the kernel's
// ephemeral range where it is known, so that no outgoing connection made
// before the server binds can have been given one.
func TestFreePortsAreBelowTheEphemeralRange(t *testing.T) {
	lo, hi := portsBelowEphemeral()
	ports := Ports(t, 40)
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d twice in %v", p, ports)
		}
		seen[p] = true
		if hi > lo && (p < lo || p >= hi) {
			t.Errorf("port %d outside [%d, %d), the ports below the ephemeral range", p, lo, hi)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d was given as free: %v", p, err)
		}
		l.Close()
	}
	t.Logf("drawn from [%d, %d): %v", lo, hi, ports[:5])
}
