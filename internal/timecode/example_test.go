package timecode_test

import (
	"fmt"
	"time"

	"edge-agent/internal/timecode"
)

func Example() {
	const width, height = 1280, 720
	frame := make([]byte, 3*width*height)
	rendered := time.Date(2026, 5, 4, 12, 30, 15, 250_000_000, time.UTC)
	timecode.Encode(frame, width, height, 3*width, 4711, rendered)
	fmt.Println("strip rows:", timecode.StripHeight(width, height))

	// The probe, later and elsewhere.
	seq, t, err := timecode.Decode(frame, width, height, 3*width)
	if err != nil {
		fmt.Println(err)
		return
	}
	received := rendered.Add(183 * time.Millisecond)
	fmt.Println("frame", seq, "rendered", t.UTC().Format(time.RFC3339Nano), "latency", received.Sub(t))

	// Output:
	// strip rows: 32
	// frame 4711 rendered 2026-05-04T12:30:15.25Z latency 183ms
}
