package bench

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFrameProbeTestsrc reads GStreamer's test pattern, which carries no
// time-code strip: every frame must come out as a parseable line marked
// undecoded, and Run must return cleanly when its context ends.
func TestFrameProbeTestsrc(t *testing.T) {
	if testing.Short() {
		t.Skip("runs GStreamer")
	}
	p, err := NewFrameProbe(FrameProbeConfig{URL: "testsrc"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	var out safeBuilder
	if err := p.Run(ctx, &out); err != nil {
		t.Fatalf("Run: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// testsrc runs at 15 fps: a dozen frames at least in two seconds.
	if len(lines) < 10 {
		t.Fatalf("%d lines in 2 s:\n%s", len(lines), out.String())
	}
	for _, l := range lines {
		f, ok := parseFrame(l)
		if !ok || f.decoded() || f.pulled.IsZero() {
			t.Fatalf("line %q: %+v, %v", l, f, ok)
		}
	}
}

func TestNewFrameProbeNeedsURL(t *testing.T) {
	if _, err := NewFrameProbe(FrameProbeConfig{}, nil); err == nil {
		t.Fatal("no URL accepted")
	}
}

type safeBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *safeBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
