package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"edge-agent/internal/backoff"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    Policy
		wantErr string
	}{
		{"", PolicyLatest, ""},
		{"latest", PolicyLatest, ""},
		{"buffered", PolicyBuffered, ""},
		{"Latest", "", `unknown policy "Latest" (want "latest" or "buffered")`},
		{"fifo", "", `unknown policy "fifo"`},
	}
	for _, tt := range tests {
		got, err := ParsePolicy(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParsePolicy(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParsePolicy(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNewIngestValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  IngestConfig
		want []string // substrings the error must hold; none means valid
	}{
		{"rtsp defaults", IngestConfig{URL: "rtsp://cam/x"}, nil},
		{"file with everything", IngestConfig{URL: "/x.avi", Loop: true, Paced: true, Width: 640, Height: 480, FPS: 15}, nil},
		{"testsrc sized", IngestConfig{URL: "testsrc", Width: 320, Height: 240}, nil},
		{"everything wrong at once", IngestConfig{URL: "rtsp://cam/x", Transport: "quic", Policy: "fifo", LatencyMS: -1, StallTimeout: -time.Second, CaptureClock: "gps", Width: 10, FPS: -2, Loop: true},
			[]string{`Transport: unknown transport "quic"`, `Policy: unknown policy "fifo"`, "LatencyMS: -1 is negative",
				"StallTimeout: -1s is negative", `CaptureClock: unknown clock "gps"`, "Width, Height: 10x0: set both or neither",
				"FPS: -2 is negative", "only for files and testsrc", "Loop, Paced: only for files"}},
		{"empty URL", IngestConfig{}, []string{"URL: empty URL"}},
		{"password stays out of errors", IngestConfig{URL: "http://admin:secret@cam/x"}, []string{"admin:xxxxx@cam"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewIngest(tt.cfg, nil)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("NewIngest: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("NewIngest succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestOutputConfigValidation(t *testing.T) {
	err := OutputConfig{URL: "http://x", FPS: -1, BitrateKbps: -5, Codec: "vp8", RestartDelay: -time.Second}.validate()
	for _, w := range []string{`URL: "http://x" is not an rtsp:// URL`, "FPS: -1 is negative", "BitrateKbps: -5 is negative",
		`Codec: unsupported codec "vp8"`, "RestartDelay: -1s is negative"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	if err := (OutputConfig{URL: "rtsp://127.0.0.1:8554/x"}).validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://cam/x":                 "rtsp://cam/x",
		"rtsp://admin:hunter2@cam/x":   "rtsp://admin:xxxxx@cam/x",
		"rtsp://admin@cam/x":           "rtsp://xxxxx@cam/x",   // no ':': may be a token, hide it
		"rtsp://a:b%zz@cam/x":          "rtsp://a:xxxxx@cam/x", // does not parse: still keeps the user
		"/media/file.avi":              "/media/file.avi",
		"testsrc":                      "testsrc",
		"rtsps://u:p@10.0.0.1:322/s?x": "rtsps://u:xxxxx@10.0.0.1:322/s?x",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNTPToTime(t *testing.T) {
	// 2208988800 s after 1900-01-01 is the Unix epoch; add 1.5 s.
	got := ntpToTime(2208988800*uint64(time.Second) + 1500*uint64(time.Millisecond))
	if want := time.Unix(1, 500_000_000); !got.Equal(want) {
		t.Fatalf("ntpToTime = %v, want %v", got, want)
	}
}

func TestRestartDelay(t *testing.T) {
	b := &backoff.Backoff{Min: 500 * time.Millisecond, Max: 10 * time.Second} // no jitter: exact delays
	// Quick failures double the delay up to the cap; a run as long as the cap resets it.
	steps := []struct {
		ran  time.Duration
		want time.Duration
	}{
		{0, 500 * time.Millisecond},
		{100 * time.Millisecond, time.Second},
		{100 * time.Millisecond, 2 * time.Second},
		{time.Second, 4 * time.Second},
		{0, 8 * time.Second},
		{0, 10 * time.Second},
		{0, 10 * time.Second},
		{10 * time.Second, 500 * time.Millisecond}, // healthy for 10 s: start over
		{0, time.Second},
	}
	for i, s := range steps {
		if got := restartDelay(b, s.ran); got != s.want {
			t.Fatalf("step %d: restartDelay(%v) = %v, want %v", i, s.ran, got, s.want)
		}
	}
}

func TestSleepCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if !sleepCtx(t.Context(), 3*time.Second) {
			t.Fatal("sleepCtx reported cancellation")
		}
		if got := time.Since(start); got != 3*time.Second {
			t.Fatalf("slept %v, want 3s on the virtual clock", got)
		}

		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		start = time.Now()
		if sleepCtx(ctx, time.Hour) {
			t.Fatal("sleepCtx ignored cancellation")
		}
		if got := time.Since(start); got != time.Second {
			t.Fatalf("cancelled after %v, want 1s", got)
		}
	})
}

func TestStreamErrorMessage(t *testing.T) {
	err := error(&StreamError{Element: "src", Message: "Not found", Debug: "long"})
	if got, want := err.Error(), "gstreamer: src: Not found"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	var se *StreamError
	if !errors.As(errors.Join(errors.New("x"), err), &se) || se.Element != "src" {
		t.Fatal("errors.As does not find the *StreamError")
	}
}
