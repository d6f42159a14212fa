package agent

import (
	"iter"
	"maps"

	"edge-agent/bus"
)

// publishFilter decides which processed frames of ONE camera become events
// (the camera's bus.Policy), and keeps that camera's per-label counts for
// the retained MQTT count topics. It is the agent's decision, made before
// anything reaches the bus, which publishes every event it is handed.
//
// It is not safe for concurrent use: the camera's worker owns it. In steady
// state (no label it has not seen before) allow allocates nothing: its maps
// are reused from frame to frame.
type publishFilter struct {
	byLabel map[string]int // every label seen, its number in the last frame (0 when out of view)
	scratch map[string]int // the frame being counted
	count   func(label string) bool
	started bool   // a frame was seen: the first one is published under changes
	dropped uint64 // frames dropped since the last published event
}

func newPublishFilter() *publishFilter {
	f := &publishFilter{byLabel: map[string]int{}, scratch: map[string]int{}}
	f.count = f.add // bound once, so that allow passes it without allocating
	return f
}

func (f *publishFilter) add(label string) bool {
	f.scratch[label]++
	return true
}

// allow is called once per processed frame with the policy in force for the
// camera, the frame's labels (one per detection) and the frames dropped
// before it. It says whether the frame is published; dropped is then the
// frames dropped since the camera's previous published event (this frame's
// own plus those of the frames skipped), to put in the event's
// frames_dropped; it is 0 when the frame is not published. countsChanged says
// whether the per-label counts differ from the previous frame's, for the
// retained count topics (see counts).
//
//   - bus.PolicyDetections: frames with at least one detection.
//   - bus.PolicyChanges: the first frame, then every frame whose labels in
//     view or their numbers differ from the previous frame's (so also the
//     frame where the last object leaves).
//   - bus.PolicyAll: every frame.
//   - bus.PolicyNone: no frame (object events and the counts go on).
//
// The counts are kept under every policy, so a change of policy between two
// frames compares with the true previous frame.
func (f *publishFilter) allow(p bus.Policy, labels iter.Seq[string], framesDropped uint64) (publish bool, dropped uint64, countsChanged bool) {
	clear(f.scratch)
	labels(f.count)
	for label, n := range f.byLabel {
		if v := f.scratch[label]; v != n {
			f.byLabel[label] = v
			countsChanged = true
		}
	}
	for label, n := range f.scratch {
		if _, ok := f.byLabel[label]; !ok {
			f.byLabel[label] = n
			countsChanged = true
		}
	}
	first := !f.started
	f.started = true
	f.dropped += framesDropped
	switch p {
	case bus.PolicyAll:
		publish = true
	case bus.PolicyChanges:
		publish = first || countsChanged
	case bus.PolicyNone:
		publish = false
	default:
		publish = len(f.scratch) > 0
	}
	if !publish {
		return false, 0, countsChanged
	}
	dropped, f.dropped = f.dropped, 0
	return true, dropped, countsChanged
}

// counts returns a copy of the labels seen and their numbers in the last
// frame: a label once seen stays, with 0 when out of view. It is what
// bus.MQTT.PublishCounts takes when allow says the counts changed.
func (f *publishFilter) counts() map[string]int { return maps.Clone(f.byLabel) }
