package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"
)

// FrameSource produces the frames a Publisher sends. *Ingest is one (a looping file or
// the test pattern); a synthetic scene rendered in Go can be another.
type FrameSource interface {
	// Next fills dst with the next frame, blocking until there is one.
	Next(ctx context.Context, dst *Frame) error
}

// Defaults of PublisherConfig.
const (
	DefaultPublishWidth  = 1280
	DefaultPublishHeight = 720
)

// PublisherConfig configures a Publisher. The zero value of each field means its
// default.
type PublisherConfig struct {
	Source      string // a video file (path or file://) or "testsrc"; unused with NewPublisher's src
	URL         string // where to publish: rtsp://host:port/path
	FPS         int    // frames a second, paced by a ticker (default 15); a keyframe each second
	Width       int    // frame size (default 1280x720)
	Height      int
	BitrateKbps int    // default 2000
	Codec       string // "h264" (default) or "h265"
	Encoder     string // force an encoder element
	// Stamp, if set, marks each frame just before it is published (the
	// simulator draws a time code with it). With Stamp the source made from Source
	// hands out packed RGB (what the time code is drawn on); without, I420, published
	// with no colour conversion at all.
	Stamp func(f *Frame)
	// SourceName names NewPublisher's src in Describe and the start-up log,
	// e.g. "synthetic crossing scene" (default "custom source"); only with
	// a src.
	SourceName string

	// SwitchEvery, if set, makes the stand-in a camera whose resolution keeps changing:
	// every SwitchEvery (counted in frames at FPS) the published size flips between
	// Width x Height and SwitchWidth x SwitchHeight (frames resampled, nearest
	// neighbour). The encoder is reconfigured in place and the new SPS/PPS go in-band
	// over the same RTSP session (OutputConfig.LiveResize); with SwitchRepublish the
	// session ends and the stream is published anew at the new size instead, like a
	// camera that restarts its stream.
	SwitchEvery               time.Duration
	SwitchWidth, SwitchHeight int
	SwitchRepublish           bool
}

func (c PublisherConfig) withDefaults() PublisherConfig {
	if c.FPS == 0 {
		c.FPS = DefaultOutputFPS
	}
	if c.Width == 0 && c.Height == 0 {
		c.Width, c.Height = DefaultPublishWidth, DefaultPublishHeight
	}
	return c
}

// PublisherStats are a publisher's running totals.
type PublisherStats struct {
	Frames uint64 // frames taken from the source
	Output OutputStats
}

// Publisher is a stand-in camera: it takes frames from a FrameSource at a fixed rate
// and publishes them as a live RTSP stream.
type Publisher struct {
	cfg    PublisherConfig
	log    *slog.Logger
	src    FrameSource
	ingest *Ingest // the source when the Publisher made it (Start/Close are ours)
	out    *Output
	frames atomic.Uint64
}

