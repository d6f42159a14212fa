package pipeline

import "time"

// DefaultMaxTransport is IngestConfig.MaxTransport's default.
const DefaultMaxTransport = 500 * time.Millisecond

// Reasons a ClockStatus gives for not using the camera's NTP clock.
const (
	ReasonNoSenderReports    = "no_sender_reports"
	ReasonProbation          = "probation"
	ReasonCameraClockAhead   = "camera_clock_ahead"
	ReasonTransportAboveMax  = "transport_above_max"
	ReasonNTPMappingJumps    = "ntp_mapping_jumps"
	ReasonNTPFractionSuspect = "ntp_fraction_suspect"
	ReasonForcedArrival      = "forced_arrival"
)

// ClockStatus says which clock an ingest's frames take their capture time from now, and
// why not the camera's NTP clock.
//
// Reason is one of these stable tokens:
//
//   - "" : frames use the camera's NTP time (Clock is ClockNTP).
//   - "no_sender_reports": the frames carry no NTP time: no RTCP sender report has
//     mapped the video's RTP time to NTP yet (the first seconds of an RTSP stream), or
//     the source is not RTSP.
//   - "probation": NTP times arrive but are not trusted yet. Trust needs two sender
//     reports of the video stream whose NTP↔RTP mapping agrees to within a frame
//     interval (1/15 s), and one report whose NTP fraction is at least 10⁹/2³² (a
//     sub-second part of 233 ms or more).
//   - "ntp_fraction_suspect": three or more reports and every NTP fraction below
//     10⁹/2³². MediaMTX v1.14 (gortsplib, bluenviron/gortsplib#869) writes the
//     fraction in nanoseconds, so its capture times are 0-767 ms early; a real
//     clock's fraction is that small in 23 % of reports (three in a row: 1.3 %,
//     unless the camera sends its reports at a fixed sub-second phase).
//   - "camera_clock_ahead": the minimum of (arrival − NTP capture) over the last 10 s
//     is negative: frames would arrive before they were captured.
//   - "transport_above_max": that minimum is above IngestConfig.MaxTransport: the
//     camera's clock is behind the agent's, or the path is that slow.
//   - "ntp_mapping_jumps": the NTP↔RTP mapping moved by more than a frame interval
//     between two consecutive sender reports (a camera whose clock steps; MediaMTX
//     v1.14 when the sub-second phase of its reports changes, which it rarely does:
//     measured, it sends one every 10 s at the same phase, so its error stays put). It
//     stays for the life of the Ingest; a reconnection makes a new one.
//   - "forced_arrival": IngestConfig.CaptureClock is ClockArrival.
//
// The reasons are checked in the order forced_arrival, ntp_mapping_jumps,
// no_sender_reports, camera_clock_ahead / transport_above_max, ntp_fraction_suspect,
// probation; the first that applies is reported.
type ClockStatus struct {
	// Clock is what frames use now: ClockNTP only when Reason is "".
	Clock  CaptureClock
	Reason string
	// OffsetMS estimates the camera's clock minus the agent's, in milliseconds, as
	// −min(arrival − NTP capture) over the last 10 s: it assumes zero transport time,
	// so a true offset reads lower by the fastest frame's capture-to-appsink time
	// (encode, network, jitter buffer, decode). HasOffset is false while no frame in
	// the window carried an NTP time.
	OffsetMS  float64
	HasOffset bool
	// SenderReports counts the RTCP sender reports of video streams (90 kHz RTP
	// clock) the ingest's jitter buffers passed on; Jumps counts those whose mapping
	// moved by more than a frame interval from the previous report's.
	SenderReports uint64
	Jumps         uint64
}

// fractionReports is how many sender reports with NTP fractions below 10⁹/2³² make
// the fractions suspect rather than unlucky.
const fractionReports = 3

// srInfo is what the sender-report watch (clocksync.go) has seen so far.
type srInfo struct {
	reports uint64 // video sender reports
	pairs   uint64 // consecutive pairs of reports of one stream compared
	jumps   uint64 // pairs whose mapping moved by more than a frame interval
	fracOK  bool   // a report had an NTP fraction of at least 10⁹/2³²
}

