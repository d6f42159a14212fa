package models

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
)

// yuvPad is the number of padding bytes (set to 99) that ends each row of
// every plane of yuvImage's frames; drawing must leave them alone.
const yuvPad = 3

// yuvImage returns a w x h frame of format f (FormatI420 or FormatNV12)
// and matrix m, every pixel (y, u, v), its planes' rows padded.
func yuvImage(f PixelFormat, m YUVMatrix, w, h int, y, u, v byte) Image {
	cw, ch := (w+1)/2, (h+1)/2
	img := Image{Format: f, Matrix: m, Width: w, Height: h, Stride: w + yuvPad}
	img.Pix = bytes.Repeat([]byte{99}, h*img.Stride)
	for r := range h {
		for x := range w {
			img.Pix[r*img.Stride+x] = y
		}
	}
	if f == FormatNV12 {
		img.UVStride = 2*cw + yuvPad
		img.U = bytes.Repeat([]byte{99}, ch*img.UVStride)
		for r := range ch {
			for x := range cw {
				img.U[r*img.UVStride+2*x], img.U[r*img.UVStride+2*x+1] = u, v
			}
		}
		return img
	}
	img.UVStride = cw + yuvPad
	img.U = bytes.Repeat([]byte{99}, ch*img.UVStride)
	img.V = bytes.Repeat([]byte{99}, ch*img.UVStride)
	for r := range ch {
		for x := range cw {
			img.U[r*img.UVStride+x], img.V[r*img.UVStride+x] = u, v
		}
	}
	return img
}

// cloneImage copies img's planes.
func cloneImage(img Image) Image {
	img.Pix, img.U, img.V = bytes.Clone(img.Pix), bytes.Clone(img.U), bytes.Clone(img.V)
	return img
}

// chromaAt returns the U and V of chroma block (cx, cy).
func chromaAt(img Image, cx, cy int) (u, v byte) {
	o := cy * img.UVStride
	if img.Format == FormatNV12 {
		return img.U[o+2*cx], img.U[o+2*cx+1]
	}
	return img.U[o+cx], img.V[o+cx]
}

// checkYUVPadding fails the test if a padding byte of a yuvImage changed.
func checkYUVPadding(t *testing.T, what string, img Image) {
	t.Helper()
	cw, ch := (img.Width+1)/2, (img.Height+1)/2
	if img.Format == FormatNV12 {
		cw *= 2
	}
	check := func(plane string, p []byte, rows, width, stride int) {
		for r := range rows {
			if pad := p[r*stride+width : (r+1)*stride]; !bytes.Equal(pad, bytes.Repeat([]byte{99}, len(pad))) {
				t.Fatalf("%s: %s row %d: padding bytes changed to %v", what, plane, r, pad)
			}
		}
	}
	check("Y", img.Pix, img.Height, img.Width, img.Stride)
	check("U", img.U, ch, cw, img.UVStride)
	if img.Format == FormatI420 {
		check("V", img.V, ch, cw, img.UVStride)
	}
}

// toNV12 returns the NV12 frame with the pixels of the I420 frame img.
func toNV12(img Image) Image {
	out := yuvImage(FormatNV12, img.Matrix, img.Width, img.Height, 0, 0, 0)
	for y := range img.Height {
		copy(out.Pix[y*out.Stride:y*out.Stride+img.Width], img.Pix[y*img.Stride:])
	}
	for cy := range (img.Height + 1) / 2 {
		for cx := range (img.Width + 1) / 2 {
			o := cy*out.UVStride + 2*cx
			out.U[o], out.U[o+1] = chromaAt(img, cx, cy)
		}
	}
	return out
}

