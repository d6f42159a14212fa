package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testLogger logs to the test's output at Debug when -v is given, else discards.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// publish runs a Publisher of cfg.Source (default: the test pattern) until the test ends.
func publish(t *testing.T, cfg PublisherConfig) *Publisher {
	t.Helper()
	return publishFrom(t, cfg, nil)
}

// publishFrom runs a Publisher of src (nil: cfg.Source) until the test ends.
func publishFrom(t *testing.T, cfg PublisherConfig, src FrameSource) *Publisher {
	t.Helper()
	if cfg.Source == "" && src == nil {
		cfg.Source = testSourceURL
	}
	p, err := NewPublisher(cfg, src, testLogger(t))
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Publisher.Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Publisher.Run did not return 15 s after cancel")
		}
	})
	return p
}

// openIngest starts an ingest of cfg and waits for its first frame, retrying while the
// server does not have the stream yet (MediaMTX answers 404 until the publisher has
// announced). It returns the started ingest and its first frame.
func openIngest(t *testing.T, cfg IngestConfig, timeout time.Duration) (*Ingest, *Frame) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		in, err := NewIngest(cfg, testLogger(t))
		if err != nil {
			t.Fatalf("NewIngest: %v", err)
		}
		if err := in.Start(t.Context()); err != nil {
			in.Close()
			t.Fatalf("Start: %v", err)
		}
		ctx, cancel := context.WithDeadline(t.Context(), deadline)
		var f Frame
		err = in.Next(ctx, &f)
		cancel()
		if err == nil {
			t.Cleanup(func() { in.Close() })
			return in, &f
		}
		in.Close()
		last = err
		var serr *StreamError
		if !errors.As(err, &serr) && !errors.Is(err, ErrStalled) && !errors.Is(err, ErrEOS) {
			break
		}
	}
	t.Fatalf("no frame from %s within %v: %v", Redact(cfg.URL), timeout, last)
	return nil, nil
}

// makeClip encodes a short test clip with gst-launch-1.0 into a temporary file.
func makeClip(t testing.TB, frames, width, height, fps int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clip.mkv")
	args := strings.Fields("-q videotestsrc pattern=ball num-buffers=" + strconv.Itoa(frames) +
		" ! video/x-raw,format=I420,width=" + strconv.Itoa(width) + ",height=" + strconv.Itoa(height) + ",framerate=" + strconv.Itoa(fps) + "/1" +
		" ! x264enc speed-preset=ultrafast key-int-max=10 ! h264parse ! matroskamux ! filesink")
	args = append(args, "location="+path)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "gst-launch-1.0", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("make clip: gst-launch-1.0 %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("make clip: %s is empty", path)
	}
	return path
}

// streamURL returns a fresh path on the test's MediaMTX.
func streamURL(t *testing.T, base, name string) string {
	t.Helper()
	return base + "/" + strings.ReplaceAll(t.Name(), "/", "_") + "_" + name
}

// markedSource is a FrameSource that draws a 16-bit frame number as a row of black
// and white blocks and remembers when it handed out each number: ground truth for
// capture times and end-to-end latency, read back with readMark.
type markedSource struct {
	w, h int
	mu   sync.Mutex
	n    uint16
	sent map[uint16]time.Time
}

func newMarkedSource(w, h int) *markedSource {
	return &markedSource{w: w, h: h, sent: map[uint16]time.Time{}}
}

const markBlock = 32 // block size in pixels: survives H.264 at any sane bitrate

func (s *markedSource) Next(ctx context.Context, f *Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	stride := s.w * 3
	if cap(f.Pix) < stride*s.h {
		f.Pix = make([]byte, stride*s.h)
	}
	f.Pix = f.Pix[:stride*s.h]
	for i := range f.Pix {
		f.Pix[i] = 128
	}
	for bit := range 16 {
		v := byte(0)
		if s.n&(1<<bit) != 0 {
			v = 255
		}
		for y := range markBlock {
			row := f.Pix[y*stride+bit*markBlock*3 : y*stride+(bit+1)*markBlock*3]
			for i := range row {
				row[i] = v
			}
		}
	}
	f.Width, f.Height, f.Stride = s.w, s.h, stride
	s.sent[s.n] = time.Now()
	return nil
}

// sentAt returns when the frame carrying f's mark was handed out.
func (s *markedSource) sentAt(f *Frame) (time.Time, bool) {
	var n uint16
	for bit := range 16 {
		if lumaAt(f, bit*markBlock+markBlock/2, markBlock/2) > 128 {
			n |= 1 << bit
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.sent[n]
	return t, ok
}
