package paired

import (
	"math"
	"testing"
)

func seq(n int) []float64 {
	d := make([]float64, n)
	for i := range d {
		d[i] = float64(n - i) // descending: Summarize must sort
	}
	return d
}

func TestSummarize(t *testing.T) {
	inf := math.Inf(1)
	for _, c := range []struct {
		name           string
		d              []float64
		median, lo, hi float64
		above          int
		coverage       float64 // 0: no interval
	}{
		// Too few rounds for 95 %: even the extremes cover only
		// 1-2·2⁻⁵ = 93.75 % with five.
		{"five", seq(5), 3, -inf, inf, 5, 0},
		{"six", seq(6), 3.5, 1, 6, 6, 1 - 2.0/64},
		// n = 30: P(B ≤ 9) = 0.0214, P(B ≤ 10) = 0.0494, so k = 10.
		{"thirty", seq(30), 15.5, 10, 21, 30, 0.9572},
		// n = 40: P(B ≤ 13) = 0.0192, P(B ≤ 14) = 0.0403, so k = 14.
		{"forty", seq(40), 20.5, 14, 27, 40, 0.9615},
		{"signs", []float64{-2, -1, 0, 1, 2, 3, 4}, 1, -2, 4, 4, 1 - 2.0/128},
		{"empty", nil, math.NaN(), -inf, inf, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := Summarize(c.d)
			if s.Rounds != len(c.d) || s.Above != c.above || !same(s.Median, c.median) || s.Lo != c.lo || s.Hi != c.hi {
				t.Fatalf("got %+v, want median %v [%v, %v], %d above", s, c.median, c.lo, c.hi, c.above)
			}
			if math.Abs(s.Coverage-c.coverage) > 1e-4 {
				t.Fatalf("coverage %v, want %v", s.Coverage, c.coverage)
			}
		})
	}
}

func same(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// A large n does not underflow: the interval narrows around the median.
func TestSummarizeLarge(t *testing.T) {
	s := Summarize(seq(2000))
	if s.Coverage < Confidence || s.Lo < 900 || s.Hi > 1100 || s.Lo >= s.Median || s.Hi <= s.Median {
		t.Fatalf("%+v", s)
	}
}
