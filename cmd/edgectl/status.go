package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"edge-agent/bus"
)

func cmdStatus(ctx context.Context, a *app, args []string) error {
	device, err := a.oneDevice(ctx, args)
	if err != nil {
		return err
	}
	kv, err := a.bucket(ctx, bus.StatusBucket)
	if err != nil {
		return err
	}
	st, _, err := a.readStatus(ctx, kv, device)
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("device %s has no status in %s (never reported, or silent for longer than the bucket's TTL)", device, bus.StatusBucket)
	}
	if a.json {
		return a.printJSON(st)
	}
	return printStatus(a.stdout, st, time.Now())
}

// printStatus writes a heartbeat for a reader.
func printStatus(w io.Writer, st *bus.Status, now time.Time) error {
	fmt.Fprintf(w, "device   %s\n", st.Device)
	fmt.Fprintf(w, "version  %s\n", st.Version)
	fmt.Fprintf(w, "time     %s (%s)\n", st.Time.UTC().Format(time.RFC3339), age(now, st.Time.Time))
	fmt.Fprintf(w, "uptime   %s\n", shortDuration(time.Duration(st.UptimeS*float64(time.Second))))

	fmt.Fprintf(w, "\ncameras (over the last %.0fs):\n", st.IntervalS)
	tw := tabwriterFor(w)
	fmt.Fprintln(tw, "  CAMERA\tSTATE\tFPS IN\tFPS\tDROPPED\tLATENCY P50/P95/P99\tMODEL\tREVISION")
	for _, name := range slices.Sorted(maps.Keys(st.Cameras)) {
		c := st.Cameras[name]
		model := c.Model.Name
		if model == "" {
			model = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%.1f\t%.1f\t%d\t%.1f/%.1f/%.1f ms\t%s\t%d\n", name, c.State, c.FPSIn, c.FPSProcessed,
			c.FramesDropped, c.LatencyMS.P50, c.LatencyMS.P95, c.LatencyMS.P99, model, c.Revision)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(st.Cameras)) {
		if e := st.Cameras[name].Error; e != "" {
			fmt.Fprintf(w, "  %s: %s\n", name, oneLine(e))
		}
	}

	fmt.Fprintln(w, "\nfleet:")
	if st.Fleet == nil {
		fmt.Fprintln(w, "  (the device reads no desired state from the fleet)")
	} else {
		groups := strings.Join(st.Fleet.Groups, ", ")
		if groups == "" {
			groups = "(none)"
		}
		fmt.Fprintf(w, "  groups   %s\n", groups)
		fmt.Fprintf(w, "  applied  %s\n", appliedText(st.Fleet.Applied))
		for _, r := range st.Fleet.Refused {
			fmt.Fprintf(w, "  refused  %s revision %d at %s:\n", r.Key, r.Revision, r.At.UTC().Format(time.RFC3339))
			for _, p := range r.Problems {
				fmt.Fprintf(w, "           - %s\n", oneLine(p))
			}
		}
	}
	if len(st.Dropped) > 0 {
		fmt.Fprintln(w, "\nsaved settings not applied:")
		for _, d := range st.Dropped {
			fmt.Fprintf(w, "  %s: %s\n", d.Setting, oneLine(d.Reason))
		}
	}
	if len(st.Buses) > 0 {
		fmt.Fprintln(w, "\nbus failures:")
		for _, name := range slices.Sorted(maps.Keys(st.Buses)) {
			b := st.Buses[name]
			state := "failed"
			if b.Running {
				state = "running again"
			}
			fmt.Fprintf(w, "  %s: %s, %d restarts, last at %s: %s\n", name, state, b.Restarts,
				b.FailedAt.UTC().Format(time.RFC3339), oneLine(b.Error))
		}
	}
	return nil
}

// appliedText lists the applied documents, fleet first, then groups, then
// the device's: "fleet 3, group.north 5, device.porch 7".
func appliedText(applied map[string]uint64) string {
	if len(applied) == 0 {
		return "(none)"
	}
	keys := slices.SortedFunc(maps.Keys(applied), func(x, y string) int {
		if c := docRank(x) - docRank(y); c != 0 {
			return c
		}
		return strings.Compare(x, y)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, applied[k])
	}
	return strings.Join(parts, ", ")
}

// docRank orders desired-state keys as they are layered.
func docRank(key string) int {
	switch {
	case key == bus.FleetKey:
		return 0
	case strings.HasPrefix(key, "group."):
		return 1
	}
	return 2
}
