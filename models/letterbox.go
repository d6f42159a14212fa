package models

import "math"

// padLevel is the grey that letterboxing pads with, as YOLOX and Ultralytics do.
const padLevel = 114

// weightBits is the fixed-point precision of the bilinear weights.
const (
	weightBits = 11
	weightOne  = 1 << weightBits
)

// letterbox scales a source frame into a model input of dstW x dstH, keeping
// the aspect ratio, and pads the rest. It writes planar (NCHW) float32 values
// straight into the input tensor. Resizing is bilinear with the pixel-centre
// convention of OpenCV's INTER_LINEAR, which is what YOLOX and Ultralytics
// use; the sampling tables are built once per source size and reused, so a
// frame costs no allocation.
type letterbox struct {
	dstW, dstH int
	bgr        bool    // channel 0 of the tensor is blue (YOLOX) instead of red
	norm       float32 // tensor value of an 8-bit level of 1 (1 or 1/255)
	center     bool    // centre the image instead of placing it top-left

	srcW, srcH int     // the source size the tables were built for
	newW, newH int     // size of the scaled image inside the input
	padX, padY int     // top-left corner of the scaled image inside the input
	sx, sy     float32 // source pixels per input pixel, per axis

	padded *float32 // the tensor whose padding is already written, nil for none

	x0, x1 []int32 // per scaled column: byte offsets of the two source pixels in a row
	wx     []int32 // per scaled column: weight of x1, 0..weightOne
	y0, y1 []int32 // per scaled row: the two source rows
	wy     []int32 // per scaled row: weight of y1

	yuvTables // the YUV 4:2:0 sampling tables, built by the first YUV frame
}

// newLetterbox returns a letterbox into a dstW x dstH input. Its tables are
// built by the first resize.
func newLetterbox(dstW, dstH int, bgr bool, norm float32, center bool) letterbox {
	return letterbox{dstW: dstW, dstH: dstH, bgr: bgr, norm: norm, center: center}
}

// resize (re)builds the tables for a srcW x srcH source, unless they already
// are for that size. It reuses the tables' memory when it can.
func (lb *letterbox) resize(srcW, srcH int) {
	if srcW == lb.srcW && srcH == lb.srcH {
		return
	}
	lb.srcW, lb.srcH = srcW, srcH
	lb.padded = nil
	lb.chroma = 0
	scale := math.Min(float64(lb.dstW)/float64(srcW), float64(lb.dstH)/float64(srcH))
	lb.newW = min(max(int(math.Round(float64(srcW)*scale)), 1), lb.dstW)
	lb.newH = min(max(int(math.Round(float64(srcH)*scale)), 1), lb.dstH)
	lb.padX, lb.padY = 0, 0
	if lb.center {
		lb.padX, lb.padY = (lb.dstW-lb.newW)/2, (lb.dstH-lb.newH)/2
	}
	fx := float64(srcW) / float64(lb.newW)
	fy := float64(srcH) / float64(lb.newH)
	lb.sx, lb.sy = float32(fx), float32(fy)
	lb.x0, lb.x1, lb.wx = sampleTable(lb.x0, lb.x1, lb.wx, lb.newW, srcW, fx, 3)
	lb.y0, lb.y1, lb.wy = sampleTable(lb.y0, lb.y1, lb.wy, lb.newH, srcH, fy, 1)
}

// sampleTable fills, for each of n destination positions, the two source
// positions (times unit) to interpolate between and the weight of the second,
// sampling the source at (d+0.5)*f-0.5 as OpenCV does.
func sampleTable(i0, i1, w []int32, n, srcN int, f float64, unit int32) ([]int32, []int32, []int32) {
	i0, i1, w = grow(i0, n), grow(i1, n), grow(w, n)
	for d := range n {
		s := (float64(d)+0.5)*f - 0.5
		lo := int(math.Floor(s))
		frac := s - float64(lo)
		switch {
		case lo < 0:
			lo, frac = 0, 0
		case lo >= srcN-1:
			lo, frac = srcN-1, 0
		}
		hi := min(lo+1, srcN-1)
		i0[d], i1[d] = int32(lo)*unit, int32(hi)*unit
		w[d] = int32(math.Round(frac * weightOne))
	}
	return i0, i1, w
}

