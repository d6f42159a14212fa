package models

import (
	"image"
	"math"
	"unicode/utf8"

	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// palette holds 20 RGB colours, 3 bytes each, one per class modulo 20 (the
// Ultralytics palette).
const palette = "\xff\x38\x38\xff\x9d\x97\xff\x70\x1f\xff\xb2\x1d\xcf\xd2\x31" +
	"\x48\xf9\x0a\x92\xcc\x17\x3d\xdb\x86\x1a\x93\x34\x00\xd4\xbb" +
	"\x2c\x99\xa8\x00\xc2\xff\x34\x45\x93\x64\x73\xff\x00\x18\xec" +
	"\x84\x38\xff\x52\x00\x85\xcb\x38\xff\xff\x95\xc8\xff\x37\xc7"

// Drawing geometry.
const (
	boxThickness = 2
	labelPad     = 1  // pixels around the text inside its background
	maxLabelRune = 40 // longer labels (and shape names) are cut
)

// RGB is a drawing colour, 8 bits a channel.
type RGB struct{ R, G, B uint8 }

// classColour returns the box colour of a class.
func classColour(class int) RGB {
	n := len(palette) / 3
	i := (class%n + n) % n * 3
	return RGB{palette[i], palette[i+1], palette[i+2]}
}

// Draw draws each detection's box and "label 0.87" text onto img in place, a
// colour per class, clipped to the image. Boxes are 2 pixels thick, drawn
// just inside the box; the text sits on a filled background above the box, or
// inside it at the top of the frame. It draws into every PixelFormat: into a
// YUV image as described in drawyuv.go (the same luma pixels as in RGB, the
// chroma of each 2x2 block the shapes touch). It allocates nothing.
func Draw(img Image, dets []Detection) { DrawTracked(img, dets, nil) }

// DrawTracked is Draw with track ids: the text of dets[i] becomes
// "#12 person 0.87" when trackIDs[i] is not zero. trackIDs may be nil or
// shorter than dets; a detection without an id (or with id 0) gets Draw's
// "person 0.87". It allocates nothing.
func DrawTracked(img Image, dets []Detection, trackIDs []uint64) {
	if !img.valid() {
		return
	}
	face := basicfont.Face7x13
	for i := range dets {
		det := &dets[i]
		col := newPaint(img, classColour(det.ClassID))
		x0, y0 := roundPix(det.Box.X), roundPix(det.Box.Y)
		x1, y1 := roundPix(det.Box.X+det.Box.W), roundPix(det.Box.Y+det.Box.H)
		if x1 <= x0 || y1 <= y0 {
			continue
		}
		t := boxThickness
		fillRect(img, x0, y0, x1, y0+t, col)
		fillRect(img, x0, y1-t, x1, y1, col)
		fillRect(img, x0, y0, x0+t, y1, col)
		fillRect(img, x1-t, y0, x1, y1, col)

		// "#12 label 0.87": '#', the id's decimal digits and a space when
		// there is an id, then the label (cut), a space and the score. The
		// digits go into a fixed buffer: a uint64 has at most 20.
		var idBuf [20]byte
		id := idBuf[len(idBuf):]
		if i < len(trackIDs) && trackIDs[i] != 0 {
			id = formatUint(&idBuf, trackIDs[i])
		}
		runes := textRunes(det.Label) + 5
		if len(id) > 0 {
			runes += len(id) + 2
		}
		tw, th := labelSize(runes)
		ty := y0 - th
		if ty < 0 {
			ty = y0
		}
		ink := fillLabel(img, x0, ty, tw, th, col)
		x, y := x0+labelPad, ty+labelPad+face.Ascent
		if len(id) > 0 {
			x = drawGlyph(img, face, x, y, '#', ink)
			for _, d := range id {
				x = drawGlyph(img, face, x, y, rune(d), ink)
			}
			x = drawGlyph(img, face, x, y, ' ', ink)
		}
		x = drawText(img, face, x, y, det.Label, ink)
		score := int(math.Round(float64(min(max(det.Confidence, 0), 1)) * 100))
		x = drawGlyph(img, face, x, y, ' ', ink)
		x = drawGlyph(img, face, x, y, rune('0'+score/100), ink)
		x = drawGlyph(img, face, x, y, '.', ink)
		x = drawGlyph(img, face, x, y, rune('0'+score/10%10), ink)
		drawGlyph(img, face, x, y, rune('0'+score%10), ink)
	}
}

// formatUint writes v in decimal at the end of buf and returns the digits.
func formatUint(buf *[20]byte, v uint64) []byte {
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return buf[i:]
		}
	}
}