func TestYUVOf(t *testing.T) {
	// The textbook values: Y = Kr R + Kg G + Kb B, Cb = (B-Y) / (2(1-Kb)),
	// Cr = (R-Y) / (2(1-Kr)), scaled to 16 + 219 Y and 128 + 224 C
	// (limited) or 255 Y and 128 + 255 C clamped (full). Red in BT.601
	// limited: Y = 16 + 219*0.299 = 81.48, Cb = 128 - 224*0.299/1.772 =
	// 90.20, Cr = 128 + 224/2 = 240. Class 0's ff3838: Y' = 0.299 + 0.701 *
	// 56/255 = 0.45295, Y = 16 + 219*0.45295 = 115.20, Cb = 128 + 224 *
	// (56/255 - 0.45295)/1.772 = 98.50, Cr = 128 + 224 * (1 - 0.45295)/1.402
	// = 215.40.
	tests := []struct {
		c       RGB
		m       YUVMatrix
		y, u, v uint8
	}{
		{RGB{255, 0, 0}, BT601, 81, 90, 240},
		{RGB{0, 255, 0}, BT601, 145, 54, 34},
		{RGB{0, 0, 255}, BT601, 41, 240, 110},
		{RGB{255, 255, 255}, BT601, 235, 128, 128},
		{RGB{0, 0, 0}, BT601, 16, 128, 128},
		{RGB{255, 0x38, 0x38}, BT601, 115, 99, 215},
		{RGB{255, 0, 0}, BT709, 63, 102, 240},
		{RGB{0, 255, 0}, BT709, 173, 42, 26},
		{RGB{0, 0, 255}, BT709, 32, 240, 118},
		{RGB{255, 255, 255}, BT709, 235, 128, 128},
		{RGB{255, 0, 0}, BT601Full, 76, 85, 255}, // Cr 255.5, clamped
		{RGB{0, 255, 0}, BT601Full, 150, 44, 21},
		{RGB{0, 0, 255}, BT601Full, 29, 255, 107},
		{RGB{0, 0, 0}, BT601Full, 0, 128, 128},
		{RGB{255, 255, 255}, BT601Full, 255, 128, 128},
		{RGB{255, 0, 0}, BT709Full, 54, 99, 255},
		{RGB{0, 255, 0}, BT709Full, 182, 30, 12},
		{RGB{0, 0, 255}, BT709Full, 18, 255, 116},
	}
	for _, tt := range tests {
		y, u, v := yuvOf(tt.c, tt.m)
		if y != tt.y || u != tt.u || v != tt.v {
			t.Errorf("yuvOf(%v, %d) = %d, %d, %d, want %d, %d, %d", tt.c, tt.m, y, u, v, tt.y, tt.u, tt.v)
		}
	}
}

func TestDrawYUVBox(t *testing.T) {
	// A 48x32 frame, Y 100 and neutral chroma; class 0's box from (9, 17)
	// to (23, 28): edges 2 pixels thick on columns 9, 10, 21, 22 and rows
	// 17, 18, 26, 27. Its label " 0.50" (no label text) is 5 glyphs, a
	// 37x15 background above the box: columns 9..45, rows 2..16. In BT.601
	// class 0 (ff3838) is Y 115, U 99, V 215 (TestYUVOf).
	const w, h = 48, 32
	// The chroma blocks (24x16) touched: x marks U 99, V 215, . neutral.
	// Column cx covers pixels 2cx and 2cx+1, row cy rows 2cy and 2cy+1.
	chroma := []string{
		"........................", // rows 0, 1
		"....xxxxxxxxxxxxxxxxxxx.", // label: columns 9..45 are blocks 4..22
		"....xxxxxxxxxxxxxxxxxxx.",
		"....xxxxxxxxxxxxxxxxxxx.",
		"....xxxxxxxxxxxxxxxxxxx.",
		"....xxxxxxxxxxxxxxxxxxx.",
		"....xxxxxxxxxxxxxxxxxxx.",
		"....xxxxxxxxxxxxxxxxxxx.",
		"....xxxxxxxxxxxxxxxxxxx.", // rows 16 (label), 17 (box top)
		"....xxxxxxxx............", // row 18: the top edge, blocks 4..11
		"....xx....xx............", // the left and right edges
		"....xx....xx............",
		"....xx....xx............",
		"....xxxxxxxx............", // rows 26, 27: the bottom edge
		"........................",
		"........................",
	}
	box := func(x, y int) bool {
		in := x >= 9 && x < 23 && y >= 17 && y < 28
		return in && (x < 11 || x >= 21 || y < 19 || y >= 26)
	}
	label := func(x, y int) bool { return x >= 9 && x < 46 && y >= 2 && y < 17 }
	var i420 Image
	for _, f := range []PixelFormat{FormatI420, FormatNV12} {
		img := yuvImage(f, BT601, w, h, 100, 128, 128)
		DrawTracked(img, []Detection{{ClassID: 0, Confidence: 0.5, Box: Rect{9, 17, 14, 11}}}, nil)
		ink := 0
		for y := range h {
			for x := range w {
				got := img.Pix[y*img.Stride+x]
				switch {
				case box(x, y):
					if got != 115 {
						t.Errorf("%v: box pixel (%d, %d) has Y %d, want 115", f, x, y, got)
					}
				case label(x, y): // the background, or white ink on it
					if got == 235 {
						ink++
					} else if got != 115 {
						t.Errorf("%v: label pixel (%d, %d) has Y %d, want 115 or 235", f, x, y, got)
					}
				case got != 100:
					t.Errorf("%v: pixel (%d, %d) has Y %d, want 100 (untouched)", f, x, y, got)
				}
			}
		}
		if ink < 20 || ink > 5*7*13/2 {
			t.Errorf("%v: %d ink pixels in the label", f, ink)
		}
		for cy, row := range chroma {
			for cx, c := range row {
				wu, wv := byte(128), byte(128)
				if c == 'x' {
					wu, wv = 99, 215
				}
				if u, v := chromaAt(img, cx, cy); u != wu || v != wv {
					t.Errorf("%v: chroma block (%d, %d) = %d, %d, want %d, %d", f, cx, cy, u, v, wu, wv)
				}
			}
		}
		checkYUVPadding(t, f.String(), img)
		if f == FormatI420 {
			i420 = img
		} else if want := toNV12(i420); !bytes.Equal(img.Pix, want.Pix) || !bytes.Equal(img.U, want.U) {
			t.Error("NV12 differs from I420 interleaved")
		}
	}
}

