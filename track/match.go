package track

import "slices"

// Association is greedy: every (track, detection) pair of the same class
// whose IoU reaches the pass's threshold is a candidate; candidates are
// taken best IoU first (ties by track, then detection, index, so the result
// does not depend on the sort), and a pair is matched when neither side is
// matched yet. Greedy can lose to the optimal (Hungarian) assignment only
// when two tracks compete for two detections with crossed overlaps, which a
// constant-velocity prediction makes rare; it costs a sort of the
// candidates and allocates nothing once the candidate slice has grown.

// pair is an association candidate.
type pair struct {
	iou  float32 // the pass's score: the IoU, or partialScore
	t, d int32
}

// Which tracks and detections a pass considers.
func confirmedTrack(tr *track) bool   { return tr.state != tentative && tr.match < 0 }
func trackedUnmatched(tr *track) bool { return tr.state == tracked && tr.match < 0 }
func tentativeTrack(tr *track) bool   { return tr.state == tentative && tr.match < 0 }

func highDet(c *Config, d *Detection) bool { return d.Score >= c.HighScore }
func lowDet(c *Config, d *Detection) bool {
	return d.Score >= c.LowScore && d.Score < c.HighScore
}

// associate matches the unmatched tracks that useTrack accepts with the
// unmatched detections that useDet accepts, by a score of at least least
// (score's: the IoU of the track's prediction and the detection, or
// partialScore), recording matches in track.match and t.dmatch.
func (t *Tracker) associate(dets []Detection, least float32, useTrack func(*track) bool, useDet func(*Config, *Detection) bool,
	score func(c *Config, pred, det Box) float32) {
	t.pairs = t.pairs[:0]
	for ti := range t.tracks {
		tr := &t.tracks[ti]
		if !useTrack(tr) {
			continue
		}
		for di := range dets {
			d := &dets[di]
			if t.dmatch[di] >= 0 || d.Class != tr.class || !useDet(&t.cfg, d) {
				continue
			}
			if v := score(&t.cfg, tr.pred, d.Box); v >= least {
				t.pairs = append(t.pairs, pair{iou: v, t: int32(ti), d: int32(di)})
			}
		}
	}
	slices.SortFunc(t.pairs, comparePairs)
	for _, p := range t.pairs {
		tr := &t.tracks[p.t]
		if tr.match >= 0 || t.dmatch[p.d] >= 0 {
			continue
		}
		tr.match = p.d
		t.dmatch[p.d] = p.t
	}
}

// iouScore is associate's score by IoU.
func iouScore(_ *Config, pred, det Box) float32 { return iou(pred, det) }

// partialScore is associate's score for partial views: for a detection
// smaller than PartialArea of the track's predicted area, the share of its
// area inside the prediction grown by partialSlack of its size on every
// side (a track that went unseen behind another is predicted a few pixels
// off by the time it comes out); 0 for a larger one.
func partialScore(c *Config, pred, det Box) float32 {
	if !partial(c, det, pred) {
		return 0
	}
	return ioa(det, grow(pred, partialSlack))
}

// partialSlack is how much of its size a track's predicted box is grown by
// on every side to hold a partial view of it.
const partialSlack = 0.25

// grow returns b grown by f of its width and height on every side.
func grow(b Box, f float32) Box {
	return Box{X: b.X - f*b.W, Y: b.Y - f*b.H, W: b.W * (1 + 2*f), H: b.H * (1 + 2*f)}
}

// partial says whether a detection box d is a partial view of an object
// predicted at p: its area below PartialArea of p's.
func partial(c *Config, d, p Box) bool {
	return d.W*d.H < c.PartialArea*p.W*p.H
}

// ioa is the share of a's area that lies inside b; 0 when a is empty.
func ioa(a, b Box) float32 {
	iw := min(a.X+a.W, b.X+b.W) - max(a.X, b.X)
	ih := min(a.Y+a.H, b.Y+b.H) - max(a.Y, b.Y)
	if !(iw > 0 && ih > 0) || !(a.W > 0 && a.H > 0) {
		return 0
	}
	return iw * ih / (a.W * a.H)
}

// comparePairs orders by IoU, highest first, then by track and detection.
func comparePairs(a, b pair) int {
	switch {
	case a.iou > b.iou:
		return -1
	case a.iou < b.iou:
		return 1
	case a.t != b.t:
		return int(a.t - b.t)
	}
	return int(a.d - b.d)
}

// iou is the intersection over union of two boxes; 0 when either is empty.
func iou(a, b Box) float32 {
	iw := min(a.X+a.W, b.X+b.W) - max(a.X, b.X)
	ih := min(a.Y+a.H, b.Y+b.H) - max(a.Y, b.Y)
	if !(iw > 0 && ih > 0) {
		return 0
	}
	inter := iw * ih
	union := a.W*a.H + b.W*b.H - inter
	if !(union > 0) {
		return 0
	}
	return inter / union
}
