package models

import "math"

// Drawing into YUV 4:2:0 images (FormatI420, FormatNV12).
//
// Every shape is laid out exactly as in an RGB image: the luma plane gets
// the colour's Y on the very pixels an RGB image would get the colour.
// Chroma has one sample per 2x2 block of pixels, and a block's sample takes
// the colour's U and V as soon as the shape touches one pixel of the block
// (the simplest rule, and the fastest: a rectangle of pixels is a
// rectangle of blocks). A shape's pixels thus always carry its full
// colour; the price is a fringe of the shape's chroma on the untouched
// pixels of its edge blocks, up to one pixel wide on each side of a box
// edge or line that starts or ends on an odd coordinate. Where two shapes
// of different colours touch one block, the later one's chroma wins.
//
// Text is drawn in luma only: a glyph's strokes are a pixel wide, finer than
// chroma can show, so they keep the chroma of the label's background (white
// or black ink, lightened or darkened in luma, tinted by the background).
//
// A colour is converted to Y, U, V once per shape (newPaint), with the
// image's matrix and range, never per pixel.

// paint is a drawing colour made ready for one image: the colour itself for
// an RGB image, and its Y, U and V in the image's matrix for a YUV one.
type paint struct {
	rgb     RGB
	y, u, v uint8
}

// newPaint returns c made ready for img.
func newPaint(img Image, c RGB) paint {
	p := paint{rgb: c}
	if img.Format != FormatRGB {
		p.y, p.u, p.v = yuvOf(c, img.Matrix)
	}
	return p
}

// yuvOf converts c to Y, U (Cb) and V (Cr) with matrix m: BT.601 (Kr 0.299,
// Kb 0.114) or BT.709 (Kr 0.2126, Kb 0.0722), limited range (Y 16..235,
// chroma 16..240) or full range (0..255, chroma clamped), rounded to the
// nearest.
func yuvOf(c RGB, m YUVMatrix) (y, u, v uint8) {
	kr, kb := 0.299, 0.114
	if m == BT709 || m == BT709Full {
		kr, kb = 0.2126, 0.0722
	}
	r, g, b := float64(c.R)/255, float64(c.G)/255, float64(c.B)/255
	ey := kr*r + (1-kr-kb)*g + kb*b
	pb := (b - ey) / (2 * (1 - kb)) // -0.5..0.5
	pr := (r - ey) / (2 * (1 - kr))
	if m == BT601Full || m == BT709Full {
		return clamp8(255 * ey), clamp8(128 + 255*pb), clamp8(128 + 255*pr)
	}
	return clamp8(16 + 219*ey), clamp8(128 + 224*pb), clamp8(128 + 224*pr)
}

// clamp8 rounds v to the nearest byte value.
func clamp8(v float64) uint8 {
	return uint8(min(max(math.Round(v), 0), 255))
}

// fillRectYUV paints [x0,x1) x [y0,y1), already clipped to the YUV image
// and not empty: luma on those pixels, chroma on every block they touch.
func fillRectYUV(img Image, x0, y0, x1, y1 int, p paint) {
	for y := y0; y < y1; y++ {
		row := img.Pix[y*img.Stride+x0 : y*img.Stride+x1]
		for i := range row {
			row[i] = p.y
		}
	}
	// Blocks x0/2 to (x1-1)/2, within the planes as x1 <= Width.
	cx0, cx1 := x0>>1, (x1+1)>>1
	for cy := y0 >> 1; cy < (y1+1)>>1; cy++ {
		o := cy * img.UVStride
		if img.Format == FormatNV12 {
			row := img.U[o+2*cx0 : o+2*cx1]
			for i := 0; i+1 < len(row); i += 2 {
				row[i], row[i+1] = p.u, p.v
			}
			continue
		}
		u, v := img.U[o+cx0:o+cx1], img.V[o+cx0:o+cx1]
		for i := range u {
			u[i] = p.u
		}
		for i := range v {
			v[i] = p.v
		}
	}
}

// plotYUV paints plot's 2 x 2 brush, pixels x-1 and x of rows y-1 and y,
// those of them inside the YUV image, and the chroma of their blocks.
func plotYUV(img Image, x, y int, p paint) {
	x0, x1 := max(x-1, 0), min(x, img.Width-1)
	y0, y1 := max(y-1, 0), min(y, img.Height-1)
	if x0 > x1 || y0 > y1 {
		return
	}
	for py := y0; py <= y1; py++ {
		row := img.Pix[py*img.Stride:]
		row[x0], row[x1] = p.y, p.y
	}
	cx0, cx1 := x0>>1, x1>>1
	for cy := y0 >> 1; cy <= y1>>1; cy++ {
		o := cy * img.UVStride
		if img.Format == FormatNV12 {
			uv := img.U[o+2*cx0 : o+2*cx1+2]
			uv[0], uv[1], uv[len(uv)-2], uv[len(uv)-1] = p.u, p.v, p.u, p.v
			continue
		}
		u, v := img.U[o:], img.V[o:]
		u[cx0], u[cx1], v[cx0], v[cx1] = p.u, p.u, p.v, p.v
	}
}
