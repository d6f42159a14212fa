package pipeline

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edge-agent/internal/testenv"
)

// TestPublisherFile publishes the shared pedestrian video, looped and re-timed to
// 1280x720 at 15 fps, and reads it back.
func TestPublisherFile(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with MediaMTX: make test's second pass runs it at full speed")
	}
	video := filepath.Join(testenv.SharedDir(t), "media", "vtest.avi")
	mtx := testenv.StartMediaMTX(t)
	url := mtx + "/vtest"
	pub := publish(t, PublisherConfig{Source: video, URL: url, Width: 1280, Height: 720, FPS: 15})
	if got := pub.Describe(); !strings.HasPrefix(got, "file via decodebin 1280x720@15 → x264enc → rtsp://") {
		t.Errorf("Describe = %q", got)
	}
	in, _ := openIngest(t, IngestConfig{URL: url, Transport: "tcp"}, 20*time.Second)
	before := pub.Stats()
	start := time.Now()
	frames := readFor(t, in, 4*time.Second, 1280, 720)
	after := pub.Stats()
	in.Close()
	fpsIn := float64(after.Frames-before.Frames) / time.Since(start).Seconds()
	fpsOut := rate(frames)
	t.Logf("published %.1f fps, read back %.1f fps (%d frames), publisher %+v", fpsIn, fpsOut, len(frames), after)
	if fpsIn < 13 || fpsOut < 12 {
		t.Errorf("published %.1f fps, read %.1f fps: want about 15", fpsIn, fpsOut)
	}
}

// failingSource fails after n frames.
type failingSource struct {
	n   int
	err error
}

func (s *failingSource) Next(ctx context.Context, f *Frame) error {
	if s.n == 0 {
		return s.err
	}
	s.n--
	f.Width, f.Height, f.Stride = 64, 48, 64*3
	f.Pix = make([]byte, 64*3*48)
	return nil
}

