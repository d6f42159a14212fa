package zones

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)

// frameAt is the time of frame i, at 10 frames a second.
func frameAt(i int) time.Time { return t0.Add(time.Duration(i) * 100 * time.Millisecond) }

// trk is a track whose box (0.1 wide, 0.2 high) stands on (x, y).
func trk(id uint64, label string, x, y float64) Track {
	return Track{ID: id, Label: label, Box: Box{X: x - 0.05, Y: y - 0.2, W: 0.1, H: 0.2}}
}

// str writes an event compactly for comparisons: "zone_enter driveway #1
// person" or "line_cross gate #1 person in".
func str(ev Event) string {
	s := fmt.Sprintf("%s %s #%d %s", ev.Kind, ev.Name, ev.TrackID, ev.Label)
	if ev.Direction != 0 {
		s += " " + ev.Direction.String()
	}
	return s
}

// harness runs frames through an Evaluator and checks their events.
type harness struct {
	t     *testing.T
	e     *Evaluator
	frame int
	ev    []Event
}

func newHarness(t *testing.T, s Set) *harness {
	t.Helper()
	e, err := NewEvaluator(s)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, e: e}
}

// step runs one frame and checks its events (in order) and their time.
func (h *harness) step(want []string, tracks ...Track) {
	h.t.Helper()
	h.frame++
	at := frameAt(h.frame)
	h.ev = h.e.Update(h.ev[:0], at, tracks)
	h.check(fmt.Sprintf("frame %d", h.frame), at, want)
}

// end ends track id and checks the events.
func (h *harness) end(id uint64, want []string) {
	h.t.Helper()
	at := frameAt(h.frame).Add(50 * time.Millisecond)
	h.ev = h.e.End(h.ev[:0], at, id)
	h.check(fmt.Sprintf("End(%d) after frame %d", id, h.frame), at, want)
}

func (h *harness) check(what string, at time.Time, want []string) {
	h.t.Helper()
	got := make([]string, len(h.ev))
	for i, ev := range h.ev {
		got[i] = str(ev)
		if !ev.Time.Equal(at) {
			h.t.Errorf("%s: %s at %v, want %v", what, got[i], ev.Time, at)
		}
	}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		h.t.Fatalf("%s: events [%s], want [%s]", what, strings.Join(got, "; "), strings.Join(want, "; "))
	}
}

func (h *harness) occupancy(zone, label string, want uint64) {
	h.t.Helper()
	if got := h.e.Occupancy(zone, label); got != want {
		h.t.Fatalf("after frame %d: Occupancy(%q, %q) = %d, want %d", h.frame, zone, label, got, want)
	}
}

func (h *harness) crossings(line, label string, d Direction, want uint64) {
	h.t.Helper()
	if got := h.e.Crossings(line, label, d); got != want {
		h.t.Fatalf("after frame %d: Crossings(%q, %q, %v) = %d, want %d", h.frame, line, label, d, got, want)
	}
}

func driveSet(minFrames int, labels ...string) Set {
	return Set{Zones: []Zone{{Name: "driveway", Polygon: driveway(), Labels: labels, MinFrames: minFrames}}}
}

// Points relative to the driveway (x 0.1..0.6, y 0.5..1).
const inX, inY, outX, outY = 0.3, 0.7, 0.8, 0.3

func TestZoneInertia(t *testing.T) {
	h := newHarness(t, driveSet(0)) // 0: the default, 3
	in := trk(1, "person", inX, inY)
	out := trk(1, "person", outX, outY)
	enter := []string{"zone_enter driveway #1 person"}
	exit := []string{"zone_exit driveway #1 person"}

	h.step(nil, out) // a new track starts outside
	h.step(nil, in)
	h.step(nil, in) // inside for 2 frames: no enter
	h.step(nil, out)
	h.step(nil, in) // the run starts again
	h.step(nil, in)
	h.occupancy("driveway", "person", 0)
	h.step(enter, in) // the third consecutive frame inside
	h.occupancy("driveway", "person", 1)
	if p := h.ev[0].Point; math.Abs(p.X-inX) > 1e-12 || math.Abs(p.Y-inY) > 1e-12 {
		t.Fatalf("enter at %v, want the box's bottom centre (%v, %v)", p, inX, inY)
	}
	h.step(nil, out) // flicker out for 1 frame: no exit
	h.step(nil, in)
	h.step(nil, out)
	h.step(nil, out)
	h.occupancy("driveway", "person", 1)
	h.step(exit, out) // the third consecutive frame outside
	h.occupancy("driveway", "person", 0)
	h.occupancy("driveway", "", 0)
}

