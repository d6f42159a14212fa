package bench

import (
	"math"
	"slices"
)

// Summary is the distribution of one measurement over a window.
type Summary struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Summarize returns the nearest-rank percentiles of s (the same definition as
// edge-probe's); the zero Summary when s is empty. s is not modified.
func Summarize(s []float64) Summary {
	if len(s) == 0 {
		return Summary{}
	}
	c := slices.Clone(s)
	slices.Sort(c)
	return Summary{N: len(c), P50: quantileSorted(c, 0.50), P95: quantileSorted(c, 0.95),
		P99: quantileSorted(c, 0.99), Max: c[len(c)-1]}
}

// Quantile returns the nearest-rank q-quantile of s, 0 when s is empty. s is
// not modified.
func Quantile(s []float64, q float64) float64 {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	return quantileSorted(c, q)
}

// Median is Quantile(s, 0.5).
func Median(s []float64) float64 { return Quantile(s, 0.5) }

// quantileSorted is the nearest-rank q-quantile of sorted, non-empty s: the
// smallest value with at least q of the samples at or below it.
func quantileSorted(s []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Fit is a least-squares line y = Intercept + Slope·x.
type Fit struct {
	N         int     `json:"n"`
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	// R2 is the share of y's variance the line explains (0 when y is constant).
	R2 float64 `json:"r2"`
}

// LinearFit fits a line through the points (x[i], y[i]) by ordinary least
// squares. It reports false when there are fewer than two points, the slices
// differ in length or every x is the same.
func LinearFit(x, y []float64) (Fit, bool) {
	n := len(x)
	if n < 2 || len(y) != n {
		return Fit{}, false
	}
	var mx, my float64
	for i := range n {
		mx += x[i]
		my += y[i]
	}
	mx /= float64(n)
	my /= float64(n)
	var sxx, sxy, syy float64
	for i := range n {
		dx, dy := x[i]-mx, y[i]-my
		sxx += dx * dx
		sxy += dx * dy
		syy += dy * dy
	}
	if sxx == 0 {
		return Fit{}, false
	}
	f := Fit{N: n, Slope: sxy / sxx}
	f.Intercept = my - f.Slope*mx
	if syy > 0 {
		f.R2 = sxy * sxy / (sxx * syy)
	}
	return f, true
}

// round returns f rounded to the given number of decimal digits.
func round(f float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(f*p) / p
}
