package track

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// sec is t0 plus s seconds.
func sec(s float64) time.Time { return t0.Add(time.Duration(math.Round(s * float64(time.Second)))) }

// object is a box moving at a constant velocity, in pixels per second.
type object struct {
	class  int
	score  float32
	x, y   float32 // top-left at t0
	w, h   float32
	vx, vy float32
}

func (o object) at(s float64) Detection {
	return Detection{Class: o.class, Score: o.score, Box: Box{
		X: o.x + o.vx*float32(s), Y: o.y + o.vy*float32(s), W: o.w, H: o.h,
	}}
}

func newTracker(t testing.TB, cfg Config) *Tracker {
	t.Helper()
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// changes returns the tracker's changes as "+id" (confirmed) and "-id"
// (ended), sorted.
func changes(tr *Tracker) string {
	var s []string
	for _, c := range tr.Changes() {
		sign := "+"
		if c.Kind == Ended {
			sign = "-"
		}
		s = append(s, sign+strconv.FormatUint(c.ID, 10))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// TestCrossing has two people walk towards each other along nearly the same
// line and pass: at constant velocity the predictions keep each on its own
// track, whatever order the detections come in.
func TestCrossing(t *testing.T) {
	for _, c := range []struct {
		name  string
		fps   float64
		speed float32 // px/s, each
	}{
		{"10 fps", 10, 100},
		{"5 fps", 5, 80},
		{"15 fps fast", 15, 240},
		{"25 fps", 25, 150},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := newTracker(t, Config{})
			// A goes right from x = 0, B left from x = 560, 10 px lower:
			// they meet after 560 / (2·speed) s.
			objs := []object{
				{score: 0.9, x: 0, y: 100, w: 40, h: 80, vx: c.speed},
				{score: 0.9, x: 560, y: 110, w: 40, h: 80, vx: -c.speed},
			}
			end := 2 * 560 / float64(c.speed) // until they are as far apart again
			ids := [2]uint64{}
			dets := make([]Detection, 2)
			order := [2]int{}
			for i := 0; float64(i)/c.fps <= end; i++ {
				s := float64(i) / c.fps
				order = [2]int{0, 1}
				if i%2 == 1 { // the detector's order means nothing
					order = [2]int{1, 0}
				}
				for k, o := range order {
					dets[k] = objs[o].at(s)
				}
				got := tr.Update(sec(s), dets)
				for k, o := range order {
					switch {
					case i < 2 && got[k] != 0:
						t.Fatalf("frame %d: object %d has id %d before its third hit", i, o, got[k])
					case i == 2:
						ids[o] = got[k]
					case i > 2 && got[k] != ids[o]:
						t.Fatalf("frame %d (%.2f s): object %d has id %d, had %d", i, s, o, got[k], ids[o])
					}
				}
				if i == 2 && changes(tr) != "+1 +2" {
					t.Fatalf("frame 2: changes %q, want +1 +2", changes(tr))
				}
				if i > 2 && len(tr.Changes()) != 0 {
					t.Fatalf("frame %d: changes %q, want none", i, changes(tr))
				}
			}
			if ids[0] == ids[1] || ids[0] == 0 || ids[1] == 0 {
				t.Fatalf("ids %v", ids)
			}
		})
	}
}

// TestOcclusion hides a walking person for a while: within MaxLost it
// keeps its ID (lost, then tracked again where the prediction put it);
// beyond, its track ends and it comes back with a new one.
func TestOcclusion(t *testing.T) {
	for _, c := range []struct {
		name      string
		gap       float64 // seconds without a detection
		wantAfter uint64
		wantEnded bool
	}{
		{"short", 0.5, 1, false},
		{"just under max lost", 1.4, 1, false},
		{"longer than max lost", 2, 0, true}, // a new tentative track, no id yet
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := newTracker(t, Config{}) // MaxLost 1.5 s
			o := object{score: 0.8, x: 100, y: 200, w: 50, h: 120, vx: 60}
			var ended bool
			frame := func(s float64, visible bool) []uint64 {
				var dets []Detection
				if visible {
					dets = []Detection{o.at(s)}
				}
				ids := tr.Update(sec(s), dets)
				ended = ended || strings.Contains(changes(tr), "-1")
				return ids
			}
			for i := range 10 { // 1 s at 10 fps: confirmed as 1
				frame(float64(i)/10, true)
			}
			if got := tr.Tracks(sec(0.9), nil); len(got) != 1 || got[0].ID != 1 || got[0].Lost {
				t.Fatalf("tracks before the gap: %+v", got)
			}
			s := 1.0
			for ; s < 1+c.gap-1e-9; s += 0.1 {
				frame(s, false)
			}
			if !c.wantEnded {
				got := tr.Tracks(sec(s-0.1), nil)
				if len(got) != 1 || got[0].ID != 1 || !got[0].Lost {
					t.Fatalf("tracks in the gap: %+v, want id 1 lost", got)
				}
				// The prediction kept walking: about where the person is (the
				// velocity learnt in 1 s is within a few percent).
				if want := o.at(s - 0.1).Box.X; math.Abs(float64(got[0].Box.X-want)) > 5 {
					t.Errorf("predicted x in the gap %.1f, want about %.1f", got[0].Box.X, want)
				}
			}
			ids := frame(s, true)
			if ids[0] != c.wantAfter {
				t.Errorf("id after the gap = %d, want %d", ids[0], c.wantAfter)
			}
			if ended != c.wantEnded {
				t.Errorf("track 1 ended: %v, want %v", ended, c.wantEnded)
			}
			if c.wantEnded { // confirmed again, under a new id
				frame(s+0.1, true)
				if ids := frame(s+0.2, true); ids[0] != 2 {
					t.Errorf("id of the object back after it ended = %d, want 2", ids[0])
				}
			}
		})
	}
}