func TestZoneMinFramesOne(t *testing.T) {
	h := newHarness(t, driveSet(1))
	h.step([]string{"zone_enter driveway #1 person"}, trk(1, "person", inX, inY))
	h.step([]string{"zone_exit driveway #1 person"}, trk(1, "person", outX, outY))
	// The bottom centre counts, not the box: this box covers much of the
	// driveway (x 0.4..0.9, y 0.3..0.7) but stands at (0.65, 0.7), right
	// of it.
	h.step(nil, Track{ID: 1, Label: "person", Box: Box{X: 0.4, Y: 0.3, W: 0.5, H: 0.4}})
	// Standing on the driveway's top edge counts as inside.
	h.step([]string{"zone_enter driveway #1 person"}, trk(1, "person", inX, 0.5))
}

func TestZoneAbsentFrames(t *testing.T) {
	h := newHarness(t, driveSet(3))
	in := trk(1, "person", inX, inY)
	other := trk(2, "person", outX, outY)
	h.step(nil, in)
	h.step(nil, in)
	h.step(nil, other) // track 1 missing: neither inside nor outside
	h.step([]string{"zone_enter driveway #1 person"}, in, other)
}

func TestZoneDuplicateID(t *testing.T) {
	h := newHarness(t, driveSet(3))
	// The second track 1 of each frame is ignored, so this is 3 frames
	// inside, not 3 frames alternating.
	h.step(nil, trk(1, "person", inX, inY), trk(1, "person", outX, outY))
	h.step(nil, trk(1, "person", inX, inY), trk(1, "person", outX, outY))
	h.step([]string{"zone_enter driveway #1 person"}, trk(1, "person", inX, inY), trk(1, "person", outX, outY))
}

func TestZoneLabels(t *testing.T) {
	// " Person" normalises to "Person", which matches "person" ignoring
	// case.
	h := newHarness(t, driveSet(3, " Person"))
	car := trk(2, "car", inX, inY)
	person := trk(1, "person", inX, inY)
	for range 5 {
		h.step(nil, car) // cars are not counted here
	}
	h.step(nil, car, person)
	h.step(nil, car, person)
	h.step([]string{"zone_enter driveway #1 person"}, car, person)
	h.occupancy("driveway", "car", 0)
	h.occupancy("driveway", "person", 1)
	h.occupancy("driveway", "", 1)
}

func TestLabelChange(t *testing.T) {
	h := newHarness(t, driveSet(1, "person"))
	h.step([]string{"zone_enter driveway #1 person"}, trk(1, "person", inX, inY))
	// The tracker now calls it a car: its place in the occupancy moves at
	// once; the driveway does not take cars, so it is seen outside and,
	// with min_frames 1, exits at once, as a car.
	h.step([]string{"zone_exit driveway #1 car"}, trk(1, "car", inX, inY))
	h.occupancy("driveway", "person", 0)
	h.occupancy("driveway", "car", 0)

	h = newHarness(t, driveSet(3))
	h.step(nil, trk(1, "person", inX, inY))
	h.step(nil, trk(1, "person", inX, inY))
	h.step([]string{"zone_enter driveway #1 person"}, trk(1, "person", inX, inY))
	h.step(nil, trk(1, "car", inX, inY)) // every label counts here: no event
	h.occupancy("driveway", "person", 0)
	h.occupancy("driveway", "car", 1)
	want := []Count{{Name: "driveway", Label: "person", N: 0}, {Name: "driveway", Label: "car", N: 1}}
	if got := h.e.AppendOccupancy(nil); !reflect.DeepEqual(got, want) {
		t.Fatalf("AppendOccupancy = %+v, want %+v", got, want)
	}
}

