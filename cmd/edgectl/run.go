package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/internal/jsretry"
	"edge-agent/internal/redact"
)

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the command failed, or devices refused or did not answer
	exitUsage = 2 // the command line is wrong
)

// command is one of edgectl's commands.
type command struct {
	name    string
	args    string // what follows the name, for the usage line
	summary string // one line, for edgectl help
	about   string // what --help says under the usage line
	run     func(ctx context.Context, a *app, args []string) error
}

// commands are edgectl's commands, in the order help lists them.
func commands() []command {
	return []command{
		{"init", "[--replicas N] [--status-ttl 2m] [--history 10]",
			"create or update the buckets edge_config and edge_status",
			"Creates the fleet's buckets, or updates their settings: edge_config (the desired state,\n" +
				"documents of at most 1 MiB, --history revisions kept per key) and edge_status (each\n" +
				"device's latest heartbeat; a device silent for --status-ttl ages out).",
			cmdInit},
		{"gather", "[--replicas N] [--domain-prefix edge-] [<device>...]",
			"source each device's event stream into the hub stream EDGE_FLEET",
			"Creates or updates the hub stream EDGE_FLEET with one source per device: its stream\n" +
				"EDGE_<device> reached through the JetStream domain <domain-prefix><device>. With no\n" +
				"device named, every device in edge_status. Sources already there are kept. Events\n" +
				"keep their Nats-Msg-Id (the event id): the stream drops one sent twice within\n" +
				"--duplicates.",
			cmdGather},
		{"devices", "[--discover 1s]",
			"list the devices: discovery joined with edge_status",
			"Lists every device that answers discovery ($SRV.INFO.edge-agent, gathered for\n" +
				"--discover) or has a heartbeat in edge_status: version, cameras, frames processed per\n" +
				"second (all cameras), when its last heartbeat was written, and whether it answered.",
			cmdDevices},
		{"status", "<device>",
			"show a device's latest heartbeat from edge_status",
			"Shows the device's heartbeat in edge_status: its cameras (state, frame rates, latency,\n" +
				"model), the fleet documents it applied and those it refused, with every problem.",
			cmdStatus},
		{"get", "<device>",
			"show the desired state of a device and what it has in force",
			"Shows the documents of edge_config that concern the device (fleet, group.<g> for each\n" +
				"group its device document lists, device.<id>), each with its revision, then the\n" +
				"settings in force on the device (its get_config answer), or that it is offline.",
			cmdGet},
		{"set", "--fleet | --group G | --device D [--camera C] key=value... [-key...] [--wait 30s | --no-wait]",
			"change a desired-state document and wait for the devices to apply it",
			"Reads the document (fleet, group.<G> or device.<D>), sets defaults.<key>=<value> (with\n" +
				"--camera, the key of camera C in cameras, which is added when missing), removes each\n" +
				"-key, and writes it back only if nobody wrote it meanwhile. Values are YAML:\n" +
				"confidence=0.5, classes=[person,car], zones='[{name: door, polygon: [[0,0],[1,0],[1,1]]}]'.\n" +
				"groups=[a,b] sets a device's groups (--device only). Prints the diff and the new\n" +
				"revision, then waits until each device concerned reports the revision applied or\n" +
				"refused in edge_status: with --device, D; with --group, the devices whose heartbeat\n" +
				"lists G; with --fleet, every device in edge_status.",
			cmdSet},
		{"watch", "[<device>[/<camera>]] [--objects] [--count N]",
			"print events as they are published",
			"Prints one line per detection event (and object event with --objects) of the device\n" +
				"and camera named (every one by default), or each event's JSON with --json, until\n" +
				"interrupted or --count events were printed.",
			cmdWatch},
		{"load-model", "<device> <name> [--sha256 HEX] [--camera C] [--format F]",
			"have a device load a model from its model folder",
			"Sends load_model to the device (docs/commands.md): the model file <name> inside its\n" +
				"EDGE_MODEL_DIR, for camera C or every camera. Prints the answer.",
			cmdLoadModel},
	}
}