// drawScene draws boxes with labels and track ids, a named zone and a
// named line on img, none of different colours sharing a chroma block.
func drawScene(img Image) {
	dets := []Detection{
		{ClassID: 0, Label: "person", Confidence: 0.87, Box: Rect{20.4, 40, 61, 90.6}},
		{ClassID: 2, Label: "car", Confidence: 0.5, Box: Rect{131, 25, 80, 41}},
		{ClassID: 9, Label: "traffic light", Confidence: 0.61, Box: Rect{250, 30, 31, 57}},
	}
	DrawTracked(img, dets, []uint64{12, 0, 345})
	DrawPolygon(img, []Point{{0.05, 0.78}, {0.4, 0.76}, {0.55, 0.97}, {0.1, 0.95}}, "driveway", RGB{0, 200, 0})
	DrawLine(img, Point{0.72, 0.55}, Point{0.97, 0.93}, "gate", RGB{40, 90, 255})
}

// drawScenes draws every shape into frames of several sizes, some of them
// partly or wholly outside: each call draws one of them.
var drawScenes = []struct {
	name string
	draw func(Image)
}{
	{"scene", drawScene},
	{"boxes at the borders", func(img Image) {
		w, h := float32(img.Width), float32(img.Height)
		DrawTracked(img, []Detection{
			{Label: "everything", Confidence: 1, Box: Rect{-100, -100, 1000, 1000}},
			{ClassID: 1, Label: "bottom right", Confidence: 0.5, Box: Rect{w - 7, h - 5, 100, 100}},
			{ClassID: 2, Label: "outside", Box: Rect{w + 1, h + 1, 10, 10}},
			{ClassID: 3, Label: "left of it", Box: Rect{-50, 5, 10, 10}},
			{ClassID: 4, Label: "top left", Box: Rect{-3, -3, 8.6, 7.2}},
			{ClassID: 5, Label: "odd", Box: Rect{w/2 - 0.6, h/2 + 0.6, 3, 3}},
			{ClassID: 6, Label: "nan", Box: Rect{float32(math.NaN()), 0, 5, 5}},
		}, []uint64{1, 2, 3, 4, 5, 6, 7})
	}},
	{"shapes at the borders", func(img Image) {
		DrawPolygon(img, []Point{{0, 0}, {1, 0}, {1, 1}, {0, 1}}, "frame", RGB{200, 0, 200})
		DrawPolygon(img, []Point{{-0.5, 0.25}, {0.5, 0.25}, {0.5, 1.5}, {-0.5, 1.5}}, "zone", RGB{0, 200, 0})
		DrawLine(img, Point{-1e6, 0}, Point{1e6, 1}, "far", RGB{0, 0, 255})
		DrawLine(img, Point{1, 1}, Point{0.99, 0.98}, "corner", RGB{255, 255, 0})
	}},
}