// TestLowScoreKeepsTrack: a person's score drops (half hidden) for longer
// than MaxLost. Low-score detections, matched in the second pass, keep
// the track and its ID; detections below LowScore are ignored, so the
// track ends.
func TestLowScoreKeepsTrack(t *testing.T) {
	for _, c := range []struct {
		name     string
		dip      float32
		wantID   uint64 // of the detections during the dip
		wantLive bool   // the track survives the dip
	}{
		{"low band", 0.3, 1, true},
		{"at LowScore", 0.1, 1, true},
		{"below LowScore", 0.05, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := newTracker(t, Config{})
			o := object{score: 0.9, x: 300, y: 100, w: 60, h: 150, vx: -40, vy: 10}
			for i := range 5 {
				tr.Update(sec(float64(i)/10), []Detection{o.at(float64(i) / 10)})
			}
			for i := 5; i < 30; i++ { // 2.5 s of low scores
				d := o.at(float64(i) / 10)
				d.Score = c.dip
				ids := tr.Update(sec(float64(i)/10), []Detection{d})
				if i < 20 && ids[0] != c.wantID { // before MaxLost has passed
					t.Fatalf("frame %d: id %d, want %d", i, ids[0], c.wantID)
				}
			}
			live := len(tr.Tracks(sec(2.9), nil)) == 1
			if live != c.wantLive {
				t.Errorf("track alive after the dip: %v, want %v", live, c.wantLive)
			}
		})
	}
}

// TestLowScoreStartsNothing: detections below HighScore never start a
// track.
func TestLowScoreStartsNothing(t *testing.T) {
	tr := newTracker(t, Config{ConfirmHits: 1})
	o := object{score: 0.4, x: 10, y: 10, w: 30, h: 30}
	for i := range 10 {
		if ids := tr.Update(sec(float64(i)/10), []Detection{o.at(0)}); ids[0] != 0 {
			t.Fatalf("frame %d: id %d for a low-score detection", i, ids[0])
		}
	}
	if n := len(tr.tracks); n != 0 {
		t.Errorf("%d tracks, want none", n)
	}
}

