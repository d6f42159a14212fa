package marker

import (
	"math"
	"math/rand/v2"
)

// This file makes the synthetic frames the model tests run on: a textured,
// noisy grey background with solid markers painted at known places, an
// optional JPEG-like degradation, and a letterbox into the model input.

// frame is packed 8-bit RGB, 3 bytes a pixel, rows 3·w bytes apart.
type frame struct {
	w, h int
	pix  []uint8
}

// rect is a marker covering pixels [x, x+w) × [y, y+h) painted in
// reference colour ref, an index into References(Options{Shades: true}):
// 0..3 are the colours of classes 0..3 (Colors), 4 and 5 the shades of red.
type rect struct {
	ref        int
	x, y, w, h int
}

// box is a box in pixels, corners (x1, y1) and (x2, y2).
type box struct {
	x1, y1, x2, y2 float64
}

func (r rect) box() box {
	return box{float64(r.x), float64(r.y), float64(r.x + r.w), float64(r.y + r.h)}
}

// iou returns the intersection over union of two boxes.
func iou(a, b box) float64 {
	iw := math.Min(a.x2, b.x2) - math.Max(a.x1, b.x1)
	ih := math.Min(a.y2, b.y2) - math.Max(a.y1, b.y1)
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	union := (a.x2-a.x1)*(a.y2-a.y1) + (b.x2-b.x1)*(b.y2-b.y1) - inter
	return inter / union
}

// background returns a w×h frame of textured grey: a smooth pattern of
// blotches and stripes around 130, pixel noise, and a per-pixel tint of up to
// ±8 per channel. Every channel stays within 90..170 and the channels of a
// pixel within 16 of one another, as the synthetic camera promises.
func background(w, h int, seed uint64) frame {
	rng := rand.New(rand.NewPCG(seed, 0x6d61726b6572))
	f := frame{w: w, h: h, pix: make([]uint8, 3*w*h)}
	for y := range h {
		for x := range w {
			fx, fy := float64(x), float64(y)
			grey := 130 + 22*math.Sin(fx/15.4)*math.Cos(fy/9.7) + 10*math.Sin((fx+fy)/3.7) + float64(rng.IntN(13)-6)
			p := f.pix[3*(y*w+x):]
			for c := range 3 {
				p[c] = uint8(min(max(math.Round(grey)+float64(rng.IntN(17)-8), 90), 170))
			}
		}
	}
	return f
}

// fill returns a w×h frame of one colour.
func fill(w, h int, c [3]uint8) frame {
	f := frame{w: w, h: h, pix: make([]uint8, 3*w*h)}
	for i := 0; i < len(f.pix); i += 3 {
		copy(f.pix[i:i+3], c[:])
	}
	return f
}

// paint paints the markers in their reference colours.
func (f frame) paint(markers []rect) {
	refs := References(Options{Shades: true})
	for _, m := range markers {
		c := refs[m.ref].Color
		for y := m.y; y < m.y+m.h; y++ {
			for x := m.x; x < m.x+m.w; x++ {
				p := f.pix[3*(y*f.w+x):]
				p[0], p[1], p[2] = c.R, c.G, c.B
			}
		}
	}
}

// degrade imitates a lossy codec: a 3×3 box blur (edges clamped) then
// uniform noise of ±15 on every channel.
func (f frame) degrade(seed uint64) frame { return f.degradeBy(seed, 15) }

// degradeBy is degrade with uniform noise of ±amp on every channel. The blur
// sums each row's runs of three first, then three rows of those: the same
// sums as a 3×3 window, in half the time.
func (f frame) degradeBy(seed uint64, amp int) frame {
	rng := rand.New(rand.NewPCG(seed, 0x6a706567))
	row := 3 * f.w
	runs := make([]uint16, len(f.pix)) // sums over columns x-1..x+1, edges clamped
	for y := range f.h {
		p := f.pix[y*row : (y+1)*row]
		for x := range f.w {
			l, r := 3*max(x-1, 0), 3*min(x+1, f.w-1)
			for c := range 3 {
				runs[y*row+3*x+c] = uint16(p[l+c]) + uint16(p[3*x+c]) + uint16(p[r+c])
			}
		}
	}
	out := frame{w: f.w, h: f.h, pix: make([]uint8, len(f.pix))}
	for y := range f.h {
		up, mid, down := runs[max(y-1, 0)*row:], runs[y*row:], runs[min(y+1, f.h-1)*row:]
		for i := range row {
			sum := int(up[i]) + int(mid[i]) + int(down[i])
			v := (sum+4)/9 + rng.IntN(2*amp+1) - amp
			out.pix[y*row+i] = uint8(min(max(v, 0), 255))
		}
	}
	return out
}

