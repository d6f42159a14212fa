package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
	"edge-agent/internal/testenv"
)

// startHub runs an in-process hub: JetStream in domain hub, a leaf-node
// listener for the agents, both on loopback ports of its own choosing, and
// the fleet's two buckets.
func startHub(t *testing.T) (leafURL string, js jetstream.JetStream, cfgKV, statusKV jetstream.KeyValue) {
	t.Helper()
	opts := &server.Options{
		ServerName: "hub-test", Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		JetStream: true, JetStreamDomain: bus.DefaultFleetDomain, StoreDir: t.TempDir(),
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: -1},
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("hub not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cfgKV, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bus.ConfigBucket, History: 5, MaxValueSize: bus.MaxFleetDocSize}); err != nil {
		t.Fatal(err)
	}
	if statusKV, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bus.StatusBucket, TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("nats-leaf://127.0.0.1:%d", opts.LeafNode.Port), js, cfgKV, statusKV
}

// fleetWaiter follows a device's status in edge_status.
type fleetWaiter struct {
	t      *testing.T
	status jetstream.KeyValue
	key    string
}

// until waits for a status that satisfies ok, for at most d, and returns it.
func (w fleetWaiter) until(d time.Duration, what string, ok func(bus.Status) bool) bus.Status {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	watch, err := w.status.Watch(ctx, w.key)
	if err != nil {
		w.t.Fatal(err)
	}
	defer watch.Stop()
	var last bus.Status
	for {
		select {
		case e := <-watch.Updates():
			if e == nil {
				continue // the initial values are in
			}
			testenv.ValidateSchema(w.t, "status.v1.json", e.Value())
			var st bus.Status
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				w.t.Fatalf("status is not JSON: %v", err)
			}
			if last = st; ok(st) {
				return st
			}
		case <-ctx.Done():
			w.t.Fatalf("no status with %s within %s; last: %+v", what, d, last.Fleet)
		}
	}
}

func applied(key string, rev uint64) func(bus.Status) bool {
	return func(st bus.Status) bool { return st.Fleet != nil && st.Fleet.Applied[key] == rev }
}

