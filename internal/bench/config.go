package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Defaults of Config.
const (
	DefaultDuration   = 60 * time.Second
	DefaultWarmup     = 10 * time.Second
	DefaultOut        = "docs/BENCHMARKS.md"
	DefaultRaw        = "docs/bench/results.json"
	DefaultPlot       = "docs/bench/latency.png"
	DefaultORTThreads = 2
	DefaultBenchTime  = "1s"
	// ShortDuration and ShortWarmup are --short's: a smoke run.
	ShortDuration = 10 * time.Second
	ShortWarmup   = 3 * time.Second
)

// The camera every scenario simulates: a 720p consumer camera at 15 fps.
const (
	cameraFPS    = 15
	cameraWidth  = 1280
	cameraHeight = 720
	// frameIntervalMS is the time between two camera frames.
	frameIntervalMS = 1000.0 / cameraFPS
)

// Config says what to run and where the results go. Relative paths are taken
// from Repo.
type Config struct {
	Repo      string     // the repository: bin/ holds the programs, go test runs here
	Shared    string     // models and footage (../shared); scenarios needing it are skipped when it is missing
	Scenarios []Scenario // the latency scenarios to run, in order; none skips the latency section
	// Multicam is the multi-camera section's runs, in order; none skips it.
	Multicam []MulticamRun
	// MulticamORTThreads is EDGE_ORT_THREADS in the multi-camera section.
	MulticamORTThreads int
	// MulticamSources is SourcesRelay or SourcesCamsim.
	MulticamSources string
	// CPURuns is the CPU section's runs (per-camera CPU and latency by frame
	// format and annotated-stream mode), in order; none skips it.
	CPURuns  []CPURun
	Duration time.Duration // measured window of each scenario (the probe's run)
	Warmup   time.Duration // from the agent's first event to the start of the measurement
	Out      string        // the Markdown document
	Raw      string        // the raw results, JSON
	Plot     string        // the latency-over-time plot, PNG
	// ORTThreads is EDGE_ORT_THREADS, the same in every scenario.
	ORTThreads int
	// Micro runs the Go micro-benchmarks with -benchtime BenchTime.
	Micro     bool
	BenchTime string
	// ProbeCommand runs a FrameProbe as a child process, the URL flag left
	// out: the harness's own executable and its frame-probe command.
	ProbeCommand []string
	// Command is the command line that produced the run, quoted in the document.
	Command string
	// Merge keeps the sections this run does not measure from the raw
	// results file already there, so that one section can be rerun alone.
	Merge bool
	// From, when set, runs nothing: the document and the plot are made again
	// from this raw results file (after a change to the template, say).
	From string
}

// Validate reports every problem at once, each naming its flag.
func (c Config) Validate() error {
	var errs []error
	if c.Repo == "" {
		errs = append(errs, errors.New("--repo: empty"))
	} else if _, err := os.Stat(filepath.Join(c.Repo, "bin", "edge-agent")); err != nil {
		errs = append(errs, fmt.Errorf("--repo: %s has no bin/edge-agent: run `make build` first", c.Repo))
	}
	if len(c.Scenarios) == 0 && len(c.Multicam) == 0 && len(c.CPURuns) == 0 {
		errs = append(errs, errors.New("--scenarios, --multicam: nothing selected"))
	}
	for _, m := range c.Multicam {
		if m.Cameras < 1 || m.Cameras > maxCameras {
			errs = append(errs, fmt.Errorf("--multicam: %d cameras (want 1 to %d)", m.Cameras, maxCameras))
		}
	}
	if len(c.Multicam) > 0 {
		if c.MulticamORTThreads < 0 {
			errs = append(errs, fmt.Errorf("--multicam-ort-threads: %d is negative", c.MulticamORTThreads))
		}
		if c.MulticamSources != SourcesRelay && c.MulticamSources != SourcesCamsim {
			errs = append(errs, fmt.Errorf("--multicam-sources: %q (want %s or %s)", c.MulticamSources, SourcesRelay, SourcesCamsim))
		}
	}
	if c.Duration < 5*time.Second {
		errs = append(errs, fmt.Errorf("--duration: %v is too short to fit a trend (want at least 5s)", c.Duration))
	}
	if c.Warmup < 0 {
		errs = append(errs, fmt.Errorf("--warmup: %v is negative", c.Warmup))
	}
	if c.Out == "" || c.Raw == "" || c.Plot == "" {
		errs = append(errs, errors.New("--out, --raw, --plot: all three are needed"))
	}
	if len(c.ProbeCommand) == 0 {
		errs = append(errs, errors.New("ProbeCommand: empty"))
	}
	if c.ORTThreads < 0 {
		errs = append(errs, fmt.Errorf("--ort-threads: %d is negative", c.ORTThreads))
	}
	if c.Micro && c.BenchTime == "" {
		errs = append(errs, errors.New("--benchtime: empty"))
	}
	return errors.Join(errs...)
}

// path resolves p against the repository.
func (c Config) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Repo, p)
}

// bin is the path of a program in bin/.
func (c Config) bin(name string) string { return filepath.Join(c.Repo, "bin", name) }
