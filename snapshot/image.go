package snapshot

import (
	"image"
	"math"
)

// Box is an object's box in frame pixels: top-left corner, width, height.
type Box struct{ X, Y, W, H float32 }

// Drawing of the box on the full frame.
const (
	// boxThickness is the box outline's width in pixels of the encoded
	// image, drawn just inside the box.
	boxThickness = 3
	// The outline's colour: the annotated stream's colour of class 0
	// (person), bright enough to stand out from most scenes.
	boxR, boxG, boxB = 0xff, 0x38, 0x38
)

// rect returns the pixels the box covers, grown by pad times its width
// (height) on the left and right (top and bottom), rounded outwards and
// clamped to a w×h frame; empty when nothing of it is in the frame or the
// box is not a box (not finite, not positive).
func (b Box) rect(pad float64, w, h int) image.Rectangle {
	x, y, bw, bh := float64(b.X), float64(b.Y), float64(b.W), float64(b.H)
	if !finite(x) || !finite(y) || !(bw > 0 && bh > 0) || !finite(bw) || !finite(bh) {
		return image.Rectangle{}
	}
	px, py := bw*pad, bh*pad
	r := image.Rect(
		clampInt(math.Floor(x-px), w), clampInt(math.Floor(y-py), h),
		clampInt(math.Ceil(x+bw+px), w), clampInt(math.Ceil(y+bh+py), h))
	if r.Empty() {
		return image.Rectangle{}
	}
	return r
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// clampInt converts v to an int within [0, limit].
func clampInt(v float64, limit int) int {
	switch {
	case v <= 0:
		return 0
	case v >= float64(limit):
		return limit
	}
	return int(v)
}

// fit is the size w×h takes when scaled down to at most maxW wide (0: no
// limit), keeping its aspect ratio, at least 1×1.
func fit(w, h, maxW int) (int, int) {
	if maxW <= 0 || w <= maxW {
		return w, h
	}
	return maxW, max(1, int(math.Round(float64(h)*float64(maxW)/float64(w))))
}

// rgbImage is a packed RGB image: 3 bytes a pixel, 3*w bytes a row.
type rgbImage struct {
	pix  []byte
	w, h int
}

// resize makes img w×h, reusing its pixels when they are big enough.
func (img *rgbImage) resize(w, h int) {
	n := 3 * w * h
	if cap(img.pix) < n {
		img.pix = make([]byte, n)
	}
	img.pix, img.w, img.h = img.pix[:n], w, h
}

// scaler converts a region of a packed RGB frame into an image of any
// size up to the region's, each output pixel the average of the source
// pixels it covers (an area filter: no aliasing when scaling down). Its
// tables are reused between calls.
type scaler struct {
	xs, ys []int // source column (row) where each output column (row) starts; one more for the end
}

// scale fills dst (at most r's size) from the region r of the frame pix
// (3 bytes a pixel, stride bytes a row).
func (s *scaler) scale(dst *rgbImage, pix []byte, stride int, r image.Rectangle) {
	dw, dh := dst.w, dst.h
	sw, sh := r.Dx(), r.Dy()
	if dw == sw && dh == sh { // the same size: copy only
		for y := range dh {
			copy(dst.pix[3*dw*y:3*dw*(y+1)], pix[(r.Min.Y+y)*stride+3*r.Min.X:])
		}
		return
	}
	s.xs = bounds(s.xs, r.Min.X, sw, dw)
	s.ys = bounds(s.ys, r.Min.Y, sh, dh)
	for y := range dh {
		y0, y1 := s.ys[y], s.ys[y+1]
		out := dst.pix[3*dw*y:][: 3*dw : 3*dw]
		for x := range dw {
			x0, x1 := s.xs[x], s.xs[x+1]
			var rs, gs, bs uint32
			for sy := y0; sy < y1; sy++ {
				row := pix[sy*stride+3*x0 : sy*stride+3*x1]
				for i := 0; i+2 < len(row); i += 3 {
					rs += uint32(row[i])
					gs += uint32(row[i+1])
					bs += uint32(row[i+2])
				}
			}
			n := uint32((x1 - x0) * (y1 - y0))
			o := 3 * x
			out[o], out[o+1], out[o+2] = uint8((rs+n/2)/n), uint8((gs+n/2)/n), uint8((bs+n/2)/n)
		}
	}
}

// toYCbCr converts src into dst (4:2:0, what image/jpeg encodes without
// converting), reusing dst's planes when they are big enough. The
// formulas are image/color's RGBToYCbCr (JFIF), each chroma sample from
// the average of the pixels it covers.
func toYCbCr(dst *image.YCbCr, src *rgbImage) *image.YCbCr {
	w, h := src.w, src.h
	cw, ch := (w+1)/2, (h+1)/2
	dst = sizeYCbCr(dst, w, h)
	for cy := range ch {
		y0 := 2 * cy
		y1 := min(y0+2, h)
		for cx := range cw {
			x0 := 2 * cx
			x1 := min(x0+2, w)
			var rs, gs, bs, n int32
			for y := y0; y < y1; y++ {
				row := src.pix[3*w*y:]
				yrow := dst.Y[w*y:]
				for x := x0; x < x1; x++ {
					r, g, b := int32(row[3*x]), int32(row[3*x+1]), int32(row[3*x+2])
					yrow[x] = uint8((19595*r + 38470*g + 7471*b + 1<<15) >> 16)
					rs, gs, bs, n = rs+r, gs+g, bs+b, n+1
				}
			}
			r, g, b := (rs+n/2)/n, (gs+n/2)/n, (bs+n/2)/n
			i := cw*cy + cx
			dst.Cb[i] = chroma(-11056*r - 21712*g + 32768*b + 257<<15)
			dst.Cr[i] = chroma(32768*r - 27440*g - 5328*b + 257<<15)
		}
	}
	return dst
}

// sizeYCbCr makes dst a w×h 4:2:0 image with rows as wide as it, reusing
// its planes when they are big enough.
func sizeYCbCr(dst *image.YCbCr, w, h int) *image.YCbCr {
	cw, ch := (w+1)/2, (h+1)/2
	if dst == nil || cap(dst.Y) < w*h || cap(dst.Cb) < cw*ch || cap(dst.Cr) < cw*ch {
		dst = image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	}
	dst.Y, dst.Cb, dst.Cr = dst.Y[:w*h], dst.Cb[:cw*ch], dst.Cr[:cw*ch]
	dst.YStride, dst.CStride, dst.Rect = w, cw, image.Rect(0, 0, w, h)
	dst.SubsampleRatio = image.YCbCrSubsampleRatio420
	return dst
}

// chroma is image/color's clamping of a 16.16 chroma value to 0-255.
func chroma(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

// bounds fills t with the d+1 source positions from off that split n
// source pixels into d runs as even as can be, each at least one pixel
// (d <= n).
func bounds(t []int, off, n, d int) []int {
	t = t[:0]
	for i := 0; i <= d; i++ {
		t = append(t, off+i*n/d)
	}
	return t
}

// drawBox draws the outline of r, boxThickness pixels wide just inside it
// (r filled when it is thinner than that), clipped to img.
func drawBox(img *rgbImage, r image.Rectangle) {
	r = r.Intersect(image.Rect(0, 0, img.w, img.h))
	if r.Empty() {
		return
	}
	t := boxThickness
	fill := func(x0, y0, x1, y1 int) {
		for y := max(y0, r.Min.Y); y < min(y1, r.Max.Y); y++ {
			row := img.pix[3*img.w*y:]
			for x := max(x0, r.Min.X); x < min(x1, r.Max.X); x++ {
				row[3*x], row[3*x+1], row[3*x+2] = boxR, boxG, boxB
			}
		}
	}
	fill(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+t) // top
	fill(r.Min.X, r.Max.Y-t, r.Max.X, r.Max.Y) // bottom
	fill(r.Min.X, r.Min.Y, r.Min.X+t, r.Max.Y) // left
	fill(r.Max.X-t, r.Min.Y, r.Max.X, r.Max.Y) // right
}

// scaleRect maps r from a w×h frame onto a dw×dh image, rounding outwards.
func scaleRect(r image.Rectangle, w, h, dw, dh int) image.Rectangle {
	if dw == w && dh == h {
		return r
	}
	return image.Rect(r.Min.X*dw/w, r.Min.Y*dh/h, (r.Max.X*dw+w-1)/w, (r.Max.Y*dh+h-1)/h)
}
