package pipeline

import (
	"errors"
	"strings"
	"testing"
)

// registry is a fake GStreamer registry holding the named elements.
func registry(elements ...string) func(string) bool {
	set := map[string]bool{}
	for _, e := range elements {
		set[e] = true
	}
	return func(name string) bool { return set[name] }
}

// Registries shaped like the machines the agent runs on.
var (
	bare   = registry("avdec_h264", "avdec_h265", "x264enc", "x265enc")
	jetson = registry("nvv4l2decoder", "nvvidconv", "nvv4l2h264enc", "nvv4l2h265enc", "avdec_h264", "avdec_h265", "x264enc")
	vaapi  = registry("vah264dec", "vah265dec", "vapostproc", "vah264enc", "avdec_h264", "avdec_h265", "x264enc")
	nvdesk = registry("nvh264dec", "nvh265dec", "nvh264enc", "avdec_h264", "x264enc")
	empty  = registry()
)

func TestChooseDecoder(t *testing.T) {
	tests := []struct {
		name    string
		codec   string
		has     func(string) bool
		forced  string
		want    DecoderChoice
		wantErr string // substring; "" means no error
	}{
		{"bare h264", "h264", bare, "", DecoderChoice{Element: "avdec_h264", Props: "output-corrupt=false"}, ""},
		{"bare h265", "H265", bare, "", DecoderChoice{Element: "avdec_h265", Props: "output-corrupt=false"}, ""},
		// Jetson: NVMM out of the decoder, nvvidconv back to system memory (NV12, its own format).
		{"jetson h264", "h264", jetson, "", DecoderChoice{Element: "nvv4l2decoder", Convert: "nvvidconv ! video/x-raw,format=NV12", Hardware: true}, ""},
		{"jetson h265", "h265", jetson, "", DecoderChoice{Element: "nvv4l2decoder", Convert: "nvvidconv ! video/x-raw,format=NV12", Hardware: true}, ""},
		// nvv4l2decoder without nvvidconv is useless: fall through to software.
		{"jetson without nvvidconv", "h264", registry("nvv4l2decoder", "avdec_h264"), "", DecoderChoice{Element: "avdec_h264", Props: "output-corrupt=false"}, ""},
		{"va h264", "h264", vaapi, "", DecoderChoice{Element: "vah264dec", Convert: "vapostproc ! video/x-raw", Hardware: true}, ""},
		{"nvidia desktop h265", "hevc", nvdesk, "", DecoderChoice{Element: "nvh265dec", Convert: "video/x-raw", Hardware: true}, ""},
		// Forced names override the preference order.
		{"forced software on jetson", "h264", jetson, "avdec_h264", DecoderChoice{Element: "avdec_h264", Props: "output-corrupt=false"}, ""},
		{"forced unknown element", "h264", registry("openh264dec"), "openh264dec", DecoderChoice{Element: "openh264dec"}, ""},
		{"forced missing", "h264", bare, "nvh264dec", DecoderChoice{}, `decoder "nvh264dec" is not in the GStreamer registry`},
		{"forced without its converter", "h264", registry("nvv4l2decoder"), "nvv4l2decoder", DecoderChoice{}, `needs "nvvidconv"`},
		{"nothing at all", "h264", empty, "", DecoderChoice{}, "none of nvv4l2decoder, nvh264dec, vah264dec, avdec_h264"},
		{"unknown codec", "vp8", bare, "", DecoderChoice{}, `unsupported codec "vp8"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ChooseDecoder(tt.codec, tt.has, tt.forced)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestChooseDecoderErrorsWrapErrNoDecoder(t *testing.T) {
	_, err := ChooseDecoder("h264", empty, "")
	if !errors.Is(err, ErrNoDecoder) {
		t.Fatalf("err = %v, want one wrapping ErrNoDecoder", err)
	}
	_, err = ChooseDecoder("h264", empty, "avdec_h264")
	if !errors.Is(err, ErrNoDecoder) {
		t.Fatalf("forced: err = %v, want one wrapping ErrNoDecoder", err)
	}
}

func TestChooseEncoder(t *testing.T) {
	tests := []struct {
		name    string
		codec   string
		has     func(string) bool
		forced  string
		want    EncoderChoice
		wantErr string
	}{
		{"bare", "", bare, "", EncoderChoice{Element: "x264enc", Codec: "h264"}, ""},
		{"bare h265", "h265", bare, "", EncoderChoice{Element: "x265enc", Codec: "h265"}, ""},
		{"jetson", "h264", jetson, "", EncoderChoice{Element: "nvv4l2h264enc", Codec: "h264", Hardware: true}, ""},
		{"va", "h264", vaapi, "", EncoderChoice{Element: "vah264enc", Codec: "h264", Hardware: true}, ""},
		{"vaapi (legacy plugin)", "h264", registry("vaapih264enc", "x264enc"), "", EncoderChoice{Element: "vaapih264enc", Codec: "h264", Hardware: true}, ""},
		{"nvidia desktop", "h264", nvdesk, "", EncoderChoice{Element: "nvh264enc", Codec: "h264", Hardware: true}, ""},
		{"forced software on jetson", "h264", jetson, "x264enc", EncoderChoice{Element: "x264enc", Codec: "h264"}, ""},
		{"forced missing", "h264", bare, "nvh264enc", EncoderChoice{}, `encoder "nvh264enc" is not in the GStreamer registry`},
		{"forced without nvvidconv", "h264", registry("nvv4l2h264enc"), "nvv4l2h264enc", EncoderChoice{}, `needs "nvvidconv"`},
		{"nothing", "h264", empty, "", EncoderChoice{}, "none of nvv4l2h264enc, nvh264enc, vah264enc, vaapih264enc, x264enc"},
		{"unknown codec", "mjpeg", bare, "", EncoderChoice{}, "unsupported codec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ChooseEncoder(tt.codec, tt.has, tt.forced)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.Contains(tt.wantErr, "codec") && !errors.Is(err, ErrNoEncoder) {
					t.Fatalf("err = %v does not wrap ErrNoEncoder", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFallbackToSoftware(t *testing.T) {
	tests := []struct {
		name              string
		hardware, fromRTP bool
		encoded           uint64
		want              bool
	}{
		{"hardware encoder broke before its first buffer", true, false, 0, true},
		{"the server is down, not the encoder's fault", true, true, 0, false},
		{"hardware encoder worked before (a later failure)", true, false, 100, false},
		{"already software", false, false, 0, false},
	}
	for _, tt := range tests {
		if got := fallbackToSoftware(tt.hardware, tt.fromRTP, tt.encoded); got != tt.want {
			t.Errorf("%s: fallbackToSoftware = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestNormalizeCodec(t *testing.T) {
	for in, want := range map[string]string{"": "h264", "H264": "h264", "h.264": "h264", "AVC": "h264", "H265": "h265", "HEVC": "h265", "h.265": "h265"} {
		got, err := NormalizeCodec(in)
		if err != nil || got != want {
			t.Errorf("NormalizeCodec(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := NormalizeCodec("VP9"); err == nil {
		t.Error("NormalizeCodec(VP9) succeeded")
	}
}
