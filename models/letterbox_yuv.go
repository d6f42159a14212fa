package models

import "math"

// Letterboxing a YUV 4:2:0 frame (FormatI420, FormatNV12) samples its planes
// straight into the tensor, with no RGB frame in between: for each tensor
// pixel inside the scaled image it interpolates Y bilinearly at the same
// source point, with the same tables, as the RGB path does, interpolates U
// and V bilinearly at the chroma-plane position of that point, converts the
// three to R, G, B with the frame's matrix in integer arithmetic, clamps
// them to 0..255 and writes them scaled as the RGB path does. Converting
// each source pixel to 8-bit RGB first and interpolating after gives the
// same tensor but for that frame's rounding and for clamping, which comes
// before the interpolation there and after it here: on real frames the two
// differ by a quarter of a level on average, by tens of levels at a strong
// edge in a saturated area (see TestLetterboxYUVRealFrames).
//
// Chroma siting is MPEG-2's, the default of H.264 and H.265 streams and the
// one GStreamer assumes for HD caps that do not say: chroma sample (j, i)
// lies horizontally on luma column 2j (co-sited) and vertically halfway
// between luma rows 2i and 2i+1.
const (
	chromaSiteX = 0.0 // luma column of chroma column 0
	chromaSiteY = 0.5 // luma row of chroma row 0
)

// coefBits is the fixed-point precision of the YUV to RGB coefficients.
const coefBits = 16

// yuvTables are the sampling tables of YUV 4:2:0 sources, for the source
// size the letterbox's RGB tables are for.
type yuvTables struct {
	chroma int32 // the chroma byte step they are for (1 I420, 2 NV12); 0: not built

	taps     []yuvTap // per scaled column: where and how to sample Y and chroma
	cx0, cx1 []int32  // per scaled column: the chroma taps, as chromaTable builds them
	cwx      []int32
	cy0, cy1 []int32 // per scaled row: the two chroma rows
	cwy      []int32 // per scaled row: weight of cy1
}

// tap is one horizontal bilinear sample: the positions of the two source
// samples and their weights, which add up to weightOne.
type tap struct{ i0, i1, w0, w1 int32 }

// yuvTap is a tensor column's samples: the two Y columns, and the byte
// offsets of the two chroma samples in a chroma row. One table of both
// keeps the row loop to one table pointer.
type yuvTap struct{ y, c tap }

// chromaTables builds the YUV tables for a w x h source of format f, unless
// they are built already; resize must have been called for that size.
func (lb *letterbox) chromaTables(f PixelFormat, w, h int) {
	step := int32(1)
	if f == FormatNV12 {
		step = 2
	}
	if lb.chroma == step {
		return
	}
	lb.chroma = step
	fx := float64(w) / float64(lb.newW)
	fy := float64(h) / float64(lb.newH)
	lb.cx0, lb.cx1, lb.cwx = chromaTable(lb.cx0, lb.cx1, lb.cwx, lb.newW, w, fx, chromaSiteX, step)
	lb.cy0, lb.cy1, lb.cwy = chromaTable(lb.cy0, lb.cy1, lb.cwy, lb.newH, h, fy, chromaSiteY, 1)
	lb.taps = grow(lb.taps, lb.newW)
	for d := range lb.taps {
		lb.taps[d] = yuvTap{
			y: tap{lb.x0[d] / 3, lb.x1[d] / 3, weightOne - lb.wx[d], lb.wx[d]},
			c: tap{lb.cx0[d], lb.cx1[d], weightOne - lb.cwx[d], lb.cwx[d]},
		}
	}
}

// chromaTable is sampleTable for a chroma plane of a 4:2:0 source whose luma
// is srcN samples across: for each of n destination positions, the source
// point that sampleTable samples in luma (clamped to the luma samples as it
// clamps) is mapped to the chroma plane, whose sample j lies at luma 2j+site,
// and the two chroma samples around it (times unit) and the weight of the
// second are returned.
func chromaTable(i0, i1, w []int32, n, srcN int, f, site float64, unit int32) ([]int32, []int32, []int32) {
	i0, i1, w = grow(i0, n), grow(i1, n), grow(w, n)
	cN := (srcN + 1) / 2
	for d := range n {
		s := min(max((float64(d)+0.5)*f-0.5, 0), float64(srcN-1))
		c := (s - site) / 2
		lo := int(math.Floor(c))
		frac := c - float64(lo)
		switch {
		case lo < 0:
			lo, frac = 0, 0
		case lo >= cN-1:
			lo, frac = cN-1, 0
		}
		hi := min(lo+1, cN-1)
		i0[d], i1[d] = int32(lo)*unit, int32(hi)*unit
		w[d] = int32(math.Round(frac * weightOne))
	}
	return i0, i1, w
}

// yuvConv converts bilinear sums of Y, U and V (values times
// weightOne*weightOne) to tensor values.
type yuvConv struct {
	yOff, mid          int64 // black level and chroma zero, as bilinear sums
	cy                 int64 // the coefficients, times 1<<coefBits
	crv, cgu, cgv, cbu int64
	hi                 int64   // 255, in the units of a converted sum
	k                  float32 // tensor value of one unit of a converted sum
}

