package camsource

import (
	"testing"
	"time"

	"edge-agent/internal/scene"
	"edge-agent/internal/timecode"
	"edge-agent/pipeline"
)

func TestSyntheticFramesCarryTheirNumberAndTime(t *testing.T) {
	s := NewSynthetic(640, 360)
	clock := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { clock = clock.Add(66 * time.Millisecond); return clock }
	truth := scene.New(640, 360)
	var f pipeline.Frame
	for want := range uint64(3) {
		if err := s.Next(t.Context(), &f); err != nil {
			t.Fatal(err)
		}
		seq, at, err := timecode.Decode(f.Pix, f.Width, f.Height, f.Stride)
		if err != nil || seq != want || !at.Equal(clock) || f.Seq != want {
			t.Fatalf("frame %d: strip says %d at %v (%v), Seq %d; want %d at %v", want, seq, at, err, f.Seq, want, clock)
		}
		// The pixels show the scene's truth for that number: the centre of
		// every marker has its colour.
		for _, m := range truth.Truth(seq, nil) {
			x, y := int(m.Box.X+m.Box.W/2), int(m.Box.Y+m.Box.H/2)
			i := y*f.Stride + 3*x
			if got := [3]uint8{f.Pix[i], f.Pix[i+1], f.Pix[i+2]}; got != m.Color {
				t.Errorf("frame %d: centre of %s is %v, want %v", seq, m.Name, got, m.Color)
			}
		}
	}
	if n := testing.AllocsPerRun(20, func() { s.Next(t.Context(), &f) }); n != 0 {
		t.Errorf("Next allocates %v times a frame, want 0", n)
	}
}

func TestStampNumbersFrames(t *testing.T) {
	stamp := Stamp()
	f := pipeline.Frame{Pix: make([]byte, 3*640*360), Width: 640, Height: 360, Stride: 3 * 640}
	for want := range uint64(3) {
		before := time.Now()
		stamp(&f)
		seq, at, err := timecode.Decode(f.Pix, f.Width, f.Height, f.Stride)
		if err != nil || seq != want || at.Before(before.Truncate(time.Microsecond)) || at.After(time.Now()) {
			t.Fatalf("stamp %d: decoded %d at %v (%v)", want, seq, at, err)
		}
	}
}

func TestSyntheticSceneRendersThatScene(t *testing.T) {
	sc := scene.NewCrossing(640, 360)
	s := NewSyntheticScene(sc)
	var f pipeline.Frame
	// Frames 0..2 of the crossing scene: four markers, no two overlapping,
	// so the centre of each has its colour.
	for seq := range uint64(3) {
		if err := s.Next(t.Context(), &f); err != nil {
			t.Fatal(err)
		}
		markers := sc.Truth(seq, nil)
		if f.Seq != seq || len(markers) != scene.CrossingMarkers {
			t.Fatalf("frame %d: Seq %d, %d markers in view", seq, f.Seq, len(markers))
		}
		for _, m := range markers {
			x, y := int(m.Box.X+m.Box.W/2), int(m.Box.Y+m.Box.H/2)
			i := y*f.Stride + 3*x
			if got := [3]uint8{f.Pix[i], f.Pix[i+1], f.Pix[i+2]}; got != m.Color {
				t.Errorf("frame %d: centre of marker %d is %v, want %v", seq, m.ID, got, m.Color)
			}
		}
	}
}
