// Command edge-agent turns RTSP cameras into a low-latency stream of
// detections and annotated video streams. Settings come from the
// environment and, for many cameras, a YAML file (EDGE_CONFIG_FILE): run it
// with --help to list them, --check-config to validate them. SIGHUP re-reads
// the file. --version prints the version and commit the binary was built
// from; --health asks a running agent's /healthz (the container HEALTHCHECK);
// --check-gstreamer lists the GStreamer elements the pipelines need that the
// registry lacks (the images run it at the end of their build).
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"edge-agent/agent"
	"edge-agent/pipeline"
)

// version and commit are set at build time by the Makefile:
// -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "unknown"
)

// healthTimeout bounds --health: the whole request, connect included.
const healthTimeout = 3 * time.Second

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
			fmt.Println(versionLine())
			return
		case "--health", "-health":
			os.Exit(health(os.Getenv("EDGE_HTTP_LISTEN"), os.Stderr))
		case "--check-gstreamer", "-check-gstreamer":
			os.Exit(checkGStreamer(pipeline.CheckElements(), os.Stdout, os.Stderr))
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
	// The Makefile stamps "unknown" when it knows no commit; the agent
	// leaves an unknown commit out of its start-up line and heartbeat.
	known := commit
	if known == "unknown" {
		known = ""
	}
	a, err := agent.New(cfg, agent.Options{Logger: log, Version: version, Commit: known})
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

// checkGStreamer prints what --check-gstreamer found and returns the exit
// status: 1 when a required element is missing (a plugin or one of the
// libraries it loads is not installed), 0 otherwise.
func checkGStreamer(r pipeline.ElementReport, stdout, stderr io.Writer) int {
	hw := "none"
	if len(r.Hardware) > 0 {
		hw = strings.Join(r.Hardware, " ")
	}
	fmt.Fprintf(stdout, "edge-agent: GStreamer: %d required elements checked; hardware elements present: %s\n",
		len(pipeline.RequiredElements()), hw)
	if len(r.Missing) > 0 {
		fmt.Fprintf(stderr, "edge-agent: --check-gstreamer: the GStreamer registry lacks %s "+
			"(a plugin, or a library it loads, is not installed; GST_DEBUG=2 names the library)\n",
			strings.Join(r.Missing, " "))
		return 1
	}
	return 0
}

// versionLine is what --version prints.
func versionLine() string {
	return fmt.Sprintf("edge-agent %s (commit %s)", version, commit)
}

// health asks the running agent's /healthz at listen (EDGE_HTTP_LISTEN; empty
// means its default) and returns the exit status: 0 when it answers 200, 1
// otherwise, with the reason on stderr. A wildcard listen address (":9108",
// "0.0.0.0:9108", "[::]:9108") is asked on loopback.
func health(listen string, stderr io.Writer) int {
	if listen == "" {
		listen = agent.HTTPListenDefault()
	}
	if listen == "none" {
		fmt.Fprintln(stderr, "edge-agent: --health: EDGE_HTTP_LISTEN=none, the agent serves no /healthz to ask")
		return 1
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		fmt.Fprintf(stderr, "edge-agent: --health: EDGE_HTTP_LISTEN=%q is not host:port: %v\n", listen, err)
		return 1
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/healthz"
	// No proxy: the agent is asked on its own address, never through HTTP_PROXY.
	client := &http.Client{Timeout: healthTimeout, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "edge-agent: --health: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "edge-agent: --health: GET %s: %s\n", url, resp.Status)
		return 1
	}
	return 0
}
