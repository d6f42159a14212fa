package zones

import "testing"

func TestBottomCentre(t *testing.T) {
	// Binary fractions, so the sums are exact: x + w/2 = 0.25 + 0.125,
	// y + h = 0.5 + 0.25.
	b := Box{X: 0.25, Y: 0.5, W: 0.25, H: 0.25}
	if got, want := b.BottomCentre(), (Point{0.375, 0.75}); got != want {
		t.Fatalf("BottomCentre = %v, want %v", got, want)
	}
}

func TestContains(t *testing.T) {
	// The notch of this C opens to the right: x 0.3..0.9, y 0.3..0.7.
	concave := Polygon{{0.1, 0.1}, {0.9, 0.1}, {0.9, 0.3}, {0.3, 0.3}, {0.3, 0.7}, {0.9, 0.7}, {0.9, 0.9}, {0.1, 0.9}}
	// Its hypotenuse runs from (0.1,0.1) to (0.7,0.4): y = 0.1 + (x-0.1)/2.
	triangle := Polygon{{0.1, 0.1}, {0.7, 0.4}, {0.1, 0.7}}
	for _, tc := range []struct {
		name string
		pg   Polygon
		p    Point
		want bool
	}{
		{"driveway inside", driveway(), Point{0.3, 0.7}, true},
		{"driveway top edge", driveway(), Point{0.3, 0.5}, true},
		{"driveway right edge", driveway(), Point{0.6, 0.7}, true},
		{"driveway bottom edge, frame's bottom", driveway(), Point{0.35, 1}, true},
		{"driveway vertex", driveway(), Point{0.6, 1.0}, true},
		{"driveway first vertex", driveway(), Point{0.1, 0.5}, true},
		{"driveway right, within eps", driveway(), Point{0.6 + 1e-10, 0.7}, true},
		{"driveway right, beyond eps", driveway(), Point{0.6 + 1e-6, 0.7}, false},
		{"driveway right", driveway(), Point{0.7, 0.7}, false},
		{"driveway above", driveway(), Point{0.3, 0.49}, false},
		{"driveway on the top edge's line, beyond it", driveway(), Point{0.7, 0.5}, false},
		{"concave spine", concave, Point{0.2, 0.5}, true},
		{"concave top arm", concave, Point{0.6, 0.2}, true},
		{"concave bottom arm", concave, Point{0.6, 0.8}, true},
		{"concave notch", concave, Point{0.6, 0.5}, false},
		{"concave notch mouth", concave, Point{0.9, 0.5}, false},
		{"concave notch's inner edge", concave, Point{0.3, 0.5}, true},
		{"concave notch's top edge", concave, Point{0.6, 0.3}, true},
		// The ray to the right runs along the edge (0.9,0.3)-(0.3,0.3)
		// through two vertices: half-open edges count the right crossings.
		{"concave, ray along an edge, inside", concave, Point{0.2, 0.3}, true},
		{"concave, ray along an edge, outside", concave, Point{0.05, 0.3}, false},
		{"concave, ray through a vertex", concave, Point{0.05, 0.1}, false},
		{"triangle on the hypotenuse", triangle, Point{0.4, 0.25}, true},
		{"triangle below the hypotenuse", triangle, Point{0.4, 0.26}, true},
		{"triangle above the hypotenuse", triangle, Point{0.4, 0.24}, false},
		{"triangle apex", triangle, Point{0.7, 0.4}, true},
		{"triangle beyond the apex", triangle, Point{0.71, 0.4}, false},
	} {
		if got := tc.pg.Contains(tc.p); got != tc.want {
			t.Errorf("%s: Contains(%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestSide(t *testing.T) {
	down := Line{From: Point{0.5, 0}, To: Point{0.5, 1}}  // down the middle
	up := Line{From: Point{0.5, 1}, To: Point{0.5, 0}}    // up the middle
	right := Line{From: Point{0, 0.5}, To: Point{1, 0.5}} // across the middle
	diag := Line{From: Point{0, 0}, To: Point{1, 1}}      // top left to bottom right
	for _, tc := range []struct {
		name string
		l    Line
		p    Point
		want Side
	}{
		// Facing down the picture, your left hand points to its right.
		// d = (0,1), p-From = (0.3,0.5): 0*0.5 - 1*0.3 = -0.3 < 0.
		{"down, picture's right", down, Point{0.8, 0.5}, Left},
		{"down, picture's left", down, Point{0.2, 0.5}, Right},
		{"down, on it", down, Point{0.5, 0.3}, On},
		{"down, on it beyond To", down, Point{0.5, 1.5}, On},
		{"up, picture's right", up, Point{0.8, 0.5}, Right},
		{"up, picture's left", up, Point{0.2, 0.5}, Left},
		// Facing the picture's right, your left hand points up.
		// d = (1,0), p-From = (0.5,-0.3): 1*-0.3 - 0*0.5 = -0.3 < 0.
		{"right, above", right, Point{0.5, 0.2}, Left},
		{"right, below", right, Point{0.5, 0.8}, Right},
		// d = (1,1), p-From = (0.8,0.2): 1*0.2 - 1*0.8 = -0.6 < 0.
		{"diagonal, upper right", diag, Point{0.8, 0.2}, Left},
		{"diagonal, lower left", diag, Point{0.2, 0.8}, Right},
		{"diagonal, on it", diag, Point{0.3, 0.3}, On},
	} {
		if got := tc.l.Side(tc.p); got != tc.want {
			t.Errorf("%s: Side(%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestCrossing(t *testing.T) {
	gate := Line{From: Point{0.5, 0}, To: Point{0.5, 1}}
	across := Line{From: Point{0, 0.5}, To: Point{1, 0.5}}
	diag := Line{From: Point{0, 0}, To: Point{1, 1}}
	short := Line{From: Point{0.5, 0.2}, To: Point{0.5, 0.6}}
	for _, tc := range []struct {
		name string
		l    Line
		p, q Point
		want Direction // 0: no crossing
	}{
		// Down the middle: its left is the picture's right, so in is
		// moving to the picture's left.
		{"vertical, right to left", gate, Point{0.8, 0.5}, Point{0.2, 0.5}, In},
		{"vertical, left to right", gate, Point{0.2, 0.5}, Point{0.8, 0.5}, Out},
		// Across the middle: its left is above, so in is moving down.
		{"horizontal, down", across, Point{0.5, 0.2}, Point{0.5, 0.8}, In},
		{"horizontal, up", across, Point{0.5, 0.8}, Point{0.5, 0.2}, Out},
		{"diagonal, to lower left", diag, Point{0.8, 0.2}, Point{0.2, 0.8}, In},
		{"diagonal, to upper right", diag, Point{0.2, 0.8}, Point{0.8, 0.2}, Out},
		{"slanted path", gate, Point{0.9, 0.1}, Point{0.1, 0.9}, In},
		{"same side", gate, Point{0.8, 0.5}, Point{0.6, 0.9}, 0},
		{"onto the line", gate, Point{0.8, 0.5}, Point{0.5, 0.5}, 0},
		{"off the line", gate, Point{0.5, 0.5}, Point{0.2, 0.5}, 0},
		{"along the line", gate, Point{0.5, 0.2}, Point{0.5, 0.8}, 0},
		// The path meets x = 0.5 at y = 0.8, below To (0.6).
		{"past the end", short, Point{0.8, 0.8}, Point{0.2, 0.8}, 0},
		// (0.8,0.4) to (0.2,0.8) meets x = 0.5 halfway, at y = 0.6: To.
		{"through To", short, Point{0.8, 0.4}, Point{0.2, 0.8}, In},
		// (0.2,0.0) to (0.8,0.4) meets x = 0.5 at y = 0.2: From.
		{"through From", short, Point{0.2, 0.0}, Point{0.8, 0.4}, Out},
		// Shifted up by 0.02: it meets x = 0.5 at y = 0.62, just past To.
		{"just past To", short, Point{0.8, 0.42}, Point{0.2, 0.82}, 0},
	} {
		d, ok := tc.l.Crossing(tc.p, tc.q)
		if ok != (tc.want != 0) || d != tc.want {
			t.Errorf("%s: Crossing(%v, %v) = %v, %v; want %q", tc.name, tc.p, tc.q, d, ok, tc.want)
		}
	}
}

func TestSegmentsMeet(t *testing.T) {
	for _, tc := range []struct {
		name           string
		p1, p2, p3, p4 Point
		want           bool
	}{
		{"cross", Point{0, 0}, Point{1, 1}, Point{0, 1}, Point{1, 0}, true},
		{"end on the other", Point{0, 0}, Point{1, 0}, Point{0.5, 0}, Point{0.5, 1}, true},
		{"shared end", Point{0, 0}, Point{0.5, 0.5}, Point{0.5, 0.5}, Point{1, 0}, true},
		{"collinear overlap", Point{0, 0}, Point{0.5, 0}, Point{0.3, 0}, Point{0.9, 0}, true},
		{"collinear apart", Point{0, 0}, Point{0.2, 0}, Point{0.3, 0}, Point{0.9, 0}, false},
		{"parallel", Point{0, 0}, Point{1, 0}, Point{0, 0.1}, Point{1, 0.1}, false},
		{"would cross if longer", Point{0, 0}, Point{0.4, 0.4}, Point{0, 1}, Point{1, 0}, false},
	} {
		if got := segmentsMeet(tc.p1, tc.p2, tc.p3, tc.p4); got != tc.want {
			t.Errorf("%s: segmentsMeet = %v, want %v", tc.name, got, tc.want)
		}
	}
}
