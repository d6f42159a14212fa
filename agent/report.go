package agent

import (
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"edge-agent/pipeline"
)

// maxSamples bounds the per-interval timing samples (at 15 fps a 5 s
// interval holds 75); beyond it samples are overwritten round-robin.
const maxSamples = 4096

// reporter summarises what the loop did once per interval, so a person can
// read the log: rates, drops, stage medians, latency and what was seen.
// It is owned by the camera loop; nothing in it is shared.
type reporter struct {
	log      *slog.Logger
	interval time.Duration

	start            time.Time
	lastDecoded      uint64 // the ingest's decoded count at the last flush
	processed        int
	dropped          uint64
	samples          int
	wait, pre, inf   []time.Duration
	post, out, total []time.Duration
	maxInView        map[string]int // the most of each label seen in one frame
	inFrame          map[string]int // scratch for the current frame
	detectErrs       int
	lastDetectErr    error
	captureClock     pipeline.CaptureClock
}

func newReporter(log *slog.Logger, interval time.Duration) *reporter {
	mk := func() []time.Duration { return make([]time.Duration, 0, 256) }
	return &reporter{
		log: log, interval: interval,
		wait: mk(), pre: mk(), inf: mk(), post: mk(), out: mk(), total: mk(),
		maxInView: map[string]int{}, inFrame: map[string]int{},
	}
}

// add records one processed frame.
func (r *reporter) add(res *Result) {
	if r.start.IsZero() {
		r.start = res.Pulled
	}
	r.processed++
	r.dropped += res.Dropped
	r.captureClock = res.Clock
	put := func(s *[]time.Duration, d time.Duration) {
		if len(*s) < maxSamples {
			*s = append(*s, d)
		} else {
			(*s)[r.samples%maxSamples] = d
		}
	}
	t := res.Timings
	put(&r.wait, t.Wait)
	put(&r.pre, t.Preprocess)
	put(&r.inf, t.Inference)
	put(&r.post, t.Postprocess)
	put(&r.out, t.Output)
	put(&r.total, res.Latency())
	r.samples++

	clear(r.inFrame)
	for i := range res.Detections {
		r.inFrame[res.Detections[i].Label]++
	}
	for l, n := range r.inFrame {
		if n > r.maxInView[l] {
			r.maxInView[l] = n
		}
	}
}

// detectFailed counts a frame the model could not process.
func (r *reporter) detectFailed(err error) {
	r.detectErrs++
	r.lastDetectErr = err
}

// maybeFlush logs a summary when the interval has passed.
func (r *reporter) maybeFlush(now time.Time, in pipeline.IngestStats) {
	if r.start.IsZero() {
		return
	}
	elapsed := now.Sub(r.start)
	if elapsed < r.interval {
		return
	}
	secs := elapsed.Seconds()
	decoded := in.Decoded - r.lastDecoded
	if in.Decoded < r.lastDecoded { // a new connection counts from zero again
		decoded = in.Decoded
	}
	r.log.Info("frames",
		"fps_in", round1(float64(decoded)/secs),
		"fps_processed", round1(float64(r.processed)/secs),
		"dropped", r.dropped,
		"latency_p50_ms", ms(percentile(r.total, 0.5)),
		"latency_p95_ms", ms(percentile(r.total, 0.95)),
		"capture_clock", r.captureClock,
		"wait_ms", ms(percentile(r.wait, 0.5)),
		"pre_ms", ms(percentile(r.pre, 0.5)),
		"infer_ms", ms(percentile(r.inf, 0.5)),
		"post_ms", ms(percentile(r.post, 0.5)),
		"output_ms", ms(percentile(r.out, 0.5)),
		"seen", r.seen(),
	)
	if r.detectErrs > 0 {
		r.log.Warn("model failed on frames", "frames", r.detectErrs, "last_err", r.lastDetectErr)
	}
	r.reset(now, in.Decoded)
}

func (r *reporter) reset(now time.Time, decoded uint64) {
	r.start, r.lastDecoded = now, decoded
	r.processed, r.dropped, r.samples, r.detectErrs, r.lastDetectErr = 0, 0, 0, 0, nil
	for _, s := range []*[]time.Duration{&r.wait, &r.pre, &r.inf, &r.post, &r.out, &r.total} {
		*s = (*s)[:0]
	}
	clear(r.maxInView)
}

// seen renders the most of each label in one frame, e.g. "person=7 car=1".
func (r *reporter) seen() string {
	if len(r.maxInView) == 0 {
		return "nothing"
	}
	labels := make([]string, 0, len(r.maxInView))
	for l := range r.maxInView {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	var b strings.Builder
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", l, r.maxInView[l])
	}
	return b.String()
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
