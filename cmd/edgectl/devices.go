package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"edge-agent/bus"
)

// deviceRow is one device in edgectl devices.
type deviceRow struct {
	Device   string     `json:"device"`
	Version  string     `json:"version,omitempty"`
	Cameras  []string   `json:"cameras"`
	FPS      *float64   `json:"fps,omitempty"`    // frames processed per second, every camera; absent without a heartbeat
	FPSIn    *float64   `json:"fps_in,omitempty"` // frames decoded per second, every camera
	LastSeen *time.Time `json:"last_seen,omitempty"`
	Online   bool       `json:"online"` // answered discovery
	Instance string     `json:"instance,omitempty"`
	Problems []string   `json:"problems,omitempty"`
}

func cmdDevices(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	window := fs.Duration("discover", time.Second, "how long to gather the devices' discovery answers")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *window <= 0 {
		return usagef("--discover: must be positive, got %s", *window)
	}
	if err := a.connect(ctx); err != nil {
		return err
	}
	kv, err := a.bucket(ctx, bus.StatusBucket)
	if err != nil {
		return err
	}
	statuses, problems, err := a.statusSnapshot(ctx, kv)
	if err != nil {
		return err
	}
	found, dproblems, err := a.discover(ctx, *window)
	if err != nil {
		return err
	}
	for _, p := range append(problems, dproblems...) {
		fmt.Fprintf(a.stderr, "edgectl devices: warning: %v\n", p)
	}
	rows := joinDevices(found, statuses)
	if a.json {
		return a.printJSON(rows)
	}
	now := time.Now()
	tw := a.table()
	fmt.Fprintln(tw, "DEVICE\tVERSION\tCAMERAS\tFPS\tLAST SEEN\tONLINE")
	for _, r := range rows {
		fps, seen, online := "-", "-", "no"
		if r.FPS != nil {
			fps = fmt.Sprintf("%.1f", *r.FPS)
		}
		if r.LastSeen != nil {
			seen = age(now, *r.LastSeen)
		}
		if r.Online {
			online = "yes"
		}
		cams := strings.Join(r.Cameras, ",")
		if cams == "" {
			cams = "-"
		}
		version := r.Version
		if version == "" {
			version = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Device, version, cams, fps, seen, online)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		for _, p := range r.Problems {
			fmt.Fprintf(a.stderr, "edgectl devices: warning: %s: %s\n", r.Device, p)
		}
	}
	return nil
}

// joinDevices joins the devices that answered discovery with the
// heartbeats in edge_status, sorted by device. The version and cameras
// are the heartbeat's when there is one (what the device runs), the
// discovery answer's otherwise.
func joinDevices(found map[string]*discovered, statuses map[string]*bus.Status) []deviceRow {
	names := slices.Collect(maps.Keys(statuses))
	for d := range found {
		if statuses[d] == nil {
			names = append(names, d)
		}
	}
	slices.Sort(names)
	rows := make([]deviceRow, 0, len(names))
	for _, d := range names {
		r := deviceRow{Device: d, Cameras: []string{}}
		if f := found[d]; f != nil {
			r.Online, r.Version, r.Instance, r.Problems = true, f.Version, f.ID, f.Problems
			r.Cameras = append(r.Cameras, f.Cameras...)
		}
		if st := statuses[d]; st != nil {
			if st.Version != "" {
				r.Version = st.Version
			}
			r.Cameras = slices.Sorted(maps.Keys(st.Cameras))
			var fps, fpsIn float64
			for _, c := range st.Cameras {
				fps += c.FPSProcessed
				fpsIn += c.FPSIn
			}
			r.FPS, r.FPSIn = &fps, &fpsIn
			t := st.Time.Time
			r.LastSeen = &t
		}
		rows = append(rows, r)
	}
	return rows
}