// textRunes is how many runes of s drawText draws: all of them, up to
// maxLabelRune.
func textRunes(s string) int { return min(utf8.RuneCountInString(s), maxLabelRune) }

// labelSize is the size of the filled background of a text of n runes.
func labelSize(n int) (w, h int) {
	face := basicfont.Face7x13
	return n*face.Advance + 2*labelPad, face.Ascent + face.Descent + 2*labelPad
}

// fillLabel fills a text background of w x h pixels at (x, y) with col and
// returns the ink that reads on it: black on light colours, white on dark.
func fillLabel(img Image, x, y, w, h int, col paint) paint {
	fillRect(img, x, y, x+w, y+h, col)
	c := col.rgb
	if 299*int(c.R)+587*int(c.G)+114*int(c.B) > 150_000 {
		return newPaint(img, RGB{})
	}
	return newPaint(img, RGB{255, 255, 255})
}

// drawText draws the first maxLabelRune runes of s with the baseline origin
// at (x, y) and returns the x after them.
func drawText(img Image, face *basicfont.Face, x, y int, s string, c paint) int {
	n := 0
	for _, r := range s {
		if n == maxLabelRune {
			break
		}
		x = drawGlyph(img, face, x, y, r, c)
		n++
	}
	return x
}

// roundPix rounds a coordinate to a pixel edge, saturating far outside any
// image.
func roundPix(v float32) int {
	const limit = 1 << 24
	if !(v > -limit) { // also NaN
		return -limit
	}
	return int(math.Round(float64(min(v, limit))))
}

// fillRect paints [x0,x1) x [y0,y1), clipped to the image.
func fillRect(img Image, x0, y0, x1, y1 int, p paint) {
	x0, y0 = max(x0, 0), max(y0, 0)
	x1, y1 = min(x1, img.Width), min(y1, img.Height)
	if x1 <= x0 || y1 <= y0 {
		return
	}
	if img.Format != FormatRGB {
		fillRectYUV(img, x0, y0, x1, y1, p)
		return
	}
	c := p.rgb
	for y := y0; y < y1; y++ {
		row := img.Pix[y*img.Stride+3*x0 : y*img.Stride+3*x1]
		for i := 0; i+2 < len(row); i += 3 {
			row[i], row[i+1], row[i+2] = c.R, c.G, c.B
		}
	}
}

// drawGlyph blends rune r of face onto img with its baseline origin at (x, y)
// and returns the x of the next glyph. Into a YUV image it blends luma only:
// the glyphs' strokes are a pixel wide, finer than chroma, which keeps the
// colour of the background the text sits on.
func drawGlyph(img Image, face *basicfont.Face, x, y int, r rune, p paint) int {
	dr, mask, mp, adv, _ := face.Glyph(fixed.P(x, y), r)
	next := x + adv.Round()
	alpha, ok := mask.(*image.Alpha)
	if !ok {
		return next
	}
	// The glyph's pixels within the image, and where they start in the mask.
	x0, x1 := max(dr.Min.X, 0), min(dr.Max.X, img.Width)
	y0, y1 := max(dr.Min.Y, 0), min(dr.Max.Y, img.Height)
	if x0 >= x1 || y0 >= y1 {
		return next
	}
	mx := mp.X + x0 - dr.Min.X
	for gy := y0; gy < y1; gy++ {
		m := alpha.Pix[alpha.PixOffset(mx, mp.Y+gy-dr.Min.Y):][:x1-x0]
		if img.Format != FormatRGB {
			row := img.Pix[gy*img.Stride+x0:][:len(m)]
			for i, a := range m {
				if a != 0 {
					row[i] = byte((int(p.y)*int(a) + int(row[i])*(255-int(a))) / 255)
				}
			}
			continue
		}
		c := p.rgb
		row := img.Pix[gy*img.Stride+3*x0:][:3*len(m)]
		for i, a := range m {
			if a == 0 {
				continue
			}
			a := int(a)
			q := row[3*i : 3*i+3]
			q[0] = byte((int(c.R)*a + int(q[0])*(255-a)) / 255)
			q[1] = byte((int(c.G)*a + int(q[1])*(255-a)) / 255)
			q[2] = byte((int(c.B)*a + int(q[2])*(255-a)) / 255)
		}
	}
	return next
}
