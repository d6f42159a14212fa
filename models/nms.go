package models

import (
	"cmp"
	"slices"
)

// Limits that bound post-processing time whatever the thresholds.
const (
	// maxCandidates is how many of the best-scoring boxes go into NMS.
	maxCandidates = 1000
	// maxDetections is how many boxes NMS keeps at most.
	maxDetections = 300
)

// candidate is a decoded box in model-input pixels (corners) with its best
// class and score.
type candidate struct {
	x1, y1, x2, y2 float32
	score          float32
	class          int
}

// byScore orders candidates best first.
func byScore(a, b candidate) int { return cmp.Compare(b.score, a.score) }

// nms runs greedy class-aware non-maximum suppression over cands in place:
// best first, a box is dropped when it overlaps a kept box of the same class
// with an IoU above iou (an IoU exactly at the threshold is kept). Only the
// maxCandidates best boxes are considered and at most maxDetections kept.
// It returns the kept boxes, best first, as a prefix of cands.
func nms(cands []candidate, iou float32) []candidate {
	slices.SortStableFunc(cands, byScore)
	if len(cands) > maxCandidates {
		cands = cands[:maxCandidates]
	}
	kept := cands[:0]
	for _, c := range cands {
		keep := true
		for i := range kept {
			if kept[i].class == c.class && overlap(&kept[i], &c) > iou {
				keep = false
				break
			}
		}
		if keep {
			// kept never outgrows the part of cands already read.
			kept = append(kept, c)
			if len(kept) == maxDetections {
				break
			}
		}
	}
	return kept
}

// overlap returns the intersection over union of two boxes, 0 for boxes
// without area.
func overlap(a, b *candidate) float32 {
	w := min(a.x2, b.x2) - max(a.x1, b.x1)
	h := min(a.y2, b.y2) - max(a.y1, b.y1)
	if w <= 0 || h <= 0 {
		return 0
	}
	inter := w * h
	union := (a.x2-a.x1)*(a.y2-a.y1) + (b.x2-b.x1)*(b.y2-b.y1) - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}
