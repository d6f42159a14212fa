package zones

// eps is how close, in normalised units, a point must be to a line or an
// edge to count as on it, and two points to count as the same: 1e-9 of the
// frame, a millionth of a pixel at 1000 pixels, there only to absorb
// float64 rounding (0.1+0.2 is not 0.3).
const eps = 1e-9

// Polygon is a closed outline: the last point joins the first.
type Polygon []Point

// Box is a detection or track box in normalised coordinates: X, Y its top
// left corner, W, H its width and height.
type Box struct{ X, Y, W, H float64 }

// BottomCentre is the point of b that stands on the ground: the middle of
// its bottom edge, (X+W/2, Y+H). Zones and lines test this point.
func (b Box) BottomCentre() Point { return Point{b.X + b.W/2, b.Y + b.H} }

// Contains says whether p is inside pg or on its outline: a point within
// eps of an edge or a vertex counts as inside, so that a track standing on
// the edge of two zones that share it is in both. pg must be a polygon that
// Set.Validate accepts (simple); it allocates nothing.
func (pg Polygon) Contains(p Point) bool {
	n := len(pg)
	if n < 3 {
		return false
	}
	inside := false
	a := pg[n-1]
	for _, b := range pg {
		if onSegment(a, b, p) {
			return true
		}
		// Even-odd rule: count the edges that a ray from p to the right
		// crosses; an edge is taken half-open in y, so a ray through a
		// vertex counts it once.
		if (a.Y > p.Y) != (b.Y > p.Y) {
			x := a.X + (p.Y-a.Y)*(b.X-a.X)/(b.Y-a.Y)
			if p.X < x {
				inside = !inside
			}
		}
		a = b
	}
	return inside
}

// bounds returns pg's bounding box widened by eps.
func (pg Polygon) bounds() (minX, minY, maxX, maxY float64) {
	minX, minY, maxX, maxY = pg[0].X, pg[0].Y, pg[0].X, pg[0].Y
	for _, p := range pg[1:] {
		minX, maxX = min(minX, p.X), max(maxX, p.X)
		minY, maxY = min(minY, p.Y), max(maxY, p.Y)
	}
	return minX - eps, minY - eps, maxX + eps, maxY + eps
}

// area is the shoelace area of pg, signed by its winding.
func (pg Polygon) area() float64 {
	var s float64
	a := pg[len(pg)-1]
	for _, b := range pg {
		s += a.X*b.Y - b.X*a.Y
	}
	return s / 2
}

// Side is where a point lies relative to a line, as the picture is seen by
// someone standing on From and facing To.
type Side int8

// The sides of a line.
const (
	Left  Side = -1
	On    Side = 0 // within eps of the line through From and To
	Right Side = 1
)

// String returns "left", "on" or "right".
func (s Side) String() string {
	switch s {
	case Left:
		return "left"
	case Right:
		return "right"
	}
	return "on"
}

// Side says on which side of the infinite line through From and To the
// point p lies. Left and right are as the picture is seen: for someone
// standing on From and facing To, Left is their left hand. In the image's
// coordinates (y down) that is the sign of the cross product
// (To-From) × (p-From) = dx*py - dy*px: negative is Left, positive Right.
//
// Worked example: the line from (0.5, 0) to (0.5, 1) runs down the middle
// of the picture; facing down the picture, your left hand points to the
// picture's right. For p = (0.8, 0.5): d = (0, 1), p-From = (0.3, 0.5),
// cross = 0*0.5 - 1*0.3 = -0.3 < 0, so Left. For a line drawn left to
// right, from (0, 0.5) to (1, 0.5), Left is the upper half of the picture.
// In short: the In direction is From→To turned a quarter turn clockwise on
// the screen.
func (l Line) Side(p Point) Side { return Side(orient(l.From, l.To, p)) }

// Direction is which way a track crossed a line.
type Direction int8

// The directions of a crossing; the zero Direction is none.
const (
	In  Direction = 1 // from the line's Left to its Right
	Out Direction = 2 // from its Right to its Left
)

// String returns "in", "out" or "" for none.
func (d Direction) String() string {
	switch d {
	case In:
		return "in"
	case Out:
		return "out"
	}
	return ""
}

// Crossing says whether moving straight from p to q crosses the segment
// From–To, and which way. It crosses when p is strictly on one side and q
// strictly on the other (neither within eps of the line) and the path meets
// the closed segment: passing exactly through From or To counts. A move
// that ends or starts on the line is not a crossing by itself; the
// Evaluator joins the moves around it (see Evaluator.Update). It allocates
// nothing.
func (l Line) Crossing(p, q Point) (Direction, bool) {
	sp, sq := l.Side(p), l.Side(q)
	if sp == On || sq == On || sp == sq {
		return 0, false
	}
	// p and q are on opposite sides of the infinite line, so the path
	// meets it once; that point is on the segment unless From and To are
	// strictly on the same side of the path.
	if orient(p, q, l.From)*orient(p, q, l.To) > 0 {
		return 0, false
	}
	if sp == Left {
		return In, true
	}
	return Out, true
}

// orient is the side of p relative to the line through a and b in image
// coordinates: -1 left, +1 right (see Line.Side), 0 when p is within eps of
// it (or a and b coincide).
func orient(a, b, p Point) int {
	dx, dy := b.X-a.X, b.Y-a.Y
	c := dx*(p.Y-a.Y) - dy*(p.X-a.X)
	// |c| is the distance from p to the line times |b-a|.
	if c*c <= eps*eps*(dx*dx+dy*dy) {
		return 0
	}
	if c < 0 {
		return -1
	}
	return 1
}

// near says whether a and b are within eps of each other.
func near(a, b Point) bool {
	dx, dy := a.X-b.X, a.Y-b.Y
	return dx*dx+dy*dy <= eps*eps
}

// onSegment says whether p is within eps of the segment a–b.
func onSegment(a, b Point, p Point) bool {
	return orient(a, b, p) == 0 && inBox(a, b, p)
}

// inBox says whether p is within the bounding box of a and b, widened by eps.
func inBox(a, b, p Point) bool {
	return p.X >= min(a.X, b.X)-eps && p.X <= max(a.X, b.X)+eps &&
		p.Y >= min(a.Y, b.Y)-eps && p.Y <= max(a.Y, b.Y)+eps
}

// segmentsMeet says whether the closed segments p1–p2 and p3–p4 have a
// point in common: a proper crossing, an end touching the other segment, or
// a collinear overlap.
func segmentsMeet(p1, p2, p3, p4 Point) bool {
	d1, d2 := orient(p3, p4, p1), orient(p3, p4, p2)
	d3, d4 := orient(p1, p2, p3), orient(p1, p2, p4)
	if d1*d2 < 0 && d3*d4 < 0 {
		return true
	}
	return d1 == 0 && inBox(p3, p4, p1) || d2 == 0 && inBox(p3, p4, p2) ||
		d3 == 0 && inBox(p1, p2, p3) || d4 == 0 && inBox(p1, p2, p4)
}
