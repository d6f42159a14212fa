package agent

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"edge-agent/metrics"
)

// camStats is one camera's figures: the one collector that the log
// summary, the heartbeat and /metrics all read. The camera loop records
// each frame (frame); readers take what happened since their own previous
// look (since), each with its own cursor, so two readers at different
// intervals never reset each other's figures. /metrics gets the same
// records as they happen, through the camera's metric handles.
type camStats struct {
	m *metrics.Camera

	mu         sync.Mutex
	decoded    uint64 // cumulative, across reconnections
	processed  uint64
	dropped    uint64
	detectErrs uint64
	lastErr    error
	ring       [statsRing]sample
	n          uint64         // samples recorded
	seen       map[string]int // most of each label in one frame, since the log last looked
	inFrame    map[string]int // scratch
}

// statsRing bounds the samples kept: a minute at 60 fps.
const statsRing = 4096

// sample is one processed frame's timings.
type sample struct {
	latency                  time.Duration // capture to publish
	pre, inf, post, out, inq time.Duration
	wait                     time.Duration // the loop's idle time before the frame arrived
}

func newCamStats(m *metrics.Camera) *camStats {
	return &camStats{m: m, seen: map[string]int{}, inFrame: map[string]int{}}
}

// decodedFrames records frames the camera decoded (processed or not).
func (s *camStats) decodedFrames(n uint64) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	s.decoded += n
	s.mu.Unlock()
	s.m.FramesDecoded.Add(float64(n))
}

// frame records one processed frame. It allocates nothing.
func (s *camStats) frame(r *Result, latency time.Duration) {
	t := r.Timings
	s.mu.Lock()
	s.processed++
	s.dropped += r.Dropped
	s.ring[s.n%statsRing] = sample{latency: latency, pre: t.Preprocess, inf: t.Inference,
		post: t.Postprocess, out: t.Output, inq: t.Queue, wait: t.LoopWait}
	s.n++
	clear(s.inFrame)
	for i := range r.Detections {
		s.inFrame[r.Detections[i].Label]++
	}
	for l, n := range s.inFrame {
		if n > s.seen[l] {
			s.seen[l] = n
		}
	}
	s.mu.Unlock()

	m := s.m
	m.FramesProcessed.Inc()
	if r.Dropped > 0 {
		m.FramesDropped.Add(float64(r.Dropped))
	}
	if r.Clock == "ntp" {
		m.Transport.Observe(t.Transport.Seconds())
	}
	m.Queue.Observe(t.Queue.Seconds())
	m.LoopWait.Observe(t.LoopWait.Seconds())
	m.Preprocess.Observe(t.Preprocess.Seconds())
	m.Inference.Observe(t.Inference.Seconds())
	m.Postprocess.Observe(t.Postprocess.Seconds())
	m.Output.Observe(t.Output.Seconds())
	m.CaptureToPublish.Observe(latency.Seconds())
}

// detectFailed counts a frame the model could not process.
func (s *camStats) detectFailed(err error) {
	s.mu.Lock()
	s.detectErrs++
	s.lastErr = err
	s.mu.Unlock()
}

// statsCursor is where a reader last looked.
type statsCursor struct {
	at                                        time.Time
	decoded, processed, dropped, n, detectErr uint64
}

// window is what happened between two looks.
type window struct {
	interval                    time.Duration
	decoded, processed, dropped uint64
	detectErrs                  uint64
	lastErr                     error
	samples                     []sample
}

// since returns what happened after cur and moves cur to now. The samples
// are a copy, the newest statsRing at most.
func (s *camStats) since(cur *statsCursor, now time.Time) window {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := window{
		decoded: s.decoded - cur.decoded, processed: s.processed - cur.processed,
		dropped: s.dropped - cur.dropped, detectErrs: s.detectErrs - cur.detectErr,
	}
	if !cur.at.IsZero() {
		w.interval = now.Sub(cur.at)
	}
	if w.detectErrs > 0 {
		w.lastErr = s.lastErr
	}
	from := max(cur.n, s.n-min(s.n, statsRing))
	w.samples = make([]sample, 0, s.n-from)
	for i := from; i < s.n; i++ {
		w.samples = append(w.samples, s.ring[i%statsRing])
	}
	*cur = statsCursor{at: now, decoded: s.decoded, processed: s.processed, dropped: s.dropped, n: s.n, detectErr: s.detectErrs}
	return w
}

// takeSeen returns the most of each label seen in one frame since the last
// call, e.g. "person=7 car=1", and starts afresh.
func (s *camStats) takeSeen() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		return "nothing"
	}
	labels := make([]string, 0, len(s.seen))
	for l := range s.seen {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	var b strings.Builder
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", l, s.seen[l])
	}
	clear(s.seen)
	return b.String()
}

// quantile returns the q-quantile (nearest rank) of one field of the
// samples.
func (w window) quantile(field func(sample) time.Duration, q float64) time.Duration {
	if len(w.samples) == 0 {
		return 0
	}
	vals := make([]time.Duration, len(w.samples))
	for i, s := range w.samples {
		vals[i] = field(s)
	}
	return percentile(vals, q)
}

// rate is n per second of the window.
func (w window) rate(n uint64) float64 {
	if w.interval <= 0 {
		return 0
	}
	return round1(float64(n) / w.interval.Seconds())
}

// percentile returns the q-quantile (nearest rank) of s, sorting s in place.
func percentile(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	slices.Sort(s)
	i := int(q*float64(len(s)-1) + 0.5)
	return s[i]
}

func ms(d time.Duration) float64 { return round1(float64(d) / float64(time.Millisecond)) }

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
