package models

import (
	"slices"
	"testing"
)

// tinyV8 builds a [1,4+2,21] output (a 2-class model with a 32x32 input)
// from per-anchor rows {cx, cy, w, h, score0, score1}; other anchors are 0.
func tinyV8(rows map[int][6]float32) []float32 {
	const n = 21
	out := make([]float32, 6*n)
	for i, r := range rows {
		for c, v := range r {
			out[c*n+i] = v // channel-major: channel c of anchor i
		}
	}
	return out
}

func TestDecodeYOLOv8(t *testing.T) {
	out := tinyV8(map[int][6]float32{
		// cx 10, cy 12, w 4, h 6 -> corners (8, 9)-(12, 15); best class 0.
		0: {10, 12, 4, 6, 0.9, 0.1},
		// (16, 16) 8x8 -> (12, 12)-(20, 20); best class 1.
		5: {16, 16, 8, 8, 0.2, 0.6},
		// Both classes under 0.3: dropped.
		7: {1, 1, 2, 2, 0.2, 0.29},
		// Exactly at the threshold: kept (the threshold is inclusive).
		20: {30, 30, 2, 2, 0.3, 0},
	})
	tests := []struct {
		name string
		th   Thresholds
		want []candidate
	}{
		{"every class", Thresholds{Confidence: 0.3}, []candidate{
			{8, 9, 12, 15, 0.9, 0},
			{12, 12, 20, 20, 0.6, 1},
			{29, 29, 31, 31, 0.3, 0},
		}},
		// Class 1 only: anchor 0 now scores 0.1 (dropped), anchor 20 scores 0.
		{"class 1 only", Thresholds{Confidence: 0.3, Keep: []bool{false, true}}, []candidate{
			{12, 12, 20, 20, 0.6, 1},
		}},
		// A short mask drops the classes past its end.
		{"short mask", Thresholds{Confidence: 0.3, Keep: []bool{true}}, []candidate{
			{8, 9, 12, 15, 0.9, 0},
			{29, 29, 31, 31, 0.3, 0},
		}},
		{"nothing kept", Thresholds{Confidence: 0.3, Keep: []bool{false, false}}, nil},
		{"high threshold", Thresholds{Confidence: 0.95}, nil},
	}
	d := newYOLOv8Decoder(21, 2)
	for _, tt := range tests {
		got := d.decode(out, tt.th, nil)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: decoded %v, want %v", tt.name, got, tt.want)
		}
	}
}
