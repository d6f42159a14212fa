package models

import "math"

// decoder turns a model's output tensor into candidate boxes in input pixels
// whose score is at least th.Confidence and whose class th keeps.
type decoder interface {
	decode(out []float32, th Thresholds, dst []candidate) []candidate
}

// yolov8Decoder decodes the Ultralytics layout [1,4+C,N]: channel-major, rows
// 0..3 are cx, cy, w, h in input pixels, rows 4.. the class scores (already
// probabilities), no objectness.
type yolov8Decoder struct {
	anchors, classes int
	best             []float32 // per anchor: its best kept class score
}

func newYOLOv8Decoder(anchors, classes int) *yolov8Decoder {
	return &yolov8Decoder{
		anchors: anchors,
		classes: classes,
		best:    make([]float32, anchors),
	}
}

func (d *yolov8Decoder) decode(out []float32, th Thresholds, dst []candidate) []candidate {
	n := d.anchors
	out = out[:(4+d.classes)*n]
	best := d.best[:n]
	fill(best, float32(math.Inf(-1)))
	// First the best score per anchor, walking the class rows in memory order
	// rather than striding across them anchor by anchor (the hot loop: 80
	// classes x 8400 anchors for YOLOv8n) ...
	for c := range d.classes {
		if !th.kept(c) {
			continue
		}
		row := out[(4+c)*n : (5+c)*n]
		row = row[:len(best)]
		for i, s := range row {
			best[i] = max(best[i], s)
		}
	}
	// ... then, for the few anchors that pass, which class scored it.
	cx, cy, w, h := out[:n], out[n:2*n], out[2*n:3*n], out[3*n:4*n]
	for i, s := range best {
		if !(s >= th.Confidence) { // also NaN
			continue
		}
		class := -1
		for c := range d.classes {
			if out[(4+c)*n+i] == s && th.kept(c) {
				class = c
				break
			}
		}
		if class < 0 {
			continue
		}
		hw, hh := w[i]/2, h[i]/2
		dst = append(dst, candidate{
			x1: cx[i] - hw, y1: cy[i] - hh, x2: cx[i] + hw, y2: cy[i] + hh,
			score: s, class: class,
		})
	}
	return dst
}