func TestEnd(t *testing.T) {
	h := newHarness(t, Set{Zones: []Zone{
		{Name: "driveway", Polygon: driveway(), MinFrames: 3},
		{Name: "all", Polygon: Polygon{{0, 0}, {1, 0}, {1, 1}, {0, 1}}, MinFrames: 1},
	}})
	in := trk(1, "person", inX, inY)
	// "all" is the whole frame, with min_frames 1.
	h.step([]string{"zone_enter all #1 person", "zone_enter all #2 car"}, in, trk(2, "car", outX, outY))
	h.step(nil, in)
	h.step([]string{"zone_enter driveway #1 person"}, in)
	if h.e.Tracks() != 2 {
		t.Fatalf("Tracks = %d, want 2", h.e.Tracks())
	}
	// Ended inside both: both exit at once, in the set's order, at the
	// last point seen.
	h.end(1, []string{"zone_exit driveway #1 person", "zone_exit all #1 person"})
	if p := h.ev[0].Point; math.Abs(p.X-inX) > 1e-12 || math.Abs(p.Y-inY) > 1e-12 {
		t.Fatalf("exit at %v, want (%v, %v)", p, inX, inY)
	}
	h.occupancy("driveway", "", 0)
	h.occupancy("all", "person", 0)
	h.occupancy("all", "car", 1)
	h.end(1, nil) // unknown now: nothing
	h.end(99, nil)
	if h.e.Tracks() != 1 {
		t.Fatalf("Tracks = %d, want 1", h.e.Tracks())
	}
	// Id 1 again is a new track, outside until its frames say otherwise.
	h.step([]string{"zone_enter all #1 person"}, in)
	h.step(nil, in)
	h.step([]string{"zone_enter driveway #1 person"}, in)
	// Track 2 is inside "all" only.
	h.end(2, []string{"zone_exit all #2 car"})

	ev := h.e.EndAll(nil, frameAt(h.frame))
	if len(ev) != 2 || str(ev[0]) != "zone_exit driveway #1 person" || str(ev[1]) != "zone_exit all #1 person" {
		t.Fatalf("EndAll = %v", ev)
	}
	if h.e.Tracks() != 0 || h.e.Occupancy("all", "") != 0 {
		t.Fatalf("after EndAll: %d tracks, %d in all", h.e.Tracks(), h.e.Occupancy("all", ""))
	}
}

func gateSet(labels ...string) Set {
	// Down the middle of the picture: its left is the picture's right,
	// so in is moving from x > 0.5 to x < 0.5.
	return Set{Lines: []Line{{Name: "gate", From: Point{0.5, 0}, To: Point{0.5, 1}, Labels: labels}}}
}

const leftX, rightX = 0.8, 0.2 // the gate's left and right sides, at y 0.5

func TestLineCross(t *testing.T) {
	h := newHarness(t, gateSet())
	at := func(x float64) Track { return trk(1, "person", x, 0.5) }
	in := []string{"line_cross gate #1 person in"}
	out := []string{"line_cross gate #1 person out"}

	h.step(nil, at(leftX)) // first sight: no previous point
	h.step(in, at(rightX))
	h.step(out, at(leftX))
	// Stands on the line, then goes back: not a crossing.
	h.step(nil, at(0.5))
	h.step(nil, at(0.5))
	h.step(nil, at(leftX))
	// Stands on the line, then goes on: one crossing, when it is off it.
	h.step(nil, at(0.5))
	h.step(in, at(rightX))
	h.crossings("gate", "person", In, 2)
	h.crossings("gate", "person", Out, 1)
	h.crossings("gate", "", In, 2)
	h.crossings("gate", "car", In, 0)
	h.crossings("nope", "", In, 0)

	// A track first seen on the line has no side until it leaves it.
	h.step(nil, trk(2, "car", 0.5, 0.5))
	h.step(nil, trk(2, "car", leftX, 0.5))
	h.step([]string{"line_cross gate #2 car in"}, trk(2, "car", rightX, 0.5))

	want := []Count{
		{Name: "gate", Label: "person", Direction: In, N: 2},
		{Name: "gate", Label: "person", Direction: Out, N: 1},
		{Name: "gate", Label: "car", Direction: In, N: 1},
	}
	if got := h.e.AppendCrossings(nil); !reflect.DeepEqual(got, want) {
		t.Fatalf("AppendCrossings = %+v, want %+v", got, want)
	}
}

