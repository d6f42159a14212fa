package bus

import "fmt"

// Policy says which processed frames of a camera become detection events
// (EDGE_PUBLISH, the set_publish command, a camera's publish setting); object
// events do not depend on it. It is vocabulary only: the agent applies it
// before it hands an event to the bus, which publishes every event it is
// given.
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
	// PolicyNone publishes no detection events at all (object events do
	// not depend on the policy).
	PolicyNone
)

var policyNames = [...]string{PolicyDetections: "detections", PolicyChanges: "changes", PolicyAll: "all", PolicyNone: "none"}

// policyChoices lists the names for error messages (ParsePolicy's, the
// commands').
const policyChoices = "detections, changes, all or none"

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
	return 0, fmt.Errorf("must be %s, got %q", policyChoices, s)
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