// TestNewObjectNewID: a second object that walks in gets the next ID once
// confirmed; the first keeps its own.
func TestNewObjectNewID(t *testing.T) {
	tr := newTracker(t, Config{})
	a := object{score: 0.9, x: 100, y: 100, w: 40, h: 90, vx: 20}
	b := object{score: 0.7, x: 800, y: 300, w: 40, h: 90, vx: -30}
	for i := range 20 {
		s := float64(i) / 10
		dets := []Detection{a.at(s)}
		if i >= 10 {
			dets = append(dets, b.at(s))
		}
		ids := tr.Update(sec(s), dets)
		if i >= 2 && ids[0] != 1 {
			t.Fatalf("frame %d: first object id %d, want 1", i, ids[0])
		}
		want := map[int]uint64{10: 0, 11: 0, 12: 2, 19: 2}
		if w, ok := want[i]; ok && ids[1] != w {
			t.Fatalf("frame %d: second object id %d, want %d", i, ids[1], w)
		}
		if i == 12 && changes(tr) != "+2" {
			t.Fatalf("frame 12: changes %q, want +2", changes(tr))
		}
	}
}

// TestIDsNotReused: an object that left (its track ended) and one that
// comes back where it was get new IDs; so does anything after Reset.
func TestIDsNotReused(t *testing.T) {
	tr := newTracker(t, Config{ConfirmHits: 1, MaxLost: time.Second})
	o := object{score: 0.9, x: 100, y: 100, w: 40, h: 40}
	if ids := tr.Update(sec(0), []Detection{o.at(0)}); ids[0] != 1 || changes(tr) != "+1" {
		t.Fatalf("first: id %d, changes %q", ids[0], changes(tr))
	}
	tr.Update(sec(0.5), nil)
	if changes(tr) != "" {
		t.Fatalf("0.5 s lost: changes %q", changes(tr))
	}
	tr.Update(sec(1.1), nil) // 1.1 s since last seen > 1 s
	if changes(tr) != "-1" {
		t.Fatalf("1.1 s lost: changes %q, want -1", changes(tr))
	}
	if ids := tr.Update(sec(1.2), []Detection{o.at(0)}); ids[0] != 2 || changes(tr) != "+2" {
		t.Fatalf("back: id %d, changes %q, want 2, +2", ids[0], changes(tr))
	}
	tr.Reset()
	if changes(tr) != "-2" || len(tr.Tracks(sec(1.2), nil)) != 0 {
		t.Fatalf("reset: changes %q, tracks %v", changes(tr), tr.Tracks(sec(1.2), nil))
	}
	// After a reset time may even start over (another connection).
	if ids := tr.Update(sec(0), []Detection{o.at(0)}); ids[0] != 3 {
		t.Fatalf("after reset: id %d, want 3", ids[0])
	}
	// A tracker that replaces this one goes on counting.
	next := newTracker(t, Config{ConfirmHits: 1, FirstID: tr.NextID()})
	if ids := next.Update(sec(0), []Detection{o.at(0)}); ids[0] != 4 {
		t.Fatalf("next tracker: id %d, want 4", ids[0])
	}
}

// TestClassAware: a person and the car they stand in front of have the
// same box; each keeps a track of its own, and a car detection never
// continues the person's track.
func TestClassAware(t *testing.T) {
	const person, car = 0, 2
	tr := newTracker(t, Config{})
	p := object{class: person, score: 0.9, x: 200, y: 200, w: 100, h: 100, vx: 10}
	c := p
	c.class = car
	var pid, cid uint64
	for i := range 10 {
		s := float64(i) / 10
		ids := tr.Update(sec(s), []Detection{c.at(s), p.at(s)})
		if i == 2 {
			cid, pid = ids[0], ids[1]
		}
		if i >= 2 && (ids[0] != cid || ids[1] != pid || cid == pid || cid == 0 || pid == 0) {
			t.Fatalf("frame %d: ids %v, want car %d person %d, distinct", i, ids, cid, pid)
		}
	}
	// Now only the car is seen where both were: the person's track is lost.
	ids := tr.Update(sec(1), []Detection{c.at(1)})
	if ids[0] != cid {
		t.Fatalf("car alone: id %d, want %d", ids[0], cid)
	}
	for _, got := range tr.Tracks(sec(1), nil) {
		if want := got.ID == pid; got.Lost != want {
			t.Errorf("track %d (class %d) lost = %v, want %v", got.ID, got.Class, got.Lost, want)
		}
	}
}

