package metrics

// The buckets are upper bounds in seconds. Both sets are fixed (not
// exponential) so that the boundaries people ask about are exact bucket
// edges, and small (13 each) because every camera multiplies them: a camera
// costs 4 stages x 16 series for stage durations plus 16 for
// capture-to-publish.

// stageBuckets spans 0.5 ms to 1 s for one stage of one frame. At 15 fps a
// frame has 66.7 ms for everything, so 1/15 s is an edge: the share of
// frames whose stage alone blew the frame budget is one bucket query, and
// 1/30 s marks the 30 fps budget the same way. Below it the edges separate
// a letterbox or NMS (well under a millisecond to a few) from GPU inference
// (5-30 ms); above it, CPU inference (100 ms and up) from a stall (1 s,
// where the loop is dropping whole seconds of video).
func stageBuckets() []float64 {
	return []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 1.0 / 30, 0.05, 1.0 / 15, 0.1, 0.25, 0.5, 1}
}

// captureBuckets spans 5 ms to 5 s from a frame's capture (the camera's
// clock when the stream carries it, else its arrival) to the event handed
// to the bus. A healthy RTSP
// path adds 50-300 ms of network, jitter buffer and decode before the
// pipeline sees the frame, so the edges are densest there; 5 ms catches a
// local test source, and beyond a second the latency comes from a backlog
// or a clock offset worth an alert rather than from the video path, so the
// edges thin out to 5 s. A broker outage does not show here: events wait in
// the outbox after this measurement ends (see edge_outbox_events).
func captureBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5}
}