func TestLineCrossShortLine(t *testing.T) {
	// x = 0.5 from y 0.2 to 0.6.
	h := newHarness(t, Set{Lines: []Line{{Name: "door", From: Point{0.5, 0.2}, To: Point{0.5, 0.6}}}})
	at := func(x, y float64) Track { return trk(1, "person", x, y) }
	h.step(nil, at(0.8, 0.8))
	h.step(nil, at(0.2, 0.8)) // passes below the door: now on its right, no crossing
	// Back through the door, right to left: out.
	h.step([]string{"line_cross door #1 person out"}, at(0.8, 0.4))
	// Through its lower end, (0.5, 0.6), halfway from (0.8,0.4) to
	// (0.2,0.8): counts.
	h.step([]string{"line_cross door #1 person in"}, at(0.2, 0.8))
	// Diagonal line, both ways.
	h = newHarness(t, Set{Lines: []Line{{Name: "diag", From: Point{0, 0}, To: Point{1, 1}}}})
	h.step(nil, at(0.8, 0.2))
	h.step([]string{"line_cross diag #1 person in"}, at(0.2, 0.8))
	h.step([]string{"line_cross diag #1 person out"}, at(0.8, 0.2))
	// Horizontal line, drawn right to left: its left is below.
	h = newHarness(t, Set{Lines: []Line{{Name: "h", From: Point{1, 0.5}, To: Point{0, 0.5}}}})
	h.step(nil, at(0.3, 0.8))
	h.step([]string{"line_cross h #1 person in"}, at(0.3, 0.2))
	h.step([]string{"line_cross h #1 person out"}, at(0.3, 0.8))
}

func TestLineLabels(t *testing.T) {
	h := newHarness(t, gateSet("person"))
	h.step(nil, trk(1, "car", leftX, 0.5))
	h.step(nil, trk(1, "car", rightX, 0.5)) // cars are not counted
	h.crossings("gate", "car", In, 0)
	// Its side is still followed: as a person now, going back is out.
	h.step([]string{"line_cross gate #1 person out"}, trk(1, "person", leftX, 0.5))
	if got := h.e.AppendCrossings(nil); len(got) != 1 || got[0] != (Count{Name: "gate", Label: "person", Direction: Out, N: 1}) {
		t.Fatalf("AppendCrossings = %+v", got)
	}
}

func TestEventOrderAndCounts(t *testing.T) {
	s := driveSet(1)
	s.Lines = gateSet().Lines
	h := newHarness(t, s)
	// Tracks 1 and 2 (people) and 3 (a car) start left of the gate, in
	// the driveway's right part (x 0.55, right of 0.5, inside 0.1..0.6).
	h.step([]string{
		"zone_enter driveway #1 person",
		"zone_enter driveway #2 person",
		"zone_enter driveway #3 car",
	}, trk(1, "person", 0.55, 0.7), trk(2, "person", 0.55, 0.8), trk(3, "car", 0.55, 0.9))
	// All cross the gate to x 0.3, still in the driveway; track 2 also
	// leaves the frame's driveway by going up to y 0.3.
	h.step([]string{
		"line_cross gate #1 person in",
		"zone_exit driveway #2 person",
		"line_cross gate #2 person in",
		"line_cross gate #3 car in",
	}, trk(1, "person", 0.3, 0.7), trk(2, "person", 0.3, 0.3), trk(3, "car", 0.3, 0.9))
	h.occupancy("driveway", "person", 1)
	h.occupancy("driveway", "car", 1)
	h.occupancy("driveway", "", 2)
	h.occupancy("nope", "", 0)
	h.occupancy("driveway", "dog", 0)
	wantOcc := []Count{{Name: "driveway", Label: "person", N: 1}, {Name: "driveway", Label: "car", N: 1}}
	if got := h.e.AppendOccupancy(nil); !reflect.DeepEqual(got, wantOcc) {
		t.Fatalf("AppendOccupancy = %+v, want %+v", got, wantOcc)
	}
	h.step([]string{"line_cross gate #1 person out"}, trk(1, "person", 0.55, 0.7))
	h.crossings("gate", "person", In, 2)
	h.crossings("gate", "person", Out, 1)
	h.crossings("gate", "", In, 3)
	wantX := []Count{
		{Name: "gate", Label: "person", Direction: In, N: 2},
		{Name: "gate", Label: "person", Direction: Out, N: 1},
		{Name: "gate", Label: "car", Direction: In, N: 1},
	}
	if got := h.e.AppendCrossings(nil); !reflect.DeepEqual(got, wantX) {
		t.Fatalf("AppendCrossings = %+v, want %+v", got, wantX)
	}
}

