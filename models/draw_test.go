package models

import (
	"bytes"
	"math"
	"testing"
)

// pixel returns the colour at (x, y).
func pixel(img Image, x, y int) RGB {
	p := img.Pix[y*img.Stride+3*x:]
	return RGB{p[0], p[1], p[2]}
}

func TestDraw(t *testing.T) {
	// A 64x64 black frame with padding bytes (7 a row, set to 99) that Draw
	// must leave alone.
	img := Image{Pix: make([]byte, 64*(3*64+7)), Width: 64, Height: 64, Stride: 3*64 + 7}
	for y := range 64 {
		for i := 3 * 64; i < img.Stride; i++ {
			img.Pix[y*img.Stride+i] = 99
		}
	}
	// Box (10, 30)-(30, 50): edges 2 pixels thick just inside it; the label
	// strip (13 + 2 pixels high) sits above it, on rows 15..29.
	Draw(img, []Detection{{ClassID: 0, Label: "a", Confidence: 0.87, Box: Rect{10, 30, 20, 20}}})
	red := classColour(0) // ff3838
	black := RGB{}
	tests := []struct {
		x, y int
		want RGB
		what string
	}{
		{10, 40, red, "left edge"}, {11, 40, red, "left edge, second pixel"},
		{29, 40, red, "right edge"}, {28, 40, red, "right edge, second pixel"},
		{20, 30, red, "top edge"}, {20, 31, red, "top edge, second pixel"},
		{20, 49, red, "bottom edge"}, {20, 48, red, "bottom edge, second pixel"},
		{12, 40, black, "inside, next to the left edge"}, {20, 40, black, "inside"},
		{20, 47, black, "inside, over the bottom edge"},
		{9, 40, black, "outside, left"}, {30, 40, black, "outside, right"}, {20, 50, black, "outside, below"},
		{10, 15, red, "label strip top-left"},
		{10, 14, black, "above the label strip"},
	}
	for _, tt := range tests {
		if got := pixel(img, tt.x, tt.y); got != tt.want {
			t.Errorf("%s (%d, %d) = %v, want %v", tt.what, tt.x, tt.y, got, tt.want)
		}
	}
	// The text "a 0.87" is 6 glyphs of 7 pixels: some white ink over the red
	// strip (white on a dark colour), ending by x = 10 + 1 + 42.
	ink := 0
	for y := 15; y < 30; y++ {
		for x := 0; x < 64; x++ {
			if p := pixel(img, x, y); p == (RGB{255, 255, 255}) {
				ink++
				if x < 11 || x >= 53 {
					t.Errorf("ink at (%d, %d), outside the text", x, y)
				}
			}
		}
	}
	if ink < 20 {
		t.Errorf("%d ink pixels in the label strip, want the text", ink)
	}
	for y := range 64 {
		if pad := img.Pix[y*img.Stride+3*64 : (y+1)*img.Stride]; !bytes.Equal(pad, bytes.Repeat([]byte{99}, 7)) {
			t.Fatalf("row %d: padding bytes changed to %v", y, pad)
		}
	}
}

func TestDrawColourPerClass(t *testing.T) {
	img := solidImage(64, 64, 0, 0, 0)
	Draw(img, []Detection{
		{ClassID: 0, Box: Rect{0, 20, 10, 10}},
		{ClassID: 1, Box: Rect{20, 20, 10, 10}},
		{ClassID: 20, Box: Rect{40, 20, 10, 10}}, // the palette has 20 colours
	})
	c0, c1, c20 := pixel(img, 0, 25), pixel(img, 20, 25), pixel(img, 40, 25)
	if c0 == c1 || c0 != c20 || c0 != classColour(0) {
		t.Errorf("class colours %v, %v, %v: want 0 and 1 different, 0 and 20 the same", c0, c1, c20)
	}
	if classColour(-1) != classColour(19) {
		t.Error("a negative class has no colour of its own")
	}
}

func TestDrawClipped(t *testing.T) {
	img := solidImage(32, 24, 0, 0, 0)
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	dets := []Detection{
		{Label: "everything", Confidence: 1, Box: Rect{-100, -100, 1000, 1000}},
		{Label: "bottom right", Confidence: 0.5, Box: Rect{20, 20, 100, 100}},
		{Label: "outside", Box: Rect{100, 100, 10, 10}},
		{Label: "left of it", Box: Rect{-50, 5, 10, 10}},
		{Label: "nan", Box: Rect{nan, nan, nan, nan}},
		{Label: "inf", Confidence: inf, Box: Rect{-inf, -inf, inf, inf}},
		{Label: "huge", Box: Rect{-3e38, -3e38, 3e38, 3e38}},
		{Label: "empty", Box: Rect{5, 5, 0, 0}},
		{Label: "a very long label that runs far past the right edge of the frame", Box: Rect{1, 1, 30, 22}},
		{Label: "ünïcödé ✓", ClassID: -7, Confidence: -2, Box: Rect{2, 2, 5, 5}},
	}
	Draw(img, dets) // must not panic
	// The partly visible box still has its visible top-left edges.
	if got := pixel(img, 25, 20); got == (RGB{}) {
		t.Error("the bottom-right box's top edge was not drawn")
	}
	Draw(Image{}, dets)                                                      // no pixels: nothing to do
	Draw(Image{Pix: make([]byte, 5), Width: 4, Height: 4, Stride: 12}, dets) // too few bytes: nothing to do
}

