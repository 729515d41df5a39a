//go:build unix && !linux

package presenced_test

import "time"

// processCPU is getrusage's figure, coarser than Linux's clock.
func processCPU() time.Duration { return rusageCPU() }

// threadCPU is unknown here (0): the in-chain cost reports nothing.
func threadCPU() time.Duration { return 0 }
