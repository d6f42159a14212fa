package models

import (
	"math"
	"testing"
)

// gradient returns a w x h image whose pixel (x, y) is R=10x+1, G=10y+2,
// B=100, with stride bytes a row (the bytes past 3w set to 255, which must
// never be read).
func gradient(w, h, stride int) Image {
	img := Image{Pix: make([]byte, stride*h), Width: w, Height: h, Stride: stride}
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for y := range h {
		for x := range w {
			p := img.Pix[y*stride+3*x:]
			p[0], p[1], p[2] = byte(10*x+1), byte(10*y+2), 100
		}
	}
	return img
}

// at returns the tensor value of channel c at (x, y) in a planar w x h tensor.
func at(t []float32, w, h, c, x, y int) float32 { return t[c*w*h+y*w+x] }

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-4 }

func TestLetterboxForward(t *testing.T) {
	const pad = 114
	type px struct {
		x, y    int
		r, g, b float32 // expected on the 0..255 scale, in R, G, B order
	}
	tests := []struct {
		name       string
		src        Image
		dstW, dstH int
		center     bool
		newW, newH int
		padX, padY int
		pixels     []px
	}{
		{
			// 4x2 into 4x4: scale 1, the image copied into the top half, the
			// bottom half padded.
			name: "landscape copy", src: gradient(4, 2, 12), dstW: 4, dstH: 4,
			newW: 4, newH: 2,
			pixels: []px{
				{0, 0, 1, 2, 100}, {3, 0, 31, 2, 100}, {2, 1, 21, 12, 100},
				{0, 2, pad, pad, pad}, {3, 3, pad, pad, pad},
			},
		},
		{
			// Same, centred: one padding row above and below.
			name: "landscape centred", src: gradient(4, 2, 12), dstW: 4, dstH: 4, center: true,
			newW: 4, newH: 2, padY: 1,
			pixels: []px{
				{0, 0, pad, pad, pad}, {1, 1, 11, 2, 100}, {1, 2, 11, 12, 100}, {2, 3, pad, pad, pad},
			},
		},
		{
			// 8x4 into 4x4: scale 1/2, newW 4, newH 2; input pixel d samples the
			// source at (d+0.5)*2-0.5 = 2d+0.5, halfway between 2d and 2d+1, so
			// R = (10*2d+1 + 10*(2d+1)+1)/2 = 20d+6 and G = 20y+7.
			name: "landscape downscale", src: gradient(8, 4, 30), dstW: 4, dstH: 4,
			newW: 4, newH: 2,
			pixels: []px{
				{0, 0, 6, 7, 100}, {1, 0, 26, 7, 100}, {3, 1, 66, 27, 100}, {2, 2, pad, pad, pad},
			},
		},
		{
			// 2x4 into 4x4: scale 1, the image in the left half, the right
			// half padded.
			name: "portrait", src: gradient(2, 4, 6), dstW: 4, dstH: 4,
			newW: 2, newH: 4,
			pixels: []px{
				{0, 0, 1, 2, 100}, {1, 3, 11, 32, 100}, {2, 0, pad, pad, pad}, {3, 3, pad, pad, pad},
			},
		},
		{
			// 2x2 into 4x4: scale 2. Input pixel d samples (d+0.5)/2-0.5:
			// d=0 -> -0.25, clamped to source 0; d=1 -> 0.25: 0.75*p0+0.25*p1;
			// d=2 -> 0.75: 0.25*p0+0.75*p1; d=3 -> 1.25, clamped to 1.
			// R at x: 1, 1+2.5, 1+7.5, 11; G at y: 2, 4.5, 9.5, 12.
			name: "square upscale", src: gradient(2, 2, 6), dstW: 4, dstH: 4,
			newW: 4, newH: 4,
			pixels: []px{
				{0, 0, 1, 2, 100}, {1, 1, 3.5, 4.5, 100}, {2, 2, 8.5, 9.5, 100}, {3, 3, 11, 12, 100},
			},
		},
	}
	for _, tt := range tests {
		for _, bgr := range []bool{false, true} {
			norm := float32(1.0 / 255)
			if bgr {
				norm = 1
			}
			lb := newLetterbox(tt.dstW, tt.dstH, bgr, norm, tt.center)
			dst := make([]float32, 3*tt.dstW*tt.dstH)
			lb.run(tt.src, dst)
			if lb.newW != tt.newW || lb.newH != tt.newH || lb.padX != tt.padX || lb.padY != tt.padY {
				t.Errorf("%s: scaled to %dx%d at (%d,%d), want %dx%d at (%d,%d)", tt.name,
					lb.newW, lb.newH, lb.padX, lb.padY, tt.newW, tt.newH, tt.padX, tt.padY)
			}
			for _, p := range tt.pixels {
				want := [3]float32{p.r * norm, p.g * norm, p.b * norm}
				if bgr {
					want[0], want[2] = want[2], want[0]
				}
				for c := range 3 {
					if got := at(dst, tt.dstW, tt.dstH, c, p.x, p.y); !near(got, want[c]) {
						t.Errorf("%s (bgr %v): channel %d at (%d,%d) = %g, want %g", tt.name, bgr, c, p.x, p.y, got, want[c])
					}
				}
			}
		}
	}
}

