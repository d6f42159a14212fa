package fleete2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
)

// The scale measurement (make bench-fleet): EDGE_FLEET_SCALE=1 runs it,
// EDGE_FLEET_AGENTS sets the number of agents (20), EDGE_FLEET_WRITES the
// number of fleet writes (20), EDGE_FLEET_WINDOW the events' measurement
// window in seconds (60), EDGE_FLEET_FPS the cameras' frame rate (5). docs/fleet.md records its figures.

// tinyVideo writes a 160x120 H.264 file of 20 minutes at fps (the ball
// test pattern) with GStreamer: the agents' camera, so that twenty of them
// fit on two cores.
func tinyVideo(t *testing.T, fps int) string {
	t.Helper()
	gst, err := exec.LookPath("gst-launch-1.0")
	if err != nil {
		missing(t, "gst-launch-1.0 is missing: run `make setup`")
	}
	path := filepath.Join(t.TempDir(), "tiny.mp4")
	cmd := exec.Command(gst, "-q", "videotestsrc", "pattern=ball", "num-buffers="+strconv.Itoa(1200*fps), "!",
		"video/x-raw,width=160,height=120,framerate="+strconv.Itoa(fps)+"/1", "!",
		"x264enc", "tune=zerolatency", "speed-preset=ultrafast", "key-int-max=50", "!",
		"mp4mux", "!", "filesink", "location="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gst-launch-1.0 (the tiny camera): %v\n%s", err, out)
	}
	return path
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s: want a positive number, got %q", name, v)
	}
	return n
}

// nodeStats is what a hub node's /varz and /subsz say.
type nodeStats struct {
	Mem     int64   `json:"mem"`
	CPU     float64 `json:"cpu"`
	Leafs   int     `json:"leafnodes"`
	InMsgs  int64   `json:"in_msgs"`
	InBytes int64   `json:"in_bytes"`
	Subs    uint32  `json:"-"`
}

func (h *hub) stats(i int) nodeStats {
	h.t.Helper()
	var s nodeStats
	_, body := httpGet(fmt.Sprintf("http://127.0.0.1:%d/varz", h.nodes[i].monitor))
	if err := json.Unmarshal(body, &s); err != nil {
		h.t.Fatalf("%s /varz: %v", h.nodes[i].name, err)
	}
	var subsz struct {
		Subs uint32 `json:"num_subscriptions"`
	}
	_, body = httpGet(fmt.Sprintf("http://127.0.0.1:%d/subsz", h.nodes[i].monitor))
	if err := json.Unmarshal(body, &subsz); err != nil {
		h.t.Fatalf("%s /subsz: %v", h.nodes[i].name, err)
	}
	s.Subs = subsz.Subs
	return s
}

// hubTotals sums the nodes' memory, subscriptions and leaf connections.
func (h *hub) totals() (mem int64, subs uint32, leafs int) {
	for i := range h.nodes {
		s := h.stats(i)
		mem, subs, leafs = mem+s.Mem, subs+s.Subs, leafs+s.Leafs
	}
	return mem, subs, leafs
}

// cpuSeconds is the CPU time (user and system) a process has used, from
// /proc/<pid>/stat.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	// Fields after the command name (which may hold spaces), 1-based from
	// state (3): utime is 14, stime 15.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100 // USER_HZ
}

func procsCPU(ps []*process) float64 {
	var s float64
	for _, p := range ps {
		if p.running() {
			s += cpuSeconds(p.cmd.Process.Pid)
		}
	}
	return s
}

