// Command edge-agent turns RTSP cameras into a low-latency stream of
// detections and annotated video streams. Settings come from the
// environment and, for many cameras, a YAML file (EDGE_CONFIG_FILE): run it
// with --help to list them, --check-config to validate them. SIGHUP re-reads
// the file.
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
		case "--check-config", "-check-config":
			os.Exit(checkConfig())
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
	log := agent.NewLogger(cfg, os.Stderr)
	a, err := agent.New(cfg, agent.Options{Logger: log, Version: version})
	if err != nil {
		return err
	}
	defer a.Close()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				a.Reload(ctx) // logs what it applied or refused
			}
		}
	}()
	return a.Run(ctx)
}

// checkConfig validates the environment and the config file, prints the
// effective spec with credentials redacted, and returns the exit status:
// 0 when valid, 1 with every problem named.
func checkConfig() int {
	cfg, err := agent.Load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "edge-agent: invalid settings:\n%v\n", err)
		return 1
	}
	spec, err := cfg.Spec()
	if err == nil {
		err = agent.PrintSpec(os.Stdout, spec)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edge-agent:", err)
		return 1
	}
	return 0
}