// Polygons for the Replace tests: the left half, a band in the middle, and
// a box at the bottom right.
var (
	leftHalf = Polygon{{0.1, 0.1}, {0.5, 0.1}, {0.5, 0.9}, {0.1, 0.9}}
	middle   = Polygon{{0.3, 0.1}, {0.7, 0.1}, {0.7, 0.9}, {0.3, 0.9}}
	corner   = Polygon{{0.7, 0.7}, {0.95, 0.7}, {0.95, 0.95}, {0.7, 0.95}}
)

func TestReplaceSameZoneKeepsCounters(t *testing.T) {
	s := Set{Zones: []Zone{{Name: "a", Polygon: leftHalf}}}
	h := newHarness(t, s)
	in, out := trk(1, "person", 0.2, 0.5), trk(1, "person", 0.8, 0.5)
	h.step(nil, in)
	h.step(nil, in)
	h.step([]string{"zone_enter a #1 person"}, in)
	h.step(nil, out)
	h.step(nil, out) // 2 frames out
	// The same zone, now with a line: everything of "a" carries over.
	s2 := Set{Zones: []Zone{{Name: "a", Polygon: append(Polygon(nil), leftHalf...)}}, Lines: gateSet().Lines}
	if err := h.e.Replace(s2); err != nil {
		t.Fatal(err)
	}
	h.occupancy("a", "person", 1)
	h.step([]string{"zone_exit a #1 person"}, out) // the third frame out
}

func TestReplaceChangedPolygon(t *testing.T) {
	h := newHarness(t, Set{Zones: []Zone{{Name: "a", Polygon: leftHalf}}})
	t1 := trk(1, "person", 0.2, 0.5) // in leftHalf, not in middle
	t2 := trk(2, "person", 0.4, 0.5) // in both
	t3 := trk(3, "person", 0.6, 0.5) // in middle only
	t4in := trk(4, "person", 0.4, 0.3)
	t4out := trk(4, "person", 0.05, 0.3) // in neither
	h.step(nil, t1, t2, t3, t4in)
	h.step(nil, t1, t2, t3, t4in)
	h.step([]string{"zone_enter a #1 person", "zone_enter a #2 person", "zone_enter a #4 person"}, t1, t2, t3, t4in)
	h.step(nil, t1, t2, t3, t4out)
	h.step(nil, t1, t2, t3, t4out) // track 4: 2 frames out
	if err := h.e.Replace(Set{Zones: []Zone{{Name: "a", Polygon: middle}}}); err != nil {
		t.Fatal(err)
	}
	// No events and no dip: tracks 1, 2 and 4 are still counted inside.
	h.occupancy("a", "", 3)
	h.step(nil, t1, t2, t3, t4out)
	h.step(nil, t1, t2, t3, t4out)
	// After 3 frames against the new outline: 1 is out, 3 is in, and 4
	// exits only now (its counter started again at the Replace).
	h.step([]string{"zone_exit a #1 person", "zone_enter a #3 person", "zone_exit a #4 person"}, t1, t2, t3, t4out)
	h.occupancy("a", "", 2)
}

