package models

import (
	"math"
	"slices"
	"testing"
)

func TestYOLOXGrid(t *testing.T) {
	// 32x32: stride 8 is a 4x4 grid (anchors 0..15), stride 16 2x2 (16..19),
	// stride 32 1x1 (20); each grid row by row.
	d := newYOLOXDecoder(32, 32, 2)
	tests := []struct {
		anchor         int
		gx, gy, stride float32
	}{
		{0, 0, 0, 8}, {3, 3, 0, 8}, {6, 2, 1, 8}, {15, 3, 3, 8},
		{16, 0, 0, 16}, {17, 1, 0, 16}, {18, 0, 1, 16}, {19, 1, 1, 16},
		{20, 0, 0, 32},
	}
	if d.anchors != 21 || len(d.gx) != 21 {
		t.Fatalf("%d anchors, %d grid cells, want 21", d.anchors, len(d.gx))
	}
	for _, tt := range tests {
		i := tt.anchor
		if d.gx[i] != tt.gx || d.gy[i] != tt.gy || d.stride[i] != tt.stride {
			t.Errorf("anchor %d: cell (%g, %g) stride %g, want (%g, %g) stride %g",
				i, d.gx[i], d.gy[i], d.stride[i], tt.gx, tt.gy, tt.stride)
		}
	}
	// The real model's input: 52*52 + 26*26 + 13*13 cells, the last one the
	// bottom-right cell of the stride-32 grid.
	big := newYOLOXDecoder(416, 416, 80)
	if big.anchors != 3549 || big.gx[3548] != 12 || big.gy[3548] != 12 || big.stride[3548] != 32 || big.stride[2703] != 8 || big.stride[2704] != 16 {
		t.Errorf("416x416 grid: %d anchors, last cell (%g, %g) stride %g", big.anchors, big.gx[3548], big.gy[3548], big.stride[3548])
	}
}

func TestDecodeYOLOX(t *testing.T) {
	ln2 := float32(math.Ln2)
	out := tinyRows(21, map[int][7]float32{
		// Anchor 6: stride 8, cell (2, 1). cx = (0.5+2)*8 = 20, cy = (0.25+1)*8
		// = 10, w = exp(ln 2)*8 = 16, h = exp(0)*8 = 8 -> (12, 6)-(28, 14);
		// score 0.9*0.8 = 0.72, class 0.
		6: {0.5, 0.25, ln2, 0, 0.9, 0.8, 0.1},
		// Anchor 18: stride 16, cell (0, 1). cx = 0.5*16 = 8, cy = 1.5*16 = 24,
		// 16x16 -> (0, 16)-(16, 32); score 1*0.6, class 1.
		18: {0.5, 0.5, 0, 0, 1, 0.2, 0.6},
		// Anchor 20: stride 32, cell (0, 0): (16, 16) 32x32 -> (0, 0)-(32, 32);
		// 0.5*0.5 = 0.25 < 0.3: dropped.
		20: {0.5, 0.5, 0, 0, 0.5, 0.5, 0},
	})
	tests := []struct {
		name string
		th   Thresholds
		want []candidate
	}{
		{"conf 0.3", Thresholds{Confidence: 0.3}, []candidate{
			{12, 6, 28, 14, 0.72, 0},
			{0, 16, 16, 32, 0.6, 1},
		}},
		{"conf 0.2", Thresholds{Confidence: 0.2}, []candidate{
			{12, 6, 28, 14, 0.72, 0},
			{0, 16, 16, 32, 0.6, 1},
			{0, 0, 32, 32, 0.25, 0},
		}},
		// Without class 0, anchor 6 scores 0.9*0.1 = 0.09: dropped.
		{"class 1 only", Thresholds{Confidence: 0.3, Keep: []bool{false, true}}, []candidate{
			{0, 16, 16, 32, 0.6, 1},
		}},
	}
	d := newYOLOXDecoder(32, 32, 2)
	for _, tt := range tests {
		got := d.decode(out, tt.th, nil)
		if !slices.EqualFunc(got, tt.want, sameCandidate) {
			t.Errorf("%s: decoded %v, want %v", tt.name, got, tt.want)
		}
	}
}
