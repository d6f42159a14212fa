package pipeline

import "fmt"

// Policy says what an ingest does with decoded frames the consumer has not taken yet.
type Policy string

const (
	// PolicyLatest keeps only the newest decoded frame (appsink drop=true
	// max-buffers=1) and asks rtspsrc for IngestConfig.LatencyMS of jitter buffer.
	PolicyLatest Policy = "latest"
	// PolicyBuffered keeps every decoded frame (appsink drop=false, unbounded) and
	// leaves rtspsrc's jitter-buffer latency at its default: the baseline that
	// benchmarks compare PolicyLatest against.
	PolicyBuffered Policy = "buffered"
)

// ParsePolicy parses "latest" or "buffered"; "" means PolicyLatest.
func ParsePolicy(s string) (Policy, error) {
	switch Policy(s) {
	case "", PolicyLatest:
		return PolicyLatest, nil
	case PolicyBuffered:
		return PolicyBuffered, nil
	}
	return "", fmt.Errorf("unknown policy %q (want %q or %q)", s, PolicyLatest, PolicyBuffered)
}
