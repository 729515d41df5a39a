// Package freeport picks loopback ports for servers a test starts later,
// in its own process or in another (a presenced node, an engine).
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Ports returns n distinct loopback TCP ports that were free a moment
// ago, for servers the test starts later (in its process or another).
// They are drawn at random from below the kernel's ephemeral range
// (Linux's ip_local_port_range) when it is known: a port the system hands
// out for ":0" comes from that range, and any outgoing connection made
// before the server binds — another node dialling its routes — may be
// given it, so that the bind fails with "address already in use"
// (TestClusterProcessKillNine's third node, 9 s after the ports were
// picked). Ports below the range are only ever taken by a bind.
func Ports(t testing.TB, n int) []int {
	t.Helper()
	lo, hi := portsBelowEphemeral()
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		port := 0
		if hi > lo && tries < 100*n {
			port = lo + rand.IntN(hi-lo)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			if port == 0 {
				t.Fatal(err)
			}
			continue // taken: draw another
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// portsBelowEphemeral is the range [lo, hi) of ports Ports draws from:
// from 10000 to the start of the kernel's ephemeral range, or none (0, 0)
// where that is not known (then the system picks, from its ephemeral range).
func portsBelowEphemeral() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 0, 0
	}
	first, err := strconv.Atoi(f[0])
	if err != nil || first <= 11000 {
		return 0, 0
	}
	return 10000, first
}