// run is edgectl: it runs the command args name and returns the exit
// status. load reads the configuration, once a command needs a connection.
func run(ctx context.Context, args []string, load func() (Config, error), stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printHelp(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := findCommand(args[1]); ok {
				return runCommand(ctx, c, []string{"--help"}, load, stdout, stderr)
			}
			fmt.Fprintf(stderr, "edgectl: unknown command %q (see edgectl help)\n", args[1])
			return exitUsage
		}
		printHelp(stdout)
		return exitOK
	}
	c, ok := findCommand(name)
	if !ok {
		fmt.Fprintf(stderr, "edgectl: unknown command %q (see edgectl help)\n", name)
		return exitUsage
	}
	return runCommand(ctx, c, args[1:], load, stdout, stderr)
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func runCommand(ctx context.Context, c command, args []string, load func() (Config, error), stdout, stderr io.Writer) int {
	a := &app{cmd: c, load: load, stdout: stdout, stderr: stderr}
	err := c.run(ctx, a, args)
	a.close()
	code := exitOK
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "edgectl %s: %v\nusage: edgectl %s %s (see edgectl %s --help)\n", c.name, err, c.name, c.args, c.name)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "edgectl %s: %v\n", c.name, err)
		code = exitFail
	}
	if p := a.serverErr.Load(); p != nil {
		// A server's complaint (a permission refused) explains a timeout.
		fmt.Fprintf(stderr, "edgectl %s: the server reported: %v\n", c.name, *p)
		if strings.Contains(strings.ToLower((*p).Error()), "permissions violation for subscription to \"_inbox") {
			fmt.Fprintf(stderr, "edgectl %s: set EDGECTL_INBOX_PREFIX to the prefix of the reply subjects your user may subscribe to (_INBOX.<user> on an agent's embedded server)\n", c.name)
		}
	}
	return code
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, "edgectl manages a fleet of edge-agent devices over NATS.\n\nusage: edgectl <command> [arguments] [--json]\n\ncommands:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	fmt.Fprintf(tw, "  help [<command>]\tthis text, or a command's\n")
	tw.Flush()
	fmt.Fprint(w, "\nEvery command prints a table, or JSON with --json; edgectl <command> --help says more.\n"+
		"Exit status: 0 done, 1 failed (or devices refused or did not answer), 2 wrong usage.\n\n"+
		"Settings, from the environment:\n")
	if err := printSettings(w); err != nil {
		fmt.Fprintf(w, "(cannot list them: %v)\n", err)
	}
}

// usageError is a wrong command line: exit status 2, with the usage line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// app is one run of a command: its outputs and, once it connects, its
// NATS connection and JetStream context.
type app struct {
	cmd    command
	load   func() (Config, error)
	stdout io.Writer
	stderr io.Writer
	json   bool // --json

	cfg       Config
	nc        *nats.Conn
	js        jetstream.JetStream
	serverErr atomic.Pointer[error] // the last error the server sent asynchronously
}

// flags returns the command's flag set, with --json; parse parses it.
func (a *app) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("edgectl "+a.cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned and printed by runCommand
	fs.Usage = func() {}
	fs.BoolVar(&a.json, "json", false, "print JSON instead of a table")
	return fs
}

// parse parses args with fs, flags and arguments in any order ("--" ends
// the flags), and returns the arguments. --help prints the command's
// usage on stdout and returns flag.ErrHelp.
func (a *app) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				a.printUsage(fs)
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func (a *app) printUsage(fs *flag.FlagSet) {
	w := a.stdout
	fmt.Fprintf(w, "usage: edgectl %s %s\n\n%s\n\nflags:\n", a.cmd.name, a.cmd.args, a.cmd.about)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// oneDevice reads the arguments of a command about one device (its common
// flags, then the device id), and connects.
func (a *app) oneDevice(ctx context.Context, args []string) (string, error) {
	pos, err := a.parse(a.flags(), args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usagef("name one device")
	}
	if err := checkDevice(pos[0]); err != nil {
		return "", err
	}
	return pos[0], a.connect(ctx)
}

// connect loads the configuration and connects to NATS.
func (a *app) connect(ctx context.Context) error {
	cfg, err := a.load()
	if err != nil {
		return fmt.Errorf("invalid settings (see edgectl help):\n%w", err)
	}
	a.cfg = cfg
	opts, err := cfg.options()
	if err != nil {
		return err
	}
	opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		a.serverErr.Store(&err)
	}))
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact.URL(cfg.NATSURL), err)
	}
	a.nc = nc
	if cfg.Domain != "" {
		a.js, err = jetstream.NewWithDomain(nc, cfg.Domain)
	} else {
		a.js, err = jetstream.New(nc)
	}
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return ctx.Err()
}

// op is a context for one NATS operation, bounded by EDGECTL_TIMEOUT.
func (a *app) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.cfg.Timeout)
}

// call makes one idempotent JetStream API call (a read, or a create or
// update to a given configuration) within EDGECTL_TIMEOUT, sending it
// again when its answer is lost (jsretry.Idempotent).
func (a *app) call(ctx context.Context, f func(context.Context) error) error {
	return jsretry.Idempotent(ctx, a.cfg.Timeout, f)
}

// where names the JetStream domain the buckets are looked for in.
func (a *app) where() string {
	if a.cfg.Domain == "" {
		return "in the connected server's JetStream domain"
	}
	return "in JetStream domain " + a.cfg.Domain
}

func (a *app) close() {
	if a.nc != nil {
		a.nc.Close()
	}
}

// printJSON writes v as indented JSON.
func (a *app) printJSON(v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := a.stdout.Write(b.Bytes())
	return err
}

// table is a tab-separated table written aligned on Flush.
func (a *app) table() *tabwriter.Writer { return tabwriterFor(a.stdout) }

func tabwriterFor(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// age says how long ago t was, as "12s ago", "3m4s ago", "2h5m ago" or
// "3d4h ago".
func age(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return "in " + shortDuration(-d) // the device's clock is ahead
	}
	return shortDuration(d) + " ago"
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// oneLine keeps s on one line of a table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
