package bus

import (
	"testing"
)

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Policy
		wantErr string
	}{
		{"", PolicyDetections, ""},
		{"detections", PolicyDetections, ""},
		{"changes", PolicyChanges, ""},
		{"all", PolicyAll, ""},
		{"ALL", 0, `must be detections, changes or all, got "ALL"`},
		{"some", 0, `must be detections, changes or all, got "some"`},
	} {
		got, err := ParsePolicy(tc.in)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("ParsePolicy(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if tc.in != "" && got.String() != tc.in {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}

// frame is one processed frame fed to a Filter: its camera, labels and
// the frames dropped before it.
type frame struct {
	cam     string
	labels  []string
	dropped uint64
}

func TestFilter(t *testing.T) {
	frames := []frame{
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
	// Worked out by hand: which frames are published and, for those, the
	// frames dropped since the camera's previous published event.
	for _, tc := range []struct {
		policy  Policy
		publish map[int]uint64
	}{
		{PolicyAll, map[int]uint64{0: 0, 1: 1, 2: 0, 3: 2, 4: 0, 5: 0, 6: 5, 7: 1, 8: 0, 9: 0, 10: 3}},
		// detections: frames 1,2,3,4,5 (a), 9 (b), 10 (a); frame 0's drops
		// (0) go to 1, frames 7 and 8 add 1 to frame 10's 3; b's 5 go to 9.
		{PolicyDetections, map[int]uint64{1: 1, 2: 0, 3: 2, 4: 0, 5: 0, 9: 5, 10: 4}},
		// changes: the first frame of each camera, then when the counts
		// differ: 3 (car joins), 5 (two persons, no car), 7 (empty), 9, 10.
		{PolicyChanges, map[int]uint64{0: 0, 1: 1, 3: 2, 5: 0, 6: 5, 7: 1, 9: 0, 10: 3}},
	} {
		f := NewFilter(tc.policy)
		var ids IDs
		for i, fr := range frames {
			ev := testEvent(&ids, "d", fr.cam, uint64(i), fr.labels...)
			ev.FramesDropped = fr.dropped
			ok, dropped := f.Allow(ev)
			want, wantOK := tc.publish[i]
			if ok != wantOK || dropped != want {
				t.Errorf("%v frame %d: Allow = %v, %d; want %v, %d", tc.policy, i, ok, dropped, wantOK, want)
			}
		}
	}
}

func TestPolicyText(t *testing.T) {
	var p Policy
	if err := p.UnmarshalText([]byte("changes")); err != nil || p != PolicyChanges {
		t.Fatalf("UnmarshalText = %v, %v", p, err)
	}
	if err := p.UnmarshalText([]byte("x")); err == nil {
		t.Fatal("UnmarshalText accepted x")
	}
	if b, _ := PolicyAll.MarshalText(); string(b) != "all" {
		t.Fatalf("MarshalText = %s", b)
	}
}