// NewPublisher validates cfg and prepares a publisher. With src nil the frames come from
// cfg.Source: a file looped at cfg's size and rate, delivered with back-pressure, or the
// live test pattern.
func NewPublisher(cfg PublisherConfig, src FrameSource, log *slog.Logger) (*Publisher, error) {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := log
	log = log.With("component", "camsim")
	var errs []error
	if cfg.FPS < 0 {
		errs = append(errs, fmt.Errorf("FPS: %d is negative", cfg.FPS))
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		errs = append(errs, fmt.Errorf("Width, Height: %dx%d: both must be positive", cfg.Width, cfg.Height))
	}
	switch {
	case cfg.SwitchEvery < 0:
		errs = append(errs, fmt.Errorf("SwitchEvery: %v is negative", cfg.SwitchEvery))
	case cfg.SwitchEvery > 0 && (cfg.SwitchWidth <= 0 || cfg.SwitchHeight <= 0):
		errs = append(errs, fmt.Errorf("SwitchWidth, SwitchHeight: %dx%d: both must be positive with SwitchEvery", cfg.SwitchWidth, cfg.SwitchHeight))
	case cfg.SwitchEvery == 0 && (cfg.SwitchWidth != 0 || cfg.SwitchHeight != 0 || cfg.SwitchRepublish):
		errs = append(errs, errors.New("SwitchWidth, SwitchHeight, SwitchRepublish: only with SwitchEvery"))
	}
	if src == nil && cfg.SourceName != "" {
		errs = append(errs, fmt.Errorf("SourceName: %q: only with a custom source", cfg.SourceName))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("publisher config: %w", err)
	}
	p := &Publisher{cfg: cfg, log: log, src: src}
	if src == nil {
		icfg := IngestConfig{URL: cfg.Source, Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS, Format: FormatI420}
		if cfg.Stamp != nil {
			icfg.Format = FormatRGB
		}
		if kind, _, err := classifySource(cfg.Source); err == nil && kind == sourceFile {
			icfg.Loop, icfg.Paced = true, true
		} else if err == nil && kind == sourceRTSP {
			return nil, fmt.Errorf("publisher config: Source: %q: want a file or %q", Redact(cfg.Source), testSourceURL)
		}
		in, err := NewIngest(icfg, base.With("component", "camsim-source"))
		if err != nil {
			return nil, fmt.Errorf("publisher source: %w", err)
		}
		p.src, p.ingest = in, in
	}
	out, err := NewOutput(OutputConfig{
		URL:         cfg.URL,
		FPS:         cfg.FPS,
		BitrateKbps: cfg.BitrateKbps,
		Codec:       cfg.Codec,
		Encoder:     cfg.Encoder,
		LiveResize:  cfg.SwitchEvery > 0 && !cfg.SwitchRepublish,
	}, base.With("component", "camsim-output"))
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	p.out = out
	return p, nil
}

// Describe says what is published where, e.g. "testsrc 1280x720@15 → x264enc → rtsp://…".
func (p *Publisher) Describe() string {
	what := cmp.Or(p.cfg.SourceName, "custom source")
	if p.ingest != nil {
		what = p.ingest.Describe()
	}
	if p.cfg.SwitchEvery > 0 {
		how := "in-band"
		if p.cfg.SwitchRepublish {
			how = "republished"
		}
		what += fmt.Sprintf(" (switching to %dx%d every %v, %s)", p.cfg.SwitchWidth, p.cfg.SwitchHeight, p.cfg.SwitchEvery, how)
	}
	return fmt.Sprintf("%s %dx%d@%d → %s", what, p.cfg.Width, p.cfg.Height, p.cfg.FPS, p.out.Describe())
}

// Stats returns the running totals.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{Frames: p.frames.Load(), Output: p.out.Stats()}
}

// Run publishes until ctx ends (nil) or the source fails (its error). It returns after
// the output and, if the Publisher made it, the source have stopped.
func (p *Publisher) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if p.ingest != nil {
		if err := p.ingest.Start(ctx); err != nil {
			return fmt.Errorf("camsim source: %w", err)
		}
		defer p.ingest.Close()
	}
	outDone := make(chan error, 1)
	go func() { outDone <- p.out.Run(ctx) }()
	p.log.Info("camsim publishing", "what", p.Describe())

	err := p.loop(ctx, outDone)
	cancel()
	if err != nil {
		if errors.Is(err, errOutputEnded) {
			return err
		}
		<-outDone
		return err
	}
	if oerr := <-outDone; oerr != nil {
		return fmt.Errorf("camsim output: %w", oerr)
	}
	return nil
}

var errOutputEnded = errors.New("camsim output stopped")

