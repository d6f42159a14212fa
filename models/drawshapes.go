package models

import (
	"math"

	"golang.org/x/image/font/basicfont"
)

// Point is a position in the frame in normalised coordinates: X from 0 (left
// edge) to 1 (right edge), Y from 0 (top edge) to 1 (bottom edge). Points
// outside 0..1 lie outside the frame.
type Point struct{ X, Y float64 }

// Shape geometry, in pixels.
const (
	nameGap    = 3  // between a vertex or a line and its name
	clipMargin = 2  // segments are cut this far outside the frame
	minArrow   = 10 // shortest "in" arrow; else a 30th of the frame's smaller side
)

// Limits of normalised coordinates.
const (
	// minLineLen is the shortest line with a direction: zones' tolerance
	// for two points being the same.
	minLineLen = 1e-9
	// maxCoord bounds a coordinate, a million frames out: far enough for
	// any real shape, near enough that clipping in float64 stays exact to
	// a small fraction of a pixel. Beyond it a point counts as infinite.
	maxCoord = 1e6
)

// DrawPolygon outlines the closed polygon pts (the last point joins the
// first) onto img in place, 2 pixels thick in colour c, with name (if not
// empty) written on a filled background next to the first point, on the
// side of the polygon's vertices, kept inside the frame. The outline is
// clipped to the image; an edge along the frame's border (0 or 1) is drawn
// just inside it. Fewer than 2 points, or any coordinate that is NaN,
// infinite or beyond ±1e6, draws nothing. It draws into every
// PixelFormat, as Draw does. It allocates nothing.
func DrawPolygon(img Image, pts []Point, name string, c RGB) {
	if !img.valid() || len(pts) < 2 {
		return
	}
	var mx, my float64 // the mean of the vertices, normalised
	for _, p := range pts {
		if _, _, ok := toPix(img, p); !ok {
			return
		}
		mx += p.X / float64(len(pts))
		my += p.Y / float64(len(pts))
	}
	p := newPaint(img, c)
	edges := len(pts)
	if edges == 2 { // a segment: its closing edge is itself
		edges = 1
	}
	for i := range edges {
		ax, ay, _ := toPix(img, pts[i])
		bx, by, _ := toPix(img, pts[(i+1)%len(pts)])
		segment(img, ax, ay, bx, by, p)
	}
	if name == "" {
		return
	}
	// The name goes beside the first vertex, towards the others: below
	// and to the right of a top-left corner, above and to the left of a
	// bottom-right one.
	x, y, _ := toPix(img, pts[0])
	tw, th := labelSize(textRunes(name))
	if mx < pts[0].X {
		x -= float64(nameGap + tw)
	} else {
		x += nameGap
	}
	if my < pts[0].Y {
		y -= float64(nameGap + th)
	} else {
		y += nameGap
	}
	drawName(img, x, y, name, p)
}

// DrawLine draws the segment from→to onto img in place, 2 pixels thick in
// colour c, with an arrow from its middle pointing to the side that counts
// as "in" and name (if not empty) on a filled background on the other side.
//
// The convention is zones.Line's: for someone standing on from and facing
// to, as the picture is seen (y down), a crossing from their left to their
// right is "in", so the arrow points to their right, which is from→to
// turned a quarter turn clockwise on the screen. A line drawn down the
// picture gets an arrow to the picture's left; a line drawn left to right
// gets an arrow pointing down.
//
// The middle is that of the part inside the frame; a line wholly outside it
// draws nothing. A line whose ends coincide (within 1e-9 of the frame) has
// no direction, and a NaN or infinite coordinate (or one beyond ±1e6) no
// position: neither draws anything. It draws into every PixelFormat, as
// Draw does. It allocates nothing.
func DrawLine(img Image, from, to Point, name string, c RGB) {
	if !img.valid() {
		return
	}
	ax, ay, okA := toPix(img, from)
	bx, by, okB := toPix(img, to)
	if !okA || !okB || !(math.Hypot(to.X-from.X, to.Y-from.Y) > minLineLen) {
		return
	}
	dx, dy := bx-ax, by-ay
	l := math.Hypot(dx, dy)
	p := newPaint(img, c)
	segment(img, ax, ay, bx, by, p)

	// The arrow starts in the middle of the visible part and points along
	// n = (-uy, ux), u the unit vector from→to in pixels: the cross product
	// u × n = ux² + uy² is positive, zones.Line.Side's Right, the side a
	// crossing "in" ends on. Scaling x by the width and y by the height
	// keeps the sign of that cross product, so pixels and normalised
	// coordinates agree on the side.
	w, h := float64(img.Width), float64(img.Height)
	vx0, vy0, vx1, vy1, ok := clipSegment(ax, ay, bx, by, 0, 0, w, h)
	if !ok {
		return
	}
	mx, my := (vx0+vx1)/2, (vy0+vy1)/2
	ux, uy := dx/l, dy/l
	nx, ny := -uy, ux
	arrow := float64(max(minArrow, min(img.Width, img.Height)/30))
	head := arrow / 2
	tx, ty := mx+nx*arrow, my+ny*arrow
	segment(img, mx, my, tx, ty, p)
	hx, hy := tx-nx*head, ty-ny*head // the middle of the head's base
	segment(img, tx, ty, hx+ux*head*0.6, hy+uy*head*0.6, p)
	segment(img, tx, ty, hx-ux*head*0.6, hy-uy*head*0.6, p)

	if name == "" {
		return
	}
	// The name's centre goes back from the middle along -n far enough that
	// its background stays clear of the line.
	tw, th := labelSize(textRunes(name))
	back := nameGap + math.Abs(nx)*float64(tw)/2 + math.Abs(ny)*float64(th)/2
	drawName(img, mx-nx*back-float64(tw)/2, my-ny*back-float64(th)/2, name, p)
}

