package scene_test

import (
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
