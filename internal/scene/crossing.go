package scene

import (
	"fmt"

	"edge-agent/internal/timecode"
)

// CrossingPeriod is the crossing scene's period in frames (40 s at
// FrameRate): frame seq shows what frame seq+CrossingPeriod shows, and the
// same events happen, with the same marker IDs and later visits.
const CrossingPeriod = 40 * FrameRate

// CrossingMarkers is the number of markers in the crossing scene: IDs 0, 1
// and 2 are red, 3 is green.
const CrossingMarkers = 4

// Point is a position in normalised frame coordinates: X runs from 0 at the
// left edge to 1 at the right, Y from 0 at the top to 1 at the bottom (image
// coordinates, y down). A pixel position (px, py) of a width x height frame
// is (px/width, py/height).
type Point struct{ X, Y float64 }

// Line is a directed segment from From to To, in normalised coordinates.
//
// A point is on the line's left or right as seen on the screen when facing
// from From towards To, computed as the sign of the cross product
//
//	side(p) = (To.X-From.X)·(p.Y-From.Y) - (To.Y-From.Y)·(p.X-From.X)
//
// in image coordinates (y down): negative is left, positive right, zero on
// the line. The sign is the same in pixels as in normalised coordinates. A
// crossing is "in" from left to right and "out" from right to left.
type Line struct{ From, To Point }

// EventKind is what happened to a marker's bottom centre.
type EventKind string

// The event kinds, named as the agent's events are.
const (
	ZoneEnter EventKind = "zone_enter"
	ZoneExit  EventKind = "zone_exit"
	LineCross EventKind = "line_cross"
)

// Direction is the way a line was crossed: In (from the line's left to its
// right, see [Line]) or Out.
type Direction string

// The directions of a line crossing.
const (
	In  Direction = "in"
	Out Direction = "out"
)

// Event is something the crossing scene's ground truth says happens to a
// marker's bottom centre (Box.X + Box.W/2, Box.Y + Box.H) between frames
// Seq-1 and Seq, the marker being in view in both:
//
//   - ZoneEnter: outside [CrossingZone] in Seq-1, inside in Seq (edges count
//     as inside); ZoneExit the other way round.
//   - LineCross: strictly on different sides of [CrossingLine] in Seq-1 and
//     Seq, and the segment between the two bottom centres meets the line's
//     segment (not just its extension).
//
// Nothing happens across frames in which the marker is out of view: the
// scene is laid out so that every marker leaves and re-enters the view
// outside the zone and on the same side of the line.
type Event struct {
	Seq   uint64    // the first frame that shows the new state
	ID    int       // the marker, as in Marker.ID
	Class int       // the marker's class
	Visit int       // the marker's visit in frame Seq, as in Marker.Visit
	Kind  EventKind // ZoneEnter, ZoneExit or LineCross
	Dir   Direction // In or Out for LineCross, "" for zone events
}

// CrossingZone returns the crossing scene's zone, a convex quadrilateral in
// the lower middle of the frame, its corners clockwise on the screen from
// the top left, in normalised coordinates (a fresh slice).
func CrossingZone() []Point {
	return []Point{{0.35, 0.45}, {0.65, 0.45}, {0.70, 0.90}, {0.30, 0.90}}
}

// CrossingLine returns the crossing scene's line: a segment near the right
// of the frame, drawn upwards and leaning right, so that In is crossing it
// from the west (left of the screen) to the east.
func CrossingLine() Line {
	return Line{From: Point{0.78, 0.95}, To: Point{0.83, 0.40}}
}

// keyframe is a point of a marker's path: where its bottom centre is at frame
// t of the period, in thousandths of the frame's width (x) and height (y).
// Between keyframes the marker moves in a straight line at constant speed.
type keyframe struct{ t, x, y int }

// mover is one of the crossing scene's markers.
type mover struct {
	class int
	color [3]uint8   // as drawn
	size  int        // side of the (square) box in thousandths of the height
	keys  []keyframe // from t = 0 to t = CrossingPeriod, back where it started
}

