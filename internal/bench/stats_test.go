package bench

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	// 1..100: nearest rank puts p50 at the 50th value, p95 at the 95th, p99 at
	// the 99th.
	var s []float64
	for i := 100; i >= 1; i-- { // unsorted on purpose
		s = append(s, float64(i))
	}
	got := Summarize(s)
	want := Summary{N: 100, P50: 50, P95: 95, P99: 99, Max: 100}
	if got != want {
		t.Fatalf("Summarize(1..100) = %+v, want %+v", got, want)
	}
	if s[0] != 100 {
		t.Fatal("Summarize sorted its argument in place")
	}
	if got := Summarize(nil); got != (Summary{}) {
		t.Fatalf("Summarize(nil) = %+v, want zero", got)
	}
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		name string
		s    []float64
		q    float64
		want float64
	}{
		{"empty", nil, 0.5, 0},
		{"one", []float64{7}, 0.99, 7},
		// Four values: ceil(0.5·4) = 2nd smallest.
		{"even median", []float64{4, 1, 3, 2}, 0.5, 2},
		// Five values: ceil(0.5·5) = 3rd smallest.
		{"odd median", []float64{5, 1, 4, 2, 3}, 0.5, 3},
		{"q=0 is the minimum", []float64{3, 1, 2}, 0, 1},
		{"q=1 is the maximum", []float64{3, 1, 2}, 1, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Quantile(tc.s, tc.q); got != tc.want {
				t.Fatalf("Quantile(%v, %v) = %v, want %v", tc.s, tc.q, got, tc.want)
			}
		})
	}
}

func TestLinearFit(t *testing.T) {
	tests := []struct {
		name      string
		x, y      []float64
		ok        bool
		slope, b  float64
		r2        float64
		tolerance float64
	}{
		// y = 3 + 2x exactly: slope 2, intercept 3, R² 1.
		{"exact line", []float64{0, 1, 2, 3}, []float64{3, 5, 7, 9}, true, 2, 3, 1, 1e-12},
		// A queue growing 125 ms a second from 400 ms (a 75 ms loop fed every
		// 66.7 ms falls 0.125 s behind each second).
		{"growing queue", []float64{0, 10, 20, 30}, []float64{400, 1650, 2900, 4150}, true, 125, 400, 1, 1e-9},
		// Flat: slope 0, and R² 0 because y does not vary.
		{"flat", []float64{0, 1, 2}, []float64{5, 5, 5}, true, 0, 5, 0, 1e-12},
		// Symmetric noise around 10: the points (0,9) (1,11) (2,9) (3,11):
		// mean x 1.5, mean y 10; Sxy = (-1.5)(-1)+(-0.5)(1)+(0.5)(-1)+(1.5)(1) = 2,
		// Sxx = 5, so slope 0.4, intercept 10-0.4·1.5 = 9.4; Syy = 4, R² = 4/20.
		{"noise", []float64{0, 1, 2, 3}, []float64{9, 11, 9, 11}, true, 0.4, 9.4, 0.2, 1e-12},
		{"one point", []float64{1}, []float64{1}, false, 0, 0, 0, 0},
		{"same x", []float64{2, 2}, []float64{1, 3}, false, 0, 0, 0, 0},
		{"lengths differ", []float64{1, 2}, []float64{1}, false, 0, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := LinearFit(tc.x, tc.y)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if math.Abs(f.Slope-tc.slope) > tc.tolerance || math.Abs(f.Intercept-tc.b) > tc.tolerance ||
				math.Abs(f.R2-tc.r2) > tc.tolerance || f.N != len(tc.x) {
				t.Fatalf("fit = %+v, want slope %v intercept %v R² %v", f, tc.slope, tc.b, tc.r2)
			}
		})
	}
}
