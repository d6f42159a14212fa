package snapshot

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// YUV frames are encoded without going through RGB: the region wanted is
// scaled plane by plane (luma at full resolution, chroma at half) straight
// into the image.YCbCr that image/jpeg encodes, then its values are mapped
// to JPEG's colours (BT.601, full range) with lookup tables: for a BT.601
// source the range alone (luma from luma, chroma from chroma; nothing at
// all for BT601Full), for a BT.709 one the change of matrix too (each luma
// value with its block's chroma). The crop's region starts on an even pixel
// so that its chroma blocks are the frame's: up to a pixel more on the left
// and top than an RGB frame's crop.

// encodeYUV is encode's part for a YUV frame: the crop, then the full
// frame with the box drawn.
func (e *Encoder) encodeYUV(f *frame, s *Snapshot, box image.Rectangle) error {
	e.conv.set(f.matrix)
	cr := f.req.Box.rect(e.cfg.CropPad, f.w, f.h)
	cr.Min.X &^= 1 // on chroma block boundaries
	cr.Min.Y &^= 1
	cw, ch := fit(cr.Dx(), cr.Dy(), e.cfg.MaxWidth)
	e.yuvRegion(f, cr, cw, ch)
	var err error
	if s.Crop, err = e.encodeYCC(); err != nil {
		return fmt.Errorf("crop: %w", err)
	}

	s.Width, s.Height = fit(f.w, f.h, e.cfg.MaxWidth)
	e.yuvRegion(f, image.Rect(0, 0, f.w, f.h), s.Width, s.Height)
	drawBoxYCbCr(e.ycc, scaleRect(box, f.w, f.h, s.Width, s.Height))
	if s.Full, err = e.encodeYCC(); err != nil {
		return fmt.Errorf("full frame: %w", err)
	}
	return nil
}

// yuvRegion makes e.ycc dw×dh (at most r's size) from the region r of the
// YUV frame f (r.Min on even coordinates), in JPEG's colours.
func (e *Encoder) yuvRegion(f *frame, r image.Rectangle, dw, dh int) {
	e.ycc = sizeYCbCr(e.ycc, dw, dh)
	m := e.ycc
	cw, ch := (f.w+1)/2, (f.h+1)/2
	e.sc.scalePlane(m.Y, dw, dh, m.YStride, f.pix, f.w, 1, r)
	c := f.pix[f.w*f.h:]
	cr := image.Rect(r.Min.X/2, r.Min.Y/2, (r.Max.X+1)/2, (r.Max.Y+1)/2)
	cdw, cdh := (dw+1)/2, (dh+1)/2
	if f.format == FormatNV12 {
		e.sc.scalePlane(m.Cb, cdw, cdh, m.CStride, c, 2*cw, 2, cr)
		e.sc.scalePlane(m.Cr, cdw, cdh, m.CStride, c[1:], 2*cw, 2, cr)
	} else {
		e.sc.scalePlane(m.Cb, cdw, cdh, m.CStride, c, cw, 1, cr)
		e.sc.scalePlane(m.Cr, cdw, cdh, m.CStride, c[cw*ch:], cw, 1, cr)
	}
	e.conv.apply(m)
}

// scalePlane fills the dw×dh plane dst (dstride bytes a row) from the
// region r (at least dw×dh) of the plane src, stride bytes a row and a
// sample every step bytes (1; 2 for one of NV12's interleaved chroma
// planes): each sample the mean of those it covers, as scale does.
func (s *scaler) scalePlane(dst []byte, dw, dh, dstride int, src []byte, stride, step int, r image.Rectangle) {
	sw, sh := r.Dx(), r.Dy()
	if dw == sw && dh == sh { // the same size: copy only
		for y := range dh {
			out := dst[y*dstride:][:dw]
			in := src[(r.Min.Y+y)*stride+step*r.Min.X:]
			if step == 1 {
				copy(out, in)
				continue
			}
			in = in[:step*(dw-1)+1]
			for x := range out {
				out[x] = in[step*x]
			}
		}
		return
	}
	s.xs = bounds(s.xs, r.Min.X, sw, dw)
	s.ys = bounds(s.ys, r.Min.Y, sh, dh)
	for y := range dh {
		y0, y1 := s.ys[y], s.ys[y+1]
		out := dst[y*dstride:][:dw]
		for x := range out {
			x0, x1 := s.xs[x], s.xs[x+1]
			var sum uint32
			for sy := y0; sy < y1; sy++ {
				row := src[sy*stride+step*x0 : sy*stride+step*(x1-1)+1]
				for i := 0; i < len(row); i += step {
					sum += uint32(row[i])
				}
			}
			n := uint32((x1 - x0) * (y1 - y0))
			out[x] = uint8((sum + n/2) / n)
		}
	}
}

