package bench

import (
	"slices"
	"time"
)

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of xs by the nearest-rank method: the smallest
// sample that at least q of the samples do not exceed. Nearest rank never interpolates, so a p99
// of few samples is an observed latency (the maximum below 100 samples), not an invented one.
// It returns 0 for no samples.
func Quantile(xs []time.Duration, q float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(q*float64(len(s)) + 0.999999999)
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// Median returns the median of xs (the mean of the two middle values for an even count), 0 for
// no values.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// MedianDuration is Median over durations.
func MedianDuration(xs []time.Duration) time.Duration {
	fs := make([]float64, len(xs))
	for i, x := range xs {
		fs[i] = float64(x)
	}
	return time.Duration(Median(fs))
}

// Ratio is a/b, or 0 when b is 0 (a missing baseline must not print as infinity).
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
