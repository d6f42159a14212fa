package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"edge-agent/internal/timecode"
	"edge-agent/pipeline"
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

// probeRetry is the pause between attempts to open a stream that is not
// there yet.
const probeRetry = 500 * time.Millisecond

// Run reads the stream until ctx ends, writing a frame line (formatFrame) to w
// for every frame. Until the first frame it keeps retrying, as a viewer
// would; after it, a failed stream is an error.
func (p *FrameProbe) Run(ctx context.Context, w io.Writer) error {
	seen := false
	for {
		err := p.read(ctx, w, &seen)
		if ctx.Err() != nil {
			return nil
		}
		if seen {
			return fmt.Errorf("frame probe %s: %w", pipeline.Redact(p.cfg.URL), err)
		}
		p.log.Info("waiting for the stream", "url", pipeline.Redact(p.cfg.URL), "err", err)
		if err := sleep(ctx, probeRetry); err != nil {
			return nil
		}
	}
}

func (p *FrameProbe) read(ctx context.Context, w io.Writer, seen *bool) error {
	in, err := pipeline.NewIngest(pipeline.IngestConfig{URL: p.cfg.URL, Transport: "tcp", Policy: pipeline.PolicyLatest}, p.log)
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
		*seen = true
		seq, rendered, err := timecode.Decode(f.Pix, f.Width, f.Height, f.Stride)
		fs := frameSample{pulled: f.Pulled, dropped: f.Dropped}
		if err == nil {
			fs.seq, fs.rendered = seq, rendered
		}
		if _, err := io.WriteString(w, formatFrame(fs)); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
}
