package scene

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"edge-agent/internal/timecode"
)

// crossingSizes are the frame sizes the crossing scene is checked at.
var crossingSizes = []struct{ width, height int }{
	{1280, 720}, {640, 360}, {1920, 1080}, // 16:9, as the camera and its copies
	{854, 480},  // odd half
	{640, 480},  // 4:3
	{720, 1280}, // portrait: stretched, markers clipped at the sides
}

// crossingColors are the colours of the crossing scene's markers, by ID:
// red, magenta and cyan for the three red markers, green for 3.
var crossingColors = [CrossingMarkers][3]uint8{{220, 40, 40}, {220, 40, 220}, {40, 230, 230}, {40, 200, 60}}

// TestCrossingColors checks what crossingMovers' comment says of the
// colours of red markers 1 and 2 (magenta and cyan): at least 170 levels
// from each other and from every class colour on some channel, and 82 and
// 87 levels from the nearest background grey (channels 90..170 within 16 of
// one another, which covers the scene's 94..164 within 7). The marker
// model's tests check that these are its reference colours.
func TestCrossingColors(t *testing.T) {
	dist := func(a, b [3]uint8) int {
		d := 0
		for i := range 3 {
			d = max(d, int(max(a[i], b[i])-min(a[i], b[i])))
		}
		return d
	}
	others := [][3]uint8{crossingColors[1], crossingColors[2]}
	for class := range NumClasses {
		others = append(others, ClassColor(class))
	}
	for i, wantGrey := range map[int]int{1: 82, 2: 87} {
		c := crossingColors[i]
		for _, o := range others {
			if d := dist(c, o); o != c && d < 170 {
				t.Errorf("marker %d's colour %v is %d levels from %v, want >= 170", i, c, d, o)
			}
		}
		grey := 255
		for r := 90; r <= 170; r++ {
			for g := max(90, r-16); g <= min(170, r+16); g++ {
				for b := max(90, r-16, g-16); b <= min(170, r+16, g+16); b++ {
					grey = min(grey, dist(c, [3]uint8{uint8(r), uint8(g), uint8(b)}))
				}
			}
		}
		if grey != wantGrey {
			t.Errorf("marker %d's colour %v is %d levels from the nearest background grey, want %d", i, c, grey, wantGrey)
		}
	}
	s := NewCrossing(1280, 720)
	for _, m := range s.Truth(0, nil) {
		if m.Color != crossingColors[m.ID] {
			t.Errorf("marker %d drawn in %v, want %v", m.ID, m.Color, crossingColors[m.ID])
		}
	}
}

