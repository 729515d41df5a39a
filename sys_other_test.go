//go:build !unix

package presenced_test

import (
	"syscall"
	"time"
)

// smallReceiveBuffer leaves the buffer as it is where there is no
// SO_RCVBUF to set (the tests only take longer: the sender blocks later).
func smallReceiveBuffer(network, address string, c syscall.RawConn) error { return nil }

// processCPU is unknown here (0): benchmarks then report no CPU figure.
func processCPU() time.Duration { return 0 }

func threadCPU() time.Duration { return 0 }

func processUserCPU() time.Duration { return 0 }
