package models

import (
	"bytes"
	"fmt"
	"math"
	"testing"
)

// paddedImage returns a black w x h frame whose rows end in 5 padding bytes
// set to 99, which drawing must leave alone.
func paddedImage(w, h int) Image {
	img := Image{Pix: make([]byte, h*(3*w+5)), Width: w, Height: h, Stride: 3*w + 5}
	for y := range h {
		for i := 3 * w; i < img.Stride; i++ {
			img.Pix[y*img.Stride+i] = 99
		}
	}
	return img
}

// checkPadding fails the test if a padding byte of paddedImage changed.
func checkPadding(t *testing.T, img Image) {
	t.Helper()
	for y := range img.Height {
		if pad := img.Pix[y*img.Stride+3*img.Width : (y+1)*img.Stride]; !bytes.Equal(pad, bytes.Repeat([]byte{99}, len(pad))) {
			t.Fatalf("row %d: padding bytes changed to %v", y, pad)
		}
	}
}

// xy is a pixel (column, row).
type xy struct{ x, y int }

// checkPixels checks that every pixel of on has colour c and every pixel
// of off is black.
func checkPixels(t *testing.T, what string, img Image, c RGB, on, off []xy) {
	t.Helper()
	for _, p := range on {
		if got := pixel(img, p.x, p.y); got != c {
			t.Errorf("%s: (%d, %d) = %v, want %v", what, p.x, p.y, got, c)
		}
	}
	for _, p := range off {
		if got := pixel(img, p.x, p.y); got != (RGB{}) {
			t.Errorf("%s: (%d, %d) = %v, want black", what, p.x, p.y, got)
		}
	}
}

var green = RGB{0, 200, 0}

func TestDrawLine(t *testing.T) {
	// On a 100 x 100 frame a normalised coordinate v is the pixel edge
	// 100*v, and the 2 x 2 brush centred on edge e paints pixels e-1 and e:
	// a line at y = 0.5 covers rows 49 and 50, one at x = 0.3 columns 29
	// and 30. Points are checked away from the middle, where the "in"
	// arrow is (TestDrawLineInSide).
	tests := []struct {
		name     string
		from, to Point
		on, off  []xy
	}{
		{"horizontal", Point{0.1, 0.5}, Point{0.9, 0.5},
			// from edge 10 to 90: pixels 9..90
			[]xy{{30, 49}, {30, 50}, {9, 50}, {90, 49}},
			[]xy{{30, 48}, {30, 51}, {8, 50}, {91, 50}}},
		{"vertical", Point{0.3, 0.1}, Point{0.3, 0.9},
			[]xy{{29, 20}, {30, 20}, {30, 9}, {29, 90}},
			[]xy{{28, 20}, {31, 20}, {30, 8}, {30, 91}}},
		{"diagonal", Point{0.1, 0.1}, Point{0.9, 0.9},
			// through the corners (k, k): pixels k-1..k both ways
			[]xy{{30, 30}, {29, 30}, {30, 29}, {70, 70}},
			[]xy{{30, 34}, {34, 30}, {70, 75}, {75, 70}}},
		{"backwards", Point{0.9, 0.5}, Point{0.1, 0.5},
			[]xy{{70, 49}, {70, 50}},
			[]xy{{70, 48}, {70, 51}}},
	}
	for _, tt := range tests {
		img := paddedImage(100, 100)
		DrawLine(img, tt.from, tt.to, "", green)
		checkPixels(t, tt.name, img, green, tt.on, tt.off)
		checkPadding(t, img)
	}
}

