package track

import (
	"slices"
	"time"
)

// Box is an axis-aligned rectangle in pixels: top-left corner, width and
// height.
type Box struct {
	X, Y, W, H float32
}

// centre returns the box as centre, width and height.
func (b Box) centre() (cx, cy, w, h float64) {
	w, h = float64(b.W), float64(b.H)
	return float64(b.X) + w/2, float64(b.Y) + h/2, w, h
}

// Detection is one object found in a frame, as the tracker needs it.
type Detection struct {
	Class int // only matches tracks of the same class
	Score float32
	Box   Box
}

// state is where a track stands.
type state uint8

// The states of a track.
const (
	// tentative: seen in fewer than Config.ConfirmHits consecutive
	// updates; it has no ID yet and is dropped at its first miss.
	tentative state = iota
	// tracked: confirmed and matched in the last update.
	tracked
	// lost: confirmed, not matched in the last update; it ends once it
	// has gone unmatched for longer than Config.MaxLost.
	lost
)

// Track is a confirmed track as Tracks returns it.
type Track struct {
	ID    uint64
	Class int
	Score float32 // of the last detection it matched
	Box   Box     // predicted at the time asked for
	Lost  bool    // not matched in the last update: Box is a prediction only
}

// ChangeKind says what happened to a track.
type ChangeKind uint8

// The kinds of change.
const (
	// Confirmed: a track got its ID (a new object).
	Confirmed ChangeKind = iota + 1
	// Ended: a confirmed track went unmatched for longer than
	// Config.MaxLost, or the tracker was Reset; its ID is never used
	// again.
	Ended
)

// Change is a confirmed track's start or end.
type Change struct {
	Kind  ChangeKind
	ID    uint64
	Class int
	Box   Box // the detection that confirmed it, or where it was predicted when it ended
}

// track is one track's state.
type track struct {
	id       uint64 // 0 while tentative
	class    int
	state    state
	hits     int // consecutive matched updates while tentative
	score    float32
	lastSeen time.Time // capture time of the last matching detection
	// refW and refH are the object's size when seen whole: the largest
	// width and height of its detections, shrinking by at most
	// refShrink a second while it is seen whole (see observe).
	refW, refH float64
	// partialSince is when the views of the object became partial on an
	// axis (x, y); zero while they are whole.
	partialSince [2]time.Time
	kf           box
	pred         Box   // the box predicted at the current update, for matching
	match        int32 // index of the matching detection in this update, or -1
}

// Tracker follows the objects of one camera across frames: give it each
// processed frame's detections with Update. It is not safe for concurrent
// use; every slice it returns is reused by the next Update or Reset.
type Tracker struct {
	cfg    Config
	tracks []track
	nextID uint64
	last   time.Time // capture time of the last update; zero before the first

	ids     []uint64 // per detection of the last update
	dmatch  []int32  // per detection: index of its track, or -1
	pairs   []pair   // association candidates, reused
	changes []Change
}

// New returns a tracker with cfg (zero fields taking their defaults), or
// cfg's problems.
func New(cfg Config) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Tracker{cfg: cfg, nextID: cfg.FirstID}, nil
}

// Config returns the tracker's settings, with the defaults filled in.
func (t *Tracker) Config() Config { return t.cfg }

// NextID returns the ID the next confirmed track will get.
func (t *Tracker) NextID() uint64 { return t.nextID }