// crossingMovers returns the crossing scene's markers, by ID. The timeline at
// 1280x720 is in TestCrossingTimeline.
//
// Red markers 1 and 2 are painted magenta (220,40,220) and cyan
// (40,230,230), marker 0 and green 3 in their class colours. Magenta and
// cyan are the two extra red-class reference colours of the marker model
// written with Shades (package models/marker, whose tests check that the
// scene paints exactly its colours and how far each is from the others, the
// background and the strip). Like the class colours they are far from the
// background's grey (82 and 87 levels on some channel) and from every class
// colour (170 or more): TestCrossingColors.
func crossingMovers() [CrossingMarkers]mover {
	magenta, cyan := [3]uint8{220, 40, 220}, [3]uint8{40, 230, 230}
	return [CrossingMarkers]mover{
		// Red, to and fro across the middle: through the zone and over
		// the line eastwards, back westwards.
		{ClassRed, ClassColor(ClassRed), 110, []keyframe{{0, 100, 710}, {300, 900, 710}, {600, 100, 710}}},
		// Red (magenta), head-on into marker 0 on a faster diagonal
		// (frames 112..128), then up the left side and back east higher
		// up, through the zone twice and over the line both ways.
		{ClassRed, magenta, 90, []keyframe{{0, 900, 600}, {200, 100, 800}, {320, 100, 450}, {600, 900, 600}}},
		// Red (cyan), east along the top over the line's extension (no
		// event), out of the right edge for 71 frames, back lower down
		// westwards over the line, overtaking marker 0 (frames 330..368),
		// through the zone, briefly (6 frames) out of the left edge, and
		// up back to the start.
		{ClassRed, cyan, 120, []keyframe{{0, 300, 350}, {260, 1060, 350}, {300, 1060, 800}, {480, -8, 800}, {530, 100, 560}, {600, 300, 350}}},
		// Green, down through the zone, east under the line's end (no
		// event), up the right and back west over the line.
		{ClassGreen, ClassColor(ClassGreen), 140, []keyframe{{0, 500, 300}, {150, 520, 960}, {300, 920, 960}, {450, 920, 600}, {600, 500, 300}}},
	}
}

// crossing is what NewCrossing adds to a Scene.
type crossing struct {
	movers  [CrossingMarkers]mover
	side    [CrossingMarkers]int   // box side in pixels
	entries [CrossingMarkers][]int // frames of the period (0..) a marker comes into view in
	wraps   [CrossingMarkers]bool  // in view in the period's last frame and its first
	events  []Event                // those with Seq in 1..CrossingPeriod
}

