package timecode

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
)

// frame is a packed RGB test frame.
type frame struct {
	pix                   []byte
	width, height, stride int
}

// newFrame returns a width x height frame whose rows carry pad spare bytes,
// filled with uniform random noise so nothing but the strip looks like one.
func newFrame(width, height, pad int, rng *rand.Rand) *frame {
	f := &frame{pix: make([]byte, (3*width+pad)*height), width: width, height: height, stride: 3*width + pad}
	var b [8]byte
	for i := 0; i < len(f.pix); i += len(b) {
		binary.LittleEndian.PutUint64(b[:], rng.Uint64())
		copy(f.pix[i:], b[:])
	}
	return f
}

// top returns a view of the first rows of f, sharing its pixels.
func (f *frame) top(rows int) *frame {
	return &frame{pix: f.pix, width: f.width, height: min(rows, f.height), stride: f.stride}
}

func (f *frame) at(x, y int) []byte {
	i := y*f.stride + 3*x
	return f.pix[i : i+3 : i+3]
}

// luma returns the BT.601 luma of a pixel, as a JPEG or H.264 encoder sees it.
func luma(p []byte) float64 {
	return 0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
}

func clamp8(v float64) byte {
	return byte(math.Round(max(0, min(255, v))))
}

// quantiseDCT mimics a coarse JPEG or intra H.264 encoder: it transforms the
// luma of every 8x8 block of a grid offset by (ox, oy) with the DCT, quantises
// each coefficient with the JPEG luminance table times scale, transforms back
// and moves every channel of every pixel by its change in luma (chroma is left
// alone). Blocks that stick out of the frame repeat its edge pixels.
func quantiseDCT(f *frame, scale float64, ox, oy int) {
	// The luminance quantisation table of JPEG (ITU T.81 Annex K).
	jpegLuma := [64]float64{
		16, 11, 10, 16, 24, 40, 51, 61,
		12, 12, 14, 19, 26, 58, 60, 55,
		14, 13, 16, 24, 40, 57, 69, 56,
		14, 17, 22, 29, 51, 87, 80, 62,
		18, 22, 37, 56, 68, 109, 103, 77,
		24, 35, 55, 64, 81, 104, 113, 92,
		49, 64, 78, 87, 103, 121, 120, 101,
		72, 92, 95, 98, 112, 100, 103, 99,
	}
	var cos [8][8]float64 // cos[x][u]
	for x := range 8 {
		for u := range 8 {
			cos[x][u] = math.Cos(float64(2*x+1) * float64(u) * math.Pi / 16)
		}
	}
	c := func(u int) float64 { // orthonormal scale factors
		if u == 0 {
			return math.Sqrt(1.0 / 8)
		}
		return 0.5
	}
	var in, tmp, coef, out [8][8]float64
	for by := -oy; by < f.height; by += 8 {
		for bx := -ox; bx < f.width; bx += 8 {
			for y := range 8 {
				for x := range 8 {
					sx := min(max(bx+x, 0), f.width-1)
					sy := min(max(by+y, 0), f.height-1)
					in[y][x] = luma(f.at(sx, sy)) - 128
				}
			}
			// Forward: rows, then columns.
			for y := range 8 {
				for u := range 8 {
					s := 0.0
					for x := range 8 {
						s += in[y][x] * cos[x][u]
					}
					tmp[y][u] = s
				}
			}
			for v := range 8 {
				for u := range 8 {
					s := 0.0
					for y := range 8 {
						s += tmp[y][u] * cos[y][v]
					}
					q := jpegLuma[8*v+u] * scale
					coef[v][u] = math.Round(c(u)*c(v)*s/q) * q
				}
			}
			// Inverse: columns, then rows.
			for y := range 8 {
				for u := range 8 {
					s := 0.0
					for v := range 8 {
						s += c(v) * coef[v][u] * cos[y][v]
					}
					tmp[y][u] = s
				}
			}
			for y := range 8 {
				for x := range 8 {
					s := 0.0
					for u := range 8 {
						s += c(u) * tmp[y][u] * cos[x][u]
					}
					out[y][x] = s + 128
				}
			}
			for y := range 8 {
				for x := range 8 {
					sx, sy := bx+x, by+y
					if sx < 0 || sy < 0 || sx >= f.width || sy >= f.height {
						continue
					}
					p := f.at(sx, sy)
					d := out[y][x] - luma(p)
					for i := range p {
						p[i] = clamp8(float64(p[i]) + d)
					}
				}
			}
		}
	}
}

