// Package paired summarises an A/B measurement taken in alternating
// rounds. Each round ran both sides under the same conditions, one after
// the other, so a round's difference cancels most of what the machine's
// other load did during that round; the rounds' differences are then
// summarised by their median and a distribution-free interval for it
// (the sign test's), which assumes nothing of their distribution but
// that rounds are independent. docs/performance.md ("Measuring a cost of
// a few percent") says why the benchmarks measure this way.
package paired

import (
	"math"
	"slices"
)

// Confidence is the coverage the interval aims for: at least 95 %.
const Confidence = 0.95

// Summary is the median of the rounds' differences and an interval that
// holds the true median with probability Coverage (≥ Confidence).
type Summary struct {
	Rounds int
	Median float64
	// Lo and Hi bound the median: the k-th smallest and k-th largest
	// difference, k as large as keeps Coverage ≥ Confidence. With fewer
	// than 6 rounds no interval reaches 95 %: they are then −Inf, +Inf.
	Lo, Hi   float64
	Coverage float64
	// Above is how many rounds' differences were above zero.
	Above int
}

// Summarize summarises the rounds' differences d (not modified).
func Summarize(d []float64) Summary {
	n := len(d)
	s := Summary{Rounds: n, Lo: math.Inf(-1), Hi: math.Inf(1), Median: math.NaN()}
	if n == 0 {
		return s
	}
	sorted := slices.Clone(d)
	slices.Sort(sorted)
	s.Median = Median(sorted)
	for _, x := range d {
		if x > 0 {
			s.Above++
		}
	}
	// [d(k), d(n-k+1)] misses the median when at most k-1 differences lie
	// below it or at most k-1 above: 2·P(B ≤ k-1), B ~ Binomial(n, ½).
	k, tail := 0, 0.0
	for j := 1; 2*(tail+binomHalf(n, j-1)) <= 1-Confidence; j++ {
		k, tail = j, tail+binomHalf(n, j-1)
	}
	if k > 0 {
		s.Lo, s.Hi, s.Coverage = sorted[k-1], sorted[n-k], 1-2*tail
	}
	return s
}

// Median is the median of sorted values (the mean of the middle two for
// an even count).
func Median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// binomHalf is P(B = i) for B ~ Binomial(n, ½), in logarithms so that a
// large n does not underflow 2⁻ⁿ.
func binomHalf(n, i int) float64 {
	ln := func(x int) float64 { v, _ := math.Lgamma(float64(x + 1)); return v }
	return math.Exp(ln(n) - ln(i) - ln(n-i) - float64(n)*math.Ln2)
}
