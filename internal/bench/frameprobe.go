package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"edge-agent/internal/probe"
)

// FrameProbeConfig configures a FrameProbe.
type FrameProbeConfig struct {
	URL string // the RTSP stream to read
}

// FrameProbe is edge-probe's measurement (internal/probe) with its raw data
// exposed: it reads the stream with the same drop-latest ingest over TCP and
// decodes the same time-code strip, but instead of a summary it writes one
// line per frame. The harness runs it as a child process (`edge-bench
// frame-probe`) so its CPU is counted apart, and takes percentiles over
// exactly the measured window: edge-probe's summary always includes its
// connection's first second, when a new reader can receive a burst of frames
// up to a second old, which alone would set a 60 s run's p99.
type FrameProbe struct {
	cfg FrameProbeConfig
	log *slog.Logger
}

// NewFrameProbe validates cfg; it starts nothing.
func NewFrameProbe(cfg FrameProbeConfig, log *slog.Logger) (*FrameProbe, error) {
	if cfg.URL == "" {
		return nil, errors.New("frame probe: URL is empty")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FrameProbe{cfg: cfg, log: log}, nil
}

// Run reads the stream until ctx ends, writing a frame line (formatFrame) to w
// for every frame. Until the first frame it keeps retrying, as a viewer
// would; after it, a failed stream is an error.
func (p *FrameProbe) Run(ctx context.Context, w io.Writer) error {
	_, err := probe.Run(ctx, probe.Config{URL: p.cfg.URL, Transport: "tcp", OnFrame: func(s probe.Sample) error {
		fs := frameSample{pulled: s.Pulled, dropped: s.Dropped}
		if s.Err == nil {
			fs.seq, fs.rendered = s.Seq, s.Rendered
		}
		if _, err := io.WriteString(w, formatFrame(fs)); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	}}, p.log)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("frame probe: %w", err)
	}
	return nil
}
