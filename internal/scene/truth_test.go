package scene

import (
	"math"
	"testing"

	"edge-agent/internal/timecode"
)

// tenMinutes is the number of frames in ten minutes at FrameRate.
const tenMinutes = 10 * 60 * FrameRate

// sizes are the frame sizes the rules are checked at.
var sizes = []struct{ width, height int }{
	{1280, 720}, {640, 360}, {1920, 1080}, // 16:9, as the camera and its copies
	{854, 480},  // odd half
	{640, 480},  // 4:3
	{720, 1280}, // portrait
}

func overlap(a, b Rect) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

func whole(v float64) bool { return v == math.Trunc(v) }

// TestTruthRules checks every rule of the ground truth on every frame of ten
// minutes.
func TestTruthRules(t *testing.T) {
	for _, size := range sizes {
		s := New(size.width, size.height)
		top := float64(timecode.StripHeight(size.width, size.height) + LabelRoom) // room for the labels an annotated copy draws
		minSize, maxSize := 0.06*float64(size.height), 0.20*float64(size.height)
		var present, absent [NumClasses]int
		var prev []Marker
		var buf []Marker
		for seq := range uint64(tenMinutes + 1) {
			ms := s.Truth(seq, buf)
			buf = ms
			if len(ms) < 2 {
				t.Fatalf("%dx%d frame %d: %d markers in view, want at least 2", size.width, size.height, seq, len(ms))
			}
			seen := [NumClasses]bool{}
			for i, m := range ms {
				b := m.Box
				switch {
				case m.Class < 0 || m.Class >= NumClasses || seen[m.Class] || i > 0 && m.Class < ms[i-1].Class:
					t.Fatalf("%dx%d frame %d: classes out of order or repeated: %+v", size.width, size.height, seq, ms)
				case m.Name != ClassName(m.Class) || m.Color != ClassColor(m.Class):
					t.Fatalf("%dx%d frame %d: marker %+v has the wrong name or colour", size.width, size.height, seq, m)
				case !whole(b.X) || !whole(b.Y) || !whole(b.W) || !whole(b.H):
					t.Fatalf("%dx%d frame %d: %s box %+v is not whole pixels", size.width, size.height, seq, m.Name, b)
				case b.X < 0 || b.Y < top || b.X+b.W > float64(size.width) || b.Y+b.H > float64(size.height):
					t.Fatalf("%dx%d frame %d: %s box %+v leaves the frame below the strip and label room (%v rows)", size.width, size.height, seq, m.Name, b, top)
				case b.W < minSize || b.H < minSize || b.W > maxSize || b.H > maxSize:
					t.Fatalf("%dx%d frame %d: %s box %+v outside %.1f..%.1f pixels", size.width, size.height, seq, m.Name, b, minSize, maxSize)
				}
				seen[m.Class] = true
				for _, o := range ms[:i] {
					if overlap(o.Box, b) {
						t.Fatalf("%dx%d frame %d: %s %+v overlaps %s %+v", size.width, size.height, seq, m.Name, b, o.Name, o.Box)
					}
				}
				// Smooth motion: from one frame to the next a box's centre
				// moves at most 2.5% of the frame's width across and of its
				// height down, and its sides grow or shrink by at most 0.5% of
				// the height (plus a pixel of rounding).
				for _, p := range prev {
					if p.Class != m.Class {
						continue
					}
					dx := math.Abs(b.X + b.W/2 - (p.Box.X + p.Box.W/2))
					dy := math.Abs(b.Y + b.H/2 - (p.Box.Y + p.Box.H/2))
					grow := math.Max(math.Abs(b.W-p.Box.W), math.Abs(b.H-p.Box.H))
					if dx > 0.025*float64(size.width) || dy > 0.025*float64(size.height) || grow > 0.005*float64(size.height)+1 {
						t.Fatalf("%dx%d frame %d: %s jumps from %+v to %+v", size.width, size.height, seq, m.Name, p.Box, b)
					}
				}
			}
			for class := range NumClasses {
				if seen[class] {
					present[class]++
				} else {
					absent[class]++
				}
			}
			prev = append(prev[:0], ms...)
		}
		// Hidden 2 s in every 12 s: a sixth of the frames, give or take the
		// partial cycle at the end.
		for class := range NumClasses {
			if share := float64(absent[class]) / tenMinutes; share < 0.16 || share > 0.175 {
				t.Errorf("%dx%d: %s absent from %d frames, present in %d; want a sixth absent",
					size.width, size.height, ClassName(class), absent[class], present[class])
			}
		}
	}
}