// letterbox is where a frame landed in a size×size model input: scaled to
// newW×newH at the top left, the rest padded.
type letterbox struct {
	newW, newH int
	sx, sy     float64 // source pixels per input pixel
}

// toFrame maps a box in input pixels to source pixels.
func (lb letterbox) toFrame(b box) box {
	return box{b.x1 * lb.sx, b.y1 * lb.sy, b.x2 * lb.sx, b.y2 * lb.sy}
}

// letterboxInto scales f into dst, a planar [1,3,size,size] RGB tensor of
// 0..1 values, with nearest-neighbour sampling at pixel centres, the image at
// the top left and 114/255 grey padding.
func letterboxInto(dst []float32, size int, f frame) letterbox {
	scale := math.Min(float64(size)/float64(f.w), float64(size)/float64(f.h))
	lb := letterbox{
		newW: min(int(math.Round(float64(f.w)*scale)), size),
		newH: min(int(math.Round(float64(f.h)*scale)), size),
	}
	lb.sx, lb.sy = float64(f.w)/float64(lb.newW), float64(f.h)/float64(lb.newH)
	plane := size * size
	const pad = float32(114) / 255
	for y := range size {
		sy := min(int((float64(y)+0.5)*lb.sy), f.h-1)
		for x := range size {
			i := y*size + x
			if x >= lb.newW || y >= lb.newH {
				dst[i], dst[plane+i], dst[2*plane+i] = pad, pad, pad
				continue
			}
			sx := min(int((float64(x)+0.5)*lb.sx), f.w-1)
			p := f.pix[3*(sy*f.w+sx):]
			dst[i] = float32(p[0]) / 255
			dst[plane+i] = float32(p[1]) / 255
			dst[2*plane+i] = float32(p[2]) / 255
		}
	}
	return lb
}

// bilinearInto is letterboxInto with bilinear sampling at (d+0.5)·f-0.5, as
// OpenCV's INTER_LINEAR and the agent's letterbox resize: edges blur over
// a source pixel or two.
func bilinearInto(dst []float32, size int, f frame) letterbox {
	lb := letterboxInto(dst, size, f) // padding and the scaled size
	plane := size * size
	sample := func(d int, scale float64, n int) (int, int, float64) {
		s := min(max((float64(d)+0.5)*scale-0.5, 0), float64(n-1))
		i := int(s)
		return i, min(i+1, n-1), s - float64(i)
	}
	for y := range lb.newH {
		y0, y1, wy := sample(y, lb.sy, f.h)
		for x := range lb.newW {
			x0, x1, wx := sample(x, lb.sx, f.w)
			for c := range 3 {
				at := func(sx, sy int) float64 { return float64(f.pix[3*(sy*f.w+sx)+c]) }
				v := (1-wy)*((1-wx)*at(x0, y0)+wx*at(x1, y0)) + wy*((1-wx)*at(x0, y1)+wx*at(x1, y1))
				dst[c*plane+y*size+x] = float32(v / 255)
			}
		}
	}
	return lb
}

// detection is one anchor of the model's output whose best class scores
// above the threshold, its box in input pixels.
type detection struct {
	anchor, class int
	score         float32
	box           box
}

// decodeOutput reads a [1,4+K,N] output: for each anchor, the class with the
// best score, kept when the score is above th.
func decodeOutput(out []float32, classes, anchors int, th float32) []detection {
	var dets []detection
	for a := range anchors {
		best, class := float32(math.Inf(-1)), -1
		for c := range classes {
			if s := out[(4+c)*anchors+a]; s > best {
				best, class = s, c
			}
		}
		if best <= th {
			continue
		}
		cx, cy := float64(out[a]), float64(out[anchors+a])
		w, h := float64(out[2*anchors+a]), float64(out[3*anchors+a])
		dets = append(dets, detection{
			anchor: a, class: class, score: best,
			box: box{cx - w/2, cy - h/2, cx + w/2, cy + h/2},
		})
	}
	return dets
}