// toPix scales p to pixel edges of img (x = 0 is the frame's left edge,
// x = Width its right edge) and reports whether p is usable: both
// coordinates within ±maxCoord (so neither NaN nor infinite).
func toPix(img Image, p Point) (x, y float64, ok bool) {
	ok = math.Abs(p.X) <= maxCoord && math.Abs(p.Y) <= maxCoord
	return p.X * float64(img.Width), p.Y * float64(img.Height), ok
}

// drawName writes name on a background of colour c with its top-left corner
// near (x, y), moved as little as needed to keep it inside the frame.
func drawName(img Image, x, y float64, name string, c paint) {
	tw, th := labelSize(textRunes(name))
	// Clamp in floats first: x and y may be far outside any int.
	x = min(max(x, 0), float64(img.Width-tw))
	y = min(max(y, 0), float64(img.Height-th))
	ix, iy := max(int(math.Round(x)), 0), max(int(math.Round(y)), 0)
	ink := fillLabel(img, ix, iy, tw, th, c)
	face := basicfont.Face7x13
	drawText(img, face, ix+labelPad, iy+labelPad+face.Ascent, name, ink)
}

// segment draws the segment between two points given in pixel edges, with
// a 2 x 2 brush along an integer Bresenham line, clipped to the image. The
// segment is first cut to the frame plus a margin, so its ends fit an int
// and the loop is never longer than the frame.
func segment(img Image, ax, ay, bx, by float64, c paint) {
	ax, ay, bx, by, ok := clipSegment(ax, ay, bx, by,
		-clipMargin, -clipMargin, float64(img.Width+clipMargin), float64(img.Height+clipMargin))
	if !ok {
		return
	}
	x0, y0 := int(math.Round(ax)), int(math.Round(ay))
	x1, y1 := int(math.Round(bx)), int(math.Round(by))
	dx, sx := x1-x0, 1
	if dx < 0 {
		dx, sx = -dx, -1
	}
	dy, sy := y0-y1, 1 // minus |y1-y0|
	if dy > 0 {
		dy, sy = -dy, -1
	}
	err := dx + dy
	for {
		plot(img, x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x0 += sx
		}
		if e2 <= dx {
			err += dx
			y0 += sy
		}
	}
}

// plot paints the 2 x 2 brush centred on the pixel corner (x, y): pixels
// x-1 and x of rows y-1 and y. On the frame's border (x = 0 or Width, y = 0
// or Height) it moves one pixel in, so that an outline along the border
// shows both of its pixels.
func plot(img Image, x, y int, p paint) {
	if x == 0 {
		x = 1
	} else if x == img.Width {
		x = img.Width - 1
	}
	if y == 0 {
		y = 1
	} else if y == img.Height {
		y = img.Height - 1
	}
	if img.Format != FormatRGB {
		plotYUV(img, x, y, p)
		return
	}
	c := p.rgb
	for py := y - 1; py <= y; py++ {
		if uint(py) >= uint(img.Height) {
			continue
		}
		for px := x - 1; px <= x; px++ {
			if uint(px) >= uint(img.Width) {
				continue
			}
			p := img.Pix[py*img.Stride+3*px:][:3]
			p[0], p[1], p[2] = c.R, c.G, c.B
		}
	}
}

// clipSegment cuts the segment a–b to the rectangle [x0,x1] x [y0,y1]
// (Liang–Barsky) and reports whether any of it is left. The ends must be
// finite.
func clipSegment(ax, ay, bx, by, x0, y0, x1, y1 float64) (cax, cay, cbx, cby float64, ok bool) {
	dx, dy := bx-ax, by-ay
	t0, t1 := 0.0, 1.0
	// Each pair is p, q of one edge: the segment is inside where t*p <= q.
	ps := [4]float64{-dx, dx, -dy, dy}
	qs := [4]float64{ax - x0, x1 - ax, ay - y0, y1 - ay}
	for i, p := range ps {
		q := qs[i]
		switch {
		case p == 0: // parallel to the edge
			if q < 0 {
				return 0, 0, 0, 0, false
			}
		case p < 0: // entering
			if r := q / p; r > t1 {
				return 0, 0, 0, 0, false
			} else if r > t0 {
				t0 = r
			}
		default: // leaving
			if r := q / p; r < t0 {
				return 0, 0, 0, 0, false
			} else if r < t1 {
				t1 = r
			}
		}
	}
	return ax + t0*dx, ay + t0*dy, ax + t1*dx, ay + t1*dy, true
}