// grow returns s resized to n, reusing its memory when it is big enough.
func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// run letterboxes img into dst, a planar 3 x dstH x dstW tensor. img must be
// valid; it may be packed RGB or YUV 4:2:0 (see runYUV). The padding is
// written only when the geometry or the tensor changes: nothing else may
// write to dst.
func (lb *letterbox) run(img Image, dst []float32) {
	lb.resize(img.Width, img.Height)
	var cv yuvConv
	if img.Format != FormatRGB {
		lb.chromaTables(img.Format, img.Width, img.Height)
		cv = newYUVConv(img.Matrix, lb.norm)
	}
	plane := lb.dstW * lb.dstH
	dst = dst[:3*plane]
	// Tensor planes for the source's R, G and B.
	pr, pg, pb := dst[:plane], dst[plane:2*plane], dst[2*plane:]
	if lb.bgr {
		pr, pb = pb, pr
	}
	pad := padLevel * lb.norm
	k := lb.norm / (weightOne * weightOne)
	// The padding only changes with the geometry: write it once per tensor.
	padding := lb.padded != &dst[0]
	lb.padded = &dst[0]
	for y := range lb.dstH {
		row := y * lb.dstW
		rr, rg, rb := pr[row:row+lb.dstW], pg[row:row+lb.dstW], pb[row:row+lb.dstW]
		iy := y - lb.padY
		if iy < 0 || iy >= lb.newH {
			if padding {
				fill(rr, pad)
				fill(rg, pad)
				fill(rb, pad)
			}
			continue
		}
		if padding {
			fill(rr[:lb.padX], pad)
			fill(rg[:lb.padX], pad)
			fill(rb[:lb.padX], pad)
			fill(rr[lb.padX+lb.newW:], pad)
			fill(rg[lb.padX+lb.newW:], pad)
			fill(rb[lb.padX+lb.newW:], pad)
		}
		or, og, ob := rr[lb.padX:lb.padX+lb.newW], rg[lb.padX:lb.padX+lb.newW], rb[lb.padX:lb.padX+lb.newW]
		switch img.Format {
		case FormatRGB:
			lb.rgbRow(img, iy, or, og, ob, k)
		case FormatI420:
			lb.i420Row(img, iy, or, og, ob, &cv)
		case FormatNV12:
			lb.nv12Row(img, iy, or, og, ob, &cv)
		}
	}
}

// rgbRow writes scaled row iy of a packed RGB image into the tensor rows
// or, og, ob (newW values each), k being the tensor value of one unit of
// the bilinear sum.
func (lb *letterbox) rgbRow(img Image, iy int, or, og, ob []float32, k float32) {
	s0 := img.Pix[int(lb.y0[iy])*img.Stride:]
	s1 := img.Pix[int(lb.y1[iy])*img.Stride:]
	s0, s1 = s0[:3*img.Width], s1[:3*img.Width]
	wb := lb.wy[iy]
	wt := weightOne - wb
	x0, x1, wx := lb.x0[:len(or)], lb.x1[:len(or)], lb.wx[:len(or)]
	og, ob = og[:len(or)], ob[:len(or)]
	for x := range or {
		a, b := int(x0[x]), int(x1[x])
		w1 := wx[x]
		w0 := weightOne - w1
		_, _, _, _ = s0[a+2], s0[b+2], s1[a+2], s1[b+2]
		r := (int32(s0[a])*w0+int32(s0[b])*w1)*wt + (int32(s1[a])*w0+int32(s1[b])*w1)*wb
		g := (int32(s0[a+1])*w0+int32(s0[b+1])*w1)*wt + (int32(s1[a+1])*w0+int32(s1[b+1])*w1)*wb
		bl := (int32(s0[a+2])*w0+int32(s0[b+2])*w1)*wt + (int32(s1[a+2])*w0+int32(s1[b+2])*w1)*wb
		or[x] = float32(r) * k
		og[x] = float32(g) * k
		ob[x] = float32(bl) * k
	}
}

// fill sets every element of s to v.
func fill(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

// toSource maps a point in input pixels to source pixels.
func (lb *letterbox) toSource(x, y float32) (float32, float32) {
	return (x - float32(lb.padX)) * lb.sx, (y - float32(lb.padY)) * lb.sy
}