func TestDrawYUVWhereRGBDraws(t *testing.T) {
	// Each scene into an RGB frame and into I420 and NV12 frames, odd and
	// even sizes: luma changes on exactly the pixels whose RGB changes, a
	// chroma block changes exactly when one of its pixels does, and NV12
	// is I420 interleaved. The frames are dark grey, Y 40 and neutral
	// chroma: no colour drawn has that luma or neutral chroma.
	for _, size := range []struct{ w, h int }{{320, 180}, {33, 21}, {1, 1}, {2, 3}, {7, 2}} {
		for _, sc := range drawScenes {
			what := fmt.Sprintf("%s %dx%d", sc.name, size.w, size.h)
			rgb := solidImage(size.w, size.h, 40, 40, 40)
			sc.draw(rgb)
			i420 := yuvImage(FormatI420, BT601, size.w, size.h, 40, 128, 128)
			sc.draw(i420)
			nv12 := yuvImage(FormatNV12, BT601, size.w, size.h, 40, 128, 128)
			sc.draw(nv12)
			checkYUVPadding(t, what+" I420", i420)
			checkYUVPadding(t, what+" NV12", nv12)
			if want := toNV12(i420); !bytes.Equal(nv12.Pix, want.Pix) || !bytes.Equal(nv12.U, want.U) {
				t.Errorf("%s: NV12 differs from I420 interleaved", what)
			}
			cw, ch := (size.w+1)/2, (size.h+1)/2
			touched := make([]bool, cw*ch)
			for y := range size.h {
				for x := range size.w {
					rgbOn := pixel(rgb, x, y) != RGB{40, 40, 40}
					yOn := i420.Pix[y*i420.Stride+x] != 40
					if rgbOn != yOn {
						t.Errorf("%s: (%d, %d): RGB drawn %v, luma drawn %v", what, x, y, rgbOn, yOn)
					}
					if rgbOn {
						touched[y/2*cw+x/2] = true
					}
				}
			}
			for cy := range ch {
				for cx := range cw {
					u, v := chromaAt(i420, cx, cy)
					if on := u != 128 || v != 128; on != touched[cy*cw+cx] {
						t.Errorf("%s: chroma block (%d, %d): drawn %v, its pixels drawn %v", what, cx, cy, on, touched[cy*cw+cx])
					}
				}
			}
		}
	}
}

// The reference conversions, in floating point.

// kOf returns matrix m's Kr, Kb and whether it is full range.
func kOf(m YUVMatrix) (kr, kb float64, full bool) {
	switch m {
	case BT709:
		return 0.2126, 0.0722, false
	case BT601Full:
		return 0.299, 0.114, true
	case BT709Full:
		return 0.2126, 0.0722, true
	}
	return 0.299, 0.114, false
}

// refToYUV converts an RGB frame to a yuvImage frame of format f with
// matrix m, each chroma sample from the mean of its block's pixels.
func refToYUV(src Image, f PixelFormat, m YUVMatrix) Image {
	kr, kb, full := kOf(m)
	ys, cs, off := 219.0, 224.0, 16.0
	if full {
		ys, cs, off = 255, 255, 0
	}
	img := yuvImage(f, m, src.Width, src.Height, 0, 0, 0)
	cw, ch := (src.Width+1)/2, (src.Height+1)/2
	pb, pr, n := make([]float64, cw*ch), make([]float64, cw*ch), make([]float64, cw*ch)
	for y := range src.Height {
		for x := range src.Width {
			p := pixel(src, x, y)
			r, g, b := float64(p.R)/255, float64(p.G)/255, float64(p.B)/255
			ey := kr*r + (1-kr-kb)*g + kb*b
			img.Pix[y*img.Stride+x] = clamp8(off + ys*ey)
			i := y/2*cw + x/2
			pb[i] += (b - ey) / (2 * (1 - kb))
			pr[i] += (r - ey) / (2 * (1 - kr))
			n[i]++
		}
	}
	for cy := range ch {
		for cx := range cw {
			i := cy*cw + cx
			u, v := clamp8(128+cs*pb[i]/n[i]), clamp8(128+cs*pr[i]/n[i])
			o := cy * img.UVStride
			if f == FormatNV12 {
				img.U[o+2*cx], img.U[o+2*cx+1] = u, v
			} else {
				img.U[o+cx], img.V[o+cx] = u, v
			}
		}
	}
	return img
}

