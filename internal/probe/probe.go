// Package probe measures glass-to-glass latency of an RTSP stream whose frames
// carry a timecode strip (internal/timecode): the receive time of each frame
// minus the wall-clock time at which the synthetic camera rendered it. It reads
// with the same drop-latest ingest as the agent, so it adds as little latency
// as the agent itself would. It knows nothing of models or buses.
package probe

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"edge-agent/internal/timecode"
	"edge-agent/pipeline"
)

// Config says what to read and for how long.
type Config struct {
	URL       string        // rtsp://… (or a file, for tests)
	Transport string        // auto, udp, tcp (default tcp: no loss on loopback)
	Duration  time.Duration // 0 reads until ctx ends
	Interval  time.Duration // when > 0, OnInterval gets a report of each interval
	// OnInterval receives the report of each Interval (from the probe's goroutine).
	OnInterval func(Report)
	// OnFrame, if set, receives every frame's measurement as it arrives; an
	// error it returns ends the run with that error.
	OnFrame func(Sample) error
}

// Sample is one frame as the probe saw it.
type Sample struct {
	Pulled   time.Time // when the frame arrived
	Dropped  uint64    // frames the probe's own ingest replaced by newer ones before it
	Seq      uint64    // the camera's frame number, from the strip
	Rendered time.Time // when the camera rendered it, from the strip
	Err      error     // why the strip did not decode; Seq and Rendered are then zero
}

// Report is what a probe saw over a period.
type Report struct {
	URL             string  `json:"url"`
	DurationS       float64 `json:"duration_s"`
	FramesSeen      int     `json:"frames_seen"`      // frames received
	FramesDecoded   int     `json:"frames_decoded"`   // frames whose strip decoded
	FramesUndecoded int     `json:"frames_undecoded"` // frames whose strip did not decode
	FramesMissing   uint64  `json:"frames_missing"`   // gaps in the camera's sequence numbers
	FramesDropped   uint64  `json:"frames_dropped"`   // frames the probe's own ingest replaced by newer ones
	FPS             float64 `json:"fps"`
	P50MS           float64 `json:"p50_ms"`
	P95MS           float64 `json:"p95_ms"`
	P99MS           float64 `json:"p99_ms"`
	MaxMS           float64 `json:"max_ms"`
	MaxGapMS        float64 `json:"max_gap_ms"` // the longest time without a frame: a stall shows here
	Width           int     `json:"width"`
	Height          int     `json:"height"`
}

// String renders a report for a person.
func (r Report) String() string {
	return fmt.Sprintf("%dx%d %.1f fps, %d frames (%d undecoded, %d missing), glass-to-glass p50 %.1f ms p95 %.1f ms p99 %.1f ms max %.1f ms, longest gap %.0f ms",
		r.Width, r.Height, r.FPS, r.FramesSeen, r.FramesUndecoded, r.FramesMissing, r.P50MS, r.P95MS, r.P99MS, r.MaxMS, r.MaxGapMS)
}

// Run reads the stream until cfg.Duration has passed since the first frame
// or ctx ends, and returns the report of the whole run. Until the first frame
// arrives it keeps retrying, as a viewer would: the stream may not be
// published yet.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (Report, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Transport == "" {
		cfg.Transport = "tcp"
	}
	m := &measurement{cfg: cfg, total: newWindow(cfg.URL), part: newWindow(cfg.URL)}
	for {
		err := m.read(ctx, log)
		if err == nil || ctx.Err() != nil {
			return m.total.report(), nil
		}
		if m.total.seen > 0 {
			return m.total.report(), fmt.Errorf("probe %s after %d frames: %w", pipeline.Redact(cfg.URL), m.total.seen, err)
		}
		log.Info("waiting for the stream", "url", pipeline.Redact(cfg.URL), "err", err)
		select {
		case <-ctx.Done():
			return m.total.report(), fmt.Errorf("probe %s: no frame before the deadline: %w", pipeline.Redact(cfg.URL), err)
		case <-time.After(retryDelay):
		}
	}
}

// retryDelay is the pause between attempts to open a stream that is not there yet.
const retryDelay = 500 * time.Millisecond

// measurement is one probe run: the whole-run window and the current interval's.
type measurement struct {
	cfg         Config
	total, part *window
	first       time.Time
}

