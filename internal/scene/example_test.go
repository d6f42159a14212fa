package scene_test

import (
	"cmp"
	"fmt"
	"time"

	"edge-agent/internal/scene"
	"edge-agent/internal/timecode"
)

func Example() {
	s := scene.New(1280, 720)
	frame := make([]byte, 3*s.Width*s.Height)
	s.Render(20, time.Now(), frame, 3*s.Width)

	// A test that receives the frame reads its number from the strip and
	// recomputes what it shows. In frame 20 red is hidden.
	seq, _, err := timecode.Decode(frame, s.Width, s.Height, 3*s.Width)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range s.Truth(seq, nil) {
		fmt.Printf("%s at %v\n", m.Name, m.Box)
	}
	// Output:
	// green at {1119 265 113 52}
	// blue at {72 495 49 121}
	// yellow at {653 390 139 130}
}

func ExampleNewCrossing() {
	s := scene.NewCrossing(1280, 720)
	// Marker 0 (red) walks east along the middle: into the zone, out of it,
	// over the line.
	for _, ev := range s.Events(80, 270, nil) {
		if ev.ID == 0 {
			fmt.Printf("%d %s %s visit %d\n", ev.Seq, ev.Kind, cmp.Or(ev.Dir, "-"), ev.Visit)
		}
	}
	// Marker 2 leaves the frame at the right in frame 240 and is back in
	// 311, on its second visit; its box is clipped to the frame.
	for _, seq := range []uint64{239, 240, 311} {
		for _, m := range s.Truth(seq, nil) {
			if m.ID == 2 {
				fmt.Println(seq, m.Name, m.Box, "visit", m.Visit)
			}
		}
	}
	// Output:
	// 83 zone_enter - visit 1
	// 218 zone_exit - visit 1
	// 264 line_cross in visit 1
	// 239 red {1235 166 45 86} visit 1
	// 311 red {1230 490 50 86} visit 2
}