// addNoise adds Gaussian-ish noise to every channel: the sum of four uniform
// draws from [-5, 5], so never more than ±20.
func addNoise(f *frame, rng *rand.Rand) {
	for y := range f.height {
		for x := range f.width {
			p := f.at(x, y)
			for i := range p {
				n := 0
				for range 4 {
					n += rng.IntN(11) - 5
				}
				p[i] = clamp8(float64(int(p[i]) + n))
			}
		}
	}
}

// blur3 replaces every channel by the mean of its 3x3 neighbourhood, the
// frame's edges repeated.
func blur3(f *frame) {
	src := *f
	src.pix = append([]byte(nil), f.pix...)
	for y := range f.height {
		for x := range f.width {
			p := f.at(x, y)
			for i := range p {
				s := 0
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						sx := min(max(x+dx, 0), f.width-1)
						sy := min(max(y+dy, 0), f.height-1)
						s += int(src.at(sx, sy)[i])
					}
				}
				p[i] = clamp8(float64(s) / 9)
			}
		}
	}
}

// grey replaces every pixel by its luma on all three channels.
func grey(f *frame) {
	for y := range f.height {
		for x := range f.width {
			p := f.at(x, y)
			v := clamp8(luma(p))
			p[0], p[1], p[2] = v, v, v
		}
	}
}

// levels maps black to lo and white to hi on every channel, as a camera with
// lifted blacks and low contrast would.
func levels(f *frame, lo, hi float64) {
	for y := range f.height {
		for x := range f.width {
			p := f.at(x, y)
			for i := range p {
				p[i] = clamp8(lo + float64(p[i])*(hi-lo)/255)
			}
		}
	}
}

// resizeNearest returns a width x height copy of f, nearest neighbour.
func resizeNearest(f *frame, width, height int) *frame {
	g := &frame{pix: make([]byte, 3*width*height), width: width, height: height, stride: 3 * width}
	for y := range height {
		sy := y * f.height / height
		for x := range width {
			copy(g.at(x, y), f.at(x*f.width/width, sy))
		}
	}
	return g
}

// resizeBilinear returns a width x height copy of f, bilinear with pixel
// centres aligned (OpenCV's INTER_LINEAR): at half size every pixel is the
// mean of a 2x2 square.
func resizeBilinear(f *frame, width, height int) *frame {
	g := &frame{pix: make([]byte, 3*width*height), width: width, height: height, stride: 3 * width}
	sx := float64(f.width) / float64(width)
	sy := float64(f.height) / float64(height)
	for y := range height {
		fy := max((float64(y)+0.5)*sy-0.5, 0)
		y0 := min(int(fy), f.height-1)
		y1 := min(y0+1, f.height-1)
		wy := fy - float64(y0)
		for x := range width {
			fx := max((float64(x)+0.5)*sx-0.5, 0)
			x0 := min(int(fx), f.width-1)
			x1 := min(x0+1, f.width-1)
			wx := fx - float64(x0)
			p := g.at(x, y)
			for i := range p {
				top := float64(f.at(x0, y0)[i])*(1-wx) + float64(f.at(x1, y0)[i])*wx
				bot := float64(f.at(x0, y1)[i])*(1-wx) + float64(f.at(x1, y1)[i])*wx
				p[i] = clamp8(top*(1-wy) + bot*wy)
			}
		}
	}
	return g
}