// TestVariableDt feeds a fast object at an uneven frame rate (the agent
// skips frames while the model is busy): the filter moves by the capture
// times, so the track holds and its prediction is right.
func TestVariableDt(t *testing.T) {
	tr := newTracker(t, Config{})
	o := object{score: 0.9, x: 0, y: 50, w: 80, h: 160, vx: 200, vy: 20}
	times := []float64{0, 0.04, 0.08, 0.2, 0.24, 0.5, 0.55, 0.58, 0.9, 1.0, 1.04, 1.3, 1.32, 1.6}
	for i, s := range times {
		ids := tr.Update(sec(s), []Detection{o.at(s)})
		if i >= 2 && ids[0] != 1 {
			t.Fatalf("at %.2f s: id %d, want 1", s, ids[0])
		}
	}
	// Looking ahead 0.25 s: where the object will be.
	got := tr.Tracks(sec(1.85), nil)
	want := o.at(1.85).Box
	if len(got) != 1 || math.Abs(float64(got[0].Box.X-want.X)) > 3 || math.Abs(float64(got[0].Box.Y-want.Y)) > 3 {
		t.Fatalf("tracks at 1.85 s = %+v, want box near %+v", got, want)
	}
	// A capture time before the last counts as no time passing: the
	// detection still matches.
	if ids := tr.Update(sec(1.5), []Detection{o.at(1.6)}); ids[0] != 1 {
		t.Fatalf("time going back: id %d, want 1", ids[0])
	}
}

// TestTentativeDroppedOnMiss: a new track missed once before it is
// confirmed starts over.
func TestTentativeDroppedOnMiss(t *testing.T) {
	tr := newTracker(t, Config{})
	o := object{score: 0.9, x: 10, y: 10, w: 50, h: 50}
	seen := []bool{true, true, false, true, true, true}
	want := []uint64{0, 0, 0, 0, 0, 1}
	for i, v := range seen {
		var dets []Detection
		if v {
			dets = []Detection{o.at(0)}
		}
		ids := tr.Update(sec(float64(i)/10), dets)
		if v && ids[0] != want[i] {
			t.Fatalf("frame %d: id %d, want %d", i, ids[0], want[i])
		}
	}
}

