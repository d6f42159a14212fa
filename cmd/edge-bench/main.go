// Command edge-bench measures edge-agent's latency on this machine, end to end
// and per stage, under the newest-frame policy and the naive buffered one, and
// what running many cameras in one agent costs against one agent per camera,
// and one camera's CPU with the loop on YUV or RGB frames and the annotated
// stream off, on or on demand, and writes docs/BENCHMARKS.md with the raw
// JSON and a plot beside it. `make bench` runs it after `make build`.
//
//	edge-bench                                   # every scenario, 60 s each after a 10 s warm-up
//	edge-bench --short                           # 10 s each: a smoke run
//	edge-bench --scenarios yolov8-latest,yolov8-buffered --micro=false
//	edge-bench --only multicam --short           # the multi-camera section alone, kept with the rest
//	edge-bench --only cpu --cpu rgb-on,yuv-on    # some runs of the CPU section, kept with the rest
//	edge-bench --from docs/bench/results.json    # re-render the document and plot only
//
// `edge-bench frame-probe --url <rtsp url>` is the probe it starts in each
// scenario: one line per frame received (see internal/bench.FrameProbe).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"edge-agent/internal/bench"
)

// frameProbeCommand is the sub-command that runs the probe.
const frameProbeCommand = "frame-probe"

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == frameProbeCommand {
		err = runFrameProbe(os.Args[2:])
	} else {
		err = run(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "edge-bench: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("edge-bench", flag.ContinueOnError)
	duration := fs.Duration("duration", bench.DefaultDuration, "measured window of each scenario")
	warmup := fs.Duration("warmup", bench.DefaultWarmup, "warm-up after the agent's first event, before the probe starts")
	short := fs.Bool("short", false, fmt.Sprintf("smoke run: --duration %v --warmup %v --benchtime 200ms unless given", bench.ShortDuration, bench.ShortWarmup))
	scenarios := fs.String("scenarios", "all", "all, or a comma-separated list of: "+scenarioNames())
	repo := fs.String("repo", ".", "the repository: programs in <repo>/bin, results under it")
	shared := fs.String("shared", "", "models and footage (default <repo>/../shared); without it only the marker scenarios run")
	out := fs.String("out", bench.DefaultOut, "the Markdown document")
	raw := fs.String("raw", bench.DefaultRaw, "the raw results (JSON)")
	plot := fs.String("plot", bench.DefaultPlot, "the latency-over-time plot (PNG)")
	threads := fs.Int("ort-threads", bench.DefaultORTThreads, "EDGE_ORT_THREADS for the agent, the same in every scenario")
	micro := fs.Bool("micro", true, "also run the Go micro-benchmarks of the hot path")
	benchtime := fs.String("benchtime", bench.DefaultBenchTime, "go test -benchtime of the micro-benchmarks")
	from := fs.String("from", "", "run nothing: make the document and the plot again from this raw results file")
	only := fs.String("only", "", "run one section and keep the others' results from --raw: latency (the scenarios and micro-benchmarks), multicam or cpu")
	multicam := fs.String("multicam", "1,2,4", "camera counts of the multi-camera section, each run as one agent and as separate agents; none skips it, as does --scenarios without --multicam")
	mcThreads := fs.Int("multicam-ort-threads", bench.DefaultMulticamORTThreads, "EDGE_ORT_THREADS for every agent of the multi-camera section")
	cpuRuns := fs.String("cpu", "all", "runs of the CPU section (one camera, yolox_nano, 1 ORT thread): all, none, or a comma-separated list of: "+cpuRunNames()+"; --scenarios without --cpu skips it")
	mcSources := fs.String("multicam-sources", bench.SourcesRelay, "cameras of the multi-camera section: relay (one simulator, MediaMTX relays it to every camera) or camsim (one simulator per camera)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *short {
		if !set["duration"] {
			*duration = bench.ShortDuration
		}
		if !set["warmup"] {
			*warmup = bench.ShortWarmup
		}
		if !set["benchtime"] {
			*benchtime = "200ms"
		}
	}
	root, err := filepath.Abs(*repo)
	if err != nil {
		return err
	}
	if *shared == "" {
		*shared = filepath.Join(root, "..", "shared")
	}
	selected, err := bench.SelectScenarios(*scenarios)
	if err != nil {
		return fmt.Errorf("--scenarios: %w", err)
	}
	counts, err := bench.ParseCameraCounts(*multicam)
	if err != nil {
		return fmt.Errorf("--multicam: %w", err)
	}
	cpu, err := bench.SelectCPURuns(*cpuRuns)
	if err != nil {
		return fmt.Errorf("--cpu: %w", err)
	}
	switch *only {
	case "":
		if set["scenarios"] && !set["multicam"] {
			counts = nil // a subset of the latency scenarios, as before the section existed
		}
		if set["scenarios"] && !set["cpu"] {
			cpu = nil
		}
	case "latency":
		counts, cpu = nil, nil
	case "multicam":
		selected, cpu = nil, nil
	case "cpu":
		selected, counts = nil, nil
	default:
		return fmt.Errorf("--only: %q (want latency, multicam or cpu)", *only)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := bench.New(bench.Config{
		Repo: root, Shared: filepath.Clean(*shared), Scenarios: selected,
		Multicam: bench.MulticamCatalog(counts), MulticamORTThreads: *mcThreads, MulticamSources: *mcSources,
		CPURuns:  cpu,
		Merge:    *only != "",
		Duration: *duration, Warmup: *warmup, Out: *out, Raw: *raw, Plot: *plot,
		ORTThreads: *threads, Micro: *micro, BenchTime: *benchtime,
		ProbeCommand: []string{self, frameProbeCommand},
		Command:      strings.Join(append([]string{"bin/edge-bench"}, args...), " "),
		From:         *from,
	}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		return err
	}
	return r.Run(ctx)
}

func runFrameProbe(args []string) error {
	fs := flag.NewFlagSet("edge-bench "+frameProbeCommand, flag.ContinueOnError)
	url := fs.String("url", "", "RTSP stream to read (required)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := bench.NewFrameProbe(bench.FrameProbeConfig{URL: *url}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		return err
	}
	return p.Run(ctx, os.Stdout)
}

func cpuRunNames() string {
	var n []string
	for _, r := range bench.CPUCatalog() {
		n = append(n, r.Name)
	}
	return strings.Join(n, ",")
}

func scenarioNames() string {
	var n []string
	for _, s := range bench.Catalog() {
		n = append(n, s.Name)
	}
	return strings.Join(n, ",")
}