// TestFleetDesiredState runs an agent whose embedded server is a leaf node
// of a hub holding the fleet's buckets: documents written at the hub
// reconcile its cameras, a bad document is refused whole and reported, and
// a fleet revision clears a local command's change of the same key.
func TestFleetDesiredState(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs GStreamer and ONNX Runtime")
	}
	leafURL, _, cfgKV, statusKV := startHub(t)
	cfg := integrationConfig(t, "testsrc", OutputDisabled, "")
	cfg.NATS.LeafRemotes = []string{leafURL}
	cfg.Fleet, cfg.FleetDomain = true, bus.DefaultFleetDomain
	cfg.StatusInterval = time.Minute // every status below comes from a change
	a := startAgentHandle(t, cfg, newCollector())
	natsURL, err := a.BusReady(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	local, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(local.Close)
	get := func() configView {
		t.Helper()
		// The agent subscribes to its commands just after its server is
		// ready (BusReady): until then a request finds no responder.
		var m *nats.Msg
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; {
			m, err = local.Request(bus.CommandSubject("test-box"), []byte(`{"id":"g","op":"get_config"}`), 10*time.Second)
			if !errors.Is(err, nats.ErrNoResponders) || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond) // polling a subscription that has no event of its own
		}
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Config configView `json:"config"`
		}
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r.Config
	}
	w := fleetWaiter{t: t, status: statusKV, key: bus.DeviceKey("test-box")}
	ctx := context.Background()

	// A fleet document: every camera's confidence.
	start := time.Now()
	rev, err := cfgKV.Put(ctx, bus.FleetKey, []byte("defaults: {confidence: 0.5}\n"))
	if err != nil {
		t.Fatal(err)
	}
	w.until(15*time.Second, "fleet applied", applied(bus.FleetKey, rev))
	t.Logf("fleet revision %d applied and reported in %s", rev, time.Since(start).Round(time.Millisecond))
	if v := get(); len(v.Cameras) != 1 || v.Cameras[0].Confidence != 0.5 {
		t.Fatalf("after the fleet document: %+v", v.Cameras)
	}

	// The device's document adds a camera, in a group whose document
	// sets the publishing policy.
	grev, err := cfgKV.Put(ctx, bus.GroupKey("lab"), []byte("defaults: {publish: all}\n"))
	if err != nil {
		t.Fatal(err)
	}
	drev, err := cfgKV.Put(ctx, bus.DeviceKey("test-box"), []byte("groups: [lab]\ncameras:\n  - {name: cam2, url: testsrc, output_url: none}\n"))
	if err != nil {
		t.Fatal(err)
	}
	st := w.until(15*time.Second, "device and group applied", func(st bus.Status) bool {
		return applied(bus.DeviceKey("test-box"), drev)(st) && applied(bus.GroupKey("lab"), grev)(st)
	})
	if st.Fleet.Applied[bus.FleetKey] != rev || strings.Join(st.Fleet.Groups, ",") != "lab" {
		t.Errorf("status fleet = %+v", st.Fleet)
	}
	v := get()
	if len(v.Cameras) != 2 {
		t.Fatalf("cameras after the device document: %+v", v.Cameras)
	}
	for _, c := range v.Cameras {
		if c.Confidence != 0.5 || c.Publish != "all" {
			t.Errorf("camera %s: confidence %g publish %s, want 0.5 all", c.Name, c.Confidence, c.Publish)
		}
	}

	// A bad revision of the device's document is refused whole: reported
	// with its problem, and the cameras keep running as they were; the
	// group it would move the device to stays out, the group it would
	// leave stays in force.
	if _, err := cfgKV.Put(ctx, bus.GroupKey("other"), []byte("defaults: {publish: none}\n")); err != nil {
		t.Fatal(err)
	}
	bad, err := cfgKV.Put(ctx, bus.DeviceKey("test-box"), []byte("groups: [other]\ndefaults: {confidence: 7}\ncameras:\n  - {name: cam2, url: testsrc, output_url: none}\n  - {name: cam3, url: testsrc}\n"))
	if err != nil {
		t.Fatal(err)
	}
	st = w.until(15*time.Second, "the bad revision refused", func(st bus.Status) bool {
		return st.Fleet != nil && len(st.Fleet.Refused) == 1 && st.Fleet.Refused[0].Revision == bad
	})
	ref := st.Fleet.Refused[0]
	if ref.Key != bus.DeviceKey("test-box") || !strings.Contains(strings.Join(ref.Problems, "\n"), fmt.Sprintf(`edge_config "device.test-box" revision %d: defaults.confidence`, bad)) {
		t.Errorf("refusal = %+v", ref)
	}
	if a := st.Fleet.Applied; a[bus.DeviceKey("test-box")] != drev || a[bus.GroupKey("lab")] != grev || a[bus.GroupKey("other")] != 0 {
		t.Errorf("applied after the refusal = %v, want the device's revision %d and group.lab's %d kept, group.other not in force", a, drev, grev)
	}
	v = get()
	if len(v.Cameras) != 2 {
		t.Errorf("cameras after the refusal: %d, want 2", len(v.Cameras))
	}
	for _, c := range v.Cameras {
		if c.Publish != "all" {
			t.Errorf("camera %s publishes %s after the refusal, want group.lab's all", c.Name, c.Publish)
		}
	}

	// A local command sets cam1's confidence; the next fleet revision that
	// sets confidence clears it.
	m, err := local.Request(bus.CommandSubject("test-box"), []byte(`{"id":"c","op":"set_thresholds","args":{"camera":"cam1","confidence":0.3}}`), 10*time.Second)
	if err != nil || !strings.Contains(string(m.Data), `"ok":true`) {
		t.Fatalf("set_thresholds: %v %s", err, m.Data)
	}
	for _, c := range get().Cameras {
		if want := map[string]float32{"cam1": 0.3, "cam2": 0.5}[c.Name]; c.Confidence != want {
			t.Fatalf("after the command: %s confidence %g, want %g", c.Name, c.Confidence, want)
		}
	}
	rev2, err := cfgKV.Put(ctx, bus.FleetKey, []byte("defaults: {confidence: 0.45}\n"))
	if err != nil {
		t.Fatal(err)
	}
	st = w.until(15*time.Second, "fleet revision 2 applied", applied(bus.FleetKey, rev2))
	for _, c := range get().Cameras {
		if c.Confidence != 0.45 || c.Publish != "all" {
			t.Errorf("camera %s: confidence %g publish %s after the fleet's new revision, want 0.45 all", c.Name, c.Confidence, c.Publish)
		}
	}
	// The command made the agent try the refused document again (another
	// layer changed): still refused, and still without its groups.
	if a := st.Fleet.Applied; a[bus.GroupKey("lab")] != grev || a[bus.GroupKey("other")] != 0 {
		t.Errorf("applied after the retry = %v, want group.lab's %d and not group.other", a, grev)
	}

	// A camera a command added, changed by the device's document (an entry
	// without url).
	m, err = local.Request(bus.CommandSubject("test-box"), []byte(`{"id":"a","op":"add_camera","args":{"name":"cam9","url":"testsrc","output_url":"none"}}`), 10*time.Second)
	if err != nil || !strings.Contains(string(m.Data), `"ok":true`) {
		t.Fatalf("add_camera: %v %s", err, m.Data)
	}
	drev, err = cfgKV.Put(ctx, bus.DeviceKey("test-box"), []byte("groups: [lab]\ncameras:\n  - {name: cam2, url: testsrc, output_url: none}\n  - {name: cam9, iou: 0.3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	w.until(15*time.Second, "the device's entry for cam9 applied", applied(bus.DeviceKey("test-box"), drev))

	// Restarted with its hub out of reach, the agent runs the documents it
	// last applied, with the commands' changes.
	a.stop()
	local.Close()
	// A port that was free a moment ago and that nothing here listens on.
	cfg.NATS.LeafRemotes = []string{fmt.Sprintf("nats-leaf://127.0.0.1:%d", testenv.FreePort(t))}
	a = startAgentHandle(t, cfg, newCollector())
	if natsURL, err = a.BusReady(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if local, err = nats.Connect(natsURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(local.Close)
	v = get()
	if len(v.Cameras) != 3 {
		t.Fatalf("cameras after a restart without the hub: %+v", v.Cameras)
	}
	for _, c := range v.Cameras {
		if c.Confidence != 0.45 || c.Publish != "all" || (c.Name == "cam9") != (c.IoU == float32(0.3)) {
			t.Errorf("after a restart without the hub: camera %s confidence %g iou %g publish %s, want 0.45, 0.3 for cam9 only, all", c.Name, c.Confidence, c.IoU, c.Publish)
		}
	}
}
