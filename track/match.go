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
	iou  float32
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
// unmatched detections that useDet accepts, by IoU of at least minIoU,
// recording matches in track.match and t.dmatch.
func (t *Tracker) associate(dets []Detection, minIoU float32, useTrack func(*track) bool, useDet func(*Config, *Detection) bool) {
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
			if v := iou(tr.pred, d.Box); v >= minIoU {
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
