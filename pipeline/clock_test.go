package pipeline

import (
	"testing"
	"time"
)

// TestClockJudge feeds the judge a sequence of frames and checks the decision after
// each one. Times are offsets from t0 (a whole second), so the window's one-second
// buckets are easy to follow: arrival at t0+a, capture at arrival−lat.
func TestClockJudge(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	trusted := srInfo{reports: 2, pairs: 1, fracOK: true}
	type step struct {
		at      time.Duration // arrival − t0
		lat     time.Duration // arrival − capture
		hasNTP  bool
		sr      srInfo
		useNTP  bool
		reason  clockReason
		offset  time.Duration // expected −OffsetMS, i.e. min(arrival − capture); checked when hasOff
		hasOff  bool
		changed bool
	}
	tests := []struct {
		name         string
		forced       bool
		maxTransport time.Duration
		steps        []step
	}{
		{
			name: "honest camera: no NTP, one report, then trusted after the second",
			steps: []step{
				{at: 0, hasNTP: false, reason: reasonNoSR},
				// First report: NTP arrives, but no pair compared yet.
				{at: 100 * ms, lat: 40 * ms, hasNTP: true, sr: srInfo{reports: 1, fracOK: true},
					reason: reasonProbation, offset: 40 * ms, hasOff: true, changed: true},
				// Second report agrees with the first: trusted.
				{at: 5 * time.Second, lat: 60 * ms, hasNTP: true, sr: trusted,
					useNTP: true, reason: reasonTrusted, offset: 40 * ms, hasOff: true, changed: true},
				{at: 5*time.Second + 66*ms, lat: 35 * ms, hasNTP: true, sr: trusted,
					useNTP: true, reason: reasonTrusted, offset: 35 * ms, hasOff: true},
			},
		},
		{
			name: "two reports but every NTP fraction below 10⁹/2³²: probation",
			steps: []step{
				{at: 0, lat: 40 * ms, hasNTP: true, sr: srInfo{reports: 2, pairs: 1},
					reason: reasonProbation, offset: 40 * ms, hasOff: true, changed: true},
				{at: 5 * time.Second, lat: 40 * ms, hasNTP: true, sr: srInfo{reports: 3, pairs: 2, fracOK: true},
					useNTP: true, reason: reasonTrusted, offset: 40 * ms, hasOff: true, changed: true},
			},
		},
		{
			name: "MediaMTX: three reports, every fraction below 10⁹/2³²",
			steps: []step{
				{at: 0, lat: 20 * ms, hasNTP: true, sr: srInfo{reports: 2, pairs: 1},
					reason: reasonProbation, offset: 20 * ms, hasOff: true, changed: true},
				{at: 10 * time.Second, lat: 20 * ms, hasNTP: true, sr: srInfo{reports: 3, pairs: 2},
					reason: reasonFraction, offset: 20 * ms, hasOff: true, changed: true},
			},
		},
		{
			name: "camera 2 s ahead: capture after arrival",
			steps: []step{
				// lat = 40 ms transport − 2 s offset = −1960 ms.
				{at: 0, lat: -1960 * ms, hasNTP: true, sr: trusted,
					reason: reasonAhead, offset: -1960 * ms, hasOff: true, changed: true},
			},
		},
		{
			name: "camera 2 s behind: 2040 ms above the 500 ms maximum",
			steps: []step{
				{at: 0, lat: 2040 * ms, hasNTP: true, sr: trusted,
					reason: reasonAboveMax, offset: 2040 * ms, hasOff: true, changed: true},
			},
		},
		{
			name:         "MaxTransport 2 s lets the slow path through",
			maxTransport: 2 * time.Second,
			steps: []step{
				{at: 0, lat: 1500 * ms, hasNTP: true, sr: trusted,
					useNTP: true, reason: reasonTrusted, offset: 1500 * ms, hasOff: true, changed: true},
			},
		},
		{
			name: "a jump is sticky and beats a good offset",
			steps: []step{
				{at: 0, lat: 40 * ms, hasNTP: true, sr: trusted,
					useNTP: true, reason: reasonTrusted, offset: 40 * ms, hasOff: true, changed: true},
				{at: 5 * time.Second, lat: 40 * ms, hasNTP: true, sr: srInfo{reports: 3, pairs: 2, jumps: 1, fracOK: true},
					reason: reasonJumps, offset: 40 * ms, hasOff: true, changed: true},
				{at: 10 * time.Second, lat: 40 * ms, hasNTP: true, sr: srInfo{reports: 4, pairs: 3, jumps: 1, fracOK: true},
					reason: reasonJumps, offset: 40 * ms, hasOff: true},
			},
		},
		{
			name: "the minimum ages out of the window: 10 s later the offset recovers",
			steps: []step{
				// One frame 200 ms early (camera ahead), then honest frames.
				{at: 0, lat: -200 * ms, hasNTP: true, sr: trusted,
					reason: reasonAhead, offset: -200 * ms, hasOff: true, changed: true},
				// Second 10 (buckets 0..10 cover seconds 0..10): still in the window.
				{at: 10*time.Second + 500*ms, lat: 40 * ms, hasNTP: true, sr: trusted,
					reason: reasonAhead, offset: -200 * ms, hasOff: true},
				// Second 11: second 0 has left the window (11 − 0 ≥ 11), and its slot is reused.
				{at: 11 * time.Second, lat: 50 * ms, hasNTP: true, sr: trusted,
					useNTP: true, reason: reasonTrusted, offset: 40 * ms, hasOff: true, changed: true},
			},
		},
		{
			name: "the offset is the minimum over the window, not the last frame",
			steps: []step{
				{at: 0, lat: 30 * ms, hasNTP: true, sr: trusted,
					useNTP: true, reason: reasonTrusted, offset: 30 * ms, hasOff: true, changed: true},
				{at: 3 * time.Second, lat: 700 * ms, hasNTP: true, sr: trusted,
					useNTP: true, reason: reasonTrusted, offset: 30 * ms, hasOff: true},
			},
		},
		{
			name: "a frame without NTP after trust uses the arrival time",
			steps: []step{
				{at: 0, lat: 30 * ms, hasNTP: true, sr: trusted,
					useNTP: true, reason: reasonTrusted, offset: 30 * ms, hasOff: true, changed: true},
				{at: 66 * ms, hasNTP: false, sr: trusted,
					reason: reasonNoSR, offset: 30 * ms, hasOff: true, changed: true},
			},
		},
		{
			name:   "forced arrival never uses NTP but still estimates the offset",
			forced: true,
			steps: []step{
				{at: 0, lat: 30 * ms, hasNTP: true, sr: trusted,
					reason: reasonForced, offset: 30 * ms, hasOff: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mt := tt.maxTransport
			if mt == 0 {
				mt = DefaultMaxTransport
			}
			j := newClockJudge(tt.forced, mt)
			for i, s := range tt.steps {
				arrival := t0.Add(s.at)
				useNTP, changed := j.judge(arrival, arrival.Add(-s.lat), s.hasNTP, s.sr)
				if useNTP != s.useNTP || changed != s.changed || j.reason != s.reason {
					t.Errorf("step %d: useNTP %v changed %v reason %q, want %v %v %q",
						i, useNTP, changed, j.reason, s.useNTP, s.changed, s.reason)
				}
				if j.hasOffset != s.hasOff || (s.hasOff && time.Duration(j.offset) != s.offset) {
					t.Errorf("step %d: offset %v (has %v), want %v (has %v)", i, time.Duration(j.offset), j.hasOffset, s.offset, s.hasOff)
				}
			}
		})
	}
}

func TestClockReasonTokens(t *testing.T) {
	want := map[clockReason]string{
		reasonTrusted: "", reasonNoSR: "no_sender_reports", reasonProbation: "probation",
		reasonAhead: "camera_clock_ahead", reasonAboveMax: "transport_above_max",
		reasonJumps: "ntp_mapping_jumps", reasonForced: "forced_arrival", reasonFraction: "ntp_fraction_suspect",
	}
	for r, tok := range want {
		if r.String() != tok {
			t.Errorf("reason %d = %q, want %q", r, r.String(), tok)
		}
	}
}

// TestIngestClockStatusConfig checks the status an ingest reports before any frame.
func TestIngestClockStatusConfig(t *testing.T) {
	for _, tt := range []struct {
		clock CaptureClock
		want  string
	}{{"", ReasonNoSenderReports}, {ClockNTP, ReasonNoSenderReports}, {ClockArrival, ReasonForcedArrival}} {
		in, err := NewIngest(IngestConfig{URL: "rtsp://127.0.0.1:1/x", CaptureClock: tt.clock}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st := in.ClockStatus(); st.Clock != ClockArrival || st.Reason != tt.want || st.HasOffset {
			t.Errorf("CaptureClock %q: status %+v, want arrival, %q, no offset", tt.clock, st, tt.want)
		}
	}
	if _, err := NewIngest(IngestConfig{URL: "testsrc", MaxTransport: -time.Second}, nil); err == nil ||
		err.Error() != "ingest config: MaxTransport: -1s is negative" {
		t.Errorf("negative MaxTransport: %v", err)
	}
}

func BenchmarkClockJudge(b *testing.B) {
	j := newClockJudge(false, DefaultMaxTransport)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	sr := srInfo{reports: 2, pairs: 1, fracOK: true}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		arrival := t0.Add(time.Duration(i) * time.Second / 15)
		j.judge(arrival, arrival.Add(-40*time.Millisecond), true, sr)
	}
}
