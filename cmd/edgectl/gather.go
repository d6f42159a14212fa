package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
)

// sourceResult is one source of the hub stream after gather.
type sourceResult struct {
	Stream    string `json:"stream"`     // the device's stream, EDGE_<device>
	APIPrefix string `json:"api_prefix"` // how the hub reaches it: $JS.<domain>.API
	Action    string `json:"action"`     // added or kept
}

// gatherResult is what gather did to the hub stream.
type gatherResult struct {
	Stream  string         `json:"stream"`
	Action  string         `json:"action"` // created or updated
	Sources []sourceResult `json:"sources"`
}

func cmdGather(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	replicas := fs.Int("replicas", 1, "copies of the hub stream in a JetStream cluster (1, 3 or 5)")
	prefix := fs.String("domain-prefix", "edge-", "a device's JetStream domain is this followed by its id (the agent's EDGE_NATS_DOMAIN default)")
	dup := fs.Duration("duplicates", 10*time.Minute, "how long the hub stream remembers event ids to drop one sourced twice")
	maxAge := fs.Duration("max-age", 168*time.Hour, "events older than this leave the hub stream (0 keeps them)")
	devices, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	for _, d := range devices {
		if err := checkDevice(d); err != nil {
			return err
		}
	}
	if *replicas < 1 || *replicas > 5 {
		return usagef("--replicas: must be 1 to 5, got %d", *replicas)
	}
	if *dup <= 0 || *maxAge < 0 || (*maxAge > 0 && *dup > *maxAge) {
		return usagef("--duplicates: must be positive and at most --max-age")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := a.connect(ctx); err != nil {
		return err
	}
	if len(devices) == 0 {
		kv, err := a.bucket(ctx, bus.StatusBucket)
		if err != nil {
			return err
		}
		statuses, problems, err := a.statusSnapshot(ctx, kv)
		if err != nil {
			return err
		}
		for _, p := range problems {
			fmt.Fprintf(a.stderr, "edgectl gather: warning: %v\n", p)
		}
		for d := range statuses {
			devices = append(devices, d)
		}
		slices.Sort(devices)
		if len(devices) == 0 {
			return fmt.Errorf("no device in %s to gather: name the devices", bus.StatusBucket)
		}
	}

	res := gatherResult{Stream: bus.HubStream, Action: "updated"}
	var cfg jetstream.StreamConfig
	var s jetstream.Stream
	err = a.call(ctx, func(ctx context.Context) (err error) {
		s, err = a.js.Stream(ctx, bus.HubStream)
		return err
	})
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		res.Action = "created"
		cfg = jetstream.StreamConfig{
			Name:        bus.HubStream,
			Description: "edge-agent fleet: every device's detection and object events",
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Replicas:    *replicas,
			Duplicates:  *dup,
			MaxAge:      *maxAge,
		}
	case err != nil:
		return fmt.Errorf("stream %s %s: %w", bus.HubStream, a.where(), err)
	default:
		cfg = s.CachedInfo().Config
		if set["replicas"] {
			cfg.Replicas = *replicas
		}
		if set["duplicates"] {
			cfg.Duplicates = *dup
		}
		if set["max-age"] {
			cfg.MaxAge = *maxAge
		}
	}
	for _, src := range cfg.Sources {
		r := sourceResult{Stream: src.Name, Action: "kept"}
		if src.External != nil {
			r.APIPrefix = src.External.APIPrefix
		}
		res.Sources = append(res.Sources, r)
	}
	for _, d := range devices {
		if !bus.ValidToken(*prefix + d) {
			return usagef("--domain-prefix: %q and device %q make the domain %q, which must be 1-64 letters, digits, '-' or '_'", *prefix, d, *prefix+d)
		}
	}
	for _, d := range devices {
		src := bus.HubSource(d, *prefix+d)
		if slices.ContainsFunc(cfg.Sources, func(s *jetstream.StreamSource) bool { return s.Name == src.Name }) {
			continue // kept: its domain is the one it was added with
		}
		cfg.Sources = append(cfg.Sources, src)
		res.Sources = append(res.Sources, sourceResult{Stream: src.Name, APIPrefix: src.External.APIPrefix, Action: "added"})
	}
	// A create sent again after its answer was lost finds the stream made
	// with this very configuration, which the server accepts.
	err = a.call(ctx, func(ctx context.Context) (err error) {
		if res.Action == "created" {
			_, err = a.js.CreateStream(ctx, cfg)
		} else {
			_, err = a.js.UpdateStream(ctx, cfg)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s stream %s %s: %w", strings.TrimSuffix(res.Action, "d"), bus.HubStream, a.where(), err)
	}
	if a.json {
		return a.printJSON(res)
	}
	added := 0
	for _, r := range res.Sources {
		if r.Action == "added" {
			added++
		}
	}
	fmt.Fprintf(a.stdout, "stream %s %s: %d sources added, %d kept\n", res.Stream, res.Action, added, len(res.Sources)-added)
	tw := a.table()
	fmt.Fprintln(tw, "SOURCE\tVIA\tACTION")
	for _, r := range res.Sources {
		via := r.APIPrefix
		if via == "" {
			via = "(local)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Stream, via, r.Action)
	}
	return tw.Flush()
}