// Update runs one frame's detections, captured at `at`, through the
// tracker and returns, for each detection in order, the ID of the confirmed
// track it belongs to, or 0 (a detection of a track not confirmed yet, or a
// low-score detection that matched no track, or one below LowScore). The
// returned slice is valid until the next Update; Changes says which tracks
// started and ended.
//
// Frames may be skipped: the filters move by the time between capture
// times, whatever it is. A capture time before the previous one counts as
// no time passing.
func (t *Tracker) Update(at time.Time, dets []Detection) []uint64 {
	cfg := &t.cfg
	dt := 0.0
	if !t.last.IsZero() && at.After(t.last) {
		dt = at.Sub(t.last).Seconds()
	}
	if t.last.IsZero() || at.After(t.last) {
		t.last = at
	}
	t.changes = t.changes[:0]
	t.ids = resize(t.ids, len(dets))
	t.dmatch = resize(t.dmatch, len(dets))
	for i := range dets {
		t.ids[i] = 0
		t.dmatch[i] = -1
	}
	for i := range t.tracks {
		tr := &t.tracks[i]
		tr.kf.predict(dt)
		tr.pred = tr.kf.at(0)
		tr.match = -1
	}

	// 1. High-score detections to the confirmed tracks, seen or lost;
	// then those left that are partial views of them (an object half
	// hidden, or coming out from behind another).
	t.associate(dets, cfg.MatchIoU, confirmedTrack, highDet, iouScore)
	t.associate(dets, cfg.PartialIoA, confirmedTrack, highDet, partialScore)
	// 2. Low-score detections to the confirmed tracks seen in the last
	// update and not matched above. Lost ones are left out, as in
	// ByteTrack: a weak box near a stale prediction is more likely a
	// false positive than the object coming back.
	t.associate(dets, cfg.LowMatchIoU, trackedUnmatched, lowDet, iouScore)
	// 3. The high-score detections left to the tentative tracks.
	t.associate(dets, cfg.MatchIoU, tentativeTrack, highDet, iouScore)

	// Apply the matches, miss the others.
	keep := t.tracks[:0]
	for i := range t.tracks {
		tr := t.tracks[i] // a copy: keep may overwrite t.tracks[i]
		if tr.match >= 0 {
			d := &dets[tr.match]
			tr.kf.correct(tr.observe(d.Box, dt, at, cfg.MaxLost))
			tr.score = d.Score
			tr.lastSeen = at
			switch tr.state {
			case tentative:
				tr.hits++
				if tr.hits >= cfg.ConfirmHits {
					t.confirm(&tr, d.Box)
				}
			case lost:
				tr.state = tracked
			}
			if tr.id != 0 {
				t.ids[tr.match] = tr.id
			}
			keep = append(keep, tr)
			continue
		}
		switch tr.state {
		case tentative:
			continue // dropped at its first miss
		case tracked:
			tr.state = lost
			tr.kf.holdSize()
		}
		if at.Sub(tr.lastSeen) > cfg.MaxLost {
			t.changes = append(t.changes, Change{Kind: Ended, ID: tr.id, Class: tr.class, Box: tr.pred})
			continue
		}
		keep = append(keep, tr)
	}
	clear(t.tracks[len(keep):]) // nothing to release, but keep it tidy
	t.tracks = keep

	// 4. New tentative tracks from the high-score detections left.
	for i := range dets {
		d := &dets[i]
		if t.dmatch[i] >= 0 || !highDet(cfg, d) {
			continue
		}
		tr := track{class: d.Class, hits: 1, score: d.Score, lastSeen: at, kf: newBox(d.Box), pred: d.Box, match: int32(i),
			refW: float64(d.Box.W), refH: float64(d.Box.H)}
		if tr.hits >= cfg.ConfirmHits {
			t.confirm(&tr, d.Box)
			t.ids[i] = tr.id
		}
		t.tracks = append(t.tracks, tr)
	}
	return t.ids
}

// Partial views. A detector sees only the visible part of an object half
// hidden behind another or cut by the frame's edge, and that part shrinks
// frame by frame as the object goes behind: folding those boxes into the
// filter as they are would drag its centre and speed towards the visible
// part and its size towards nothing, and the object would come out of
// hiding far from where it is predicted (a new ID). So each confirmed
// track remembers its size when seen whole (refW, refH), and a detection
// narrower (or shorter) than partialSide of it is taken as a partial view
// on that axis: of its two edges on the axis, the one nearer to the
// prediction is the object's own (the other is the occluder's, or the
// frame's), and the box folded in is the remembered size laid from that
// edge. While the object is seen whole, the remembered size follows it
// growing by refGrow of the difference a view (one oversized box does not
// make the next ones look partial) and shrinking at refShrink a second:
// faster than an object walking away shrinks, slower than one going
// behind another disappears. Views that stay partial for longer than a track may go
// unseen (MaxLost) are taken as the object's new size: it did change (a
// person sitting down), it is not hiding.
const (
	partialSide = 0.85
	refShrink   = 0.2 // of the size, per second
	refGrow     = 0.3 // of the difference, per whole view larger than the remembered size
)