// newYUVConv returns the conversion for matrix m (an unknown one is taken
// as BT601) into a tensor whose value of level 1 is norm.
//
// With Kr, Kb the matrix's luma weights (Kg = 1-Kr-Kb), Y' = sy(Y-16) and
// U' = sc(U-128), V' = sc(V-128) (limited range: sy = 255/219, sc =
// 255/224; full range: sy = sc = 1 and no 16):
//
//	R = Y' + 2(1-Kr) V'
//	G = Y' - 2Kb(1-Kb)/Kg U' - 2Kr(1-Kr)/Kg V'
//	B = Y' + 2(1-Kb) U'
func newYUVConv(m YUVMatrix, norm float32) yuvConv {
	kr, kb := 0.299, 0.114 // BT.601
	if m == BT709 || m == BT709Full {
		kr, kb = 0.2126, 0.0722
	}
	kg := 1 - kr - kb
	sy, sc, off := 255.0/219, 255.0/224, int64(16)
	if m == BT601Full || m == BT709Full {
		sy, sc, off = 1, 1, 0
	}
	fix := func(v float64) int64 { return int64(math.Round(v * (1 << coefBits))) }
	const sum = weightOne * weightOne
	return yuvConv{
		yOff: off * sum,
		mid:  128 * sum,
		cy:   fix(sy),
		crv:  fix(sc * 2 * (1 - kr)),
		cgu:  fix(sc * 2 * kb * (1 - kb) / kg),
		cgv:  fix(sc * 2 * kr * (1 - kr) / kg),
		cbu:  fix(sc * 2 * (1 - kb)),
		hi:   255 * sum << coefBits,
		k:    norm / (sum << coefBits),
	}
}

// i420Row writes scaled row iy of an I420 image into the tensor rows or,
// og, ob (newW values each).
func (lb *letterbox) i420Row(img Image, iy int, or, og, ob []float32, cv *yuvConv) {
	cw := (img.Width + 1) / 2
	c0, c1 := int(lb.cy0[iy])*img.UVStride, int(lb.cy1[iy])*img.UVStride
	lb.yuvRow(img, iy, img.U[c0:c0+cw], img.U[c1:c1+cw], img.V[c0:c0+cw], img.V[c1:c1+cw], or, og, ob, cv)
}

// nv12Row writes scaled row iy of an NV12 image into the tensor rows or,
// og, ob (newW values each).
func (lb *letterbox) nv12Row(img Image, iy int, or, og, ob []float32, cv *yuvConv) {
	cw := (img.Width + 1) / 2
	c0, c1 := int(lb.cy0[iy])*img.UVStride, int(lb.cy1[iy])*img.UVStride
	uv0, uv1 := img.U[c0:c0+2*cw], img.U[c1:c1+2*cw]
	lb.yuvRow(img, iy, uv0, uv1, uv0[1:], uv1[1:], or, og, ob, cv)
}

// yuvRow writes scaled row iy of a YUV 4:2:0 image into the tensor rows
// or, og, ob, given the two chroma rows around it of each chroma plane: u0,
// u1 and v0, v1, indexed by the chroma taps.
//
// The loop is what limits the letterbox: the slices are cut to common
// lengths before it, so that an index checked against one row needs no
// check against the others (four checks a pixel, not twelve), and the
// column's taps come from one table.
func (lb *letterbox) yuvRow(img Image, iy int, u0, u1, v0, v1 []byte, or, og, ob []float32, cv *yuvConv) {
	m := min(len(u0), len(u1), len(v0), len(v1))
	u0, u1, v0, v1 = u0[:m], u1[:m], v0[:m], v1[:m]
	s0 := img.Pix[int(lb.y0[iy])*img.Stride:]
	s1 := img.Pix[int(lb.y1[iy])*img.Stride:]
	s0, s1 = s0[:img.Width], s1[:img.Width]
	wb, cb := lb.wy[iy], lb.cwy[iy]
	wt, ct := weightOne-wb, weightOne-cb
	n := len(or)
	taps := lb.taps[:n]
	og, ob = og[:n], ob[:n]
	yOff, mid := cv.yOff, cv.mid
	cy, crv, cgu, cgv, cbu, hi, k := cv.cy, cv.crv, cv.cgu, cv.cgv, cv.cbu, cv.hi, cv.k
	for x := range or {
		t := &taps[x]
		a, b := t.y.i0, t.y.i1
		yv := (int32(s0[a])*t.y.w0+int32(s0[b])*t.y.w1)*wt + (int32(s1[a])*t.y.w0+int32(s1[b])*t.y.w1)*wb
		a, b = t.c.i0, t.c.i1
		uv := (int32(u0[a])*t.c.w0+int32(u0[b])*t.c.w1)*ct + (int32(u1[a])*t.c.w0+int32(u1[b])*t.c.w1)*cb
		vv := (int32(v0[a])*t.c.w0+int32(v0[b])*t.c.w1)*ct + (int32(v1[a])*t.c.w0+int32(v1[b])*t.c.w1)*cb
		l := cy * (int64(yv) - yOff)
		u, v := int64(uv)-mid, int64(vv)-mid
		r := min(max(l+crv*v, 0), hi)
		g := min(max(l-cgu*u-cgv*v, 0), hi)
		bl := min(max(l+cbu*u, 0), hi)
		or[x] = float32(r) * k
		og[x] = float32(g) * k
		ob[x] = float32(bl) * k
	}
}