// converter maps a YUV frame's values to JPEG's (BT.601, full range) with
// lookup tables, built for one Matrix at a time. In 16.16 fixed point,
// rounding included: Y' = yY[Y] + yU[U] + yV[V], Cb' = uU[U] + uV[V],
// Cr' = vU[U] + vV[V]. For BT.601 the cross terms are zero.
type converter struct {
	built                      bool
	m                          Matrix
	identity                   bool // BT601Full: JPEG's values already
	lumaOnly                   bool // yU and yV zero: lut maps Y alone
	lut                        [256]uint8
	yY, yU, yV, uU, uV, vU, vV [256]int32
}

// yuvCoeffs returns matrix m's Kr, Kb and whether it is full range.
func yuvCoeffs(m Matrix) (kr, kb float64, full bool) {
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

// set builds the tables for m, unless they are built for it.
func (c *converter) set(m Matrix) {
	if c.built && c.m == m {
		return
	}
	c.built, c.m, c.identity = true, m, m == BT601Full
	kr, kb, full := yuvCoeffs(m)
	// a[i] is JPEG's (Y, Pb, Pr), in 0..1 and -0.5..0.5, of the source's
	// unit vector i in (Y, Pb, Pr): through R, G, B.
	var a [3][3]float64
	for i := range 3 {
		var v [3]float64
		v[i] = 1
		r := v[0] + 2*(1-kr)*v[2]
		b := v[0] + 2*(1-kb)*v[1]
		g := (v[0] - kr*r - kb*b) / (1 - kr - kb)
		y := 0.299*r + 0.587*g + 0.114*b
		a[i] = [3]float64{y, (b - y) / 1.772, (r - y) / 1.402}
	}
	ys, cs, yo := 219.0, 224.0, 16.0
	if full {
		ys, cs, yo = 255, 255, 0
	}
	fix := func(v float64) int32 { return int32(math.Round(v * 65536)) }
	for v := range 256 {
		ey, pc := (float64(v)-yo)/ys, (float64(v)-128)/cs
		c.yY[v] = fix(255*a[0][0]*ey + 0.5)
		c.yU[v] = fix(255 * a[1][0] * pc)
		c.yV[v] = fix(255 * a[2][0] * pc)
		c.uU[v] = fix(128 + 255*a[1][1]*pc + 0.5)
		c.uV[v] = fix(255 * a[2][1] * pc)
		c.vU[v] = fix(255 * a[1][2] * pc)
		c.vV[v] = fix(128 + 255*a[2][2]*pc + 0.5)
		c.lut[v] = clampFix(c.yY[v])
	}
	c.lumaOnly = math.Abs(a[1][0]) < 1e-9 && math.Abs(a[2][0]) < 1e-9
}

// clampFix is a 16.16 value's integer part clamped to 0..255.
func clampFix(v int32) uint8 {
	v >>= 16
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return uint8(v)
}

// apply maps m's values, in the source's matrix, to JPEG's, in place.
func (c *converter) apply(m *image.YCbCr) {
	if c.identity {
		return
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	if c.lumaOnly {
		for i, v := range m.Y {
			m.Y[i] = c.lut[v]
		}
	} else { // each luma value with its block's chroma, before that changes
		for y := range h {
			row := m.Y[y*m.YStride:][:w]
			o := y / 2 * m.CStride
			cb, cr := m.Cb[o:][:(w+1)/2], m.Cr[o:][:(w+1)/2]
			for x, v := range row {
				row[x] = clampFix(c.yY[v] + c.yU[cb[x/2]] + c.yV[cr[x/2]])
			}
		}
	}
	for i, u := range m.Cb {
		v := m.Cr[i]
		m.Cb[i] = clampFix(c.uU[u] + c.uV[v])
		m.Cr[i] = clampFix(c.vU[u] + c.vV[v])
	}
}

// drawBoxYCbCr is drawBox on a 4:2:0 image: luma on the outline's pixels,
// the colour's chroma on every 2x2 block they touch.
func drawBoxYCbCr(m *image.YCbCr, r image.Rectangle) {
	r = r.Intersect(m.Rect)
	if r.Empty() {
		return
	}
	yv, cb, cr := color.RGBToYCbCr(boxR, boxG, boxB)
	t := boxThickness
	fill := func(x0, y0, x1, y1 int) {
		x0, y0 = max(x0, r.Min.X), max(y0, r.Min.Y)
		x1, y1 = min(x1, r.Max.X), min(y1, r.Max.Y)
		if x0 >= x1 || y0 >= y1 {
			return
		}
		for y := y0; y < y1; y++ {
			row := m.Y[y*m.YStride:][x0:x1]
			for i := range row {
				row[i] = yv
			}
		}
		for cy := y0 / 2; cy < (y1+1)/2; cy++ {
			o := cy * m.CStride
			u, v := m.Cb[o+x0/2:o+(x1+1)/2], m.Cr[o+x0/2:o+(x1+1)/2]
			for i := range u {
				u[i], v[i] = cb, cr
			}
		}
	}
	fill(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+t) // top
	fill(r.Min.X, r.Max.Y-t, r.Max.X, r.Max.Y) // bottom
	fill(r.Min.X, r.Min.Y, r.Min.X+t, r.Max.Y) // left
	fill(r.Max.X-t, r.Min.Y, r.Max.X, r.Max.Y) // right
}