// observe returns the box to fold into tr's filter for detection m, seen
// at `at`, dt seconds after the previous update, and updates the
// remembered size. Tentative tracks take m as it is.
func (tr *track) observe(m Box, dt float64, at time.Time, maxLost time.Duration) Box {
	if tr.state == tentative {
		tr.refW, tr.refH = max(tr.refW, float64(m.W)), max(tr.refH, float64(m.H))
		return m
	}
	keep := max(0, 1-refShrink*dt)
	x, w := tr.axis(0, float64(m.X), float64(m.W), float64(tr.pred.X), float64(tr.pred.W), &tr.refW, keep, at, maxLost)
	y, h := tr.axis(1, float64(m.Y), float64(m.H), float64(tr.pred.Y), float64(tr.pred.H), &tr.refH, keep, at, maxLost)
	return Box{X: float32(x), Y: float32(y), W: float32(w), H: float32(h)}
}

// axis is observe on axis i: the detection from lo to lo+size, the
// prediction from plo to plo+psize, the remembered size *ref, which a
// whole view shrinks by the factor keep at most.
func (tr *track) axis(i int, lo, size, plo, psize float64, ref *float64, keep float64, at time.Time, maxLost time.Duration) (float64, float64) {
	if size >= partialSide**ref {
		tr.partialSince[i] = time.Time{}
		if size > *ref {
			*ref += refGrow * (size - *ref)
		} else {
			*ref = max(*ref*keep, size)
		}
		return lo, size
	}
	if tr.partialSince[i].IsZero() {
		tr.partialSince[i] = at
	} else if at.Sub(tr.partialSince[i]) > maxLost {
		tr.partialSince[i] = time.Time{}
		*ref = size
		return lo, size
	}
	return whole(lo, size, plo, psize, *ref)
}

// whole lays a partial view from lo to lo+size out at the remembered size
// ref from its edge nearer to the prediction, plo to plo+psize: the near
// edge is the object's, the object extends beyond the far one.
func whole(lo, size, plo, psize, ref float64) (float64, float64) {
	hi, phi := lo+size, plo+psize
	if abs(lo-plo) <= abs(hi-phi) {
		return lo, ref
	}
	return hi - ref, ref
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// confirm gives tr its ID.
func (t *Tracker) confirm(tr *track, b Box) {
	tr.id = t.nextID
	t.nextID++
	tr.state = tracked
	t.changes = append(t.changes, Change{Kind: Confirmed, ID: tr.id, Class: tr.class, Box: b})
}

// Changes returns the tracks confirmed and ended by the last Update or
// Reset, in no particular order. It is valid until the next Update or
// Reset.
func (t *Tracker) Changes() []Change { return t.changes }

// Tracks appends to dst the confirmed tracks with their boxes predicted at
// time at (the last update's time when at is before it), and returns the
// extended slice; a track unseen for longer than MaxLost by then is left
// out (no update has ended it yet: the model is failing, or slower than
// MaxLost). It changes nothing: use it to draw boxes on frames that were
// not run through the model.
func (t *Tracker) Tracks(at time.Time, dst []Track) []Track {
	dt := 0.0
	if at.After(t.last) {
		dt = at.Sub(t.last).Seconds()
	}
	for i := range t.tracks {
		tr := &t.tracks[i]
		if tr.state == tentative || at.Sub(tr.lastSeen) > t.cfg.MaxLost {
			continue
		}
		dst = append(dst, Track{ID: tr.id, Class: tr.class, Score: tr.score, Box: tr.kf.at(dt), Lost: tr.state == lost})
	}
	return dst
}

// Reset ends every track, as when the detections' classes change meaning
// (another model). The confirmed ones are reported as Ended by Changes;
// IDs keep counting up from where they were, so none is used again.
func (t *Tracker) Reset() {
	t.changes = t.changes[:0]
	for i := range t.tracks {
		tr := &t.tracks[i]
		if tr.state != tentative {
			t.changes = append(t.changes, Change{Kind: Ended, ID: tr.id, Class: tr.class, Box: tr.pred})
		}
	}
	clear(t.tracks)
	t.tracks = t.tracks[:0]
	t.last = time.Time{}
}

// resize returns s with length n, reusing its array when it is big enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return slices.Grow(s[:0], n)[:n]
	}
	return s[:n]
}
