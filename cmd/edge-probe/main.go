// Command edge-probe reads an RTSP stream whose frames carry the synthetic
// camera's timecode strip (the camera's stream or the agent's annotated one)
// and reports glass-to-glass latency: when each frame arrived minus when it
// was rendered.
//
//	edge-probe --url rtsp://127.0.0.1:8554/cam1-annotated --duration 30s
//	edge-probe --url rtsp://127.0.0.1:8554/cam1-annotated --duration 30s --json
//	edge-probe --url rtsp://127.0.0.1:8554/cam1-annotated --interval 5s   # until Ctrl-C
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"edge-agent/internal/probe"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "edge-probe: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("edge-probe", flag.ContinueOnError)
	url := fs.String("url", "", "RTSP stream to read (required)")
	duration := fs.Duration("duration", 0, "how long to measure from the first frame (0: until interrupted)")
	interval := fs.Duration("interval", 0, "also print a report every interval")
	asJSON := fs.Bool("json", false, "print the final report as one JSON object")
	transport := fs.String("transport", "tcp", "RTSP transport: auto, udp or tcp")
	verbose := fs.Bool("v", false, "log the ingest's progress to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *url == "" {
		return errors.New("--url is required")
	}
	if *duration < 0 || *interval < 0 {
		return errors.New("--duration and --interval must not be negative")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		// Bound the whole run: the first frame may take a while to come.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration+30*time.Second)
		defer cancel()
	}
	cfg := probe.Config{URL: *url, Transport: *transport, Duration: *duration, Interval: *interval,
		OnInterval: func(r probe.Report) { fmt.Fprintln(os.Stderr, r) }}
	rep, err := probe.Run(ctx, cfg, log)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(rep)
	}
	fmt.Println(rep)
	return nil
}