// refToRGB converts a YUV frame to RGB, each pixel with its block's chroma.
func refToRGB(img Image) Image {
	kr, kb, full := kOf(img.Matrix)
	ys, cs, off := 219.0, 224.0, 16.0
	if full {
		ys, cs, off = 255, 255, 0
	}
	out := solidImage(img.Width, img.Height, 0, 0, 0)
	for y := range img.Height {
		for x := range img.Width {
			u, v := chromaAt(img, x/2, y/2)
			ey := (float64(img.Pix[y*img.Stride+x]) - off) / ys
			pb, pr := (float64(u)-128)/cs, (float64(v)-128)/cs
			r := ey + 2*(1-kr)*pr
			b := ey + 2*(1-kb)*pb
			g := (ey - kr*r - kb*b) / (1 - kr - kb)
			p := out.Pix[y*out.Stride+3*x:]
			p[0], p[1], p[2] = clamp8(255*r), clamp8(255*g), clamp8(255*b)
		}
	}
	return out
}

// gradientImage is a w x h RGB frame of greys, darker on the left.
func gradientImage(w, h int) Image {
	img := solidImage(w, h, 0, 0, 0)
	for y := range h {
		for x := range w {
			v := byte(40 + x*150/w)
			p := img.Pix[y*img.Stride+3*x:]
			p[0], p[1], p[2] = v, v, v
		}
	}
	return img
}

func TestDrawYUVColours(t *testing.T) {
	// The scene drawn into an RGB frame and into I420 frames of the same
	// content in each matrix (refToYUV), then compared pixel by pixel:
	//   - luma: on every pixel the Y of the RGB drawing (refToYUV) within
	//     1 of the YUV drawing's (rounding): luma is drawn exactly;
	//   - shapes (every drawn pixel but text ink), converted back to RGB
	//     (refToRGB): every channel within 3 of the RGB drawing, only the
	//     rounding of Y, U and V;
	//   - text ink (white or black strokes a pixel wide, drawn in luma
	//     only): tinted by the background's chroma, by up to maxInk on a
	//     channel;
	//   - the pixels RGB leaves alone: most unchanged (within 2), those
	//     sharing a chroma block with a shape (the fringe) take the
	//     shape's chroma, by up to maxFringe on a channel.
	// maxInk and maxFringe are the measured worst cases (t.Log prints
	// them): a pixel's colour in a block of a saturated one is far off,
	// its brightness is right.
	const w, h = 320, 180
	const lumaTol, shapeTol, sameTol = 1, 3, 2
	const maxInk, maxFringe = 170, 170
	diff := func(a, b RGB) int {
		return max(iabs(int(a.R)-int(b.R)), iabs(int(a.G)-int(b.G)), iabs(int(a.B)-int(b.B)))
	}
	for _, m := range []YUVMatrix{BT601, BT709, BT601Full, BT709Full} {
		bg := gradientImage(w, h)
		rgb := solidImage(w, h, 0, 0, 0)
		copy(rgb.Pix, bg.Pix)
		drawScene(rgb)
		wantY := refToYUV(rgb, FormatI420, m)
		yuv := refToYUV(bg, FormatI420, m)
		drawScene(yuv)
		got := refToRGB(yuv)
		var shapes, ink, fringe, worstShape, worstInk, worstFringe, worstLuma int
		for y := range h {
			for x := range w {
				worstLuma = max(worstLuma, iabs(int(wantY.Pix[y*wantY.Stride+x])-int(yuv.Pix[y*yuv.Stride+x])))
				want, g, was := pixel(rgb, x, y), pixel(got, x, y), pixel(bg, x, y)
				d := diff(want, g)
				switch {
				case want == was: // not drawn
					if d > sameTol {
						fringe++
						worstFringe = max(worstFringe, d)
					}
				case want == RGB{} || want == RGB{255, 255, 255}: // ink
					ink++
					worstInk = max(worstInk, d)
				default:
					shapes++
					worstShape = max(worstShape, d)
				}
			}
		}
		t.Logf("matrix %d: luma within %d; %d shape pixels within %d, %d ink pixels within %d, %d fringe pixels within %d",
			m, worstLuma, shapes, worstShape, ink, worstInk, fringe, worstFringe)
		if worstLuma > lumaTol || worstShape > shapeTol || worstInk > maxInk || worstFringe > maxFringe {
			t.Errorf("matrix %d: luma off by %d (want <= %d), shapes by %d (<= %d), ink by %d (<= %d), fringe by %d (<= %d)",
				m, worstLuma, lumaTol, worstShape, shapeTol, worstInk, maxInk, worstFringe, maxFringe)
		}
		if shapes < 1000 || ink < 100 {
			t.Errorf("matrix %d: %d shape and %d ink pixels: the scene was not drawn", m, shapes, ink)
		}
	}
}