// NewCrossing returns the crossing scene for frames of width x height
// pixels, for trackers and zones: four markers, three of them red, on paths
// that cross each other, leave the frame and come back, and pass through
// [CrossingZone] and over [CrossingLine], repeating every CrossingPeriod
// frames. Render draws it over the same background and strip as New's scene;
// Truth gives each marker's ID and visit; Events lists what happens in the
// zone and on the line. Each marker is a square of 9% to 14% of the height
// on a side. The three red markers each have a colour of their own, all
// three of class red: 0 is ClassColor(ClassRed), 1 magenta (220,40,220) and
// 2 cyan (40,230,230) (Marker.Color says which); green 3 is
// ClassColor(ClassGreen).
//
// The paths are laid out for 16:9 and keep their promises at 4:3 and in
// portrait too (TestCrossingEventsBruteForce), stretched. NewCrossing panics
// if the frame cannot hold them below the time code strip and LabelRoom.
//
// The marker detector of package models/marker finds one box per colour.
// Written with Options.Shades it looks for the three red colours separately
// and reports each as class red, so it gives three red boxes that a tracker
// must tell apart by their motion alone, as it would with a learned
// detector. Where two markers overlap it sees only the visible part of the
// one below, and nothing of it when it is covered whole; the default
// four-colour model sees marker 0 alone of the three.
func NewCrossing(width, height int) *Scene {
	s := &Scene{Width: width, Height: height}
	if width <= 0 || height <= 0 {
		panic(fmt.Sprintf("scene: invalid frame size %dx%d", width, height))
	}
	s.top = timecode.StripHeight(width, height)
	s.minSize = (6*height + 99) / 100
	s.maxSize = 20 * height / 100
	s.initBackground()

	c := &crossing{movers: crossingMovers()}
	for id := range c.movers {
		m := &c.movers[id]
		side := m.size * height / 1000
		c.side[id] = side
		if side < max(s.minSize, 1) || side > width/2 {
			panic(fmt.Sprintf("scene: frame size %dx%d too small for the crossing scene's markers", width, height))
		}
		for _, k := range m.keys {
			if y := k.y * height / 1000; y-side < s.top+LabelRoom || y > height {
				panic(fmt.Sprintf("scene: frame size %dx%d leaves no room for the crossing scene below the strip", width, height))
			}
		}
	}
	s.cross = c

	for id := range c.movers {
		for r := range CrossingPeriod {
			_, now := s.moverBox(id, r)
			_, before := s.moverBox(id, (r+CrossingPeriod-1)%CrossingPeriod)
			if now && !before {
				c.entries[id] = append(c.entries[id], r)
			}
		}
		_, first := s.moverBox(id, 0)
		_, last := s.moverBox(id, CrossingPeriod-1)
		c.wraps[id] = first && last
	}

	// The events of frames 1..CrossingPeriod, from each pair of
	// consecutive frames.
	zone, line := s.pixelZone(), s.pixelLine()
	for r := 1; r <= CrossingPeriod; r++ {
		for id := range c.movers {
			a, ok1 := s.moverBox(id, r-1)
			b, ok2 := s.moverBox(id, r%CrossingPeriod)
			if !ok1 || !ok2 {
				continue
			}
			p, q := bottomCentre(a), bottomCentre(b)
			ev := Event{Seq: uint64(r), ID: id, Class: c.movers[id].class, Visit: s.visit(id, uint64(r))}
			if in, was := insideConvex(zone, q), insideConvex(zone, p); in != was {
				ev.Kind = ZoneExit
				if in {
					ev.Kind = ZoneEnter
				}
				c.events = append(c.events, ev)
			}
			if dir, ok := crosses(line, p, q); ok {
				ev.Kind, ev.Dir = LineCross, dir
				c.events = append(c.events, ev)
			}
		}
	}
	return s
}

// crossingTruth is Truth for the crossing scene.
func (s *Scene) crossingTruth(seq uint64, dst []Marker) []Marker {
	r := int(seq % CrossingPeriod)
	for id := range s.cross.movers {
		box, ok := s.moverBox(id, r)
		if !ok {
			continue
		}
		m := &s.cross.movers[id]
		dst = append(dst, Marker{
			Class: m.class,
			Name:  ClassName(m.class),
			Color: m.color,
			Box:   box,
			ID:    id,
			Visit: s.visit(id, seq),
		})
	}
	return dst
}

// Events appends to dst[:0] the crossing scene's events in frames from to
// to-1, in order of frame, then ID, then zone events before line crossings
// (pass nil to allocate; it allocates nothing when dst has room). The scene
// from New has no zone or line, and no events.
func (s *Scene) Events(from, to uint64, dst []Event) []Event {
	dst = dst[:0]
	c := s.cross
	if c == nil || from >= to {
		return dst
	}
	// Period k holds the events of frames k·P+1 .. k·P+P.
	for k := (from - min(from, 1)) / CrossingPeriod; k <= (to-1)/CrossingPeriod; k++ {
		for _, ev := range c.events {
			seq := k*CrossingPeriod + ev.Seq
			if seq < ev.Seq { // past the end of uint64
				return dst
			}
			if seq < from || seq >= to {
				continue
			}
			ev.Seq = seq
			ev.Visit += int(k) * len(c.entries[ev.ID])
			dst = append(dst, ev)
		}
	}
	return dst
}

