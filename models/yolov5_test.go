package models

import (
	"slices"
	"testing"
)

// tinyRows builds an [1,n,5+2] output from rows {x, y, w, h, obj, cls0, cls1};
// other anchors are 0.
func tinyRows(n int, rows map[int][7]float32) []float32 {
	out := make([]float32, 7*n)
	for i, r := range rows {
		copy(out[7*i:], r[:])
	}
	return out
}

func TestDecodeYOLOv5(t *testing.T) {
	// A 2-class model with a 32x32 input has 3 * 21 = 63 anchors.
	out := tinyRows(63, map[int][7]float32{
		// (10, 12) 4x6 -> (8, 9)-(12, 15); class 1 scores 0.8*0.9 = 0.72,
		// class 0 0.8*0.5 = 0.4.
		3: {10, 12, 4, 6, 0.8, 0.5, 0.9},
		// 0.9*0.3 = 0.27 < 0.3: dropped.
		10: {5, 5, 2, 2, 0.9, 0.3, 0.1},
		// Objectness 0.2 < 0.3 settles it whatever the classes.
		20: {5, 5, 2, 2, 0.2, 1, 1},
		// 1.0*0.5 = 0.5, class 0.
		62: {30, 30, 4, 4, 1, 0.5, 0},
	})
	tests := []struct {
		name string
		th   Thresholds
		want []candidate
	}{
		{"every class", Thresholds{Confidence: 0.3}, []candidate{
			{8, 9, 12, 15, 0.72, 1},
			{28, 28, 32, 32, 0.5, 0},
		}},
		// Without class 1, anchor 3 falls back to class 0 at 0.4.
		{"class 0 only", Thresholds{Confidence: 0.3, Keep: []bool{true, false}}, []candidate{
			{8, 9, 12, 15, 0.4, 0},
			{28, 28, 32, 32, 0.5, 0},
		}},
		{"class 1 only", Thresholds{Confidence: 0.3, Keep: []bool{false, true}}, []candidate{
			{8, 9, 12, 15, 0.72, 1},
		}},
		{"high threshold", Thresholds{Confidence: 0.8}, nil},
	}
	d := &yolov5Decoder{anchors: 63, classes: 2}
	for _, tt := range tests {
		got := d.decode(out, tt.th, nil)
		if !slices.EqualFunc(got, tt.want, sameCandidate) {
			t.Errorf("%s: decoded %v, want %v", tt.name, got, tt.want)
		}
	}
}

// sameCandidate compares candidates allowing float rounding (0.8*0.9 is not
// exactly 0.72 in float32).
func sameCandidate(a, b candidate) bool {
	return a.class == b.class && near(a.x1, b.x1) && near(a.y1, b.y1) &&
		near(a.x2, b.x2) && near(a.y2, b.y2) && near(a.score, b.score)
}
