// Command edge-agent turns an RTSP camera into a low-latency stream of
// detections and an annotated video stream. Every setting comes from the
// environment: run it with --help to list them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"edge-agent/agent"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	for _, a := range os.Args[1:] {
		switch a {
		case "-h", "-help", "--help", "help":
			if err := agent.PrintUsage(os.Stdout); err != nil {
				fmt.Fprintln(os.Stderr, "edge-agent:", err)
				os.Exit(1)
			}
			return
		case "--version", "-version":
			fmt.Println(version)
			return
		default:
			fmt.Fprintf(os.Stderr, "edge-agent: unknown argument %q; settings come from the environment (see --help)\n", a)
			os.Exit(2)
		}
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "edge-agent:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := agent.Load()
	if err != nil {
		return fmt.Errorf("invalid settings (see --help):\n%w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := agent.New(cfg, agent.Options{Logger: agent.NewLogger(cfg, os.Stderr), Version: version})
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(ctx)
}
