package scene

import (
	"fmt"
	"math"
	"time"

	"edge-agent/internal/timecode"
)

// The background: a grey level of backgroundLevel, plus a smooth texture of
// up to ±textureAmp that scrolls textureSpeedX, textureSpeedY pixels a frame,
// plus per-pixel noise of -8..7 on the level and -4..3 on red and blue. Every
// channel stays within 94..164 and the channels within 7 of each other.
const (
	backgroundLevel = 130
	textureAmp      = 24
	textureSize     = 256 // the texture tile is textureSize square, a power of 2
	textureSpeedX   = 3
	textureSpeedY   = 2
)

// Scene is a synthetic camera's picture of a given size. It is safe for
// concurrent use: Truth, Events and Render only read it.
type Scene struct {
	// Width and Height are the frame size in pixels, set by New or
	// NewCrossing; do not change them.
	Width, Height int

	top              int              // first row below the time code strip
	minSize, maxSize int              // range of a box's width and height
	paths            [NumClasses]path // New's markers
	cross            *crossing        // NewCrossing's markers; nil for New's
	sine             [sineSteps]int32
	texture          [textureSize][textureSize]int8 // tileable
}

// LabelRoom is the gap kept between the strip and the markers: an annotated
// copy of the frame draws a label above each box (13-pixel text on a 15-pixel
// band), and it must not cover the strip a probe reads.
const LabelRoom = 16

// New returns the scene for frames of width x height pixels, timed for
// FrameRate frames a second. Markers are 6% to 20% of the height on each side
// when the frame's aspect ratio lies between 2:5 and 24:1. New panics if the
// frame is too small to hold a marker.
func New(width, height int) *Scene {
	s := &Scene{Width: width, Height: height}
	if width <= 0 || height <= 0 {
		panic(fmt.Sprintf("scene: invalid frame size %dx%d", width, height))
	}
	s.top = timecode.StripHeight(width, height)
	s.minSize = (6*height + 99) / 100
	s.maxSize = 20 * height / 100
	for class := range NumClasses {
		s.paths[class] = newPath(class, width, height, s.top+LabelRoom)
		s.maxSize = min(s.maxSize, s.paths[class].w, s.paths[class].h)
	}
	if s.maxSize < 1 {
		panic(fmt.Sprintf("scene: frame size %dx%d too small for markers", width, height))
	}
	s.minSize = min(s.minSize, s.maxSize)
	s.initBackground()
	return s
}

// initBackground fills the tables that New's markers and the background are
// drawn from.
func (s *Scene) initBackground() {
	// Rounded to integers, the table is the same on every platform short of
	// a value of math.Sin falling within an ulp of a rounding boundary.
	for i := range s.sine {
		s.sine[i] = int32(math.Round(sineAmp * math.Sin(2*math.Pi*float64(i)/sineSteps)))
	}

	// Soft blobs and ripples, whole periods across the tile so it repeats
	// seamlessly.
	for y := range textureSize {
		for x := range textureSize {
			fx := 2 * math.Pi * float64(x) / textureSize
			fy := 2 * math.Pi * float64(y) / textureSize
			v := 0.5*math.Sin(2*fx)*math.Cos(3*fy) + 0.3*math.Sin(5*(fx+fy)) + 0.2*math.Cos(11*fx-7*fy)
			s.texture[y][x] = int8(math.Round(textureAmp * v))
		}
	}
}

// Render draws frame seq into pix, packed RGB (3 bytes a pixel, rows stride
// bytes apart): the background, the markers Truth(seq) as solid rectangles of
// their exact colours (in Truth's order, so where boxes overlap the later one
// is on top), and the time code strip carrying seq and t. It allocates
// nothing, and panics if the frame does not fit pix.
func (s *Scene) Render(seq uint64, t time.Time, pix []byte, stride int) {
	w, h := s.Width, s.Height
	if stride < 3*w || len(pix) < (h-1)*stride+3*w {
		panic(fmt.Sprintf("scene: Render: %d bytes with stride %d do not hold %dx%d pixels", len(pix), stride, w, h))
	}
	s.background(seq, pix, stride)
	var buf [max(NumClasses, CrossingMarkers)]Marker
	for _, m := range s.Truth(seq, buf[:0]) {
		fill(pix, stride, m)
	}
	timecode.Encode(pix, w, h, stride, seq, t)
}

// background draws the textured, noisy grey below the strip. The noise comes
// from an xorshift generator seeded from seq and the row, so every frame is
// different yet the same frame always renders the same.
func (s *Scene) background(seq uint64, pix []byte, stride int) {
	const mask = textureSize - 1
	ox := int(seq * textureSpeedX & mask)
	oy := int(seq * textureSpeedY & mask)
	for y := s.top; y < s.Height; y++ {
		row := pix[y*stride : y*stride+3*s.Width]
		tex := &s.texture[(y+oy)&mask]
		state := splitmix(seq<<20 ^ uint64(y))
		var bits uint64
		for x, i := 0, 0; i+2 < len(row); x, i = x+1, i+3 {
			if x&3 == 0 { // 16 bits a pixel, 4 pixels a draw
				state ^= state << 13
				state ^= state >> 7
				state ^= state << 17
				bits = state
			}
			v := backgroundLevel - 8 + int(tex[(x+ox)&mask]) + int(bits&15)
			row[i] = byte(v - 4 + int(bits>>4&7))
			row[i+1] = byte(v)
			row[i+2] = byte(v - 4 + int(bits>>7&7))
			bits >>= 16
		}
	}
}

// fill draws a marker's box in its colour.
func fill(pix []byte, stride int, m Marker) {
	x, y, w, h := int(m.Box.X), int(m.Box.Y), int(m.Box.W), int(m.Box.H)
	first := pix[y*stride+3*x : y*stride+3*(x+w)]
	for i := 0; i < len(first); i += 3 {
		first[i], first[i+1], first[i+2] = m.Color[0], m.Color[1], m.Color[2]
	}
	for r := 1; r < h; r++ {
		copy(pix[(y+r)*stride+3*x:], first)
	}
}

// splitmix scrambles a seed into a well-mixed, never-zero xorshift state.
func splitmix(z uint64) uint64 {
	z += 0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	z ^= z >> 31
	return z | 1
}