// visit returns the number of the stay in view that marker id is on in frame
// seq (or was last on, if out of view): the number of frames up to seq in
// which it came into view, frame 0 counting when it is in view there.
func (s *Scene) visit(id int, seq uint64) int {
	c := s.cross
	k, r := seq/CrossingPeriod, int(seq%CrossingPeriod)
	n := int(k) * len(c.entries[id])
	for _, e := range c.entries[id] {
		if e <= r {
			n++
		}
	}
	if c.wraps[id] { // in view from frame 0 on, though not an entry of the period
		n++
	}
	return n
}

// moverBox returns marker id's box in frame r of the period, clipped to the
// frame, and whether it is in view: whether at least minSize columns of it
// are inside the frame.
func (s *Scene) moverBox(id, r int) (Rect, bool) {
	m, side := &s.cross.movers[id], s.cross.side[id]
	i := 0
	for m.keys[i+1].t <= r {
		i++
	}
	a, b := m.keys[i], m.keys[i+1]
	den := 1000 * (b.t - a.t)
	cx := floorDiv((a.x*(b.t-r)+b.x*(r-a.t))*s.Width, den)
	bottom := floorDiv((a.y*(b.t-r)+b.y*(r-a.t))*s.Height, den)
	left := max(cx-side/2, 0)
	right := min(cx-side/2+side, s.Width)
	if right-left < s.minSize {
		return Rect{}, false
	}
	return Rect{X: float64(left), Y: float64(bottom - side), W: float64(right - left), H: float64(side)}, true
}

// floorDiv returns a/b rounded down, for b > 0.
func floorDiv(a, b int) int {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// bottomCentre returns the middle of a box's bottom edge, in pixels.
func bottomCentre(b Rect) Point {
	return Point{X: b.X + b.W/2, Y: b.Y + b.H}
}

// pixelZone returns CrossingZone in this scene's pixels.
func (s *Scene) pixelZone() []Point {
	zone := CrossingZone()
	for i, p := range zone {
		zone[i] = s.toPixels(p)
	}
	return zone
}

// pixelLine returns CrossingLine in this scene's pixels.
func (s *Scene) pixelLine() Line {
	l := CrossingLine()
	return Line{From: s.toPixels(l.From), To: s.toPixels(l.To)}
}

func (s *Scene) toPixels(p Point) Point {
	return Point{X: p.X * float64(s.Width), Y: p.Y * float64(s.Height)}
}

// The geometry below is the scene's own, deliberately not shared with the
// agent's zones: it is the ground truth that theirs is checked against.

// cross returns the cross product of b-a and p-a: negative when p is left of
// a→b as seen on the screen (y down), positive right.
func cross(a, b, p Point) float64 {
	return (b.X-a.X)*(p.Y-a.Y) - (b.Y-a.Y)*(p.X-a.X)
}

// insideConvex reports whether p lies inside or on a convex polygon whose
// corners run clockwise on the screen: on the right of, or on, every edge.
func insideConvex(poly []Point, p Point) bool {
	for i, a := range poly {
		if cross(a, poly[(i+1)%len(poly)], p) < 0 {
			return false
		}
	}
	return true
}

// crosses reports whether the move from p to q crosses l (see Event) and
// which way.
func crosses(l Line, p, q Point) (Direction, bool) {
	sp, sq := cross(l.From, l.To, p), cross(l.From, l.To, q)
	if sp < 0 && sq < 0 || sp > 0 && sq > 0 || sp == 0 || sq == 0 {
		return "", false
	}
	// p and q are strictly apart; the segments meet if From and To are not
	// strictly on one side of p→q.
	if f, t := cross(p, q, l.From), cross(p, q, l.To); f < 0 && t < 0 || f > 0 && t > 0 {
		return "", false
	}
	if sp < 0 {
		return In, true
	}
	return Out, true
}