// read opens the stream once and measures until the duration is reached
// (nil) or the stream fails (its error).
func (m *measurement) read(ctx context.Context, log *slog.Logger) error {
	in, err := pipeline.NewIngest(pipeline.IngestConfig{URL: m.cfg.URL, Transport: m.cfg.Transport, Policy: pipeline.PolicyLatest}, log)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := in.Start(ctx); err != nil {
		return err
	}
	var f pipeline.Frame
	for {
		if err := in.Next(ctx, &f); err != nil {
			return err
		}
		if m.first.IsZero() {
			m.first = f.Pulled
		}
		seq, rendered, derr := decodeStrip(&f)
		if m.cfg.OnFrame != nil {
			s := Sample{Pulled: f.Pulled, Dropped: f.Dropped, Err: derr}
			if derr == nil {
				s.Seq, s.Rendered = seq, rendered
			}
			if err := m.cfg.OnFrame(s); err != nil {
				return err
			}
		}
		m.total.add(&f, seq, rendered, derr)
		if m.cfg.Interval > 0 {
			m.part.add(&f, seq, rendered, derr)
			if f.Pulled.Sub(m.part.start) >= m.cfg.Interval {
				if m.cfg.OnInterval != nil {
					m.cfg.OnInterval(m.part.report())
				}
				m.part = newWindow(m.cfg.URL)
			}
		}
		if m.cfg.Duration > 0 && f.Pulled.Sub(m.first) >= m.cfg.Duration {
			return nil
		}
	}
}

// window accumulates the frames of one reporting period.
type window struct {
	url       string
	start     time.Time
	last      time.Time
	seen      int
	undecoded int
	missing   uint64
	dropped   uint64
	lastSeq   uint64
	haveSeq   bool
	maxGap    time.Duration
	latencies []time.Duration
	width     int
	height    int
}

func newWindow(url string) *window {
	return &window{url: url, latencies: make([]time.Duration, 0, 1024)}
}

func (w *window) add(f *pipeline.Frame, seq uint64, rendered time.Time, err error) {
	if w.seen == 0 {
		w.start = f.Pulled
	} else if gap := f.Pulled.Sub(w.last); gap > w.maxGap {
		w.maxGap = gap
	}
	w.last = f.Pulled
	w.seen++
	w.dropped += f.Dropped
	w.width, w.height = f.Width, f.Height
	if err != nil {
		w.undecoded++
		return
	}
	if w.haveSeq && seq > w.lastSeq+1 {
		// Frames the probe's own ingest dropped are not missing from the stream.
		w.missing += sat(seq-w.lastSeq-1, f.Dropped)
	}
	w.lastSeq, w.haveSeq = seq, true
	w.latencies = append(w.latencies, f.Pulled.Sub(rendered))
}

// sat returns a-b, or 0 when b ≥ a.
func sat(a, b uint64) uint64 {
	if b >= a {
		return 0
	}
	return a - b
}

func (w *window) report() Report {
	r := Report{
		URL: pipeline.Redact(w.url), FramesSeen: w.seen, FramesDecoded: len(w.latencies),
		FramesUndecoded: w.undecoded, FramesMissing: w.missing, FramesDropped: w.dropped,
		MaxGapMS: msOf(w.maxGap), Width: w.width, Height: w.height,
	}
	if span := w.last.Sub(w.start); span > 0 && w.seen > 1 {
		r.DurationS = round(span.Seconds(), 3)
		r.FPS = round(float64(w.seen-1)/span.Seconds(), 2)
	}
	if len(w.latencies) > 0 {
		s := slices.Clone(w.latencies)
		slices.Sort(s)
		r.P50MS = msOf(quantile(s, 0.50))
		r.P95MS = msOf(quantile(s, 0.95))
		r.P99MS = msOf(quantile(s, 0.99))
		r.MaxMS = msOf(s[len(s)-1])
	}
	return r
}

// quantile returns the nearest-rank q-quantile of sorted s.
func quantile(s []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func msOf(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 2) }

func round(f float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(f*p) / p
}

// decodeStrip reads the time-code strip of a frame: from its luma plane
// when it is YUV (the ingest's default), else from its RGB pixels.
func decodeStrip(f *pipeline.Frame) (uint64, time.Time, error) {
	if f.Format == pipeline.FormatI420 || f.Format == pipeline.FormatNV12 {
		return timecode.DecodeLuma(f.Pix, f.Width, f.Height, f.Stride)
	}
	return timecode.Decode(f.Pix, f.Width, f.Height, f.Stride)
}