func TestPublisherSourceFails(t *testing.T) {
	boom := errors.New("boom")
	pub, err := NewPublisher(PublisherConfig{URL: "rtsp://127.0.0.1:1/x", FPS: 30, SourceName: "failing source"}, &failingSource{n: 3, err: boom}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := pub.Describe(); !strings.HasPrefix(got, "failing source 1280x720@30 → ") {
		t.Errorf("Describe = %q, want it to name the source", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = pub.Run(ctx)
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the source's error", err)
	}
	if got := pub.Stats().Frames; got != 3 {
		t.Errorf("Frames = %d, want 3", got)
	}
}

func TestNewPublisherErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  PublisherConfig
		want string
	}{
		{"rtsp source", PublisherConfig{Source: "rtsp://cam/x", URL: "rtsp://127.0.0.1:1/x"}, "want a file or"},
		{"bad size", PublisherConfig{Source: "testsrc", URL: "rtsp://127.0.0.1:1/x", Width: 10}, "Width, Height: 10x0"},
		{"bad output URL", PublisherConfig{Source: "testsrc", URL: "/tmp/x"}, "is not an rtsp:// URL"},
		{"no source", PublisherConfig{URL: "rtsp://127.0.0.1:1/x"}, "empty URL"},
		{"switch without size", PublisherConfig{Source: "testsrc", URL: "rtsp://127.0.0.1:1/x", SwitchEvery: time.Second}, "SwitchWidth, SwitchHeight: 0x0: both must be positive"},
		{"switch negative", PublisherConfig{Source: "testsrc", URL: "rtsp://127.0.0.1:1/x", SwitchEvery: -time.Second, SwitchWidth: 64, SwitchHeight: 48}, "SwitchEvery: -1s is negative"},
		{"switch size alone", PublisherConfig{Source: "testsrc", URL: "rtsp://127.0.0.1:1/x", SwitchWidth: 64, SwitchHeight: 48}, "only with SwitchEvery"},
		{"source name without a source", PublisherConfig{Source: "testsrc", URL: "rtsp://127.0.0.1:1/x", SourceName: "synthetic"}, `SourceName: "synthetic": only with a custom source`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPublisher(tt.cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewPublisher = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestSwitchPeriod(t *testing.T) {
	for _, tt := range []struct {
		every time.Duration
		fps   int
		want  int
	}{
		{0, 15, 0},
		{10 * time.Second, 15, 150},
		{2500 * time.Millisecond, 15, 38}, // 37.5 rounds up
		{time.Millisecond, 15, 1},         // never less than a frame
	} {
		if got := switchPeriod(tt.every, tt.fps); got != tt.want {
			t.Errorf("switchPeriod(%v, %d) = %d, want %d", tt.every, tt.fps, got, tt.want)
		}
	}
}

func TestResample(t *testing.T) {
	// A 4x2 frame with a padded stride (14 bytes); pixel (x, y) is {10y+x, 0, 0}.
	src := Frame{Width: 4, Height: 2, Stride: 14, Pix: make([]byte, 14*2), Seq: 7}
	for y := range 2 {
		for x := range 4 {
			src.Pix[y*14+x*3] = byte(10*y + x)
		}
	}
	red := func(f *Frame) []byte {
		var r []byte
		for y := range f.Height {
			for x := range f.Width {
				r = append(r, f.Pix[y*f.Stride+x*3])
			}
		}
		return r
	}
	var dst Frame
	// Down to 2x1: source columns 0 and 2 of row 0.
	resample(&dst, &src, 2, 1)
	if dst.Width != 2 || dst.Height != 1 || dst.Stride != 6 || len(dst.Pix) != 6 || dst.Seq != 7 {
		t.Fatalf("down: %dx%d stride %d len %d seq %d", dst.Width, dst.Height, dst.Stride, len(dst.Pix), dst.Seq)
	}
	if got, want := red(&dst), []byte{0, 2}; string(got) != string(want) {
		t.Errorf("down: %v, want %v", got, want)
	}
	// Up to 8x4: each source pixel twice across and twice down.
	resample(&dst, &src, 8, 4)
	want := []byte{0, 0, 1, 1, 2, 2, 3, 3, 0, 0, 1, 1, 2, 2, 3, 3, 10, 10, 11, 11, 12, 12, 13, 13, 10, 10, 11, 11, 12, 12, 13, 13}
	if got := red(&dst); string(got) != string(want) {
		t.Errorf("up: %v, want %v", got, want)
	}
}

func TestResampleYUV(t *testing.T) {
	// 4x2 I420 with padded strides: Y(x, y) = 10y+x (stride 6), U = {100, 101}, V = {200,
	// 201} (stride 3), U at 12, V at 15.
	src := Frame{Format: FormatI420, Width: 4, Height: 2, Stride: 6, UOffset: 12, VOffset: 15, UVStride: 3,
		Pix: make([]byte, 18), Colorimetry: Colorimetry{BT709: true}}
	for y := range 2 {
		for x := range 4 {
			src.Pix[y*6+x] = byte(10*y + x)
		}
	}
	src.Pix[12], src.Pix[13], src.Pix[15], src.Pix[16] = 100, 101, 200, 201
	var dst Frame
	// Up to 8x3: luma columns twice each, rows 0, 0, 1 (y*2/3); chroma 4x2 from 2x1.
	resample(&dst, &src, 8, 3)
	want := Frame{Format: FormatI420, Width: 8, Height: 3, Stride: 8, UOffset: 24, VOffset: 32, UVStride: 4, Colorimetry: Colorimetry{BT709: true}}
	if dst.Format != want.Format || dst.Width != 8 || dst.Height != 3 || dst.Stride != 8 || dst.UOffset != 24 || dst.VOffset != 32 ||
		dst.UVStride != 4 || len(dst.Pix) != 40 || dst.Colorimetry != want.Colorimetry {
		t.Fatalf("I420 up: %+v", dst)
	}
	wantPix := []byte{
		0, 0, 1, 1, 2, 2, 3, 3,
		0, 0, 1, 1, 2, 2, 3, 3,
		10, 10, 11, 11, 12, 12, 13, 13,
		100, 100, 101, 101, 100, 100, 101, 101,
		200, 200, 201, 201, 200, 200, 201, 201,
	}
	if string(dst.Pix) != string(wantPix) {
		t.Errorf("I420 up:\n%v\nwant\n%v", dst.Pix, wantPix)
	}
	// NV12 3x3 down to 1x1: Y(0, 0); the UV pair of chroma (0, 0).
	nv := Frame{Format: FormatNV12, Width: 3, Height: 3, Stride: 3, UOffset: 9, UVStride: 4,
		Pix: []byte{7, 1, 2, 3, 4, 5, 6, 7, 8, 50, 60, 51, 61, 52, 62, 53, 63}}
	resample(&dst, &nv, 1, 1)
	if dst.Format != FormatNV12 || dst.Stride != 1 || dst.UOffset != 1 || dst.UVStride != 2 || string(dst.Pix) != string([]byte{7, 50, 60}) {
		t.Errorf("NV12 down: %+v", dst)
	}
}
