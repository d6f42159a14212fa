package pipeline

import (
	"fmt"
	"net/url"
	"strings"
)

// Element names the launch descriptions give the elements that ingest.go and output.go
// look up after parsing.
const (
	nameSource  = "src"  // rtspsrc (ingest) or appsrc (output)
	nameConvert = "conv" // ingest: the videoconvert the decode branch links to
	nameSink    = "sink" // appsink (ingest) or rtspclientsink (output)
	nameEncoder = "enc"  // output: the encoder
	nameParse   = "parse"
)

// sourceKind says what an IngestConfig.URL points at.
type sourceKind int

const (
	sourceRTSP sourceKind = iota + 1
	sourceFile
	sourceTest
)

func (k sourceKind) String() string {
	switch k {
	case sourceRTSP:
		return "rtsp"
	case sourceFile:
		return "file"
	case sourceTest:
		return "testsrc"
	}
	return "unknown"
}

// testSourceURL is the IngestConfig.URL of the built-in moving test pattern.
const testSourceURL = "testsrc"

// Size and rate of the test pattern when IngestConfig leaves them at 0.
const (
	testDefaultWidth  = 1280
	testDefaultHeight = 720
	testDefaultFPS    = 15
)

// classifySource splits an ingest URL into its kind and the location GStreamer needs
// (the URL itself for RTSP, a path for files).
func classifySource(raw string) (sourceKind, string, error) {
	switch {
	case raw == "":
		return 0, "", fmt.Errorf("empty URL")
	case raw == testSourceURL:
		return sourceTest, "", nil
	case strings.HasPrefix(raw, "rtsp://"), strings.HasPrefix(raw, "rtsps://"):
		u, err := url.Parse(raw)
		if err != nil { // not err: it quotes raw, password included
			return 0, "", fmt.Errorf("URL %q does not parse (check its escaping, e.g. %%25 for %% in a password)", Redact(raw))
		}
		if u.Host == "" {
			return 0, "", fmt.Errorf("URL %q has no host", Redact(raw))
		}
		return sourceRTSP, raw, nil
	case strings.HasPrefix(raw, "file://"):
		u, err := url.Parse(raw)
		if err != nil { // not err: it quotes raw, password included
			return 0, "", fmt.Errorf("URL %q does not parse (check its escaping, e.g. %%25 for %% in a password)", Redact(raw))
		}
		if u.Host != "" && u.Host != "localhost" {
			return 0, "", fmt.Errorf("file URL %q names a remote host", Redact(raw))
		}
		if u.Path == "" {
			return 0, "", fmt.Errorf("file URL %q has no path", Redact(raw))
		}
		return sourceFile, u.Path, nil
	case strings.Contains(raw, "://"):
		return 0, "", fmt.Errorf("unsupported URL scheme in %q (want rtsp://, rtsps://, file://, a path or %q)", Redact(raw), testSourceURL)
	}
	return sourceFile, raw, nil
}

// quote renders s as a double-quoted gst-launch value.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// yuvCaps is the ingest's caps filter for IngestConfig.Format "": the two 4:2:0 formats
// decoders give. videoconvert is in passthrough (basetransform "set passthrough 1",
// "reusing input buffer" at GST_DEBUG=basetransform:6; checked with avdec_h264 and
// videotestsrc) when its input is one of them, and converts anything else (a 4:2:2 or
// 10-bit stream) to the first, I420.
const yuvCaps = "video/x-raw,format={ (string)I420, (string)NV12 }"

// ingestCaps is the caps filter in front of the appsink for an IngestConfig.Format.
func ingestCaps(f PixelFormat) string {
	if f == "" {
		return yuvCaps
	}
	return "video/x-raw,format=" + string(f)
}