// TestTracksChangesNothing: asking for the tracks at any time leaves the
// tracker as it was.
func TestTracksChangesNothing(t *testing.T) {
	a, b := newTracker(t, Config{}), newTracker(t, Config{})
	objs := []object{
		{score: 0.9, x: 0, y: 0, w: 30, h: 60, vx: 50},
		{class: 1, score: 0.6, x: 300, y: 0, w: 30, h: 60, vx: -20, vy: 40},
	}
	var buf []Track
	for i := range 30 {
		s := float64(i) / 15
		dets := []Detection{objs[0].at(s), objs[1].at(s)}
		if i%7 == 3 {
			dets = dets[:1]
		}
		buf = a.Tracks(sec(s+5), buf[:0])
		buf = a.Tracks(sec(s-5), buf[:0])
		ida := slices.Clone(a.Update(sec(s), dets))
		idb := b.Update(sec(s), dets)
		if !slices.Equal(ida, idb) {
			t.Fatalf("frame %d: ids %v with Tracks calls, %v without", i, ida, idb)
		}
	}
	ta, tb := a.Tracks(sec(3), nil), b.Tracks(sec(3), nil)
	if !slices.Equal(ta, tb) || len(ta) != 2 {
		t.Fatalf("tracks %v and %v", ta, tb)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want string // substrings of the error, "" for none
	}{
		{"zero is the defaults", Config{}, ""},
		{"explicit", Config{HighScore: 0.6, LowScore: 0.2, MatchIoU: 0.3, LowMatchIoU: 0.5, ConfirmHits: 1, MaxLost: time.Second}, ""},
		{"low above high", Config{HighScore: 0.3, LowScore: 0.4}, "LowScore 0.4: must be below HighScore 0.3"},
		{"low above default high", Config{LowScore: 0.5}, "LowScore 0.5: must be below HighScore 0.5"},
		{"out of range", Config{HighScore: 1.5, MatchIoU: -1}, "HighScore 1.5: must be in (0, 1]\nMatchIoU -1: must be in (0, 1]"},
		{"NaN", Config{LowMatchIoU: float32(math.NaN())}, "LowMatchIoU NaN: must be in (0, 1]"},
		{"hits and lost", Config{ConfirmHits: -1, MaxLost: -time.Second}, "ConfirmHits -1: must be at least 1\nMaxLost -1s: must not be negative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Validate() = %v, want %q", err, c.want)
			}
			if _, nerr := New(c.cfg); (nerr == nil) != (err == nil) {
				t.Fatalf("New() = %v, Validate() = %v", nerr, err)
			}
		})
	}
	tr := newTracker(t, Config{MaxLost: time.Second})
	if got := tr.Config(); got.HighScore != DefaultHighScore || got.ConfirmHits != DefaultConfirmHits || got.MaxLost != time.Second {
		t.Errorf("Config() = %+v, want defaults but MaxLost 1s", got)
	}
}

// TestPartialViews: an object 100 px wide walks left at 100 px/s (10 px a
// frame at 10 fps) behind an occluder spanning x 320..420, which a
// detector sees as the object's visible part only. Worked out by hand:
// its left edge is at x = 500 - 10·f in frame f; from frame 10 (x 400)
// only [420, x+100] shows, 80 px narrowing by 10 a frame down to 10 px in
// frame 17; in frame 18 (x 320) it is wholly hidden; from frame 19 its
// left part [x, 320] shows, 10 px widening to 100 px in frame 28. The
// partial boxes are laid out from the edge nearer the prediction (the
// right one going in, the left one coming out) at the remembered width,
// so the filter keeps the object's speed and size, the prediction in
// frame 18 is where the object is, and the 10 px sliver coming out in
// frame 19, with an IoU of 0.1 with the prediction (under MatchIoU), is
// matched as a partial view: one ID throughout, no track ended.
func TestPartialViews(t *testing.T) {
	tr := newTracker(t, Config{})
	for f := range 35 {
		x := float32(500 - 10*f)
		lo, hi := x, x+100
		switch {
		case hi > 420 && lo < 420:
			lo = 420
		case lo < 320 && hi > 320:
			hi = 320
		case lo >= 320 && hi <= 420:
			lo, hi = 0, 0 // hidden
		}
		var dets []Detection
		if hi-lo >= 5 {
			dets = []Detection{{Score: 0.9, Box: Box{X: lo, Y: 100, W: hi - lo, H: 100}}}
		}
		ids := tr.Update(sec(float64(f)/10), dets)
		if strings.Contains(changes(tr), "-") {
			t.Fatalf("frame %d: a track ended: %s", f, changes(tr))
		}
		if f >= 2 && len(ids) == 1 && ids[0] != 1 {
			t.Errorf("frame %d (visible %v..%v): id %d, want 1", f, lo, hi, ids[0])
		}
		if f == 18 {
			got := tr.Tracks(sec(1.8), nil)
			if len(got) != 1 || math.Abs(float64(got[0].Box.X-320)) > 6 || math.Abs(float64(got[0].Box.W-100)) > 10 {
				t.Errorf("frame 18, hidden: predicted %+v, want about x 320, 100 wide", got)
			}
		}
	}
	if got := tr.Tracks(sec(3.4), nil); len(got) != 1 || got[0].ID != 1 || math.Abs(float64(got[0].Box.X-160)) > 3 {
		t.Errorf("after: tracks %+v, want track 1 at about x 160", got)
	}
}

