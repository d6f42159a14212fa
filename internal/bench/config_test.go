package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	repo := t.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "bin", "edge-agent"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	good := Config{Repo: repo, Scenarios: Catalog(), Duration: time.Minute, Warmup: 10 * time.Second,
		Out: DefaultOut, Raw: DefaultRaw, Plot: DefaultPlot, ORTThreads: 2, Micro: true, BenchTime: "1s",
		ProbeCommand: []string{"/bin/edge-bench", "frame-probe"}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}

	// Only the multi-camera section is a valid selection too.
	mc := good
	mc.Scenarios, mc.Multicam, mc.MulticamORTThreads, mc.MulticamSources = nil, MulticamCatalog([]int{1, 4}), 1, SourcesRelay
	if err := mc.Validate(); err != nil {
		t.Fatalf("multi-camera only: %v", err)
	}

	bad := Config{Repo: t.TempDir(), Duration: time.Second, Warmup: -time.Second, ORTThreads: -1, Micro: true}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	// Every problem at once, each naming its flag.
	for _, want := range []string{
		"--repo: " + bad.Repo + " has no bin/edge-agent: run `make build` first",
		"--scenarios, --multicam: nothing selected",
		"--duration: 1s is too short to fit a trend (want at least 5s)",
		"--warmup: -1s is negative",
		"--out, --raw, --plot: all three are needed",
		"ProbeCommand: empty",
		"--ort-threads: -1 is negative",
		"--benchtime: empty",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestConfigPaths(t *testing.T) {
	c := Config{Repo: "/repo"}
	if got := c.path("docs/BENCHMARKS.md"); got != "/repo/docs/BENCHMARKS.md" {
		t.Errorf("path = %q", got)
	}
	if got := c.path("/tmp/out.md"); got != "/tmp/out.md" {
		t.Errorf("absolute path = %q", got)
	}
	if got := c.bin("mediamtx"); got != "/repo/bin/mediamtx" {
		t.Errorf("bin = %q", got)
	}
	// The document links its companions relative to itself.
	if got := relLink("/repo/docs/BENCHMARKS.md", "/repo/docs/bench/latency.png"); got != "bench/latency.png" {
		t.Errorf("relLink = %q", got)
	}
}

func TestConfigValidateMulticam(t *testing.T) {
	c := Config{Multicam: []MulticamRun{{Cameras: 0}, {Cameras: 9}}, MulticamORTThreads: -1, MulticamSources: "both"}
	err := c.Validate()
	for _, want := range []string{
		"--multicam: 0 cameras (want 1 to 7)",
		"--multicam: 9 cameras (want 1 to 7)",
		"--multicam-ort-threads: -1 is negative",
		`--multicam-sources: "both" (want relay or camsim)`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