// IngestPipeline returns the gst-launch description of an ingest's static part. For
// RTSP it holds rtspsrc (named "src", no links: its pads appear at run time and get a
// DecodeBranch each) and the tail from videoconvert (named "conv") to the appsink
// (named "sink"). For files and the test pattern it is the whole pipeline. cfg must
// have passed NewIngest's validation; zero values take their defaults.
//
// The tail's caps follow cfg.Format: by default I420 or NV12, whichever the decoder
// gives (videoconvert then passes the decoder's buffers through untouched); FormatRGB
// converts to packed RGB; FormatI420 and FormatNV12 force one.
func IngestPipeline(cfg IngestConfig) string {
	cfg = cfg.withDefaults()
	kind, loc, err := classifySource(cfg.URL)
	if err != nil {
		return ""
	}
	tail := fmt.Sprintf("videoconvert name=%s ! %s ! appsink name=%s %s",
		nameConvert, ingestCaps(cfg.Format), nameSink, appsinkProps(kind, cfg.Policy, cfg.Paced))
	switch kind {
	case sourceRTSP:
		var b strings.Builder
		fmt.Fprintf(&b, "rtspsrc name=%s location=%s", nameSource, quote(loc))
		if cfg.Policy == PolicyLatest {
			// PolicyBuffered keeps rtspsrc's default jitter-buffer latency.
			fmt.Fprintf(&b, " latency=%d", cfg.LatencyMS)
		}
		if cfg.Transport != "auto" {
			fmt.Fprintf(&b, " protocols=%s", cfg.Transport)
		}
		b.WriteString(" add-reference-timestamp-meta=true ")
		b.WriteString(tail)
		return b.String()
	case sourceTest:
		w, h, fps := cfg.Width, cfg.Height, cfg.FPS
		if w == 0 {
			w, h = testDefaultWidth, testDefaultHeight
		}
		if fps == 0 {
			fps = testDefaultFPS
		}
		// A white ball moving on black, generated directly in the format asked for (I420
		// by default): videoconvert passes it through.
		format := cfg.Format
		if format == "" {
			format = FormatI420
		}
		return fmt.Sprintf("videotestsrc is-live=true pattern=ball ! video/x-raw,format=%s,width=%d,height=%d,framerate=%d/1 ! %s",
			format, w, h, fps, tail)
	default: // sourceFile
		var b strings.Builder
		// Decoded in software (files are a development aid); an audio stream's pad finds
		// nothing to link to and is left alone.
		fmt.Fprintf(&b, "filesrc location=%s ! decodebin force-sw-decoders=true ! ", quote(loc))
		var caps []string
		if cfg.Width > 0 {
			b.WriteString("videoscale ! ")
			caps = append(caps, fmt.Sprintf("width=%d,height=%d", cfg.Width, cfg.Height))
		}
		if cfg.FPS > 0 {
			b.WriteString("videorate ! ")
			caps = append(caps, fmt.Sprintf("framerate=%d/1", cfg.FPS))
		}
		if len(caps) > 0 {
			fmt.Fprintf(&b, "video/x-raw,%s ! ", strings.Join(caps, ","))
		}
		b.WriteString(tail)
		return b.String()
	}
}

// appsinkProps is where the policies differ. PolicyLatest: the appsink is the one-slot
// mailbox (drop=true max-buffers=1). PolicyBuffered: it keeps every frame. Paced files
// apply back-pressure with a two-frame queue. Live sources never sync (frames are
// delivered as soon as they are decoded); unpaced files sync to the clock so they play
// at their own rate, like a camera. qos stays at its default (false): no QoS events
// reach the decoder, so it never skips frames.
func appsinkProps(kind sourceKind, policy Policy, paced bool) string {
	sync := "false"
	if kind == sourceFile && !paced {
		sync = "true"
	}
	switch {
	case kind == sourceFile && paced:
		return "sync=false drop=false max-buffers=2 enable-last-sample=false"
	case policy == PolicyBuffered:
		return "sync=" + sync + " drop=false max-buffers=0 enable-last-sample=false"
	default:
		return "sync=" + sync + " drop=true max-buffers=1 enable-last-sample=false"
	}
}

// DecodeBranch returns the gst-launch description of what goes between an RTSP
// source pad carrying codec and the ingest's videoconvert: depayloader, parser,
// decoder and the decoder's converter to system memory. Every compressed frame is
// decoded; the policy acts only on decoded frames, at the appsink.
func DecodeBranch(codec string, choice DecoderChoice) (string, error) {
	codec, err := NormalizeCodec(codec)
	if err != nil {
		return "", err
	}
	depay, parse := "rtph264depay", "h264parse"
	if codec == CodecH265 {
		depay, parse = "rtph265depay", "h265parse"
	}
	dec := choice.Element
	if choice.Props != "" {
		dec += " " + choice.Props
	}
	s := depay + " ! " + parse + " ! " + dec
	if choice.Convert != "" {
		s += " ! " + choice.Convert
	}
	return s, nil
}

// VideoCaps is what an output's appsrc caps say about the frames pushed into it.
type VideoCaps struct {
	Format        PixelFormat // FormatRGB, FormatI420 or FormatNV12
	Width, Height int
	Colorimetry   Colorimetry // YUV only
}

