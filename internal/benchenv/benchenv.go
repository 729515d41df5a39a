// Package benchenv reads the settings that long tests and benchmarks take
// from the environment (PRESENCED_SCALE_ROUNDS, PRESENCED_CLUSTER_BENCH_RUNS,
// …): a count given there replaces the default when it parses and is at
// least the least that makes sense; anything else leaves the default.
package benchenv

import (
	"os"
	"strconv"
)

// Int is the environment variable name as an int at least min, or def
// when it is unset, does not parse, or is under min.
func Int(name string, def, min int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= min {
		return v
	}
	return def
}
