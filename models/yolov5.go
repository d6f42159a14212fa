package models

import "math"

// yolov5Decoder decodes the YOLOv5 layout [1,N,5+C]: per anchor a row of
// cx, cy, w, h in input pixels, objectness and class scores (probabilities);
// the score of a class is objectness times its class score.
type yolov5Decoder struct {
	anchors, classes int
}

func (d *yolov5Decoder) decode(out []float32, th Thresholds, dst []candidate) []candidate {
	stride := 5 + d.classes
	out = out[:d.anchors*stride]
	for i := range d.anchors {
		row := out[i*stride : (i+1)*stride]
		score, class, ok := bestClass(row, &th)
		if !ok {
			continue
		}
		hw, hh := row[2]/2, row[3]/2
		dst = append(dst, candidate{
			x1: row[0] - hw, y1: row[1] - hh, x2: row[0] + hw, y2: row[1] + hh,
			score: score, class: class,
		})
	}
	return dst
}

// bestClass returns the best kept class of a [x, y, w, h, obj, cls...] row
// and its score obj*cls, and whether that score reaches th.Confidence.
func bestClass(row []float32, th *Thresholds) (float32, int, bool) {
	obj := row[4]
	// Class scores are at most 1, so a low objectness settles it.
	if obj < th.Confidence {
		return 0, 0, false
	}
	best, class := float32(math.Inf(-1)), -1
	for c, s := range row[5:] {
		if s > best && th.kept(c) {
			best, class = s, c
		}
	}
	if class < 0 {
		return 0, 0, false
	}
	score := obj * best
	return score, class, score >= th.Confidence
}
