package bus

import (
	"fmt"
	"maps"
)

// Policy says which processed frames become events (EDGE_PUBLISH).
type Policy int

// The publishing policies. The zero value is PolicyDetections.
const (
	// PolicyDetections publishes every frame with at least one detection.
	PolicyDetections Policy = iota
	// PolicyChanges publishes a frame when the labels in view or their
	// counts differ from the previous frame of the same camera (and the
	// first frame of each camera).
	PolicyChanges
	// PolicyAll publishes every processed frame.
	PolicyAll
)

var policyNames = [...]string{PolicyDetections: "detections", PolicyChanges: "changes", PolicyAll: "all"}

// ParsePolicy reads a policy name; the empty string is the default,
// detections.
func ParsePolicy(s string) (Policy, error) {
	if s == "" {
		return PolicyDetections, nil
	}
	for p, name := range policyNames {
		if s == name {
			return Policy(p), nil
		}
	}
	return 0, fmt.Errorf("must be detections, changes or all, got %q", s)
}

// String returns the policy's name.
func (p Policy) String() string {
	if p >= 0 && int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// UnmarshalText lets a configuration loader read a Policy by name.
func (p *Policy) UnmarshalText(b []byte) error {
	v, err := ParsePolicy(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalText writes the policy's name.
func (p Policy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Filter applies a Policy to a stream of events, one camera at a time. It
// is not safe for concurrent use: each client owns one.
type Filter struct {
	policy Policy
	cams   map[string]*filterCamera
}

type filterCamera struct {
	counts  map[string]int // labels in view in the previous frame
	scratch map[string]int
	dropped uint64 // frames dropped since the previous published event
}

// NewFilter returns a Filter for the policy.
func NewFilter(p Policy) *Filter {
	return &Filter{policy: p, cams: map[string]*filterCamera{}}
}

// Allow says whether ev is published. When it is, dropped is the number of
// frames dropped since the previous published event of the camera: the
// event's own FramesDropped plus those of the frames the policy skipped.
func (f *Filter) Allow(ev *Event) (publish bool, dropped uint64) {
	c := f.cams[ev.Camera]
	first := c == nil
	if first {
		c = &filterCamera{counts: map[string]int{}, scratch: map[string]int{}}
		f.cams[ev.Camera] = c
	}
	c.dropped += ev.FramesDropped
	switch f.policy {
	case PolicyAll:
		publish = true
	case PolicyChanges:
		clear(c.scratch)
		for i := range ev.Detections {
			c.scratch[ev.Detections[i].Label]++
		}
		publish = first || !maps.Equal(c.scratch, c.counts)
		c.counts, c.scratch = c.scratch, c.counts
	default:
		publish = len(ev.Detections) > 0
	}
	if !publish {
		return false, 0
	}
	dropped, c.dropped = c.dropped, 0
	return true, dropped
}
