package pipeline

import (
	"strings"
	"testing"
)

const (
	tailLatest   = "videoconvert name=conv ! video/x-raw,format={ (string)I420, (string)NV12 } ! appsink name=sink sync=false drop=true max-buffers=1 enable-last-sample=false"
	tailBuffered = "videoconvert name=conv ! video/x-raw,format={ (string)I420, (string)NV12 } ! appsink name=sink sync=false drop=false max-buffers=0 enable-last-sample=false"
	tailRGB      = "videoconvert name=conv ! video/x-raw,format=RGB ! appsink name=sink sync=false drop=true max-buffers=1 enable-last-sample=false"
	tailNV12     = "videoconvert name=conv ! video/x-raw,format=NV12 ! appsink name=sink sync=false drop=true max-buffers=1 enable-last-sample=false"
)

func TestIngestPipelineRTSP(t *testing.T) {
	const cam = "rtsp://10.0.0.7:554/stream1"
	tests := []struct {
		name string
		cfg  IngestConfig
		want string
	}{
		{"latest auto (defaults)", IngestConfig{URL: cam},
			`rtspsrc name=src location="rtsp://10.0.0.7:554/stream1" latency=0 add-reference-timestamp-meta=true ` + tailLatest},
		{"latest tcp", IngestConfig{URL: cam, Transport: "tcp", Policy: PolicyLatest},
			`rtspsrc name=src location="rtsp://10.0.0.7:554/stream1" latency=0 protocols=tcp add-reference-timestamp-meta=true ` + tailLatest},
		{"latest udp with 50 ms jitter buffer", IngestConfig{URL: cam, Transport: "udp", LatencyMS: 50},
			`rtspsrc name=src location="rtsp://10.0.0.7:554/stream1" latency=50 protocols=udp add-reference-timestamp-meta=true ` + tailLatest},
		// Buffered: rtspsrc keeps its default latency (no latency=), appsink keeps every frame.
		{"buffered auto", IngestConfig{URL: cam, Policy: PolicyBuffered, LatencyMS: 50},
			`rtspsrc name=src location="rtsp://10.0.0.7:554/stream1" add-reference-timestamp-meta=true ` + tailBuffered},
		{"buffered tcp", IngestConfig{URL: cam, Policy: PolicyBuffered, Transport: "tcp"},
			`rtspsrc name=src location="rtsp://10.0.0.7:554/stream1" protocols=tcp add-reference-timestamp-meta=true ` + tailBuffered},
		{"buffered udp", IngestConfig{URL: cam, Policy: PolicyBuffered, Transport: "udp"},
			`rtspsrc name=src location="rtsp://10.0.0.7:554/stream1" protocols=udp add-reference-timestamp-meta=true ` + tailBuffered},
		{"rtsps with credentials", IngestConfig{URL: `rtsps://admin:pw@cam/x`},
			`rtspsrc name=src location="rtsps://admin:pw@cam/x" latency=0 add-reference-timestamp-meta=true ` + tailLatest},
		// The old path, converted to packed RGB; and NV12 forced.
		{"RGB", IngestConfig{URL: cam, Format: FormatRGB},
			`rtspsrc name=src location="rtsp://10.0.0.7:554/stream1" latency=0 add-reference-timestamp-meta=true ` + tailRGB},
		{"NV12 forced", IngestConfig{URL: cam, Format: FormatNV12},
			`rtspsrc name=src location="rtsp://10.0.0.7:554/stream1" latency=0 add-reference-timestamp-meta=true ` + tailNV12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IngestPipeline(tt.cfg); got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestIngestPipelineTestsrc(t *testing.T) {
	tests := []struct {
		name string
		cfg  IngestConfig
		want string
	}{
		// YUV: the pattern is generated as I420 and passes videoconvert untouched.
		{"defaults: 1280x720 at 15", IngestConfig{URL: "testsrc"},
			"videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=1280,height=720,framerate=15/1 ! " + tailLatest},
		{"640x360 at 30, buffered", IngestConfig{URL: "testsrc", Width: 640, Height: 360, FPS: 30, Policy: PolicyBuffered},
			"videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=640,height=360,framerate=30/1 ! " + tailBuffered},
		{"RGB", IngestConfig{URL: "testsrc", Format: FormatRGB},
			"videotestsrc is-live=true pattern=ball ! video/x-raw,format=RGB,width=1280,height=720,framerate=15/1 ! " + tailRGB},
		{"NV12", IngestConfig{URL: "testsrc", Format: FormatNV12},
			"videotestsrc is-live=true pattern=ball ! video/x-raw,format=NV12,width=1280,height=720,framerate=15/1 ! " + tailNV12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IngestPipeline(tt.cfg); got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestIngestPipelineFile(t *testing.T) {
	const dec = `decodebin force-sw-decoders=true ! `
	tests := []struct {
		name string
		cfg  IngestConfig
		want string
	}{
		// Unpaced files play at their own rate: appsink sync=true.
		{"latest, own size and rate, quotes in the name", IngestConfig{URL: `/media/a "b".avi`},
			`filesrc location="/media/a \"b\".avi" ! ` + dec +
				"videoconvert name=conv ! video/x-raw,format={ (string)I420, (string)NV12 } ! appsink name=sink sync=true drop=true max-buffers=1 enable-last-sample=false"},
		{"buffered, RGB", IngestConfig{URL: "clip.mkv", Policy: PolicyBuffered, Format: FormatRGB},
			`filesrc location="clip.mkv" ! ` + dec +
				"videoconvert name=conv ! video/x-raw,format=RGB ! appsink name=sink sync=true drop=false max-buffers=0 enable-last-sample=false"},
		// Paced: back-pressure through a two-frame queue, no clock.
		{"file URL, paced, scaled and re-timed, I420", IngestConfig{URL: "file:///media/vtest.avi", Paced: true, Loop: true, Width: 1280, Height: 720, FPS: 15, Format: FormatI420},
			`filesrc location="/media/vtest.avi" ! ` + dec + "videoscale ! videorate ! video/x-raw,width=1280,height=720,framerate=15/1 ! " +
				"videoconvert name=conv ! video/x-raw,format=I420 ! appsink name=sink sync=false drop=false max-buffers=2 enable-last-sample=false"},
		{"only re-timed", IngestConfig{URL: "/m.mp4", FPS: 10},
			`filesrc location="/m.mp4" ! ` + dec + "videorate ! video/x-raw,framerate=10/1 ! " +
				"videoconvert name=conv ! video/x-raw,format={ (string)I420, (string)NV12 } ! appsink name=sink sync=true drop=true max-buffers=1 enable-last-sample=false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IngestPipeline(tt.cfg); got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestDecodeBranch(t *testing.T) {
	soft264 := DecoderChoice{Element: "avdec_h264", Props: "output-corrupt=false"}
	soft265 := DecoderChoice{Element: "avdec_h265", Props: "output-corrupt=false"}
	nvmm := DecoderChoice{Element: "nvv4l2decoder", Convert: "nvvidconv ! video/x-raw,format=NV12", Hardware: true}
	va265 := DecoderChoice{Element: "vah265dec", Convert: "vapostproc ! video/x-raw", Hardware: true}
	tests := []struct {
		codec  string
		choice DecoderChoice
		want   string
	}{
		{"h264", soft264, "rtph264depay ! h264parse ! avdec_h264 output-corrupt=false"},
		{"H265", soft265, "rtph265depay ! h265parse ! avdec_h265 output-corrupt=false"},
		{"h264", nvmm, "rtph264depay ! h264parse ! nvv4l2decoder ! nvvidconv ! video/x-raw,format=NV12"},
		{"h265", nvmm, "rtph265depay ! h265parse ! nvv4l2decoder ! nvvidconv ! video/x-raw,format=NV12"},
		{"h265", va265, "rtph265depay ! h265parse ! vah265dec ! vapostproc ! video/x-raw"},
	}
	for _, tt := range tests {
		got, err := DecodeBranch(tt.codec, tt.choice)
		if err != nil || got != tt.want {
			t.Errorf("DecodeBranch(%s, %s) = %q, %v; want %q", tt.codec, tt.choice.Element, got, err, tt.want)
		}
	}
	if _, err := DecodeBranch("MP4V-ES", soft264); err == nil {
		t.Error("DecodeBranch accepted MPEG-4 part 2")
	}
}

func TestOutputPipeline(t *testing.T) {
	const head = `appsrc name=src is-live=true format=time do-timestamp=true leaky-type=downstream max-buffers=2 max-bytes=0 caps="video/x-raw,format=I420,width=1280,height=720,framerate=15/1,colorimetry=bt709" ! videoconvert ! `
	const tail = ` ! h264parse name=parse config-interval=-1 ! rtspclientsink name=sink location="rtsp://127.0.0.1:8554/out" protocols=tcp`
	cfg := OutputConfig{URL: "rtsp://127.0.0.1:8554/out"} // defaults: 15 fps, 2000 kbit/s
	tests := []struct {
		name   string
		choice EncoderChoice
		want   string
	}{
		{"x264", EncoderChoice{Element: "x264enc", Codec: "h264"},
			head + "video/x-raw,format=I420 ! x264enc name=enc tune=zerolatency speed-preset=ultrafast key-int-max=15 bitrate=2000" + tail},
		// Jetson: bitrate in bit/s, an IDR every second, NVMM upload.
		{"jetson", EncoderChoice{Element: "nvv4l2h264enc", Codec: "h264", Hardware: true},
			head + "video/x-raw,format={ (string)I420, (string)NV12 } ! nvvidconv ! video/x-raw(memory:NVMM),format=I420 ! nvv4l2h264enc name=enc bitrate=2000000 iframeinterval=15 idrinterval=15 insert-sps-pps=true" + tail},
		{"nvenc", EncoderChoice{Element: "nvh264enc", Codec: "h264", Hardware: true},
			head + "video/x-raw,format=NV12 ! nvh264enc name=enc bitrate=2000 gop-size=15 zerolatency=true" + tail},
		{"va", EncoderChoice{Element: "vah264enc", Codec: "h264", Hardware: true},
			head + "video/x-raw,format=NV12 ! vah264enc name=enc bitrate=2000 key-int-max=15 rate-control=cbr" + tail},
		{"vaapi", EncoderChoice{Element: "vaapih264enc", Codec: "h264", Hardware: true},
			head + "video/x-raw,format=NV12 ! vaapih264enc name=enc bitrate=2000 keyframe-period=15 rate-control=cbr" + tail},
		{"x265", EncoderChoice{Element: "x265enc", Codec: "h265"},
			head + "video/x-raw,format=I420 ! x265enc name=enc tune=zerolatency speed-preset=ultrafast key-int-max=15 bitrate=2000" +
				strings.Replace(tail, "h264parse", "h265parse", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OutputPipeline(cfg, tt.choice, VideoCaps{Format: FormatI420, Width: 1280, Height: 720, Colorimetry: Colorimetry{BT709: true}}); got != tt.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	// Rate and bitrate flow into the encoder and the caps.
	got := OutputPipeline(OutputConfig{URL: "rtsp://h/p", FPS: 10, BitrateKbps: 800}, EncoderChoice{Element: "x264enc", Codec: "h264"},
		VideoCaps{Format: FormatRGB, Width: 640, Height: 360})
	for _, want := range []string{`caps="video/x-raw,format=RGB,width=640,height=360,framerate=10/1"`, "key-int-max=10 bitrate=800"} {
		if !strings.Contains(got, want) {
			t.Errorf("OutputPipeline lacks %q:\n%s", want, got)
		}
	}
}

func TestVideoCapsString(t *testing.T) {
	tests := []struct {
		caps VideoCaps
		want string
	}{
		// RGB caps carry no colorimetry (GStreamer assumes sRGB), whatever the field says.
		{VideoCaps{Format: FormatRGB, Width: 640, Height: 360, Colorimetry: Colorimetry{BT709: true}},
			"video/x-raw,format=RGB,width=640,height=360,framerate=15/1"},
		{VideoCaps{Format: FormatI420, Width: 1281, Height: 721, Colorimetry: Colorimetry{BT709: true}},
			"video/x-raw,format=I420,width=1281,height=721,framerate=15/1,colorimetry=bt709"},
		{VideoCaps{Format: FormatNV12, Width: 640, Height: 480},
			"video/x-raw,format=NV12,width=640,height=480,framerate=15/1,colorimetry=bt601"},
		// Full range: range:matrix:transfer:primaries, 1 = 0..255, 3 = BT.709 matrix,
		// 5 = BT.709 transfer, 1 = BT.709 primaries; 4 = BT.601 matrix, 16 = BT.601
		// transfer, 4 = SMPTE 170M primaries.
		{VideoCaps{Format: FormatI420, Width: 2, Height: 2, Colorimetry: Colorimetry{BT709: true, FullRange: true}},
			"video/x-raw,format=I420,width=2,height=2,framerate=15/1,colorimetry=1:3:5:1"},
		{VideoCaps{Format: FormatI420, Width: 2, Height: 2, Colorimetry: Colorimetry{FullRange: true}},
			"video/x-raw,format=I420,width=2,height=2,framerate=15/1,colorimetry=1:4:16:4"},
	}
	for _, tt := range tests {
		if got := tt.caps.String(15); got != tt.want {
			t.Errorf("%+v: got %s, want %s", tt.caps, got, tt.want)
		}
	}
}

func TestClassifySource(t *testing.T) {
	tests := []struct {
		in      string
		kind    sourceKind
		loc     string
		wantErr string
	}{
		{"testsrc", sourceTest, "", ""},
		{"rtsp://cam:554/a", sourceRTSP, "rtsp://cam:554/a", ""},
		{"rtsps://u:p@cam/a", sourceRTSP, "rtsps://u:p@cam/a", ""},
		{"/media/x.avi", sourceFile, "/media/x.avi", ""},
		{"relative/x.avi", sourceFile, "relative/x.avi", ""},
		{"file:///media/a%20b.avi", sourceFile, "/media/a b.avi", ""},
		{"file://localhost/m.mp4", sourceFile, "/m.mp4", ""},
		{"", 0, "", "empty URL"},
		{"rtsp:///nohost", 0, "", "has no host"},
		{"file://nas/share/x.avi", 0, "", "remote host"},
		{"http://cam/stream.mjpg", 0, "", "unsupported URL scheme"},
	}
	for _, tt := range tests {
		kind, loc, err := classifySource(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("classifySource(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || kind != tt.kind || loc != tt.loc {
			t.Errorf("classifySource(%q) = %v, %q, %v; want %v, %q", tt.in, kind, loc, err, tt.kind, tt.loc)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:     `"plain"`,
		`a "b"`:     `"a \"b\""`,
		`C:\dir\x`:  `"C:\\dir\\x"`,
		`with ! ok`: `"with ! ok"`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}