// side is zones.Line.Side's formula (zones/geometry.go), copied here because
// models must not import zones: the sign of the cross product
// (to-from) × (p-from) = dx*py - dy*px in image coordinates (y down), -1
// for Left, +1 for Right. zones.Line.Crossing calls a move from Left to
// Right "in", so a crossing "in" ends on the Right: +1.
func side(from, to, p Point) int {
	c := (to.X-from.X)*(p.Y-from.Y) - (to.Y-from.Y)*(p.X-from.X)
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

func TestDrawLineInSide(t *testing.T) {
	// Each line runs through the middle of a 100 x 100 frame, so its
	// arrow starts at pixel edge (50, 50) and is 10 pixels long. inPix is
	// 6 pixels into the side the arrow must point to, outPix 6 pixels into
	// the other; by zones.Line.Side's convention (see side):
	//   - down the picture, (0.5,0)→(0.5,1): d = (0,1), for p-from =
	//     (-0.3, 0.5) the cross is 0*0.5 - 1*(-0.3) = 0.3 > 0, Right: "in"
	//     is the picture's LEFT (zones' TestCrossing: right to left is In);
	//   - up the picture: the opposite, the picture's right;
	//   - left to right, (0,0.5)→(1,0.5): d = (1,0), cross = py, Right is
	//     below: "in" is moving DOWN (TestCrossing: "horizontal, down");
	//   - right to left: above;
	//   - diagonal (0,0)→(1,1): Right is the lower left (TestSide:
	//     "diagonal, lower left" is Right), the arrow runs to (43, 57).
	tests := []struct {
		name          string
		from, to      Point
		inPix, outPix xy
	}{
		{"down", Point{0.5, 0}, Point{0.5, 1}, xy{44, 50}, xy{56, 50}},
		{"up", Point{0.5, 1}, Point{0.5, 0}, xy{56, 50}, xy{44, 50}},
		{"left to right", Point{0, 0.5}, Point{1, 0.5}, xy{50, 56}, xy{50, 44}},
		{"right to left", Point{1, 0.5}, Point{0, 0.5}, xy{50, 44}, xy{50, 56}},
		{"diagonal", Point{0, 0}, Point{1, 1}, xy{46, 54}, xy{54, 46}},
	}
	for _, tt := range tests {
		// The test's own expectation agrees with zones' formula: the
		// coloured probe is on the Right, the black one on the Left.
		in := Point{float64(tt.inPix.x) / 100, float64(tt.inPix.y) / 100}
		out := Point{float64(tt.outPix.x) / 100, float64(tt.outPix.y) / 100}
		if side(tt.from, tt.to, in) != 1 || side(tt.from, tt.to, out) != -1 {
			t.Fatalf("%s: the test's probes are on the wrong sides", tt.name)
		}
		img := paddedImage(100, 100)
		DrawLine(img, tt.from, tt.to, "", green)
		checkPixels(t, tt.name, img, green, []xy{tt.inPix}, []xy{tt.outPix})
	}
}

func TestDrawLineName(t *testing.T) {
	// "gate" is 4 glyphs: a 30 x 15 background. Down the middle of a 100 x
	// 100 frame the arrow points left, so the name goes right: its centre
	// 3 + 30/2 = 18 pixels right of (50, 50), its top-left corner at
	// (68-15, 50-7.5) = (53, 42.5), rounded to (53, 43): columns 53..82,
	// rows 43..57.
	img := paddedImage(100, 100)
	red := RGB{200, 0, 0}
	DrawLine(img, Point{0.5, 0}, Point{0.5, 1}, "gate", red)
	checkPixels(t, "name", img, red,
		[]xy{{53, 43}, {82, 43}, {53, 57}, {82, 57}}, // the background's corners
		[]xy{{52, 43}, {83, 43}, {60, 42}, {60, 58}, {30, 43}, {30, 57}})
	ink := 0
	for y := 43; y <= 57; y++ {
		for x := 53; x <= 82; x++ {
			if pixel(img, x, y) == (RGB{255, 255, 255}) { // white on dark red
				ink++
			}
		}
	}
	if ink < 15 {
		t.Errorf("%d ink pixels in the name's background, want the text", ink)
	}
	checkPadding(t, img)
}

func TestDrawPolygon(t *testing.T) {
	// The square (0.25..0.75) on a 64 x 64 frame runs along pixel edges
	// 16 and 48, so its outline covers columns and rows 15, 16, 47 and 48
	// from 15 to 48. The left edge is the closing one (last point to the
	// first).
	img := paddedImage(64, 64)
	DrawPolygon(img, []Point{{0.25, 0.25}, {0.75, 0.25}, {0.75, 0.75}, {0.25, 0.75}}, "", green)
	checkPixels(t, "square", img, green,
		[]xy{
			{32, 15}, {32, 16}, // top
			{47, 32}, {48, 32}, // right
			{32, 47}, {32, 48}, // bottom
			{15, 32}, {16, 32}, // left, the closing edge
			{15, 15}, {48, 48}, {15, 48}, {48, 15}, // corners
		},
		[]xy{{32, 14}, {32, 17}, {32, 46}, {32, 49}, {14, 32}, {17, 32}, {46, 32}, {49, 32}, {32, 32}})
	checkPadding(t, img)

	// Along the border of the frame the outline is moved just inside it:
	// both of its pixels show.
	img = paddedImage(40, 30)
	DrawPolygon(img, []Point{{0, 0}, {1, 0}, {1, 1}, {0, 1}}, "", green)
	checkPixels(t, "whole frame", img, green,
		[]xy{{20, 0}, {20, 1}, {20, 28}, {20, 29}, {0, 15}, {1, 15}, {38, 15}, {39, 15}, {0, 0}, {39, 29}},
		[]xy{{20, 2}, {20, 27}, {2, 15}, {37, 15}, {20, 15}})
	checkPadding(t, img)

	// Two points: a segment.
	img = paddedImage(64, 64)
	DrawPolygon(img, []Point{{0.25, 0.5}, {0.75, 0.5}}, "", green)
	checkPixels(t, "two points", img, green, []xy{{20, 31}, {20, 32}}, []xy{{20, 30}, {20, 33}})
}

func TestDrawPolygonClipped(t *testing.T) {
	// Half of the polygon is off the frame to the left and the bottom: on
	// a 64 x 48 frame its top edge is y = 12 from x = -32 to 32 (rows 11
	// and 12, columns 0..32 visible), its right edge x = 32 from y = 12 to
	// 72 (columns 31 and 32, rows 11..47 visible); the bottom and left
	// edges are off the frame.
	img := paddedImage(64, 48)
	DrawPolygon(img, []Point{{-0.5, 0.25}, {0.5, 0.25}, {0.5, 1.5}, {-0.5, 1.5}}, "zone", green)
	checkPixels(t, "clipped", img, green,
		[]xy{{0, 11}, {20, 12}, {32, 12}, {31, 47}, {32, 47}},
		[]xy{{33, 20}, {40, 30}, {10, 40}, {20, 10}, {30, 47}})
	// The name goes by the first point, (-32, 12), towards the mean of the
	// points (0, 0.875 of the frame): right of and below it, at (-29, 15),
	// then into the frame: a 30 x 15 background at (0, 15), rows 15..29.
	checkPixels(t, "name", img, green, []xy{{0, 15}, {29, 15}, {0, 29}, {29, 29}}, []xy{{0, 30}, {30, 20}})
	checkPadding(t, img)

	// Far outside, up to a million frames: the visible part is drawn.
	img = paddedImage(100, 100)
	DrawLine(img, Point{-1e6, 0.5}, Point{1e6, 0.5}, "far", green)
	checkPixels(t, "long line", img, green, []xy{{0, 49}, {0, 50}, {99, 49}, {99, 50}}, []xy{{2, 48}, {98, 51}})
	img = paddedImage(100, 100)
	DrawPolygon(img, []Point{{-1e6, 0.5}, {1e6, 0.5}, {0, 1e6}}, "far", green)
	checkPixels(t, "huge polygon", img, green, []xy{{2, 49}, {98, 50}}, []xy{{2, 48}, {98, 51}})
	// A slanted line from far away lands where it should: from (-1e6, 0)
	// to (1e6, 1) it crosses the frame at y = 0.5, rows 49 and 50.
	img = paddedImage(100, 100)
	DrawLine(img, Point{-1e6, 0}, Point{1e6, 1}, "", green)
	checkPixels(t, "slanted far line", img, green, []xy{{0, 49}, {0, 50}, {99, 49}, {99, 50}}, []xy{{0, 48}, {99, 51}})
}

func TestDrawShapesDrawNothing(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	square := func(p Point) []Point { return []Point{{0.2, 0.2}, p, {0.8, 0.8}, {0.2, 0.8}} }
	tests := []struct {
		name string
		draw func(Image)
	}{
		{"polygon, no points", func(img Image) { DrawPolygon(img, nil, "z", green) }},
		{"polygon, one point", func(img Image) { DrawPolygon(img, []Point{{0.5, 0.5}}, "z", green) }},
		{"polygon, NaN x", func(img Image) { DrawPolygon(img, square(Point{nan, 0.2}), "z", green) }},
		{"polygon, NaN y", func(img Image) { DrawPolygon(img, square(Point{0.8, nan}), "z", green) }},
		{"polygon, +Inf", func(img Image) { DrawPolygon(img, square(Point{inf, 0.2}), "z", green) }},
		{"polygon, -Inf", func(img Image) { DrawPolygon(img, square(Point{0.8, -inf}), "z", green) }},
		{"polygon, beyond 1e6", func(img Image) { DrawPolygon(img, square(Point{1.000001e6, 0.2}), "z", green) }},
		{"polygon, 1e308", func(img Image) { DrawPolygon(img, square(Point{0.8, -1e308}), "z", green) }},
		{"line, zero length", func(img Image) { DrawLine(img, Point{0.5, 0.5}, Point{0.5, 0.5}, "l", green) }},
		{"line, shorter than 1e-9", func(img Image) { DrawLine(img, Point{0.5, 0.5}, Point{0.5 + 1e-10, 0.5}, "l", green) }},
		{"line, NaN", func(img Image) { DrawLine(img, Point{nan, 0.5}, Point{0.5, 0.9}, "l", green) }},
		{"line, NaN to", func(img Image) { DrawLine(img, Point{0.5, 0.5}, Point{0.5, nan}, "l", green) }},
		{"line, Inf", func(img Image) { DrawLine(img, Point{0.1, 0.5}, Point{inf, 0.5}, "l", green) }},
		{"line, both Inf", func(img Image) { DrawLine(img, Point{-inf, -inf}, Point{inf, inf}, "l", green) }},
		{"line, ends at 1e300", func(img Image) { DrawLine(img, Point{-1e300, 0.5}, Point{1e300, 0.5}, "l", green) }},
		{"line, outside the frame", func(img Image) { DrawLine(img, Point{1.5, 0}, Point{1.5, 1}, "l", green) }},
	}
	for _, tt := range tests {
		img := paddedImage(100, 100)
		want := bytes.Clone(img.Pix)
		tt.draw(img)
		if !bytes.Equal(img.Pix, want) {
			t.Errorf("%s: drew something", tt.name)
		}
	}
	// Frames without pixels: nothing to do, and no panic.
	pts := []Point{{0, 0}, {1, 0}, {1, 1}}
	for _, img := range []Image{{}, {Pix: make([]byte, 5), Width: 4, Height: 4, Stride: 12}, {Pix: make([]byte, 3), Width: 1, Height: 1, Stride: 3}} {
		DrawPolygon(img, pts, "zone", green)
		DrawLine(img, pts[0], pts[2], "line", green)
	}
}

func TestDrawShapesAllocations(t *testing.T) {
	img := solidImage(1280, 720, 0, 0, 0)
	pts := []Point{{0.1, 0.5}, {0.6, 0.5}, {0.6, 1.2}, {-0.1, 1}}
	if n := testing.AllocsPerRun(20, func() { DrawPolygon(img, pts, "driveway", green) }); n != 0 {
		t.Errorf("DrawPolygon: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(20, func() { DrawLine(img, Point{0.5, 0}, Point{0.5, 1}, "gate", green) }); n != 0 {
		t.Errorf("DrawLine: %v allocations, want 0", n)
	}
}

// BenchmarkDrawPolygon outlines an 8-point zone with its name on a 1280x720
// frame.
func BenchmarkDrawPolygon(b *testing.B) {
	img := solidImage(1280, 720, 40, 40, 40)
	pts := []Point{{0.1, 0.4}, {0.3, 0.35}, {0.6, 0.38}, {0.9, 0.5}, {0.95, 0.9}, {0.7, 0.98}, {0.3, 0.95}, {0.05, 0.8}}
	b.ReportAllocs()
	for b.Loop() {
		DrawPolygon(img, pts, "driveway", green)
	}
}

// BenchmarkDrawLine draws a line across a 1280x720 frame with its arrow
// and name.
func BenchmarkDrawLine(b *testing.B) {
	img := solidImage(1280, 720, 40, 40, 40)
	b.ReportAllocs()
	for b.Loop() {
		DrawLine(img, Point{0.5, 0}, Point{0.6, 1}, "gate", green)
	}
}

func ExampleDrawLine() {
	// A 100x80 black frame and a line down its middle. Looking from the
	// top end to the bottom one, a crossing from the viewer's left (the
	// picture's right) to their right (the picture's left) is "in", as
	// with zones.Line: the arrow points to the picture's left.
	img := Image{Pix: make([]byte, 100*80*3), Width: 100, Height: 80, Stride: 100 * 3}
	DrawLine(img, Point{0.5, 0}, Point{0.5, 1}, "", RGB{0, 255, 0})

	at := func(x, y int) []byte { i := y*img.Stride + 3*x; return img.Pix[i : i+3] }
	fmt.Println("on the line:      ", at(50, 10))
	fmt.Println("left of the middle:", at(45, 40))
	fmt.Println("right of it:       ", at(55, 40))
	// Output:
	// on the line:       [0 255 0]
	// left of the middle: [0 255 0]
	// right of it:        [0 0 0]
}
