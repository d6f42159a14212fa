package agent

import (
	"maps"
	"slices"
	"testing"

	"edge-agent/bus"
)

// pfFrame is one processed frame of a camera: its labels and the frames
// dropped before it.
type pfFrame struct {
	cam     string
	labels  []string
	dropped uint64
}

// pfFrames interleave two cameras, each with its own filter.
var pfFrames = []pfFrame{
	{"a", nil, 0},                       // 0: nothing in view
	{"a", []string{"person"}, 1},        // 1: a person
	{"a", []string{"person"}, 0},        // 2: same
	{"a", []string{"person", "car"}, 2}, // 3: a car joins
	{"a", []string{"car", "person"}, 0}, // 4: same set, other order
	{"a", []string{"person", "person"}, 0},
	{"b", nil, 5},                // 6: another camera, first frame
	{"a", nil, 1},                // 7: a empties
	{"a", nil, 0},                // 8: still empty
	{"b", []string{"dog"}, 0},    // 9
	{"a", []string{"person"}, 3}, // 10
}

func TestPublishFilter(t *testing.T) {
	// The counts change, whatever the policy, at frames 1 (a person), 3 (a
	// car), 5 (two persons, no car), 7 (a empties), 9 (b's dog) and 10 (a
	// person again); not at 0 and 6 (a first frame with nothing in view
	// has nothing to change from).
	changed := map[int]bool{1: true, 3: true, 5: true, 7: true, 9: true, 10: true}
	// Worked out by hand: which frames are published and, for those, the
	// frames dropped since the camera's previous published event.
	for _, tc := range []struct {
		policy  bus.Policy
		publish map[int]uint64
	}{
		{bus.PolicyAll, map[int]uint64{0: 0, 1: 1, 2: 0, 3: 2, 4: 0, 5: 0, 6: 5, 7: 1, 8: 0, 9: 0, 10: 3}},
		// detections: frames 1,2,3,4,5 (a), 9 (b), 10 (a); frame 0's drops
		// (0) go to 1, frames 7 and 8 add 1 to frame 10's 3; b's 5 go to 9.
		{bus.PolicyDetections, map[int]uint64{1: 1, 2: 0, 3: 2, 4: 0, 5: 0, 9: 5, 10: 4}},
		// changes: the first frame of each camera, then when the counts
		// differ: 3 (car joins), 5 (two persons, no car), 7 (empty), 9, 10.
		{bus.PolicyChanges, map[int]uint64{0: 0, 1: 1, 3: 2, 5: 0, 6: 5, 7: 1, 9: 0, 10: 3}},
		// none: no frame; the counts still change as under the others.
		{bus.PolicyNone, map[int]uint64{}},
	} {
		filters := map[string]*publishFilter{"a": newPublishFilter(), "b": newPublishFilter()}
		for i, fr := range pfFrames {
			ok, dropped, ch := filters[fr.cam].allow(tc.policy, slices.Values(fr.labels), fr.dropped)
			want, wantOK := tc.publish[i]
			if ok != wantOK || dropped != want || ch != changed[i] {
				t.Errorf("%v frame %d: allow = %v, %d, %v; want %v, %d, %v", tc.policy, i, ok, dropped, ch, wantOK, want, changed[i])
			}
		}
		// A label once seen stays, at 0 when out of view.
		if got, want := filters["a"].counts(), map[string]int{"person": 1, "car": 0}; !maps.Equal(got, want) {
			t.Errorf("%v: counts of a %v, want %v", tc.policy, got, want)
		}
		if got, want := filters["b"].counts(), map[string]int{"dog": 1}; !maps.Equal(got, want) {
			t.Errorf("%v: counts of b %v, want %v", tc.policy, got, want)
		}
	}
}

// The policy may change between two frames: the next frame is judged by
// the new one against the true previous frame, and the drops of skipped
// frames carry over.
func TestPublishFilterPolicyChange(t *testing.T) {
	f := newPublishFilter()
	for i, step := range []struct {
		policy      bus.Policy
		labels      []string
		dropped     uint64
		wantPublish bool
		wantDropped uint64
		wantChanged bool
	}{
		{bus.PolicyDetections, []string{"person"}, 0, true, 0, true},
		{bus.PolicyDetections, nil, 2, false, 0, true}, // the person leaves: skipped, 2 drops kept
		{bus.PolicyChanges, nil, 1, false, 0, false},   // still empty: no change, 3 drops kept
		{bus.PolicyChanges, []string{"person"}, 0, true, 3, true},
		{bus.PolicyAll, []string{"person"}, 4, true, 4, false},
		{bus.PolicyNone, []string{"person"}, 1, false, 0, false},
		{bus.PolicyNone, nil, 1, false, 0, true},                     // the person leaves: still nothing published
		{bus.PolicyDetections, []string{"person"}, 0, true, 2, true}, // none's drops carried over
	} {
		ok, dropped, ch := f.allow(step.policy, slices.Values(step.labels), step.dropped)
		if ok != step.wantPublish || dropped != step.wantDropped || ch != step.wantChanged {
			t.Errorf("step %d (%v): allow = %v, %d, %v; want %v, %d, %v", i, step.policy, ok, dropped, ch,
				step.wantPublish, step.wantDropped, step.wantChanged)
		}
	}
}

// counts is a copy: the caller may keep or change it.
func TestPublishFilterCountsCopy(t *testing.T) {
	f := newPublishFilter()
	if c := f.counts(); len(c) != 0 {
		t.Fatalf("counts before any frame: %v", c)
	}
	f.allow(bus.PolicyAll, slices.Values([]string{"car"}), 0)
	c := f.counts()
	c["car"] = 9
	c["bus"] = 1
	if got := f.counts(); !maps.Equal(got, map[string]int{"car": 1}) {
		t.Fatalf("counts %v after the caller changed its copy", got)
	}
}

// In steady state (labels seen before) a frame allocates nothing, with the
// labels read from the detections by an iterator as the agent does.
func TestPublishFilterAllocs(t *testing.T) {
	type detection struct{ Label string }
	frames := [2][]detection{{{"person"}, {"car"}, {"person"}}, {{"car"}}}
	f := newPublishFilter()
	var n int
	for _, p := range []bus.Policy{bus.PolicyDetections, bus.PolicyChanges, bus.PolicyAll} {
		allocs := testing.AllocsPerRun(1000, func() {
			dets := frames[n%2] // the counts change at every frame
			n++
			f.allow(p, func(yield func(string) bool) {
				for i := range dets {
					if !yield(dets[i].Label) {
						return
					}
				}
			}, 1)
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations per frame, want 0", p, allocs)
		}
	}
}
