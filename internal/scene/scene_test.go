package scene

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"edge-agent/internal/timecode"
)

// render returns frame seq of s drawn with rows pad bytes longer than needed.
func render(s *Scene, seq uint64, ts time.Time, pad int) (pix []byte, stride int) {
	stride = 3*s.Width + pad
	pix = make([]byte, stride*s.Height)
	s.Render(seq, ts, pix, stride)
	return pix, stride
}

func TestRenderDrawsTruth(t *testing.T) {
	ts := time.Date(2026, 2, 3, 4, 5, 6, 789_000_000, time.UTC)
	tests := []struct {
		width, height, pad int
	}{
		{1280, 720, 0},
		{640, 360, 9},
		{1920, 1080, 0},
		{640, 480, 3},
	}
	// Frame 0 shows all four markers, 20 hides red, 70 green, 120 blue and
	// 160 yellow; the rest are arbitrary.
	seqs := []uint64{0, 1, 20, 70, 120, 160, 1234, tenMinutes, 1 << 33}
	for _, tt := range tests {
		s := New(tt.width, tt.height)
		top := timecode.StripHeight(tt.width, tt.height)
		for _, seq := range seqs {
			t.Run(fmt.Sprintf("%dx%d/%d", tt.width, tt.height, seq), func(t *testing.T) {
				pix, stride := render(s, seq, ts, tt.pad)
				markers := s.Truth(seq, nil)
				for y := top; y < tt.height; y++ {
					for x := range tt.width {
						p := pix[y*stride+3*x : y*stride+3*x+3]
						if m, ok := markerAt(markers, x, y); ok {
							if [3]uint8(p) != m.Color {
								t.Fatalf("pixel (%d, %d) inside %s %+v is %v, want %v", x, y, m.Name, m.Box, p, m.Color)
							}
							continue
						}
						if !neutral(p) {
							t.Fatalf("background pixel (%d, %d) is %v, want neutral grey", x, y, p)
						}
					}
				}
				gotSeq, gotTime, err := timecode.Decode(pix, tt.width, tt.height, stride)
				if err != nil || gotSeq != seq || !gotTime.Equal(ts) {
					t.Fatalf("strip decodes to %d, %v, %v; want %d, %v", gotSeq, gotTime, err, seq, ts)
				}
			})
		}
	}
}

// markerAt returns the marker whose box holds pixel (x, y).
func markerAt(markers []Marker, x, y int) (Marker, bool) {
	for _, m := range markers {
		b := m.Box
		if float64(x) >= b.X && float64(x) < b.X+b.W && float64(y) >= b.Y && float64(y) < b.Y+b.H {
			return m, true
		}
	}
	return Marker{}, false
}

// neutral reports whether a pixel is a background grey: every channel within
// 90..170, no two more than 16 apart.
func neutral(p []byte) bool {
	lo, hi := min(p[0], p[1], p[2]), max(p[0], p[1], p[2])
	return lo >= 90 && hi <= 170 && hi-lo <= 16
}

func TestRenderDeterministicAndNoisy(t *testing.T) {
	s := New(1280, 720)
	ts := time.Now()
	a, _ := render(s, 500, ts, 0)
	b, _ := render(s, 500, ts, 0)
	if !bytes.Equal(a, b) {
		t.Fatal("frame 500 rendered twice differs")
	}
	// The next frame's background differs almost everywhere: the texture
	// moved and the noise is new.
	c, _ := render(s, 501, ts, 0)
	top := timecode.StripHeight(s.Width, s.Height)
	markers := append(s.Truth(500, nil), s.Truth(501, nil)...)
	same, total := 0, 0
	for y := top; y < s.Height; y++ {
		for x := range s.Width {
			i := 3 * (y*s.Width + x)
			if _, in := markerAt(markers, x, y); in {
				continue
			}
			total++
			if bytes.Equal(a[i:i+3], c[i:i+3]) {
				same++
			}
		}
	}
	if same*20 > total {
		t.Errorf("%d of %d background pixels unchanged from frame 500 to 501, want under 5%%", same, total)
	}
}

func TestRenderPanicsOnShortBuffer(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Render into a short buffer did not panic")
		}
	}()
	s := New(640, 360)
	s.Render(0, time.Now(), make([]byte, 3*640*360-1), 3*640)
}

func TestRenderAllocs(t *testing.T) {
	s := New(1280, 720)
	pix := make([]byte, 3*s.Width*s.Height)
	ts := time.Now()
	seq := uint64(0)
	if n := testing.AllocsPerRun(20, func() { seq++; s.Render(seq, ts, pix, 3*s.Width) }); n != 0 {
		t.Errorf("Render allocates %v times a frame, want 0", n)
	}
}

func BenchmarkRender1280x720(b *testing.B) {
	s := New(1280, 720)
	pix := make([]byte, 3*s.Width*s.Height)
	ts := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(pix)))
	for seq := uint64(0); b.Loop(); seq++ {
		s.Render(seq, ts, pix, 3*s.Width)
	}
}