// Window of the offset estimate: offsetBuckets one-second buckets, each holding the
// minimum of (arrival − capture) of the frames that arrived in its second. The minimum
// over the buckets of the last offsetBuckets seconds covers 10 to 11 s.
const offsetBuckets = 11

type offsetBucket struct {
	sec int64 // Unix second of arrival the bucket holds; valid when set
	min int64 // ns
	set bool
}

// clockReason indexes reasonTokens; it is what the ingest publishes atomically.
type clockReason uint32

const (
	reasonTrusted clockReason = iota
	reasonNoSR
	reasonProbation
	reasonAhead
	reasonAboveMax
	reasonJumps
	reasonForced
	reasonFraction
)

var reasonTokens = [...]string{
	reasonTrusted:   "",
	reasonNoSR:      ReasonNoSenderReports,
	reasonProbation: ReasonProbation,
	reasonAhead:     ReasonCameraClockAhead,
	reasonAboveMax:  ReasonTransportAboveMax,
	reasonJumps:     ReasonNTPMappingJumps,
	reasonForced:    ReasonForcedArrival,
	reasonFraction:  ReasonNTPFractionSuspect,
}

func (r clockReason) String() string { return reasonTokens[r] }

// clockJudge decides, frame by frame, whether an ingest trusts the camera's NTP clock
// (see ClockStatus for the rules). It is used from the goroutine calling Next only and
// does not allocate.
type clockJudge struct {
	forced       bool
	maxTransport int64 // ns
	buckets      [offsetBuckets]offsetBucket

	reason    clockReason
	offset    int64 // min(arrival − capture) over the window, ns; valid when hasOffset
	hasOffset bool
}

func newClockJudge(forced bool, maxTransport time.Duration) clockJudge {
	j := clockJudge{forced: forced, maxTransport: int64(maxTransport), reason: reasonNoSR}
	if forced {
		j.reason = reasonForced
	}
	return j
}

// judge takes one frame's arrival time, its NTP capture time (when hasNTP) and the
// sender reports seen so far, and returns whether the frame uses the NTP time. It also
// reports whether the reason changed with this frame.
func (j *clockJudge) judge(arrival, capture time.Time, hasNTP bool, sr srInfo) (useNTP, changed bool) {
	if hasNTP {
		j.add(arrival.UnixNano(), arrival.Sub(capture).Nanoseconds())
	}
	j.window(arrival.UnixNano())
	r := j.decide(hasNTP, sr)
	changed = r != j.reason
	j.reason = r
	return r == reasonTrusted, changed
}

func (j *clockJudge) decide(hasNTP bool, sr srInfo) clockReason {
	switch {
	case j.forced:
		return reasonForced
	case sr.jumps > 0:
		return reasonJumps
	case !hasNTP:
		return reasonNoSR
	case j.hasOffset && j.offset < 0:
		return reasonAhead
	case j.hasOffset && j.offset > j.maxTransport:
		return reasonAboveMax
	case !sr.fracOK && sr.reports >= fractionReports:
		return reasonFraction
	case sr.pairs == 0 || !sr.fracOK:
		return reasonProbation
	}
	return reasonTrusted
}

// add records one frame's (arrival − capture) in the bucket of its arrival second.
func (j *clockJudge) add(arrivalNS, d int64) {
	sec := floorDiv(arrivalNS, int64(time.Second))
	b := &j.buckets[mod(sec, offsetBuckets)]
	if !b.set || b.sec != sec {
		*b = offsetBucket{sec: sec, min: d, set: true}
		return
	}
	if d < b.min {
		b.min = d
	}
}

// window recomputes the offset over the buckets of the last offsetBuckets seconds
// before now; older ones are ignored (and overwritten when their slot comes round).
func (j *clockJudge) window(nowNS int64) {
	now := floorDiv(nowNS, int64(time.Second))
	j.hasOffset = false
	for i := range j.buckets {
		b := &j.buckets[i]
		if !b.set || b.sec > now || now-b.sec >= offsetBuckets {
			continue
		}
		if !j.hasOffset || b.min < j.offset {
			j.offset = b.min
		}
		j.hasOffset = true
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