func TestDrawAllocations(t *testing.T) {
	img := solidImage(1280, 720, 0, 0, 0)
	dets := []Detection{
		{ClassID: 0, Label: "person", Confidence: 0.87, Box: Rect{100, 100, 200, 400}},
		{ClassID: 2, Label: "car", Confidence: 0.5, Box: Rect{-10, 600, 300, 300}},
	}
	if n := testing.AllocsPerRun(20, func() { Draw(img, dets) }); n != 0 {
		t.Errorf("Draw: %v allocations, want 0", n)
	}
}

func TestDrawTracked(t *testing.T) {
	// DrawTracked writes "#12 person 0.87" through the same text path as a
	// Draw whose label is "#12 person", so the two frames must be equal
	// byte for byte; without an id it must equal Draw.
	person := Detection{ClassID: 0, Label: "person", Confidence: 0.87, Box: Rect{20, 40, 60, 30}}
	car := Detection{ClassID: 2, Label: "car", Confidence: 0.5, Box: Rect{120, 40, 60, 30}}
	relabel := func(d Detection, label string) Detection { d.Label = label; return d }
	tests := []struct {
		name string
		dets []Detection
		ids  []uint64
		want []Detection // drawn with Draw
	}{
		{"id 12", []Detection{person}, []uint64{12}, []Detection{relabel(person, "#12 person")}},
		{"id 0 is none", []Detection{person}, []uint64{0}, []Detection{person}},
		{"nil ids", []Detection{person, car}, nil, []Detection{person, car}},
		{"fewer ids than detections", []Detection{person, car}, []uint64{7},
			[]Detection{relabel(person, "#7 person"), car}},
		{"more ids than detections", []Detection{person}, []uint64{3, 4}, []Detection{relabel(person, "#3 person")}},
		{"largest id", []Detection{person}, []uint64{math.MaxUint64},
			[]Detection{relabel(person, "#18446744073709551615 person")}},
		{"id 10 (a zero digit)", []Detection{car}, []uint64{10}, []Detection{relabel(car, "#10 car")}},
	}
	for _, tt := range tests {
		got, want := solidImage(200, 80, 0, 0, 0), solidImage(200, 80, 0, 0, 0)
		DrawTracked(got, tt.dets, tt.ids)
		Draw(want, tt.want)
		if !bytes.Equal(got.Pix, want.Pix) {
			t.Errorf("%s: the frame differs from Draw of %+v", tt.name, tt.want)
		}
	}

	// The label strip of "#12 person 0.87" is 15 glyphs of 7 pixels plus a
	// pixel each side: columns 20..126, above the box (rows 25..39). Its
	// last column is padding, so the class colour, not ink.
	img := solidImage(200, 80, 0, 0, 0)
	DrawTracked(img, []Detection{person}, []uint64{12})
	red := classColour(0)
	if got := pixel(img, 126, 25); got != red {
		t.Errorf("label strip's last column (126, 25) = %v, want %v", got, red)
	}
	if got := pixel(img, 127, 25); got != (RGB{}) {
		t.Errorf("(127, 25), after the label strip = %v, want black", got)
	}
	// Without the id the strip is 4 glyphs ("#12 ") narrower: it ends at 98.
	img = solidImage(200, 80, 0, 0, 0)
	Draw(img, []Detection{person})
	if got := pixel(img, 99, 25); got != (RGB{}) {
		t.Errorf("without an id, (99, 25) = %v, want black", got)
	}
}

func TestDrawTrackedAllocations(t *testing.T) {
	img := solidImage(1280, 720, 0, 0, 0)
	dets := []Detection{
		{ClassID: 0, Label: "person", Confidence: 0.87, Box: Rect{100, 100, 200, 400}},
		{ClassID: 2, Label: "car", Confidence: 0.5, Box: Rect{-10, 600, 300, 300}},
	}
	ids := []uint64{12, math.MaxUint64}
	if n := testing.AllocsPerRun(20, func() { DrawTracked(img, dets, ids) }); n != 0 {
		t.Errorf("DrawTracked: %v allocations, want 0", n)
	}
}

// BenchmarkDrawTracked draws 20 tracked boxes with labels on a 1280x720
// frame.
func BenchmarkDrawTracked(b *testing.B) {
	img := solidImage(1280, 720, 40, 40, 40)
	labels := COCOLabels()
	dets := make([]Detection, 20)
	ids := make([]uint64, 20)
	for i := range dets {
		dets[i] = Detection{
			ClassID: i, Label: labels[i], Confidence: 0.5 + float32(i)/50,
			Box: Rect{X: float32(60 * i), Y: float32(20 * i), W: 100, H: 250},
		}
		ids[i] = uint64(1000 + 37*i)
	}
	b.ReportAllocs()
	for b.Loop() {
		DrawTracked(img, dets, ids)
	}
}