// String renders c as caps at fps frames a second. YUV caps carry the colorimetry
// (GStreamer's names: bt709 and bt601 limited range; full range as
// range:matrix:transfer:primaries: 1:3:5:1 for BT.709 and 1:4:16:4 for BT.601, as
// bt709 and bt601 but with range 1, 0..255; "jpeg" is no name GStreamer 1.22 parses),
// so the encoder signals it in the stream's VUI.
func (c VideoCaps) String(fps int) string {
	s := fmt.Sprintf("video/x-raw,format=%s,width=%d,height=%d,framerate=%d/1", c.Format, c.Width, c.Height, fps)
	if c.Format == FormatRGB {
		return s
	}
	var col string
	switch c.Colorimetry {
	case Colorimetry{BT709: true}:
		col = "bt709"
	case Colorimetry{}:
		col = "bt601"
	case Colorimetry{BT709: true, FullRange: true}:
		col = "1:3:5:1"
	default:
		col = "1:4:16:4"
	}
	return s + ",colorimetry=" + col
}

// OutputPipeline returns the gst-launch description of an output: appsrc (named "src")
// with caps for the frames pushed, videoconvert (passthrough when the encoder takes
// the pushed format, e.g. I420 for x264enc), the encoder (named "enc"), the parser
// (named "parse") and rtspclientsink (named "sink"). cfg must have passed NewOutput's
// validation; zero values take their defaults.
func OutputPipeline(cfg OutputConfig, choice EncoderChoice, caps VideoCaps) string {
	cfg = cfg.withDefaults()
	parse := "h264parse"
	if choice.Codec == CodecH265 {
		parse = "h265parse"
	}
	// leaky-type=downstream with max-buffers=2 (GStreamer >= 1.20) makes a push into
	// a full queue drop the oldest frame instead of blocking; max-bytes=0 lets
	// max-buffers be the only limit.
	return fmt.Sprintf("appsrc name=%s is-live=true format=time do-timestamp=true leaky-type=downstream max-buffers=2 max-bytes=0"+
		" caps=%s ! videoconvert ! %s ! %s name=%s config-interval=-1 ! rtspclientsink name=%s location=%s protocols=tcp",
		nameSource,
		quote(caps.String(cfg.FPS)),
		encoderFragment(choice, cfg.FPS, cfg.BitrateKbps),
		parse, nameParse, nameSink, quote(cfg.URL))
}

// encoderFragment renders the encoder and the caps it takes from the videoconvert in
// front of it, with a keyframe every fps frames (one a second) and the bitrate in
// kbit/s. Pushed frames in that format pass videoconvert untouched; others are
// converted (NV12 to I420 for x264enc: a chroma de-interleave, no colour maths). The
// hardware rows follow the vendors' documentation; they are untested here (no GPU),
// and Output falls back to the software encoder if one fails to start.
func encoderFragment(c EncoderChoice, fps, kbps int) string {
	enc := "name=" + nameEncoder
	switch c.Element {
	case "nvv4l2h264enc", "nvv4l2h265enc":
		// Jetson: nvvidconv uploads to NVMM and converts in hardware (it takes I420 and
		// NV12 from system memory), so neither pushed format is converted on the CPU;
		// bitrate is in bit/s.
		return fmt.Sprintf("%s ! nvvidconv ! video/x-raw(memory:NVMM),format=I420 ! %s %s bitrate=%d iframeinterval=%d idrinterval=%d insert-sps-pps=true",
			yuvCaps, c.Element, enc, kbps*1000, fps, fps)
	case "nvh264enc", "nvh265enc":
		return fmt.Sprintf("video/x-raw,format=NV12 ! %s %s bitrate=%d gop-size=%d zerolatency=true", c.Element, enc, kbps, fps)
	case "vah264enc", "vah265enc":
		return fmt.Sprintf("video/x-raw,format=NV12 ! %s %s bitrate=%d key-int-max=%d rate-control=cbr", c.Element, enc, kbps, fps)
	case "vaapih264enc", "vaapih265enc":
		return fmt.Sprintf("video/x-raw,format=NV12 ! %s %s bitrate=%d keyframe-period=%d rate-control=cbr", c.Element, enc, kbps, fps)
	case "x264enc", "x265enc":
		// I420 pinned: from RGB, videoconvert would otherwise pick Y444 and the stream
		// would be High 4:4:4 Predictive (profile-level-id f40016 measured), a profile
		// cameras do not send and hardware decoders and browsers generally cannot
		// decode; with I420 it is 42c016, constrained baseline 4:2:0.
		return fmt.Sprintf("video/x-raw,format=I420 ! %s %s tune=zerolatency speed-preset=ultrafast key-int-max=%d bitrate=%d", c.Element, enc, fps, kbps)
	}
	return c.Element + " " + enc
}
