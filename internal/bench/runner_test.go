package bench

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRerender writes a raw results file and has the runner make the
// document and the plot from it without running anything.
func TestRerender(t *testing.T) {
	repo := t.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "bin", "edge-agent"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(fixtureResults())
	if err != nil {
		t.Fatal(err)
	}
	from := filepath.Join(t.TempDir(), "results.json")
	if err := os.WriteFile(from, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Repo: repo, Scenarios: Catalog(), Duration: time.Minute, Out: "docs/BENCHMARKS.md",
		Raw: "docs/bench/results.json", Plot: "docs/bench/latency.png", ProbeCommand: []string{"x"}, From: from}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(repo, "docs", "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "| `yolov8-buffered` | 6300.0 |") || !strings.Contains(string(doc), "](bench/latency.png)") {
		t.Fatalf("document:\n%s", doc)
	}
	f, err := os.Open(filepath.Join(repo, "docs", "bench", "latency.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatal(err)
	}
	var back Results
	b, err := os.ReadFile(filepath.Join(repo, "docs", "bench", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil || len(back.Scenarios) != 7 {
		t.Fatalf("raw results: %d scenarios, %v", len(back.Scenarios), err)
	}
}