// TestCrossingTimeline pins the crossing scene down at 1280x720 against a
// timeline worked out by hand. There the markers' sides are 79, 64, 86 and
// 100 pixels (110, 90, 120 and 140 thousandths of 720, rounded down), the
// least side in view is ceil(6% of 720) = 44, and in pixels
//
//	zone  (448, 324) (832, 324) (896, 648) (384, 648)
//	line  from (998.4, 684) to (1062.4, 288)
//
// Marker 0 runs along bottom 710‰ of 720 = 511.2, rounded down to 511 (box
// rows 432..510), from x = 100‰ at frame 0 to 900‰ at 300 and back at 600.
// Its box's left is cx-39, so its bottom centre is (cx+0.5, 511) with
// cx = floor(128 + 3.41333·r) for r = 0..300 and floor(1152 - 3.41333·d) for
// d = r-300 on the way back. At y = 511 the zone's left edge is at
// x = 448 - 187·64/324 = 411.06, its right edge at 832 + 187·64/324 = 868.94,
// and the line at 998.4 + 173·64/396 = 1026.36:
//
//	enters the zone:   cx ≥ 411:  3.41333·r ≥ 283 → r = 83
//	leaves it:         cx ≥ 869:  3.41333·r ≥ 741 → r = 218
//	crosses east (in): cx ≥ 1026: 3.41333·r ≥ 898 → r = 264
//	crosses back west: cx ≤ 1025: 3.41333·d > 126 → d = 37, r = 337
//	enters the zone:   cx ≤ 868:  3.41333·d > 283 → d = 83, r = 383
//	leaves it:         cx ≤ 410:  3.41333·d > 741 → d = 218, r = 518
//
// Marker 2 (side 86, visible columns from cx-43 to cx+43 clipped to the
// frame, in view while 44 or more) runs east along the top with
// cx = floor(384 + 3.7415·r), so it is out of view once cx ≥ 1280 - 44 + 43
// = 1279.47, from r = 240 (cx = 1281). It comes back westwards from frame 300
// with cx = floor(1356.8 - 7.5947·d), d = r-300: in view at cx ≤ 1279 from
// d = 11 (r = 311) to cx ≥ 1 at d = 178 (r = 478); then east again from frame
// 480 with cx = floor(-10.24 + 2.7648·d), d = r-480, in view from cx = 1 at
// d = 5 (r = 485). So it is out of view in frames 240..310 (71 frames) and
// 479..484 (6 frames), and its visits are 1 (0..239), 2 (311..478) and 3
// (485..599, going on into the next period's 0..239).
//
// Boxes overlap while they share rows and columns:
//
//   - 0 and 1, head-on: 1 comes from the right with its left at
//     floor(1152 - 5.12·r) - 32, its rows reaching 0's (432..510); they meet
//     when 128 + 3.41333·r + 40 > 1152 - 5.12·r - 32, r > 111.6, and part when
//     128 + 3.41333·r - 39 ≥ 1152 - 5.12·r + 32, r > 128.3: frames 112..128.
//   - 0 and 2, 2 overtaking 0 westwards (rows 490..575 and 432..510): 2's
//     left 1356.8 - 7.5947·d - 43 falls below 0's right 1152 - 3.41333·d + 40
//     from d > 29.1 and 0's left stays below 2's right while d < 68.6: frames
//     330..368.
//
// The other events and overlaps come from the same arithmetic on the other
// paths, and are checked independently by TestCrossingEventsBruteForce, as
// are the two moves over the line's extension that are not crossings: marker
// 2 above its top end in frame 184, marker 3 below its bottom end in 248.
func TestCrossingTimeline(t *testing.T) {
	s := NewCrossing(1280, 720)
	want := []Event{
		{23, 1, ClassRed, 1, LineCross, Out},
		{35, 3, ClassGreen, 1, ZoneEnter, ""},
		{57, 1, ClassRed, 1, ZoneEnter, ""},
		{83, 0, ClassRed, 1, ZoneEnter, ""},
		{137, 3, ClassGreen, 1, ZoneExit, ""},
		{146, 1, ClassRed, 1, ZoneExit, ""},
		{218, 0, ClassRed, 1, ZoneExit, ""},
		{264, 0, ClassRed, 1, LineCross, In},
		{337, 0, ClassRed, 1, LineCross, Out},
		{345, 2, ClassRed, 2, LineCross, Out},
		{363, 2, ClassRed, 2, ZoneEnter, ""},
		{383, 0, ClassRed, 1, ZoneEnter, ""},
		{406, 1, ClassRed, 1, ZoneEnter, ""},
		{427, 2, ClassRed, 2, ZoneExit, ""},
		{487, 3, ClassGreen, 1, LineCross, Out},
		{517, 1, ClassRed, 1, ZoneExit, ""},
		{518, 0, ClassRed, 1, ZoneExit, ""},
		{570, 1, ClassRed, 1, LineCross, In},
	}
	if got := s.Events(0, CrossingPeriod+1, nil); !slices.Equal(got, want) {
		t.Errorf("Events(0, %d):\n got %v\nwant %v", CrossingPeriod+1, got, want)
	}
	// The next period repeats it, marker 2 two visits on.
	var next []Event
	for _, ev := range want {
		ev.Seq += CrossingPeriod
		if ev.ID == 2 {
			ev.Visit += 2
		}
		next = append(next, ev)
	}
	if got := s.Events(CrossingPeriod+1, 2*CrossingPeriod+1, nil); !slices.Equal(got, next) {
		t.Errorf("Events of the second period:\n got %v\nwant %v", got, next)
	}

	// Marker 0's box and the frames in view of marker 2, with its visits.
	ms := s.Truth(84, nil)
	if m0 := (Marker{Class: ClassRed, Name: "red", Color: ClassColor(ClassRed), Box: Rect{375, 432, 79, 79}, ID: 0, Visit: 1}); len(ms) != CrossingMarkers || ms[0] != m0 {
		t.Errorf("Truth(84) = %+v, want all four, the first %+v", ms, m0)
	}
	for seq := range uint64(2 * CrossingPeriod) {
		visit := 0 // out of view
		switch r := seq % CrossingPeriod; {
		case r < 240:
			visit = 1 + 2*int(seq/CrossingPeriod)
			if seq >= CrossingPeriod {
				visit = 3 // the visit that began at 485 goes on
			}
		case r >= 311 && r <= 478:
			visit = 2 + 2*int(seq/CrossingPeriod)
		case r >= 485:
			visit = 3 + 2*int(seq/CrossingPeriod)
		}
		got := 0
		for _, m := range s.Truth(seq, nil) {
			if m.ID == 2 {
				got = m.Visit
			}
		}
		if got != visit {
			t.Fatalf("frame %d: marker 2 on visit %d, want %d (0: out of view)", seq, got, visit)
		}
	}

	// Overlaps, worked out above for 0 with 1 and 2; 1 with 3 and 2 with 3
	// are pinned from the code.
	wantOverlaps := map[[2]int][2]uint64{{0, 1}: {112, 128}, {0, 2}: {330, 368}, {1, 3}: {82, 112}, {2, 3}: {312, 335}}
	got := map[[2]int][2]uint64{}
	for seq := range uint64(CrossingPeriod) {
		ms := s.Truth(seq, nil)
		for i, a := range ms {
			for _, b := range ms[i+1:] {
				if !overlap(a.Box, b.Box) {
					continue
				}
				pair := [2]int{a.ID, b.ID}
				r, ok := got[pair]
				if !ok {
					r[0] = seq
				} else if r[1] != seq-1 {
					t.Errorf("markers %v overlap twice: frames %d..%d and from %d", pair, r[0], r[1], seq)
				}
				r[1] = seq
				got[pair] = r
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(wantOverlaps) {
		t.Errorf("overlapping frames %v, want %v", got, wantOverlaps)
	}
}

// TestCrossingEventsBruteForce recomputes the events from Truth with its own
// geometry (crossing number for the zone, a parametric solve for the line,
// both in normalised coordinates) and checks that every marker does what the
// scene promises, at every size.
func TestCrossingEventsBruteForce(t *testing.T) {
	zone, line := CrossingZone(), CrossingLine()
	const frames = 2*CrossingPeriod + 37
	for _, size := range crossingSizes {
		t.Run(fmt.Sprintf("%dx%d", size.width, size.height), func(t *testing.T) {
			s := NewCrossing(size.width, size.height)
			norm := func(b Rect) Point {
				return Point{(b.X + b.W/2) / float64(size.width), (b.Y + b.H) / float64(size.height)}
			}
			var want []Event
			var prev [CrossingMarkers]*Marker
			type count struct{ enter, exit, in, out, beyond, gaps int }
			var counts [CrossingMarkers]count
			for seq := range uint64(frames) {
				var now [CrossingMarkers]*Marker
				for _, m := range s.Truth(seq, nil) {
					now[m.ID] = &m
				}
				for id := range CrossingMarkers {
					p, q := prev[id], now[id]
					if p == nil && q != nil && seq > 0 {
						counts[id].gaps++
					}
					if p == nil || q == nil {
						continue
					}
					a, b := norm(p.Box), norm(q.Box)
					// Far enough from every edge (0.1 pixel) that any
					// careful arithmetic agrees on which side it is.
					if d := pixelDistance(zone, b, size.width, size.height); d < 0.1 {
						t.Errorf("frame %d: marker %d's bottom centre %v is %.3f pixels from the zone's edge", seq, id, b, d)
					}
					ev := Event{Seq: seq, ID: id, Class: q.Class, Visit: q.Visit}
					switch in, was := inPolygon(zone, b), inPolygon(zone, a); {
					case in && !was:
						ev.Kind = ZoneEnter
						counts[id].enter++
						want = append(want, ev)
					case was && !in:
						ev.Kind = ZoneExit
						counts[id].exit++
						want = append(want, ev)
					}
					sa, sb := sideOf(line, a), sideOf(line, b)
					if sa*sb < 0 && !segmentsMeet(a, b, line.From, line.To) {
						counts[id].beyond++ // over the line's extension: no event
					}
					if sa*sb < 0 && segmentsMeet(a, b, line.From, line.To) {
						ev.Kind, ev.Dir = LineCross, In
						if sa > 0 {
							ev.Dir = Out
							counts[id].out++
						} else {
							counts[id].in++
						}
						if d := pixelDistance([]Point{line.From, line.To}, b, size.width, size.height); d < 0.1 {
							t.Errorf("frame %d: marker %d's bottom centre %v is %.3f pixels from the line", seq, id, b, d)
						}
						want = append(want, ev)
					}
					if p.Visit != q.Visit {
						t.Errorf("frame %d: marker %d went from visit %d to %d while in view", seq, id, p.Visit, q.Visit)
					}
				}
				prev = now
			}
			if got := s.Events(0, frames, nil); !slices.Equal(got, want) {
				t.Errorf("Events(0, %d):\n got %v\nwant %v", uint64(frames), got, want)
			}
			// Two periods and a bit: each marker goes through the zone and
			// over the line at least twice, markers 2 and 3 pass over the
			// line's extension (beyond its ends) once a period, and marker 2
			// leaves and comes back twice a period.
			for id, c := range counts {
				if c.enter < 2 || c.exit < 2 || c.in+c.out < 2 {
					t.Errorf("marker %d: %+v, want the zone entered and left and the line crossed at least twice", id, c)
				}
				if wantBeyond := map[bool]int{true: 2, false: 0}[id >= 2]; c.beyond != wantBeyond {
					t.Errorf("marker %d passed over the line's extension %d times, want %d", id, c.beyond, wantBeyond)
				}
				if wantGaps := map[bool]int{true: 4, false: 0}[id == 2]; c.gaps != wantGaps {
					t.Errorf("marker %d came back into view %d times, want %d", id, c.gaps, wantGaps)
				}
			}
		})
	}
}

// inPolygon reports whether p is inside poly or on its boundary, by counting
// the edges a ray from p to the right crosses.
func inPolygon(poly []Point, p Point) bool {
	inside := false
	for i := range poly {
		a, b := poly[i], poly[(i+1)%len(poly)]
		if onSegment(a, b, p) {
			return true
		}
		if (a.Y > p.Y) != (b.Y > p.Y) && p.X < a.X+(p.Y-a.Y)*(b.X-a.X)/(b.Y-a.Y) {
			inside = !inside
		}
	}
	return inside
}

func onSegment(a, b, p Point) bool {
	return (b.X-a.X)*(p.Y-a.Y) == (b.Y-a.Y)*(p.X-a.X) &&
		min(a.X, b.X) <= p.X && p.X <= max(a.X, b.X) && min(a.Y, b.Y) <= p.Y && p.Y <= max(a.Y, b.Y)
}

// sideOf is -1 left of the line (as seen on the screen), +1 right, 0 on it.
func sideOf(l Line, p Point) int {
	switch d := (l.To.X-l.From.X)*(p.Y-l.From.Y) - (l.To.Y-l.From.Y)*(p.X-l.From.X); {
	case d < 0:
		return -1
	case d > 0:
		return 1
	}
	return 0
}

// segmentsMeet solves a + t(b-a) = c + u(d-c) and reports whether 0 ≤ t, u ≤ 1.
func segmentsMeet(a, b, c, d Point) bool {
	den := (b.X-a.X)*(d.Y-c.Y) - (b.Y-a.Y)*(d.X-c.X)
	if den == 0 {
		return false
	}
	t := ((c.X-a.X)*(d.Y-c.Y) - (c.Y-a.Y)*(d.X-c.X)) / den
	u := ((c.X-a.X)*(b.Y-a.Y) - (c.Y-a.Y)*(b.X-a.X)) / den
	return t >= 0 && t <= 1 && u >= 0 && u <= 1
}

// pixelDistance returns the distance, in pixels, from p to the nearest edge
// of the polyline through pts (closed if it has more than two points), all
// in normalised coordinates.
func pixelDistance(pts []Point, p Point, width, height int) float64 {
	w, h := float64(width), float64(height)
	best := math.Inf(1)
	for i := range pts {
		if len(pts) == 2 && i == 1 {
			break
		}
		a, b := pts[i], pts[(i+1)%len(pts)]
		ax, ay, bx, by, px, py := a.X*w, a.Y*h, b.X*w, b.Y*h, p.X*w, p.Y*h
		dx, dy := bx-ax, by-ay
		t := max(0, min(1, ((px-ax)*dx+(py-ay)*dy)/(dx*dx+dy*dy)))
		best = min(best, math.Hypot(px-ax-t*dx, py-ay-t*dy))
	}
	return best
}

func TestSideOfConvention(t *testing.T) {
	// An upward line at x = 0.5: west of it is its left, so moving east
	// crosses it in. And CrossingLine is drawn upwards.
	up := Line{From: Point{0.5, 1}, To: Point{0.5, 0}}
	if sideOf(up, Point{0.2, 0.5}) != -1 || sideOf(up, Point{0.8, 0.5}) != 1 || sideOf(up, Point{0.5, 0.3}) != 0 {
		t.Error("sideOf: west of an upward line is not its left")
	}
	if dir, ok := crosses(up, Point{0.4, 0.5}, Point{0.6, 0.5}); !ok || dir != In {
		t.Errorf("west to east over an upward line: %q, %v; want in", dir, ok)
	}
	if dir, ok := crosses(up, Point{0.6, 0.5}, Point{0.4, 0.5}); !ok || dir != Out {
		t.Errorf("east to west over an upward line: %q, %v; want out", dir, ok)
	}
	// Past the segment's end, or onto the line and no further: no crossing.
	if _, ok := crosses(up, Point{0.4, -0.1}, Point{0.6, -0.1}); ok {
		t.Error("a move past the segment's end crosses it")
	}
	if _, ok := crosses(up, Point{0.4, 0.5}, Point{0.5, 0.5}); ok {
		t.Error("a move onto the line crosses it")
	}
	if l := CrossingLine(); l.To.Y >= l.From.Y {
		t.Errorf("CrossingLine %+v is not drawn upwards", l)
	}
}

// TestCrossingRules checks the rules every frame of the crossing scene keeps,
// over two periods and more at every size.
func TestCrossingRules(t *testing.T) {
	zone, line := CrossingZone(), CrossingLine()
	for _, size := range crossingSizes {
		s := NewCrossing(size.width, size.height)
		top := float64(timecode.StripHeight(size.width, size.height) + LabelRoom)
		minSize, maxSize := 0.06*float64(size.height), 0.20*float64(size.height)
		norm := func(b Rect) Point {
			return Point{(b.X + b.W/2) / float64(size.width), (b.Y + b.H) / float64(size.height)}
		}
		var prev, buf []Marker
		var lastSeen [CrossingMarkers]*Marker // before each absence
		for seq := range uint64(2*CrossingPeriod + 1) {
			ms := s.Truth(seq, buf)
			buf = ms
			if len(ms) < CrossingMarkers-1 {
				t.Fatalf("%dx%d frame %d: %d markers in view, want at least 3", size.width, size.height, seq, len(ms))
			}
			later := s.Truth(seq+CrossingPeriod, nil)
			for i, m := range ms {
				b := m.Box
				switch {
				case i > 0 && m.ID <= ms[i-1].ID || m.ID < 0 || m.ID >= CrossingMarkers:
					t.Fatalf("%dx%d frame %d: IDs out of order: %+v", size.width, size.height, seq, ms)
				case m.Class != map[bool]int{true: ClassGreen, false: ClassRed}[m.ID == 3] || m.Name != ClassName(m.Class) || m.Color != crossingColors[m.ID]:
					t.Fatalf("%dx%d frame %d: marker %+v has the wrong class, name or colour", size.width, size.height, seq, m)
				case !whole(b.X) || !whole(b.Y) || !whole(b.W) || !whole(b.H):
					t.Fatalf("%dx%d frame %d: marker %d box %+v is not whole pixels", size.width, size.height, seq, m.ID, b)
				case b.X < 0 || b.Y < top || b.X+b.W > float64(size.width) || b.Y+b.H > float64(size.height):
					t.Fatalf("%dx%d frame %d: marker %d box %+v leaves the frame below the strip and label room (%v rows)", size.width, size.height, seq, m.ID, b, top)
				case b.W < minSize || b.H < minSize || b.W > maxSize || b.H > maxSize:
					t.Fatalf("%dx%d frame %d: marker %d box %+v outside %.1f..%.1f pixels", size.width, size.height, seq, m.ID, b, minSize, maxSize)
				case m.Visit < 1:
					t.Fatalf("%dx%d frame %d: marker %d on visit %d", size.width, size.height, seq, m.ID, m.Visit)
				}
				// Periodic: the same box a period later, the visit as many
				// on as the marker comes back a period (marker 2 twice).
				returns := map[bool]int{true: 2, false: 0}[m.ID == 2]
				if j := slices.IndexFunc(later, func(o Marker) bool { return o.ID == m.ID }); j < 0 || later[j].Box != b || later[j].Visit != m.Visit+returns {
					t.Fatalf("%dx%d frame %d: marker %+v is not the same a period later", size.width, size.height, seq, m)
				}
				// Smooth motion: the bottom centre moves at most 2.5% of the
				// width across and of the height down from frame to frame.
				for _, p := range prev {
					if p.ID != m.ID {
						continue
					}
					a, c := norm(p.Box), norm(b)
					if math.Abs(a.X-c.X) > 0.025 || math.Abs(a.Y-c.Y) > 0.025 {
						t.Fatalf("%dx%d frame %d: marker %d jumps from %+v to %+v", size.width, size.height, seq, m.ID, p.Box, b)
					}
				}
				// Coming back, a marker is outside the zone and on the line's
				// side it left from, so no event is missed while it is away.
				if last := lastSeen[m.ID]; last != nil && !slices.ContainsFunc(prev, func(p Marker) bool { return p.ID == m.ID }) {
					a, c := norm(last.Box), norm(b)
					if inPolygon(zone, a) || inPolygon(zone, c) || sideOf(line, a) != sideOf(line, c) || m.Visit != last.Visit+1 {
						t.Fatalf("%dx%d frame %d: marker %d left at %+v (visit %d) and came back at %+v (visit %d)", size.width, size.height, seq, m.ID, last.Box, last.Visit, b, m.Visit)
					}
				}
				lastSeen[m.ID] = &m
			}
			prev = append(prev[:0], ms...)
		}
	}
}

func TestCrossingDeterministic(t *testing.T) {
	a, b := NewCrossing(1280, 720), NewCrossing(1280, 720)
	seqs := []uint64{1 << 32, 1<<56 - 1, math.MaxUint64}
	for seq := range uint64(tenMinutes + 1) {
		seqs = append(seqs, seq)
	}
	var bufA, bufB [CrossingMarkers]Marker
	for _, seq := range seqs {
		ma, mb, again := a.Truth(seq, bufA[:0]), b.Truth(seq, bufB[:0]), a.Truth(seq, nil)
		if !slices.Equal(ma, mb) || !slices.Equal(ma, again) {
			t.Fatalf("frame %d: %+v, %+v and %+v", seq, ma, mb, again)
		}
	}
	if ea, eb := a.Events(0, tenMinutes, nil), b.Events(0, tenMinutes, nil); !slices.Equal(ea, eb) || len(ea) != 15*18 {
		t.Errorf("ten minutes of events: %d and %d, want the same 15 periods of 18", len(ea), len(eb))
	}
}

func TestCrossingEventsRanges(t *testing.T) {
	s := NewCrossing(1280, 720)
	all := s.Events(0, 3*CrossingPeriod, nil)
	for _, r := range [][2]uint64{{0, 1}, {0, 24}, {23, 24}, {24, 84}, {517, 518}, {599, 601}, {600, 1234}, {1, 3 * CrossingPeriod}, {500, 400}} {
		var want []Event
		for _, ev := range all {
			if ev.Seq >= r[0] && ev.Seq < r[1] {
				want = append(want, ev)
			}
		}
		if got := s.Events(r[0], r[1], nil); !slices.Equal(got, want) {
			t.Errorf("Events(%d, %d) = %v, want %v", r[0], r[1], got, want)
		}
	}
	// At the end of the frame numbers: the periods go on, and it stops.
	end := s.Events(math.MaxUint64-3*CrossingPeriod, math.MaxUint64, nil)
	if len(end) < 2*18 || !slices.IsSortedFunc(end, func(a, b Event) int { return int(a.Seq - b.Seq) }) {
		t.Errorf("Events near the end of uint64: %d events", len(end))
	}
	// New's scene has none.
	if got := New(1280, 720).Events(0, tenMinutes, nil); len(got) != 0 {
		t.Errorf("New's scene has events %v", got)
	}
}

func TestCrossingZoneAndLine(t *testing.T) {
	zone := CrossingZone()
	zone[0] = Point{}
	if CrossingZone()[0] == zone[0] {
		t.Error("CrossingZone returns shared storage")
	}
	// Clockwise on the screen (y down): every corner turns right.
	zone = CrossingZone()
	for i := range zone {
		if c := cross(zone[i], zone[(i+1)%len(zone)], zone[(i+2)%len(zone)]); c <= 0 {
			t.Errorf("zone corner %d does not turn right (%v)", (i+1)%len(zone), c)
		}
	}
}

func TestCrossingRenderDrawsTruth(t *testing.T) {
	ts := time.Date(2026, 11, 30, 6, 30, 0, 0, time.UTC)
	// 0 shows all four; 84 all four, 0 and 1 near; 120 0 and 1 crossing;
	// 250 marker 2 away; 350 2 overtaking 0 and over 3; 482 2 away briefly;
	// 1234 in the third period.
	seqs := []uint64{0, 84, 120, 250, 350, 482, 1234}
	for _, size := range []struct{ width, height, pad int }{{1280, 720, 0}, {640, 360, 9}, {640, 480, 3}} {
		s := NewCrossing(size.width, size.height)
		top := timecode.StripHeight(size.width, size.height)
		for _, seq := range seqs {
			t.Run(fmt.Sprintf("%dx%d/%d", size.width, size.height, seq), func(t *testing.T) {
				pix, stride := render(s, seq, ts, size.pad)
				markers := s.Truth(seq, nil)
				for y := top; y < size.height; y++ {
					for x := range size.width {
						p := pix[y*stride+3*x : y*stride+3*x+3]
						// Later markers are drawn over earlier ones.
						var on *Marker
						for i := range markers {
							if _, ok := markerAt(markers[i:i+1], x, y); ok {
								on = &markers[i]
							}
						}
						if on != nil {
							if [3]uint8(p) != on.Color {
								t.Fatalf("pixel (%d, %d) on top of marker %d %+v is %v, want %v", x, y, on.ID, on.Box, p, on.Color)
							}
							continue
						}
						if !neutral(p) {
							t.Fatalf("background pixel (%d, %d) is %v, want neutral grey", x, y, p)
						}
					}
				}
				if gotSeq, gotTime, err := timecode.Decode(pix, size.width, size.height, stride); err != nil || gotSeq != seq || !gotTime.Equal(ts) {
					t.Fatalf("strip decodes to %d, %v, %v; want %d, %v", gotSeq, gotTime, err, seq, ts)
				}
			})
		}
	}
}

func TestCrossingAllocs(t *testing.T) {
	s := NewCrossing(1280, 720)
	pix := make([]byte, 3*s.Width*s.Height)
	ts := time.Now()
	ms := make([]Marker, 0, CrossingMarkers)
	evs := make([]Event, 0, 64)
	seq := uint64(0)
	if n := testing.AllocsPerRun(20, func() { seq += 97; s.Render(seq, ts, pix, 3*s.Width) }); n != 0 {
		t.Errorf("Render allocates %v times a frame, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { seq += 97; ms = s.Truth(seq, ms) }); n != 0 {
		t.Errorf("Truth allocates %v times a call, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { seq += 97; evs = s.Events(seq, seq+CrossingPeriod, evs) }); n != 0 {
		t.Errorf("Events allocates %v times a call, want 0", n)
	}
}

func TestNewCrossingPanicsOnSmallFrames(t *testing.T) {
	// Marker 3's highest bottom is at 300‰ of the height and its side 140‰,
	// both rounded down, and 1280 columns take a 32-row strip and 16 rows of
	// label room: 297 rows leave 89 - 41 = 48 above the box, 296 only
	// 88 - 41 = 47. At 100x720 marker 3's 100-pixel side is more than half
	// the width.
	NewCrossing(1280, 297)
	for _, size := range []struct{ width, height int }{{0, 720}, {1280, -1}, {1280, 296}, {100, 720}, {1, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewCrossing(%d, %d) did not panic", size.width, size.height)
				}
			}()
			NewCrossing(size.width, size.height)
		}()
	}
}

func BenchmarkCrossingTruth(b *testing.B) {
	s := NewCrossing(1280, 720)
	var buf [CrossingMarkers]Marker
	b.ReportAllocs()
	for i := uint64(0); b.Loop(); i++ {
		s.Truth(i, buf[:0])
	}
}
