package bench

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	t.Parallel()
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // unsorted on purpose
	}
	cases := []struct {
		name string
		xs   []time.Duration
		q    float64
		want time.Duration
	}{
		{name: "no_samples", xs: nil, q: 0.5, want: 0},
		{name: "one_sample", xs: ms(7), q: 0.99, want: 7 * time.Millisecond},
		{name: "p50_of_ten_is_the_fifth", xs: ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), q: 0.5, want: 5 * time.Millisecond},
		{name: "p99_of_ten_is_the_maximum", xs: ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), q: 0.99, want: 10 * time.Millisecond},
		{name: "p99_of_hundred_is_the_99th", xs: ms(hundred...), q: 0.99, want: 99 * time.Millisecond},
		{name: "p0_is_the_minimum", xs: ms(3, 1, 2), q: 0, want: time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Quantile(tc.xs, tc.q); got != tc.want {
				t.Errorf("Quantile(%v, %g) = %v, want %v", tc.xs, tc.q, got, tc.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		xs   []float64
		want float64
	}{
		{name: "no_values", xs: nil, want: 0},
		{name: "odd_count", xs: []float64{5, 1, 3}, want: 3},
		{name: "even_count_is_the_mean_of_the_middle", xs: []float64{4, 1, 3, 2}, want: 2.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Median(tc.xs); got != tc.want {
				t.Errorf("Median(%v) = %g, want %g", tc.xs, got, tc.want)
			}
		})
	}
}

func TestP2RunEfficiency(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		run  P2Run
		rate float64
		want float64
	}{
		{name: "at_the_limit", run: P2Run{Calls: 500, Elapsed: 5 * time.Second}, rate: 100, want: 1},
		{name: "half_the_limit", run: P2Run{Calls: 250, Elapsed: 5 * time.Second}, rate: 100, want: 0.5},
		{name: "no_time_is_no_figure", run: P2Run{Calls: 10}, rate: 100, want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.run.Efficiency(tc.rate); got != tc.want {
				t.Errorf("Efficiency(%g) = %g, want %g", tc.rate, got, tc.want)
			}
		})
	}
}