// percentile is the nearest-rank percentile p (0-100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// TestFleetScale measures a fleet of 20 agents (tiny frames, the marker
// model, no annotated stream, an event per processed frame) as leaf nodes
// of the three-node hub: the time from each of 20 fleet KV writes to the
// last device reporting it applied (p50, p99), and the events per second
// arriving at the hub stream against those produced. It prints a table.
func TestFleetScale(t *testing.T) {
	if os.Getenv("EDGE_FLEET_SCALE") == "" {
		t.Skip("scale measurement: make bench-fleet (EDGE_FLEET_SCALE=1)")
	}
	n := envInt(t, "EDGE_FLEET_AGENTS", 20)
	writes := envInt(t, "EDGE_FLEET_WRITES", 20)
	window := time.Duration(envInt(t, "EDGE_FLEET_WINDOW", 60)) * time.Second
	fps := envInt(t, "EDGE_FLEET_FPS", 5)
	video := tinyVideo(t, fps)

	began := time.Now()
	h := startHub(t)
	h.initBuckets()
	js, err := jetstream.New(h.connect("operator"))
	if err != nil {
		t.Fatal(err)
	}
	board := watchStatus(t, js)
	kv := configBucket(t, js)
	baseMem, baseSubs, _ := h.totals()
	var hubProcs []*process
	for _, nd := range h.nodes {
		hubProcs = append(hubProcs, nd.proc)
	}
	idle0, idleAt := procsCPU(hubProcs), time.Now()
	hold(t, 10*time.Second, nil)
	idleCPU := (procsCPU(hubProcs) - idle0) / time.Since(idleAt).Seconds()

	var agents []*agent
	var devices []string
	for i := range n {
		env := agentEnv(t, fmt.Sprintf("s%d", i+1), h.leafURL(i%hubNodes), "all")
		env["EDGE_CAMERA_URL"] = video
		env["EDGE_STATUS_INTERVAL"] = "5s"
		a := newAgent(t, env)
		a.start()
		agents = append(agents, a)
		devices = append(devices, a.device)
	}
	var procs []*process
	for _, a := range agents {
		procs = append(procs, a.proc)
	}
	for _, a := range agents {
		waitFor(t, 5*time.Minute, a.device+"'s first status at the hub", func() bool { return board.reported(a.device) }, procs...)
	}
	up := time.Since(began)
	linkMem, linkSubs, leafs := h.totals() // leaf links, watches, status puts
	h.gather(devices...)
	for _, d := range devices {
		waitHubCount(t, js, d, 1, 2*time.Minute)
	}

	// Fleet writes, one at a time: each waits for every device.
	var toLast []time.Duration
	var each []time.Duration
	for i := range writes {
		doc := fmt.Sprintf("defaults:\n  confidence: %.2f\n", 0.30+0.01*float64(i))
		rev, wrote := putFleet(t, kv, bus.FleetKey, doc)
		applied := board.waitApplied(devices, bus.FleetKey, rev, 60*time.Second)
		toLast = append(toLast, latest(applied, wrote))
		for _, at := range applied {
			each = append(each, at.Sub(wrote))
		}
	}

	// Events: produced (each device's own stream) against arrived (the
	// hub stream) over the window.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	localJS := make([]jetstream.JetStream, n)
	for i, a := range agents {
		if localJS[i], err = jetstream.New(a.connectLocal()); err != nil {
			t.Fatal(err)
		}
	}
	produced := func() uint64 {
		var mu sync.Mutex
		var sum uint64
		var wg sync.WaitGroup
		for i, a := range agents {
			wg.Go(func() {
				c, err := streamMsgs(ctx, localJS[i], bus.StreamName(a.device))
				if err != nil {
					t.Errorf("%s's stream: %v", a.device, err)
				}
				mu.Lock()
				sum += c
				mu.Unlock()
			})
		}
		wg.Wait()
		return sum
	}
	arrived := func() uint64 {
		c, err := streamMsgs(ctx, js, bus.HubStream)
		if err != nil {
			t.Fatalf("%s: %v", bus.HubStream, err)
		}
		return c
	}
	// The hub's count first: it can only be behind the devices'.
	a0, p0, t0 := arrived(), produced(), time.Now()
	agentCPU0, hubCPU0 := procsCPU(procs), procsCPU(hubProcs)
	nodeCPU0 := make([]float64, len(hubProcs))
	for i, p := range hubProcs {
		nodeCPU0[i] = procsCPU([]*process{p})
	}
	hubIn0 := int64(0)
	for i := range h.nodes {
		hubIn0 += h.stats(i).InBytes
	}
	hold(t, window, agents)
	a1, p1, t1 := arrived(), produced(), time.Now()
	agentCPU1, hubCPU1 := procsCPU(procs), procsCPU(hubProcs)
	leaderCPU, othersCPU := 0.0, 0.0
	leader, err := streamLeader(ctx, js, bus.HubStream)
	if err != nil {
		t.Fatalf("leader of %s: %v", bus.HubStream, err)
	}
	for i, p := range hubProcs {
		c := procsCPU([]*process{p}) - nodeCPU0[i]
		if h.nodes[i].name == leader {
			leaderCPU += c
		} else {
			othersCPU += c
		}
	}
	hubIn1 := int64(0)
	for i := range h.nodes {
		hubIn1 += h.stats(i).InBytes
	}
	secs := t1.Sub(t0).Seconds()
	fleetMem, fleetSubs, _ := h.totals()
	// Lag at the end: how long until the hub holds what was produced.
	caughtUp := time.Now()
	waitFor(t, 2*time.Minute, "the hub stream to catch up", func() bool { return arrived() >= p1 })
	lag := time.Since(caughtUp)

	w := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	w("")
	w("fleet scale: %d agents as leaf nodes of a 3-node hub (nats-server from go.mod), %s, %d CPUs (GOMAXPROCS %d)", n, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	w("camera: 160x120 H.264 file at %d fps, marker model, EDGE_PUBLISH=all, no annotated stream; agents up and reporting in %s", fps, up.Round(time.Second))
	w("")
	w("| measure | value |")
	w("| --- | --- |")
	w("| fleet KV write → last of %d devices reports it applied, p50 (%d writes) | %s |", n, writes, percentile(toLast, 50).Round(time.Millisecond))
	w("| same, p99 | %s |", percentile(toLast, 99).Round(time.Millisecond))
	w("| write → one device reports it applied, p50 / p99 (%d samples) | %s / %s |", len(each), percentile(each, 50).Round(time.Millisecond), percentile(each, 99).Round(time.Millisecond))
	w("| events produced (all devices' streams), per second | %.1f |", float64(p1-p0)/secs)
	w("| events arrived at %s, per second | %.1f |", bus.HubStream, float64(a1-a0)/secs)
	w("| hub behind the devices at the end of the %s window (events) | %d, caught up %s later |", window, int64(p1)-int64(a1), lag.Round(time.Millisecond))
	w("| bytes into the hub nodes, per device per second | %.0f |", float64(hubIn1-hubIn0)/secs/float64(n))
	perDevice := func(mem int64, subs uint32) string {
		return fmt.Sprintf("%.1f MiB, %.0f subscriptions", float64(mem-baseMem)/float64(n)/(1<<20), float64(subs-baseSubs)/float64(n))
	}
	w("| hub (3 nodes, RSS) per device: leaf link, watch, status | %s |", perDevice(linkMem, linkSubs))
	w("| same, with its events gathered, after the window | %s |", perDevice(fleetMem, fleetSubs))
	w("| leaf connections at the hub | %d |", leafs)
	hubCPU := (hubCPU1 - hubCPU0) / secs
	w("| CPU of the %d agents / of the 3 hub nodes, cores | %.2f / %.2f |", n, (agentCPU1-agentCPU0)/secs, hubCPU)
	w("| of which the node leading %s / each other node, cores | %.2f / %.2f |", bus.HubStream, leaderCPU/secs, othersCPU/2/secs)
	w("| CPU of the 3 hub nodes idle (buckets, no device), cores | %.3f |", idleCPU)
	w("| hub CPU per device (its link, status, %.1f events/s), millicores | %.1f |", float64(a1-a0)/secs/float64(n), (hubCPU-idleCPU)/float64(n)*1000)
	w("| bytes into the hub nodes per event arrived (replication included) | %.0f |", float64(hubIn1-hubIn0)/float64(a1-a0))
	w("")
	t.Logf("fleet write → last device p50 %s p99 %s; events %.1f/s produced, %.1f/s arrived",
		percentile(toLast, 50), percentile(toLast, 99), float64(p1-p0)/secs, float64(a1-a0)/secs)
}
