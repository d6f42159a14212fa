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
	pub, err := NewPublisher(PublisherConfig{URL: "rtsp://127.0.0.1:1/x", FPS: 30}, &failingSource{n: 3, err: boom}, testLogger(t))
	if err != nil {
		t.Fatal(err)
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