// whole lays a partial view out at the remembered size (100) from the
// edge nearer the prediction (400..500, or 310..410). Worked out by hand.
func TestWhole(t *testing.T) {
	for _, c := range []struct {
		name               string
		lo, size, plo, psz float64
		wantLo             float64
	}{
		{"right edge shows, left hidden", 420, 80, 400, 100, 400},
		{"left edge shows, right hidden", 310, 10, 310, 100, 310},
		{"sliver nearer the right", 495, 6, 400, 100, 401},
		{"sliver nearer the left", 402, 6, 400, 100, 402},
	} {
		lo, size := whole(c.lo, c.size, c.plo, c.psz, 100)
		if math.Abs(lo-c.wantLo) > 1e-9 || size != 100 {
			t.Errorf("%s: whole = %v, %v, want %v, 100", c.name, lo, size, c.wantLo)
		}
	}
}

// A view stays whole down to partialSide (0.85) of the remembered size,
// which follows a shrinking object at refShrink (0.2) a second and a
// growing one by refGrow (0.3) of the difference a view, so that one
// oversized box does not make the next ones partial; views partial for
// longer than MaxLost become the size. Worked out by hand.
func TestRememberedSize(t *testing.T) {
	tr := &track{state: tracked, refW: 100, refH: 100, pred: Box{X: 0, Y: 0, W: 100, H: 100}}
	step := func(s float64, w float32) Box {
		return tr.observe(Box{X: 0, Y: 0, W: w, H: 100}, 0.1, sec(s), 1500*time.Millisecond)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if b := step(0.1, 90); b.W != 90 || !near(tr.refW, 98) { // max(100·0.98, 90)
		t.Errorf("90 of 100: folded %v, remembered %v; want 90, 98", b.W, tr.refW)
	}
	if b := step(0.2, 138); b.W != 138 || !near(tr.refW, 110) { // 98 + 0.3·(138-98)
		t.Errorf("138: folded %v, remembered %v; want 138, 110", b.W, tr.refW)
	}
	// 60 < 0.85·110: partial, laid out at 110 from the left edge (nearer),
	// the remembered size kept, for MaxLost; then taken as the size.
	for s := 0.3; s < 1.85; s += 0.1 {
		if b := step(s, 60); !near(float64(b.W), 110) || !near(tr.refW, 110) {
			t.Fatalf("at %.1f s, 60 of 110: folded %v, remembered %v; want 110, 110", s, b.W, tr.refW)
		}
	}
	if b := step(1.9, 60); b.W != 60 || tr.refW != 60 {
		t.Errorf("partial for 1.6 s: folded %v, remembered %v; want 60, 60", b.W, tr.refW)
	}
}

// Tracks leaves out a track unseen for longer than MaxLost at the time
// asked for, though no Update ended it (the model failing): its predicted
// box would only drift further from the object.
func TestTracksLeavesOutStale(t *testing.T) {
	tr := newTracker(t, Config{ConfirmHits: 1})
	tr.Update(sec(0), []Detection{{Score: 0.9, Box: Box{X: 10, Y: 10, W: 20, H: 20}}})
	if got := tr.Tracks(sec(1.5), nil); len(got) != 1 {
		t.Errorf("at MaxLost (1.5 s): %d tracks, want 1", len(got))
	}
	if got := tr.Tracks(sec(1.6), nil); len(got) != 0 {
		t.Errorf("past MaxLost: %+v, want none", got)
	}
}
