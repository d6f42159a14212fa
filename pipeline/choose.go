package pipeline

import (
	"fmt"
	"strings"
)

// Codecs the ingest can decode and the output can encode.
const (
	CodecH264 = "h264"
	CodecH265 = "h265"
)

// NormalizeCodec maps the spellings people and RTP caps use ("H264", "h.265", "HEVC")
// to CodecH264 or CodecH265; "" means CodecH264.
func NormalizeCodec(s string) (string, error) {
	switch strings.ToLower(strings.ReplaceAll(s, ".", "")) {
	case "", "h264", "avc":
		return CodecH264, nil
	case "h265", "hevc":
		return CodecH265, nil
	}
	return "", fmt.Errorf("unsupported codec %q (want h264 or h265)", s)
}

// DecoderChoice is a decoder element and what has to surround it so that the
// videoconvert after it receives frames in system memory.
type DecoderChoice struct {
	Element  string // factory name, e.g. "avdec_h264"
	Props    string // properties in gst-launch syntax, e.g. "output-corrupt=false"; may be ""
	Convert  string // gst-launch fragment after the decoder, e.g. "nvvidconv ! video/x-raw,format=NV12"; may be ""
	Hardware bool
}

// decoderCandidate is one row of the preference table.
type decoderCandidate struct {
	choice   DecoderChoice
	requires []string // other elements the chain needs
}

// decoderCandidates lists, per codec, the decoders in order of preference. Each row
// ends in system memory in a format the ingest's default caps (I420 or NV12) take as
// it is, so the shared videoconvert passes the frames through; only the RGB path
// (IngestConfig.Format) converts there. The hardware rows are written against the
// vendors' documentation (there is no GPU on the development machines; untested):
//   - nvv4l2decoder (Jetson) outputs NV12 in NVMM memory only (NVIDIA's
//     Gst-nvvideo4linux2 page); nvvidconv copies it to system memory, NV12 pinned so
//     that it only copies. The converter stays a separate fragment so that a later
//     NVMM path (inference reading NVMM buffers) can drop it without touching the
//     decoder row.
//   - nvh264dec/nvh265dec (desktop NVDEC) output NV12 in CUDA, GL or system memory;
//     the caps filter pins system memory.
//   - vah264dec/vah265dec output VA surfaces or system memory; vapostproc (same
//     plugin) downloads, converting on the GPU to what the caps downstream ask for,
//     and the caps filter pins system memory.
//   - avdec_* runs on the CPU. output-corrupt=false makes libav drop frames whose
//     references are missing, so a stream joined mid-GOP yields clean frames from the
//     next keyframe on instead of grey smears (checked here: with the default
//     output-corrupt=true the first frames after a mid-GOP join are grey).
//
// No row skips frames in the decoder (no skip-frame, no QoS: the appsink has qos=false).
var decoderCandidates = map[string][]decoderCandidate{
	CodecH264: {
		{DecoderChoice{Element: "nvv4l2decoder", Convert: "nvvidconv ! video/x-raw,format=NV12", Hardware: true}, []string{"nvvidconv"}},
		{DecoderChoice{Element: "nvh264dec", Convert: "video/x-raw", Hardware: true}, nil},
		{DecoderChoice{Element: "vah264dec", Convert: "vapostproc ! video/x-raw", Hardware: true}, []string{"vapostproc"}},
		{DecoderChoice{Element: "avdec_h264", Props: "output-corrupt=false"}, nil},
	},
	CodecH265: {
		{DecoderChoice{Element: "nvv4l2decoder", Convert: "nvvidconv ! video/x-raw,format=NV12", Hardware: true}, []string{"nvvidconv"}},
		{DecoderChoice{Element: "nvh265dec", Convert: "video/x-raw", Hardware: true}, nil},
		{DecoderChoice{Element: "vah265dec", Convert: "vapostproc ! video/x-raw", Hardware: true}, []string{"vapostproc"}},
		{DecoderChoice{Element: "avdec_h265", Props: "output-corrupt=false"}, nil},
	},
}

