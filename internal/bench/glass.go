package bench

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// frameSample is one frame the probe received.
type frameSample struct {
	pulled   time.Time // when the probe got the decoded frame
	seq      uint64    // the camera's frame number from the strip
	rendered time.Time // when the camera rendered it; zero when the strip did not decode
	dropped  uint64    // frames the probe's own ingest replaced since the previous one
}

// decoded reports whether the frame's strip was read.
func (f frameSample) decoded() bool { return !f.rendered.IsZero() }

// latencyMS is the frame's glass-to-glass latency.
func (f frameSample) latencyMS() float64 { return msOf(f.pulled.Sub(f.rendered)) }

// formatFrame is the frame probe's line: "<pulled ns> <seq> <rendered ns>
// <dropped>", times in Unix nanoseconds; an undecodable strip has seq and
// rendered 0.
func formatFrame(f frameSample) string {
	var rendered int64
	if f.decoded() {
		rendered = f.rendered.UnixNano()
	}
	return fmt.Sprintf("%d %d %d %d\n", f.pulled.UnixNano(), f.seq, rendered, f.dropped)
}

// parseFrame reads a line formatFrame wrote; false for anything else.
func parseFrame(line string) (frameSample, bool) {
	f := strings.Fields(line)
	if len(f) != 4 {
		return frameSample{}, false
	}
	var v [4]int64
	for i, s := range f {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return frameSample{}, false
		}
		v[i] = n
	}
	fs := frameSample{pulled: time.Unix(0, v[0]), seq: uint64(v[1]), dropped: uint64(v[3])}
	if v[2] != 0 {
		fs.rendered = time.Unix(0, v[2])
	}
	return fs, true
}

// GlassToGlass is the probe's view of the measured window: every frame it
// received, render time on the camera to receive time after decoding.
type GlassToGlass struct {
	Frames    int `json:"frames"`    // received in the window
	Undecoded int `json:"undecoded"` // frames whose strip did not decode
	// Missing counts frame numbers that never arrived, beyond those the probe's
	// own ingest dropped (ProbeDropped) for being slower than the stream.
	Missing      uint64  `json:"missing"`
	ProbeDropped uint64  `json:"probe_dropped"`
	FPS          float64 `json:"fps"`
	P50          float64 `json:"p50_ms"`
	P95          float64 `json:"p95_ms"`
	P99          float64 `json:"p99_ms"`
	Max          float64 `json:"max_ms"`
	MaxGap       float64 `json:"max_gap_ms"` // the longest time without a frame
}

// Second is the glass-to-glass latency of the frames received in one second
// of the window.
type Second struct {
	T      float64 `json:"t_s"` // the second's middle, since the window start
	Frames int     `json:"frames"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
}

// glassToGlass summarises the frames received in [t0, t1], and per second.
func glassToGlass(frames []frameSample, t0, t1 time.Time) (GlassToGlass, []Second) {
	var g GlassToGlass
	var lat []float64
	var prev *frameSample
	secs := int(t1.Sub(t0) / time.Second)
	per := make([][]float64, secs)
	for i := range frames {
		f := &frames[i]
		if f.pulled.Before(t0) || f.pulled.After(t1) {
			continue
		}
		g.Frames++
		if prev != nil {
			g.MaxGap = max(g.MaxGap, msOf(f.pulled.Sub(prev.pulled)))
			g.ProbeDropped += f.dropped
		}
		if !f.decoded() {
			g.Undecoded++
			prev = f
			continue
		}
		if prev != nil && prev.decoded() && f.seq > prev.seq+1 {
			g.Missing += sat(f.seq-prev.seq-1, f.dropped)
		}
		prev = f
		l := f.latencyMS()
		lat = append(lat, l)
		if s := int(f.pulled.Sub(t0) / time.Second); s < secs {
			per[s] = append(per[s], l)
		}
	}
	if span := t1.Sub(t0); span > 0 {
		g.FPS = round(float64(g.Frames)/span.Seconds(), 2)
	}
	sum := Summarize(lat)
	g.P50, g.P95, g.P99, g.Max = round(sum.P50, 1), round(sum.P95, 1), round(sum.P99, 1), round(sum.Max, 1)
	g.MaxGap = round(g.MaxGap, 1)
	var out []Second
	for i, l := range per {
		if len(l) == 0 {
			continue
		}
		s := Summarize(l)
		out = append(out, Second{T: float64(i) + 0.5, Frames: len(l), P50: round(s.P50, 1), P99: round(s.P99, 1), Max: round(s.Max, 1)})
	}
	return g, out
}

// secondsTrend fits the per-second medians against time.
func secondsTrend(s []Second) Fit {
	x, y := make([]float64, len(s)), make([]float64, len(s))
	for i, p := range s {
		x[i], y[i] = p.T, p.P50
	}
	f, _ := LinearFit(x, y)
	return f
}

// sat returns a-b, or 0 when b ≥ a.
func sat(a, b uint64) uint64 {
	if b >= a {
		return 0
	}
	return a - b
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
