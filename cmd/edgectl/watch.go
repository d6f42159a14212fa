package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"edge-agent/bus"
)

// watchTimeLayout is how watch writes an event's capture time, in the
// local time zone.
const watchTimeLayout = "15:04:05.000"

func cmdWatch(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	objects := fs.Bool("objects", false, "print object events too (new, update, end, zones, lines)")
	count := fs.Int("count", 0, "stop after this many events (0: until interrupted)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("name at most one device or device/camera")
	}
	if *count < 0 {
		return usagef("--count: must not be negative, got %d", *count)
	}
	device, camera := "*", "*"
	if len(pos) == 1 {
		var hasCamera bool
		device, camera, hasCamera = strings.Cut(pos[0], "/")
		if !hasCamera {
			camera = "*"
		}
		if err := checkDevice(device); err != nil {
			return err
		}
		if camera != "*" && !bus.ValidToken(camera) {
			return usagef("camera %q must be 1-64 letters, digits, '-' or '_'", camera)
		}
	}
	if err := a.connect(ctx); err != nil {
		return err
	}
	subjects := []string{bus.EventSubject(device, camera)}
	if *objects {
		subjects = append(subjects, bus.ObjectSubject(device, camera))
	}
	ch := make(chan *nats.Msg, 4096)
	var subs []*nats.Subscription
	defer func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}()
	for _, subj := range subjects {
		s, err := a.nc.ChanSubscribe(subj, ch)
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", subj, err)
		}
		subs = append(subs, s)
	}
	// The subscriptions are in place once the server answered a round trip.
	if err := a.nc.FlushTimeout(a.cfg.Timeout); err != nil {
		return fmt.Errorf("subscribe %s: %w", strings.Join(subjects, ", "), err)
	}
	fmt.Fprintf(a.stderr, "watching %s\n", strings.Join(subjects, ", ")) // on stderr: stdout has only events
	printed := 0
	for *count == 0 || printed < *count {
		var msg *nats.Msg
		select {
		case msg = <-ch:
		case <-ctx.Done():
			return a.reportDropped(subs)
		}
		line, err := eventLine(msg, a.json)
		if err != nil {
			fmt.Fprintf(a.stderr, "edgectl watch: skipped a message on %s: %v\n", msg.Subject, err)
			continue
		}
		if _, err := fmt.Fprintln(a.stdout, line); err != nil {
			return err
		}
		printed++
	}
	return a.reportDropped(subs)
}

// reportDropped says how many events the subscriptions dropped for
// watch printing too slowly.
func (a *app) reportDropped(subs []*nats.Subscription) error {
	dropped := 0
	for _, s := range subs {
		if n, err := s.Dropped(); err == nil {
			dropped += n
		}
	}
	if dropped > 0 {
		fmt.Fprintf(a.stderr, "edgectl watch: %d events dropped (printed too slowly)\n", dropped)
	}
	return nil
}

// eventLine reads an event and makes its line: the JSON as received with
// raw, else a readable line.
func eventLine(msg *nats.Msg, raw bool) (string, error) {
	objects := strings.HasSuffix(msg.Subject, ".objects")
	if objects {
		var ev bus.ObjectEvent
		if err := decodeJSON(msg.Data, maxEventSize, &ev); err != nil {
			return "", err
		}
		if ev.Schema != bus.SchemaObject {
			return "", fmt.Errorf("schema %q, want %s", ev.Schema, bus.SchemaObject)
		}
		if raw {
			return string(msg.Data), nil
		}
		return objectLine(&ev), nil
	}
	var ev bus.Event
	if err := decodeJSON(msg.Data, maxEventSize, &ev); err != nil {
		return "", err
	}
	if ev.Schema != bus.SchemaDetection {
		return "", fmt.Errorf("schema %q, want %s", ev.Schema, bus.SchemaDetection)
	}
	if raw {
		return string(msg.Data), nil
	}
	return detectionLine(&ev), nil
}

// detectionLine is "12:00:00.123 porch/front 42.1ms person 0.91 #7, car 0.55".
func detectionLine(ev *bus.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s/%s %s", ev.CaptureTime.Local().Format(watchTimeLayout), ev.Device, ev.Camera, latencyText(ev.LatencyMS.Total))
	if len(ev.Detections) == 0 {
		b.WriteString(" (none)")
	}
	for i, d := range ev.Detections {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s %.2f", d.Label, d.Confidence)
		if d.TrackID != 0 {
			fmt.Fprintf(&b, " #%d", d.TrackID)
		}
	}
	return b.String()
}

// objectLine is "12:00:00.123 porch/front 42.1ms object zone_enter person #7 zone driveway".
func objectLine(ev *bus.ObjectEvent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s/%s %s object %s %s #%d", ev.CaptureTime.Local().Format(watchTimeLayout),
		ev.Device, ev.Camera, latencyText(ev.LatencyMS.Total), ev.Type, ev.Label, ev.TrackID)
	switch {
	case ev.Zone != "":
		fmt.Fprintf(&b, " zone %s", ev.Zone)
	case ev.Line != "":
		fmt.Fprintf(&b, " line %s %s", ev.Line, ev.Direction)
	case len(ev.Zones) > 0:
		fmt.Fprintf(&b, " in %s", strings.Join(ev.Zones, ","))
	}
	if ev.Type == bus.ObjectEnd {
		fmt.Fprintf(&b, " after %s", (time.Duration(ev.DwellS * float64(time.Second))).Round(100*time.Millisecond))
	}
	return b.String()
}

func latencyText(ms float64) string { return fmt.Sprintf("%.1fms", ms) }
