package fleete2e

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
)

// gatheringFleet is the set-up of the long tests: the hub with its buckets,
// three agents publishing an event per processed frame, and the hub stream
// sourcing their streams, each already holding some of their events.
func gatheringFleet(t *testing.T) (*hub, jetstream.JetStream, *statusBoard, []*agent) {
	t.Helper()
	h := startHub(t)
	h.initBuckets()
	js, err := jetstream.New(h.connect("operator"))
	if err != nil {
		t.Fatal(err)
	}
	board := watchStatus(t, js)
	agents := startAgents(t, h, "d", 3, "all")
	var devices []string
	for _, a := range agents {
		devices = append(devices, a.device)
	}
	h.gather(devices...)
	for _, a := range agents {
		waitHubCount(t, js, a.device, 1, 30*time.Second)
	}
	return h, js, board, agents
}

// localCount is how many messages the agent's own stream holds now.
func (a *agent) localCount() uint64 {
	a.t.Helper()
	js, err := jetstream.New(a.connectLocal())
	if err != nil {
		a.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := streamMsgs(ctx, js, bus.StreamName(a.device))
	if err != nil {
		a.t.Fatalf("%s's stream: %v", a.device, err)
	}
	return n
}

// TestLongLeafCutLosesNoEvent: every device's leaf link is cut for 30 s
// while the agents publish; once it is back, the hub stream catches up
// with every event produced meanwhile, each once and in order per camera
// (the same ids in the same order as each device's own stream). A fleet
// document written during the cut reaches every agent within 5 s of its
// link coming back.
func TestLongLeafCutLosesNoEvent(t *testing.T) {
	long(t)
	h, js, board, agents := gatheringFleet(t)
	kv := configBucket(t, js)

	before := map[string]uint64{}
	for _, a := range agents {
		before[a.device] = a.localCount()
	}
	h.sever()
	cut := time.Now()
	waitFor(t, 10*time.Second, "every leaf connection to close", func() bool {
		for i := range h.nodes {
			if h.leafCount(i) != 0 {
				return false
			}
		}
		return true
	})
	rev, _ := putFleet(t, kv, bus.FleetKey, fleetDoc)
	hold(t, 30*time.Second-time.Since(cut), agents)
	atRestore := map[string]uint64{}
	for _, a := range agents {
		atRestore[a.device] = a.localCount()
	}
	h.restore()
	restored := time.Now()

	var devices []string
	linked := map[string]time.Time{}
	for _, a := range agents {
		devices = append(devices, a.device)
		waitFor(t, 30*time.Second, a.device+"'s leaf link back", func() bool {
			_, ok := h.leafOf(a.server())
			return ok
		}, a.proc)
		linked[a.device] = time.Now()
	}
	applied := board.waitApplied(devices, bus.FleetKey, rev, 30*time.Second)
	for _, d := range devices {
		if after := applied[d].Sub(linked[d]); after > 5*time.Second {
			t.Errorf("%s applied revision %d %s after its link came back, want within 5s", d, rev, after)
		}
	}
	var caughtUp time.Duration
	for _, a := range agents {
		at := waitHubCount(t, js, a.device, atRestore[a.device], 60*time.Second)
		caughtUp = max(caughtUp, at.Sub(restored))
	}
	total := 0
	for _, a := range agents {
		total += checkGathered(t, js, a, 60*time.Second)
	}
	var during uint64
	for _, a := range agents {
		during += atRestore[a.device] - before[a.device]
	}
	t.Logf("link cut %s; %d events produced during the cut by 3 agents; the hub held all of them %s after the link came back",
		restored.Sub(cut).Round(time.Millisecond), during, caughtUp.Round(time.Millisecond))
	t.Logf("fleet revision %d written during the cut: applied %v after each device's link came back", rev, sinceEachFrom(applied, linked))
	t.Logf("%d events in all, each once and in order at the hub", total)
}

// TestLongHubNodeKillKeepsKVAndStream: the node leading the hub stream is
// killed (SIGKILL); the two others keep the buckets and the hub stream (R3)
// available: a fleet document written after the kill reaches every agent,
// the agents whose link was on the dead node relink to another, and the
// hub stream goes on gathering every event, each once and in order.
func TestLongHubNodeKillKeepsKVAndStream(t *testing.T) {
	long(t)
	h, js, _, agents := gatheringFleet(t)
	kv := configBucket(t, js)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leader, err := streamLeader(ctx, js, bus.HubStream)
	if err != nil {
		t.Fatalf("leader of %s: %v", bus.HubStream, err)
	}
	victim := h.nodeIndex(leader)
	kvLeader, _ := streamLeader(ctx, js, "KV_"+bus.ConfigBucket)
	var onVictim []string
	for _, a := range agents {
		if i, ok := h.leafOf(a.server()); ok && i == victim {
			onVictim = append(onVictim, a.device)
		}
	}
	atKill := map[string]uint64{}
	for _, a := range agents {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n, err := hubCount(ctx, js, a.device)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		atKill[a.device] = n
	}
	h.nodes[victim].proc.kill()
	killed := time.Now()

	// The first write after the kill: retried while the buckets' leaders
	// are elected again.
	var rev uint64
	var wrote time.Time
	var tries int
	var lastErr error
	waitFor(t, 30*time.Second, "a write into "+bus.ConfigBucket+" after the kill", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		tries++
		r, err := kv.Put(ctx, bus.FleetKey, []byte(fleetDoc))
		if err != nil {
			lastErr = err
			return false
		}
		rev, wrote = r, time.Now()
		return true
	})
	if tries > 1 {
		t.Logf("the write took %d tries; the last failure: %v", tries, lastErr)
	}
	var devices []string
	for _, a := range agents {
		devices = append(devices, a.device)
	}
	// Read from edge_status directly: a watch whose consumer was on the
	// dead node takes its own time to come back, which is not the agents'.
	applied := pollApplied(t, js, devices, bus.FleetKey, rev, 30*time.Second)

	// Events produced after the kill reach the hub stream.
	grew := map[string]time.Duration{}
	for _, a := range agents {
		at := waitHubCount(t, js, a.device, atKill[a.device]+10, 60*time.Second)
		grew[a.device] = at.Sub(killed).Round(time.Millisecond)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	newLeader, err := streamLeader(ctx2, js, bus.HubStream)
	if err != nil {
		t.Fatalf("leader of %s after the kill: %v", bus.HubStream, err)
	}
	total := 0
	for _, a := range agents {
		total += checkGathered(t, js, a, 60*time.Second)
	}
	t.Logf("killed %s (leader of %s; %s led KV_%s; leaf links of %v on it)", leader, bus.HubStream, kvLeader, bus.ConfigBucket, onVictim)
	t.Logf("first write into %s accepted %s after the kill; revision %d applied by the last agent %s after it (each: %v)",
		bus.ConfigBucket, wrote.Sub(killed).Round(time.Millisecond), rev, latest(applied, wrote).Round(time.Millisecond), sinceEach(applied, wrote))
	t.Logf("%s led by %s after the kill; 10 more events of each device at the hub after %v", bus.HubStream, newLeader, grew)
	t.Logf("%d events in all, each once and in order at the hub", total)
}

// hold lets d pass while the agents run (a fault's duration, not a
// synchronisation), failing at once if one exits.
func hold(t *testing.T, d time.Duration, agents []*agent) {
	t.Helper()
	end := time.Now().Add(d)
	var procs []*process
	for _, a := range agents {
		procs = append(procs, a.proc)
	}
	waitFor(t, d+time.Second, "the end of the hold", func() bool { return !time.Now().Before(end) }, procs...)
}

// sinceEachFrom is each device's time from its own start.
func sinceEachFrom(times, from map[string]time.Time) map[string]time.Duration {
	out := map[string]time.Duration{}
	for d, at := range times {
		out[d] = at.Sub(from[d]).Round(time.Millisecond)
	}
	return out
}
