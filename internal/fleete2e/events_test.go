package fleete2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
)

// deviceSubjects is the filter of one device's events in the hub stream:
// the sourced messages keep their subjects, edge.<device>.<camera>.*.
func deviceSubjects(device string) string { return "edge." + device + ".>" }

// hubCount is how many of the device's messages the hub stream holds.
func hubCount(ctx context.Context, js jetstream.JetStream, device string) (uint64, error) {
	s, err := js.Stream(ctx, bus.HubStream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(deviceSubjects(device)))
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n, nil
}

// waitHubCount waits until the hub stream holds at least n of the
// device's messages and returns when it did.
func waitHubCount(t *testing.T, js jetstream.JetStream, device string, n uint64, timeout time.Duration) time.Time {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("the hub stream to hold %d of %s's events", n, device), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := hubCount(ctx, js, device)
		return err == nil && c >= n
	})
	return time.Now()
}

// checkGathered stops the agent's events, waits until the hub stream holds
// as many of the device's messages as the device's own stream EDGE_<device>
// (which holds every event the agent produced), and compares the two: the
// same ids in the same order, so every event arrived once and in order per
// camera. It returns the number of events.
func checkGathered(t *testing.T, hubJS jetstream.JetStream, a *agent, timeout time.Duration) int {
	t.Helper()
	a.removeCamera()
	n := a.settle(30 * time.Second)
	waitHubCount(t, hubJS, a.device, n, timeout)
	localJS, err := jetstream.New(a.connectLocal())
	if err != nil {
		t.Fatal(err)
	}
	local := readAll(t, localJS, bus.StreamName(a.device), "")
	gathered := readAll(t, hubJS, bus.HubStream, deviceSubjects(a.device))
	if len(local) == 0 {
		t.Fatalf("%s produced no event", a.device)
	}
	ids := func(evs []event) []string {
		out := make([]string, len(evs))
		for i, ev := range evs {
			out[i] = ev.ID
		}
		return out
	}
	localIDs, hubIDs := ids(local), ids(gathered)
	if !slices.Equal(localIDs, hubIDs) {
		t.Errorf("%s: the hub stream's %d events differ from the device stream's %d: %s",
			a.device, len(hubIDs), len(localIDs), firstDifference(localIDs, hubIDs))
	}
	seen := map[string]bool{}
	last := map[string]uint64{}
	for i, ev := range gathered {
		if seen[ev.ID] {
			t.Errorf("%s: event %s twice at the hub (message %d)", a.device, ev.ID, i)
		}
		seen[ev.ID] = true
		if ev.Schema != bus.SchemaDetection {
			continue
		}
		if prev, ok := last[ev.Camera]; ok && ev.Seq <= prev {
			t.Errorf("%s: camera %s frame %d after %d at the hub: out of order", a.device, ev.Camera, ev.Seq, prev)
		}
		last[ev.Camera] = ev.Seq
	}
	return len(gathered)
}

// firstDifference describes where two id lists first differ.
func firstDifference(want, got []string) string {
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			return fmt.Sprintf("first difference at %d: device %s, hub %s", i, want[i], got[i])
		}
	}
	return "one is a prefix of the other"
}
