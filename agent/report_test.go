package agent

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name string
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		// Sorted 1..5: the median is the third.
		{"median odd", ms(5, 1, 4, 2, 3), 0.5, 3 * time.Millisecond},
		// Sorted 1..4: rank 0.5*3 = 1.5 rounds to index 2 → 3.
		{"median even", ms(4, 3, 2, 1), 0.5, 3 * time.Millisecond},
		{"max", ms(9, 1, 5), 1, 9 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.in, tt.q); got != tt.want {
			t.Errorf("%s: percentile(%v) = %s, want %s", tt.name, tt.q, got, tt.want)
		}
	}
}