// ChooseDecoder picks the decoder for codec ("h264" or "h265") from what the registry
// has, in the order of decoderCandidates. A forced element overrides the choice: it must
// exist (and so must its converter when it is one of the known hardware decoders); an
// unknown forced element is used bare. The error wraps ErrNoDecoder and names what is
// missing.
func ChooseDecoder(codec string, has func(element string) bool, forced string) (DecoderChoice, error) {
	codec, err := NormalizeCodec(codec)
	if err != nil {
		return DecoderChoice{}, err
	}
	cands := decoderCandidates[codec]
	if forced != "" {
		if !has(forced) {
			return DecoderChoice{}, fmt.Errorf("decoder %q is not in the GStreamer registry: %w", forced, ErrNoDecoder)
		}
		for _, c := range cands {
			if c.choice.Element != forced {
				continue
			}
			for _, r := range c.requires {
				if !has(r) {
					return DecoderChoice{}, fmt.Errorf("decoder %q needs %q, which is not in the GStreamer registry: %w", forced, r, ErrNoDecoder)
				}
			}
			return c.choice, nil
		}
		return DecoderChoice{Element: forced}, nil
	}
	var tried []string
	for _, c := range cands {
		if hasAll(has, c.choice.Element, c.requires) {
			return c.choice, nil
		}
		tried = append(tried, c.choice.Element)
	}
	return DecoderChoice{}, fmt.Errorf("%s: none of %s is in the GStreamer registry: %w", codec, strings.Join(tried, ", "), ErrNoDecoder)
}

// EncoderChoice is an encoder element for the output.
type EncoderChoice struct {
	Element  string // factory name, e.g. "x264enc"
	Codec    string // CodecH264 or CodecH265
	Hardware bool
}

// encoderCandidate is one row of the encoder preference table.
type encoderCandidate struct {
	element  string
	hardware bool
	requires []string
}

// encoderCandidates lists, per codec, the encoders in order of preference. The Orin
// Nano has no NVENC although JetPack ships nvv4l2h264enc: Output falls back to the
// software encoder when a hardware one fails (see fallbackToSoftware).
var encoderCandidates = map[string][]encoderCandidate{
	CodecH264: {
		{"nvv4l2h264enc", true, []string{"nvvidconv"}},
		{"nvh264enc", true, nil},
		{"vah264enc", true, nil},
		{"vaapih264enc", true, nil},
		{"x264enc", false, nil},
	},
	CodecH265: {
		{"nvv4l2h265enc", true, []string{"nvvidconv"}},
		{"nvh265enc", true, nil},
		{"vah265enc", true, nil},
		{"vaapih265enc", true, nil},
		{"x265enc", false, nil},
	},
}

// ChooseEncoder picks the encoder for codec from what the registry has, in the order of
// encoderCandidates; a forced element overrides the choice and must exist. The error
// wraps ErrNoEncoder.
func ChooseEncoder(codec string, has func(element string) bool, forced string) (EncoderChoice, error) {
	codec, err := NormalizeCodec(codec)
	if err != nil {
		return EncoderChoice{}, err
	}
	cands := encoderCandidates[codec]
	if forced != "" {
		if !has(forced) {
			return EncoderChoice{}, fmt.Errorf("encoder %q is not in the GStreamer registry: %w", forced, ErrNoEncoder)
		}
		for _, c := range cands {
			if c.element != forced {
				continue
			}
			for _, r := range c.requires {
				if !has(r) {
					return EncoderChoice{}, fmt.Errorf("encoder %q needs %q, which is not in the GStreamer registry: %w", forced, r, ErrNoEncoder)
				}
			}
			return EncoderChoice{Element: forced, Codec: codec, Hardware: c.hardware}, nil
		}
		// An unknown forced encoder is driven like the software one (no properties set).
		return EncoderChoice{Element: forced, Codec: codec}, nil
	}
	var tried []string
	for _, c := range cands {
		if hasAll(has, c.element, c.requires) {
			return EncoderChoice{Element: c.element, Codec: codec, Hardware: c.hardware}, nil
		}
		tried = append(tried, c.element)
	}
	return EncoderChoice{}, fmt.Errorf("%s: none of %s is in the GStreamer registry: %w", codec, strings.Join(tried, ", "), ErrNoEncoder)
}

// softwareEncoder is the encoder Output falls back to when a hardware one fails.
func softwareEncoder(codec string) EncoderChoice {
	if codec == CodecH265 {
		return EncoderChoice{Element: "x265enc", Codec: CodecH265}
	}
	return EncoderChoice{Element: "x264enc", Codec: CodecH264}
}

func hasAll(has func(string) bool, element string, requires []string) bool {
	if !has(element) {
		return false
	}
	for _, r := range requires {
		if !has(r) {
			return false
		}
	}
	return true
}