// loop sends a frame on every tick. The source blocks until it has a frame: a live
// pattern runs at the same rate, a paced file hands out its next frame at once.
func (p *Publisher) loop(ctx context.Context, outDone <-chan error) error {
	tick := time.NewTicker(time.Second / time.Duration(p.cfg.FPS))
	defer tick.Stop()
	summary := time.NewTicker(30 * time.Second)
	defer summary.Stop()
	period := switchPeriod(p.cfg.SwitchEvery, p.cfg.FPS)
	var f, alt Frame
	for n := 0; ; {
		select {
		case <-ctx.Done():
			return nil
		case err := <-outDone:
			if err == nil {
				err = errors.New("returned early")
			}
			return fmt.Errorf("%w: %w", errOutputEnded, err)
		case <-summary.C:
			st := p.out.Stats()
			p.log.Info("camsim stats", "frames", p.frames.Load(), "pushed", st.Pushed, "dropped", st.Dropped, "restarts", st.Restarts)
			continue
		case <-tick.C:
		}
		if err := p.src.Next(ctx, &f); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("camsim source: %w", err)
		}
		p.frames.Add(1)
		out := &f
		if period > 0 && (n/period)%2 == 1 {
			resample(&alt, &f, p.cfg.SwitchWidth, p.cfg.SwitchHeight)
			out = &alt
		}
		n++
		if p.cfg.Stamp != nil {
			p.cfg.Stamp(out)
		}
		p.out.Push(out)
	}
}

// switchPeriod is SwitchEvery in frames at fps, at least one; 0 when every is 0.
func switchPeriod(every time.Duration, fps int) int {
	if every <= 0 {
		return 0
	}
	return max(1, int(math.Round(every.Seconds()*float64(fps))))
}

// resample scales src to w x h into dst (nearest neighbour), reusing dst.Pix's
// capacity. It keeps src's format (Format "" is RGB) with tight strides: RGB w*3; I420
// and NV12 a Y stride of w, then the chroma planes scaled the same way from src's.
func resample(dst, src *Frame, w, h int) {
	format := src.Format
	if format == "" {
		format = FormatRGB
	}
	luma, chroma := rowBytes(format, w)
	cw, ch := ChromaWidth(w), ChromaHeight(h)
	var uOff, vOff, size int
	switch format {
	case FormatI420:
		uOff = luma * h
		vOff = uOff + chroma*ch
		size = vOff + chroma*ch
	case FormatNV12:
		uOff = luma * h
		size = uOff + chroma*ch
	default:
		size = luma * h
	}
	if cap(dst.Pix) < size {
		dst.Pix = make([]byte, size)
	}
	pix := dst.Pix[:size]
	if format == FormatRGB {
		scalePlane(pix, luma, w, h, src.Pix, src.Stride, src.Width, src.Height, 3)
	} else {
		scw, sch := ChromaWidth(src.Width), ChromaHeight(src.Height)
		scalePlane(pix, luma, w, h, src.Pix, src.Stride, src.Width, src.Height, 1)
		if format == FormatI420 {
			scalePlane(pix[uOff:], chroma, cw, ch, src.Pix[src.UOffset:], src.UVStride, scw, sch, 1)
			scalePlane(pix[vOff:], chroma, cw, ch, src.Pix[src.VOffset:], src.UVStride, scw, sch, 1)
		} else {
			scalePlane(pix[uOff:], chroma, cw, ch, src.Pix[src.UOffset:], src.UVStride, scw, sch, 2)
		}
	}
	meta := *src
	meta.Pix = pix
	meta.Format = format
	meta.Width, meta.Height, meta.Stride = w, h, luma
	meta.UOffset, meta.VOffset, meta.UVStride = uOff, vOff, chroma
	*dst = meta
}

// scalePlane scales a plane of sw x sh samples of bpp bytes (stride sstride) to one of
// w x h (stride stride), nearest neighbour.
func scalePlane(dst []byte, stride, w, h int, src []byte, sstride, sw, sh, bpp int) {
	for y := range h {
		srow := src[(y*sh/h)*sstride:]
		drow := dst[y*stride : y*stride+w*bpp]
		for x := range w {
			sx := (x * sw / w) * bpp
			copy(drow[x*bpp:x*bpp+bpp], srow[sx:sx+bpp])
		}
	}
}