func TestLetterboxToSource(t *testing.T) {
	tests := []struct {
		name             string
		srcW, srcH       int
		center           bool
		inX, inY         float32 // a point in 416x416 input pixels
		wantX, wantY     float32 // the same point in source pixels
		wantNewW, wantNH int
	}{
		// 1280x720 -> scale 416/1280 = 0.325: 416x234 at the top left; one input
		// pixel is 1280/416 = 3.0769 source pixels across, 720/234 = 3.0769 down.
		{"landscape corner", 1280, 720, false, 416, 234, 1280, 720, 416, 234},
		{"landscape middle", 1280, 720, false, 208, 117, 640, 360, 416, 234},
		// Centred: (416-234)/2 = 91 rows of padding above.
		{"landscape centred", 1280, 720, true, 208, 91, 640, 0, 416, 234},
		{"landscape centred bottom", 1280, 720, true, 416, 325, 1280, 720, 416, 234},
		// 720x1280: 234x416 at the top left.
		{"portrait", 720, 1280, false, 234, 416, 720, 1280, 234, 416},
		{"portrait centred", 720, 1280, true, 91, 0, 0, 0, 234, 416},
		// 500x500 -> 416x416: 500/416 = 1.2019 source pixels an input pixel.
		{"square", 500, 500, false, 104, 208, 125, 250, 416, 416},
	}
	for _, tt := range tests {
		lb := newLetterbox(416, 416, false, 1.0/255, tt.center)
		lb.resize(tt.srcW, tt.srcH)
		if lb.newW != tt.wantNewW || lb.newH != tt.wantNH {
			t.Errorf("%s: scaled to %dx%d, want %dx%d", tt.name, lb.newW, lb.newH, tt.wantNewW, tt.wantNH)
		}
		x, y := lb.toSource(tt.inX, tt.inY)
		if math.Abs(float64(x-tt.wantX)) > 0.01 || math.Abs(float64(y-tt.wantY)) > 0.01 {
			t.Errorf("%s: toSource(%g, %g) = (%g, %g), want (%g, %g)", tt.name, tt.inX, tt.inY, x, y, tt.wantX, tt.wantY)
		}
	}
}

func TestLetterboxReusesTables(t *testing.T) {
	if raceEnabled {
		t.Skip("whole-frame arithmetic: make test's second pass runs it without the race detector")
	}
	lb := newLetterbox(416, 416, true, 1, false)
	dst := make([]float32, 3*416*416)
	big := solidImage(1280, 720, 10, 20, 30)
	small := solidImage(640, 360, 10, 20, 30)
	lb.run(big, dst)
	// Switching sizes rebuilds the tables in the memory already there.
	lb.run(small, dst)
	lb.run(big, dst)
	if n := testing.AllocsPerRun(20, func() { lb.run(big, dst) }); n != 0 {
		t.Errorf("letterbox of a 1280x720 frame: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(20, func() { lb.run(small, dst); lb.run(big, dst) }); n != 0 {
		t.Errorf("letterbox alternating sizes: %v allocations, want 0", n)
	}
	// A solid frame stays solid: BGR, raw levels.
	if got := [3]float32{at(dst, 416, 416, 0, 100, 100), at(dst, 416, 416, 1, 100, 100), at(dst, 416, 416, 2, 100, 100)}; got != [3]float32{30, 20, 10} {
		t.Errorf("solid frame letterboxed to %v, want [30 20 10] (BGR)", got)
	}
}

func TestLetterboxPadsOncePerGeometry(t *testing.T) {
	lb := newLetterbox(4, 4, true, 1, false)
	a := make([]float32, 3*4*4)
	b := make([]float32, 3*4*4)
	landscape := solidImage(4, 2, 1, 2, 3) // rows 2, 3 padded
	portrait := solidImage(2, 4, 1, 2, 3)  // columns 2, 3 padded
	lb.run(landscape, a)
	lb.run(landscape, b) // another tensor: padded too
	if at(a, 4, 4, 0, 0, 3) != 114 || at(b, 4, 4, 0, 0, 3) != 114 {
		t.Errorf("bottom-left padding %g, %g; want 114", at(a, 4, 4, 0, 0, 3), at(b, 4, 4, 0, 0, 3))
	}
	// A new geometry re-pads: (3, 0) was image, now it is padding, and (0, 3)
	// was padding, now it is image (blue 3 in BGR channel 0).
	lb.run(portrait, a)
	if got := [2]float32{at(a, 4, 4, 0, 3, 0), at(a, 4, 4, 0, 0, 3)}; got != [2]float32{114, 3} {
		t.Errorf("after switching to portrait: (3,0) = %g, (0,3) = %g; want 114, 3", got[0], got[1])
	}
}