func TestTruthDeterministic(t *testing.T) {
	a, b := New(1280, 720), New(1280, 720)
	var bufA, bufB [NumClasses]Marker
	seqs := []uint64{1 << 32, 1<<56 - 1, math.MaxUint64}
	for seq := range uint64(tenMinutes + 1) {
		seqs = append(seqs, seq)
	}
	for _, seq := range seqs {
		ma, mb := a.Truth(seq, bufA[:0]), b.Truth(seq, bufB[:0])
		again := a.Truth(seq, nil)
		if len(ma) != len(mb) || len(ma) != len(again) {
			t.Fatalf("frame %d: %d, %d and %d markers", seq, len(ma), len(mb), len(again))
		}
		for i := range ma {
			if ma[i] != mb[i] || ma[i] != again[i] {
				t.Fatalf("frame %d: marker %d is %+v, %+v and %+v", seq, i, ma[i], mb[i], again[i])
			}
		}
	}
}

// TestTruthHandWorked pins the truth down, so that a change to the scene's
// motion cannot pass unnoticed: recordings and probes rely on it.
func TestTruthHandWorked(t *testing.T) {
	s := New(1280, 720)
	// At 1280x720 the strip is 32 rows and LabelRoom 16 more, so red's
	// quarter is 640x336 from (0, 48) and sides run from ceil(43.2) = 44 to 144 pixels. In frame 0 red's
	// waves are at sine steps 0 (x, width), 300 (y) and 2000 (height):
	// sine 0, 7276 and 1205 of 16384, so u = 16384, 23660 and 17589 of 32768.
	//   W = 44 + 100*16384/32768 = 94
	//   H = 44 + 100*17589/32768 = 44 + 53 = 97
	//   X = 0 + (640-94)*16384/32768 = 273
	//   Y = 48 + (336-97)*23660/32768 = 48 + 172 = 220
	ms := s.Truth(0, nil)
	want := Marker{Class: ClassRed, Name: "red", Color: [3]uint8{220, 40, 40}, Box: Rect{273, 220, 94, 97}}
	if len(ms) != NumClasses || ms[0] != want {
		t.Fatalf("Truth(0) = %+v, want all four, red %+v", ms, want)
	}

	// The hiding schedule: in every 180-frame cycle red is hidden in frames
	// 15..44, green 60..89, blue 105..134, yellow 150..179.
	hidden := [NumClasses][2]uint64{{15, 45}, {60, 90}, {105, 135}, {150, 180}}
	for cycle := range uint64(3) {
		for seq := cycle * 180; seq < (cycle+1)*180; seq++ {
			var in [NumClasses]bool
			for _, m := range s.Truth(seq, nil) {
				in[m.Class] = true
			}
			for class, h := range hidden {
				if want := seq%180 < h[0] || seq%180 >= h[1]; in[class] != want {
					t.Errorf("frame %d: %s in view = %v, want %v", seq, ClassName(class), in[class], want)
				}
			}
		}
	}
}

func TestTruthReusesDst(t *testing.T) {
	s := New(1280, 720)
	buf := make([]Marker, 2, NumClasses)
	ms := s.Truth(0, buf)
	if len(ms) != NumClasses || &ms[0] != &buf[:1][0] {
		t.Errorf("Truth(0, buf) returned %d markers in new storage, want 4 in buf's", len(ms))
	}
	if n := testing.AllocsPerRun(100, func() { ms = s.Truth(77, ms) }); n != 0 {
		t.Errorf("Truth allocates %v times a call, want 0", n)
	}
}

func TestNewPanicsOnSmallFrames(t *testing.T) {
	for _, size := range []struct{ width, height int }{{0, 720}, {1280, -1}, {1280, 33}, {1, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%d, %d) did not panic", size.width, size.height)
				}
			}()
			New(size.width, size.height)
		}()
	}
}

func BenchmarkTruth(b *testing.B) {
	s := New(1280, 720)
	var buf [NumClasses]Marker
	b.ReportAllocs()
	for i := uint64(0); b.Loop(); i++ {
		s.Truth(i, buf[:0])
	}
}