func TestDrawYUVInvalid(t *testing.T) {
	// Planes too short for the size: nothing drawn, no panic.
	good := yuvImage(FormatI420, BT601, 16, 16, 40, 128, 128)
	nv := yuvImage(FormatNV12, BT601, 16, 16, 40, 128, 128)
	for _, tt := range []struct {
		name string
		img  Image
	}{
		{"I420, U short", func() Image { i := cloneImage(good); i.U = i.U[:len(i.U)-yuvPad-1]; return i }()},
		{"I420, V nil", func() Image { i := cloneImage(good); i.V = nil; return i }()},
		{"I420, UVStride small", func() Image { i := cloneImage(good); i.UVStride = 7; return i }()},
		{"NV12, UV short", func() Image { i := cloneImage(nv); i.U = i.U[:len(i.U)-yuvPad-1]; return i }()},
		{"NV12, UVStride of I420", func() Image { i := cloneImage(nv); i.UVStride = 8; return i }()},
		{"unknown format", func() Image { i := cloneImage(good); i.Format = 7; return i }()},
	} {
		want := cloneImage(tt.img)
		for _, sc := range drawScenes {
			sc.draw(tt.img)
		}
		if !bytes.Equal(tt.img.Pix, want.Pix) || !bytes.Equal(tt.img.U, want.U) || !bytes.Equal(tt.img.V, want.V) {
			t.Errorf("%s: drew something", tt.name)
		}
	}
}

func TestDrawYUVAllocations(t *testing.T) {
	for _, f := range []PixelFormat{FormatI420, FormatNV12} {
		img := yuvImage(f, BT709, 1280, 720, 40, 128, 128)
		if n := testing.AllocsPerRun(20, func() { drawScene(img) }); n != 0 {
			t.Errorf("%v: %v allocations, want 0", f, n)
		}
	}
}

func TestDrawYUVMatrix(t *testing.T) {
	// The matrix picks the colour: red in each, on a 4x4 frame's top-left
	// block (a 2x2 brush at the corner (1, 1)).
	for _, tt := range []struct {
		m       YUVMatrix
		y, u, v byte
	}{{BT601, 81, 90, 240}, {BT709, 63, 102, 240}, {BT601Full, 76, 85, 255}, {BT709Full, 54, 99, 255}} {
		img := yuvImage(FormatI420, tt.m, 4, 4, 40, 128, 128)
		DrawLine(img, Point{0.25, 0.25}, Point{0.25, 0.25 + 1e-6}, "", RGB{255, 0, 0})
		var ys []string
		for y := range 4 {
			ys = append(ys, fmt.Sprint(img.Pix[y*img.Stride:y*img.Stride+4]))
		}
		want := fmt.Sprintf("[%d %d 40 40] [%d %d 40 40] [40 40 40 40] [40 40 40 40]", tt.y, tt.y, tt.y, tt.y)
		if got := strings.Join(ys, " "); got != want {
			t.Errorf("matrix %d: Y rows %s, want %s", tt.m, got, want)
		}
		if u, v := chromaAt(img, 0, 0); u != tt.u || v != tt.v {
			t.Errorf("matrix %d: chroma %d, %d, want %d, %d", tt.m, u, v, tt.u, tt.v)
		}
		if u, v := chromaAt(img, 1, 1); u != 128 || v != 128 {
			t.Errorf("matrix %d: chroma block (1, 1) drawn", tt.m)
		}
	}
}

func iabs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
