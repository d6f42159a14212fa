package models

import (
	"slices"
	"testing"
)

func box(x1, y1, x2, y2, score float32, class int) candidate {
	return candidate{x1, y1, x2, y2, score, class}
}

func TestOverlap(t *testing.T) {
	tests := []struct {
		name string
		a, b candidate
		want float32
	}{
		// Intersection 100, union 100 + 100 - 100.
		{"same box", box(0, 0, 10, 10, 0, 0), box(0, 0, 10, 10, 0, 0), 1},
		// Intersection 50 (the lower box), union 100 + 50 - 50 = 100.
		{"half", box(0, 0, 10, 10, 0, 0), box(0, 0, 10, 5, 0, 0), 0.5},
		// Intersection 5x10 = 50, union 100 + 100 - 50 = 150.
		{"shifted by half", box(0, 0, 10, 10, 0, 0), box(5, 0, 15, 10, 0, 0), 1.0 / 3},
		{"touching", box(0, 0, 10, 10, 0, 0), box(10, 0, 20, 10, 0, 0), 0},
		{"apart", box(0, 0, 10, 10, 0, 0), box(20, 20, 30, 30, 0, 0), 0},
		{"no area", box(5, 5, 5, 5, 0, 0), box(5, 5, 5, 5, 0, 0), 0},
	}
	for _, tt := range tests {
		if got := overlap(&tt.a, &tt.b); !near(got, tt.want) {
			t.Errorf("%s: IoU %g, want %g", tt.name, got, tt.want)
		}
	}
}

func TestNMS(t *testing.T) {
	tests := []struct {
		name  string
		iou   float32
		cands []candidate
		want  []candidate
	}{
		{
			// IoU (9*10)/(100+100-90) = 0.82 > 0.45: the 0.8 box goes.
			name: "same class overlapping", iou: 0.45,
			cands: []candidate{box(1, 0, 11, 10, 0.8, 0), box(0, 0, 10, 10, 0.9, 0)},
			want:  []candidate{box(0, 0, 10, 10, 0.9, 0)},
		},
		{
			name: "different classes kept", iou: 0.45,
			cands: []candidate{box(0, 0, 10, 10, 0.9, 0), box(0, 0, 10, 10, 0.8, 1)},
			want:  []candidate{box(0, 0, 10, 10, 0.9, 0), box(0, 0, 10, 10, 0.8, 1)},
		},
		{
			// IoU exactly 0.5 (see TestOverlap) is not above 0.5: kept.
			name: "IoU at the threshold", iou: 0.5,
			cands: []candidate{box(0, 0, 10, 10, 0.9, 0), box(0, 0, 10, 5, 0.8, 0)},
			want:  []candidate{box(0, 0, 10, 10, 0.9, 0), box(0, 0, 10, 5, 0.8, 0)},
		},
		{
			name: "IoU just above the threshold", iou: 0.49,
			cands: []candidate{box(0, 0, 10, 10, 0.9, 0), box(0, 0, 10, 5, 0.8, 0)},
			want:  []candidate{box(0, 0, 10, 10, 0.9, 0)},
		},
		{
			// A overlaps B (IoU 0.82), B overlaps C (0.82), A and C only 0.67:
			// B goes for A, and C stays since only kept boxes suppress.
			name: "chain", iou: 0.7,
			cands: []candidate{box(0, 0, 10, 10, 0.9, 0), box(1, 0, 11, 10, 0.8, 0), box(2, 0, 12, 10, 0.7, 0)},
			want:  []candidate{box(0, 0, 10, 10, 0.9, 0), box(2, 0, 12, 10, 0.7, 0)},
		},
		{
			// Sorted best first; equal scores keep their decoding order.
			name: "order", iou: 0.45,
			cands: []candidate{box(0, 0, 1, 1, 0.5, 0), box(10, 10, 11, 11, 0.7, 0), box(20, 20, 21, 21, 0.5, 1)},
			want:  []candidate{box(10, 10, 11, 11, 0.7, 0), box(0, 0, 1, 1, 0.5, 0), box(20, 20, 21, 21, 0.5, 1)},
		},
		{name: "none", iou: 0.45, cands: nil, want: []candidate{}},
	}
	for _, tt := range tests {
		got := nms(slices.Clone(tt.cands), tt.iou)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: kept %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNMSLimits(t *testing.T) {
	// 1200 disjoint boxes scoring 0.0001 apart: only the 1000 best are
	// considered and the 300 best kept, in order.
	cands := make([]candidate, 1200)
	for i := range cands {
		x := float32(2 * i)
		cands[i] = box(x, 0, x+1, 1, float32(i)/10000, 0)
	}
	got := nms(cands, 0.45)
	if len(got) != maxDetections {
		t.Fatalf("kept %d boxes, want %d", len(got), maxDetections)
	}
	if got[0].score != 0.1199 || got[299].score != 0.0900 {
		t.Errorf("kept scores %g..%g, want 0.1199..0.0900", got[0].score, got[299].score)
	}
	buf := make([]candidate, 0, 64)
	if n := testing.AllocsPerRun(50, func() {
		buf = append(buf[:0], box(0, 0, 10, 10, 0.9, 0), box(1, 0, 11, 10, 0.8, 0), box(0, 0, 10, 10, 0.7, 1))
		nms(buf, 0.45)
	}); n != 0 {
		t.Errorf("nms: %v allocations, want 0", n)
	}
}
