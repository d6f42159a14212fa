package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"edge-agent/internal/testenv"
	"edge-agent/pipeline"
)

// pathBytes is the bytes MediaMTX has received on a path and its readers,
// from its control API; ok is false while MediaMTX has no such path.
func pathBytes(t *testing.T, api, path string) (received uint64, readers int, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+"/v3/paths/get/"+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("MediaMTX API: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusNotFound {
		return 0, 0, false
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("MediaMTX API %s: %s %s", path, resp.Status, body)
	}
	var p struct {
		BytesReceived uint64            `json:"bytesReceived"`
		Readers       []json.RawMessage `json:"readers"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("MediaMTX API %s: %v: %s", path, err, body)
	}
	return p.BytesReceived, len(p.Readers), true
}

// TestOutputOnDemandEndToEnd runs the agent with EDGE_OUTPUT_ON_DEMAND
// against a real MediaMTX with its control API on: with nobody watching,
// the annotated stream drops to the trickle once the hold after start
// (10 s) has passed, while every frame is still detected; a reader then
// gets its first frame promptly and the stream at the camera's rate.
func TestOutputOnDemandEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs MediaMTX, GStreamer and ONNX Runtime")
	}
	mtx := testenv.RunMediaMTX(t, testenv.MediaMTXOptions{API: true})
	camsim := buildCommand(t, "edge-camsim")
	cameraURL, outputURL := mtx.URL+"/cam1", mtx.URL+"/cam1-annotated"
	cfg := integrationConfig(t, cameraURL, outputURL, "") // the built-in marker model
	cfg.OutputOnDemand, cfg.MediaMTXAPI = true, mtx.API
	results := newCollector()
	startProcess(t, camsim, "--source", "synthetic", "--url", cameraURL, "--fps", "15", "--size", "1280x720")
	startAgent(t, cfg, results)
	results.waitFor(t, 15, 90*time.Second)

	// Idle: within the hold (10 s from the first poll) and the trickle,
	// the bytes MediaMTX receives for the annotated path fall to a trickle.
	testenv.WaitFor(t, 30*time.Second, "the agent's annotated stream on MediaMTX", func() bool {
		_, _, ok := pathBytes(t, mtx.API, "cam1-annotated")
		return ok
	})
	rate := func(d time.Duration) (kbps float64, readers int) {
		b0, _, _ := pathBytes(t, mtx.API, "cam1-annotated")
		time.Sleep(d) // a measuring window, not a synchronisation
		b1, n, _ := pathBytes(t, mtx.API, "cam1-annotated")
		return float64(b1-b0) * 8 / 1000 / d.Seconds(), n
	}
	// The encoder's rate is 2000 kbit/s; a frame a second is a tenth of it.
	limit := float64(cfg.OutputBitrateKbps) / 4
	deadline := time.Now().Add(25 * time.Second)
	var idle float64
	for {
		before := len(results.snapshot())
		r, readers := rate(2 * time.Second)
		processed := len(results.snapshot()) - before
		if readers != 0 {
			t.Fatalf("the annotated path has %d readers before any", readers)
		}
		if r < limit {
			idle = r
			// Detection goes on at the camera's rate while nobody watches.
			if processed < 20 {
				t.Fatalf("only %d frames processed in 2 s while the stream idled", processed)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the annotated stream still receives %.0f kbit/s 25 s after nobody watched, want under %.0f", r, limit)
		}
	}
	t.Logf("annotated stream with nobody watching: %.0f kbit/s", idle)

	// A reader: its first frame, then the camera's rate.
	in, err := pipeline.NewIngest(pipeline.IngestConfig{URL: outputURL, Transport: "tcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	start := time.Now()
	if err := in.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var f pipeline.Frame
	if err := in.Next(ctx, &f); err != nil {
		t.Fatalf("the reader's first frame: %v", err)
	}
	first := time.Since(start)
	t.Logf("time to first frame for a new reader: %v", first.Round(time.Millisecond))
	// MediaMTX holds a GStreamer client's SETUP for 1 s (its user agent):
	// the forced keyframe comes before it plays, the next regular one a
	// second later. Other readers measured 0.3-0.5 s (demand package).
	if first > 3*time.Second {
		t.Errorf("the reader's first frame took %v, want well under 3 s", first)
	}
	frames, from := 0, time.Now()
	for time.Since(from) < 3*time.Second {
		if err := in.Next(ctx, &f); err != nil {
			t.Fatalf("reading the annotated stream: %v", err)
		}
		frames++
	}
	if fps := float64(frames) / time.Since(from).Seconds(); fps < 10 {
		t.Errorf("the reader gets %.1f fps, want the camera's rate (15)", fps)
	} else {
		t.Logf("the reader gets %s", fmt.Sprintf("%.1f fps", fps))
	}
}