func TestReplaceAddRemoveAndLabels(t *testing.T) {
	h := newHarness(t, Set{Zones: []Zone{
		{Name: "a", Polygon: leftHalf},
		{Name: "gone", Polygon: corner, MinFrames: 1},
	}})
	person := trk(1, "person", 0.2, 0.5)
	car := trk(2, "car", 0.8, 0.8)
	h.step([]string{"zone_enter gone #2 car"}, person, car)
	h.step(nil, person, car)
	h.step([]string{"zone_enter a #1 person"}, person, car)
	err := h.e.Replace(Set{Zones: []Zone{
		{Name: "a", Polygon: leftHalf, Labels: []string{"car"}},
		{Name: "fresh", Polygon: corner, MinFrames: 2},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// "gone" is dropped without events; "fresh" starts empty.
	h.occupancy("gone", "", 0)
	want := []Count{{Name: "a", Label: "person", N: 1}}
	if got := h.e.AppendOccupancy(nil); !reflect.DeepEqual(got, want) {
		t.Fatalf("AppendOccupancy = %+v, want %+v", got, want)
	}
	h.step(nil, person, car)
	// The car, already in the corner, enters "fresh" after its 2 frames;
	// the person, no longer taken by "a", leaves it after 3.
	h.step([]string{"zone_enter fresh #2 car"}, person, car)
	h.step([]string{"zone_exit a #1 person"}, person, car)
}

func TestReplaceLines(t *testing.T) {
	s := gateSet()
	s.Lines = append(s.Lines, Line{Name: "old", From: Point{0, 0.5}, To: Point{1, 0.5}})
	h := newHarness(t, s)
	at := func(x float64) Track { return trk(1, "person", x, 0.6) }
	h.step(nil, at(leftX))
	h.step([]string{"line_cross gate #1 person in"}, at(rightX))
	h.step([]string{"line_cross gate #1 person out"}, at(leftX))
	// The same gate: its sides and counts carry over.
	if err := h.e.Replace(gateSet()); err != nil {
		t.Fatal(err)
	}
	h.step([]string{"line_cross gate #1 person in"}, at(rightX))
	h.crossings("gate", "person", In, 2)
	h.crossings("old", "", In, 0)
	// The gate moves to x = 0.3: counts carry, sides are forgotten, so
	// the move from 0.2 to 0.8 (across the new gate) only sets the side.
	moved := Set{Lines: []Line{{Name: "gate", From: Point{0.3, 0}, To: Point{0.3, 1}}}}
	if err := h.e.Replace(moved); err != nil {
		t.Fatal(err)
	}
	h.step(nil, at(leftX))
	h.step([]string{"line_cross gate #1 person in"}, at(rightX))
	h.crossings("gate", "person", In, 3)
	h.crossings("gate", "person", Out, 1)
}

func TestReplaceInvalidChangesNothing(t *testing.T) {
	s := driveSet(1)
	h := newHarness(t, s)
	h.step([]string{"zone_enter driveway #1 person"}, trk(1, "person", inX, inY))
	bad := Set{Zones: []Zone{{Name: "driveway", Polygon: Polygon{{0.1, 0.1}, {0.9, 0.9}, {0.9, 0.1}, {0.1, 0.9}}}}}
	err := h.e.Replace(bad)
	if err == nil || err.Error() != "zones[0] (driveway).polygon: edges polygon[0]-polygon[1] and polygon[2]-polygon[3] cross or touch" {
		t.Fatalf("Replace: %v", err)
	}
	if !reflect.DeepEqual(h.e.Set(), s.Normalize()) {
		t.Fatalf("Set = %+v after a refused Replace", h.e.Set())
	}
	h.occupancy("driveway", "person", 1)
	h.step([]string{"zone_exit driveway #1 person"}, trk(1, "person", outX, outY))
}

func TestNewEvaluatorInvalid(t *testing.T) {
	_, err := NewEvaluator(Set{Zones: []Zone{{Name: "x"}}})
	if err == nil || err.Error() != "zones[0] (x).polygon: 0 points, want 3 to 64" {
		t.Fatalf("NewEvaluator: %v", err)
	}
}

// scene is the benchmark's camera: 8 octagonal zones (half of them for
// people only), 4 lines, and 50 tracks going round circles, precomputed
// for 120 frames.
func scene() (Set, [][]Track) {
	var s Set
	for i := range 8 {
		cx, cy := 0.125+0.25*float64(i%4), 0.25+0.5*float64(i/4)
		pg := make(Polygon, 8)
		for k := range pg {
			a := float64(k) * math.Pi / 4
			pg[k] = Point{cx + 0.12*math.Cos(a), cy + 0.12*math.Sin(a)}
		}
		z := Zone{Name: fmt.Sprintf("zone%d", i), Polygon: pg}
		if i%2 == 0 {
			z.Labels = []string{"person"}
		}
		s.Zones = append(s.Zones, z)
	}
	s.Lines = []Line{
		{Name: "west", From: Point{0.25, 0}, To: Point{0.25, 1}},
		{Name: "east", From: Point{0.75, 0}, To: Point{0.75, 1}},
		{Name: "middle", From: Point{0, 0.5}, To: Point{1, 0.5}, Labels: []string{"car"}},
		{Name: "diagonal", From: Point{0, 0}, To: Point{1, 1}},
	}
	frames := make([][]Track, 120)
	for f := range frames {
		frames[f] = make([]Track, 50)
		for i := range frames[f] {
			cx := 0.2 + 0.6*math.Mod(float64(i)*0.37, 1)
			cy := 0.2 + 0.6*math.Mod(float64(i)*0.61, 1)
			a := 2*math.Pi*float64(f)/60 + float64(i)
			label := "person"
			if i%2 == 1 {
				label = "car"
			}
			frames[f][i] = trk(uint64(i+1), label, cx+0.15*math.Cos(a), cy+0.15*math.Sin(a))
		}
	}
	return s, frames
}

func TestUpdateAllocs(t *testing.T) {
	s, frames := scene()
	e, err := NewEvaluator(s)
	if err != nil {
		t.Fatal(err)
	}
	var ev []Event
	counts := make([]Count, 0, 256)
	events := 0
	for i := range 2 * len(frames) { // warm up: slots, labels, buffer
		ev = e.Update(ev[:0], frameAt(i), frames[i%len(frames)])
		events += len(ev)
	}
	if events == 0 {
		t.Fatal("the scene makes no events")
	}
	f := 0
	allocs := testing.AllocsPerRun(len(frames), func() {
		ev = e.Update(ev[:0], frameAt(f), frames[f%len(frames)])
		f++
		counts = e.AppendOccupancy(counts[:0])
		counts = e.AppendCrossings(counts[:0])
		_ = e.Occupancy("zone3", "car") + e.Crossings("diagonal", "", In)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame, want 0", allocs)
	}

	// Tracks ending and new ones starting reuse the freed slots: each
	// round ends one of the 50 and gives its place a new id.
	next := uint64(1000)
	allocs = testing.AllocsPerRun(200, func() {
		j := int(next % 50)
		ev = e.End(ev[:0], frameAt(f), frames[0][j].ID)
		frames[0][j].ID = next
		ev = e.Update(ev[:0], frameAt(f), frames[0])
		next++
		f++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame with tracks ending and starting, want 0", allocs)
	}
	if e.Tracks() != 50 {
		t.Fatalf("Tracks = %d, want 50", e.Tracks())
	}
}

func BenchmarkUpdate(b *testing.B) {
	s, frames := scene()
	e, err := NewEvaluator(s)
	if err != nil {
		b.Fatal(err)
	}
	var ev []Event
	for i := range len(frames) {
		ev = e.Update(ev[:0], frameAt(i), frames[i])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev = e.Update(ev[:0], t0, frames[i%len(frames)])
		i++
	}
}

func TestManyTracks(t *testing.T) {
	// More tracks than the room made at the start (64): the state of the
	// first ones survives the growth.
	s := gateSet()
	s.Zones = []Zone{{Name: "all", Polygon: Polygon{{0, 0}, {1, 0}, {1, 1}, {0, 1}}, MinFrames: 1}}
	e, err := NewEvaluator(s)
	if err != nil {
		t.Fatal(err)
	}
	const n = 150
	tracks := make([]Track, n)
	for i := range tracks {
		tracks[i] = trk(uint64(i+1), "person", leftX, 0.1+0.8*float64(i)/n)
	}
	if ev := e.Update(nil, t0, tracks); len(ev) != n {
		t.Fatalf("frame 1: %d events, want %d enters", len(ev), n)
	}
	for i := range tracks {
		tracks[i].Box.X = rightX - 0.05
	}
	ev := e.Update(nil, t0, tracks)
	if len(ev) != n || str(ev[0]) != "line_cross gate #1 person in" || str(ev[n-1]) != "line_cross gate #150 person in" {
		t.Fatalf("frame 2: %d events, first %v, want %d crossings", len(ev), ev[0], n)
	}
	if got := e.Occupancy("all", "person"); got != n {
		t.Fatalf("Occupancy = %d, want %d", got, n)
	}
	if ev := e.EndAll(nil, t0); len(ev) != n || e.Tracks() != 0 || e.Occupancy("all", "") != 0 {
		t.Fatalf("EndAll: %d events, %d tracks left, occupancy %d", len(ev), e.Tracks(), e.Occupancy("all", ""))
	}
}
