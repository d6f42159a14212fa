package track_test

import (
	"fmt"
	"time"

	"edge-agent/track"
)

// A person walks right at 50 px/s, seen at 10 frames a second; the third
// frame confirms the track.
func Example() {
	tr, err := track.New(track.Config{}) // the defaults: confirmed after 3 hits, kept 1.5 s unseen
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	dets := make([]track.Detection, 1)
	for i := range 4 {
		at := start.Add(time.Duration(i) * 100 * time.Millisecond)
		dets[0] = track.Detection{Class: 0, Score: 0.9, Box: track.Box{X: 100 + 5*float32(i), Y: 50, W: 40, H: 100}}
		ids := tr.Update(at, dets)
		for _, c := range tr.Changes() {
			fmt.Printf("frame %d: track %d confirmed\n", i, c.ID)
		}
		fmt.Printf("frame %d: id %d\n", i, ids[0])
	}
	// Where the person should be half a second later, for a frame that
	// was not run through the model: at x = 140, but after four frames
	// the filter has learnt most of the velocity, not all.
	for _, t := range tr.Tracks(start.Add(800*time.Millisecond), nil) {
		fmt.Printf("track %d near x=%.0f\n", t.ID, t.Box.X)
	}
	// Output:
	// frame 0: id 0
	// frame 1: id 0
	// frame 2: track 1 confirmed
	// frame 2: id 1
	// frame 3: id 1
	// track 1 near x=134
}
