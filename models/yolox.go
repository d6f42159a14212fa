package models

import "math"

// yoloxDecoder decodes the raw YOLOX layout [1,N,5+C]: per anchor a row of
// x, y, w, h offsets relative to its grid cell, objectness and class scores
// (probabilities). Anchors are the cells of the stride-8, 16 and 32 grids in
// order, each grid row by row: cx = (x+gx)*s, cy = (y+gy)*s, w = exp(w)*s,
// h = exp(h)*s in input pixels, and a class scores obj*cls.
type yoloxDecoder struct {
	anchors, classes int
	gx, gy, stride   []float32 // per anchor: grid cell and stride
}

// newYOLOXDecoder builds the grid tables for a w x h input, which must have
// gridAnchors(w, h) anchors.
func newYOLOXDecoder(w, h, classes int) *yoloxDecoder {
	n := gridAnchors(w, h)
	d := &yoloxDecoder{
		anchors: n,
		classes: classes,
		gx:      make([]float32, 0, n),
		gy:      make([]float32, 0, n),
		stride:  make([]float32, 0, n),
	}
	for s := 8; s <= 32; s *= 2 { // the three output levels, in output order
		for y := range h / s {
			for x := range w / s {
				d.gx = append(d.gx, float32(x))
				d.gy = append(d.gy, float32(y))
				d.stride = append(d.stride, float32(s))
			}
		}
	}
	return d
}

func (d *yoloxDecoder) decode(out []float32, th Thresholds, dst []candidate) []candidate {
	stride := 5 + d.classes
	out = out[:d.anchors*stride]
	gx, gy, st := d.gx[:d.anchors], d.gy[:d.anchors], d.stride[:d.anchors]
	for i := range d.anchors {
		row := out[i*stride : (i+1)*stride]
		score, class, ok := bestClass(row, &th)
		if !ok {
			continue
		}
		s := st[i]
		cx, cy := (row[0]+gx[i])*s, (row[1]+gy[i])*s
		hw := float32(math.Exp(float64(row[2]))) * s / 2
		hh := float32(math.Exp(float64(row[3]))) * s / 2
		dst = append(dst, candidate{
			x1: cx - hw, y1: cy - hh, x2: cx + hw, y2: cy + hh,
			score: score, class: class,
		})
	}
	return dst
}
