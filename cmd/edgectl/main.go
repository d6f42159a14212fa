// Command edgectl is the fleet operator's program: it prepares the fleet's
// buckets and hub stream on NATS, lists the devices, shows and writes
// their desired state, watches their events and sends them commands. It
// is configured from the environment (EDGECTL_*): run edgectl help.
// docs/edgectl.md describes every command.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], loadConfig, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
