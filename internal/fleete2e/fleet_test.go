package fleete2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
)

// fleetDoc is the fleet document the tests write: every device's
// confidence threshold.
const fleetDoc = "defaults:\n  confidence: 0.5\n"

// putFleet writes doc at key in edge_config and returns its revision and
// when the put returned.
func putFleet(t *testing.T, kv jetstream.KeyValue, key, doc string) (uint64, time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rev, err := kv.Put(ctx, key, []byte(doc))
	if err != nil {
		t.Fatalf("put %s into %s: %v", key, bus.ConfigBucket, err)
	}
	return rev, time.Now()
}

// configBucket binds edge_config at the hub.
func configBucket(t *testing.T, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	var kv jetstream.KeyValue
	idempotent(t, "bucket "+bus.ConfigBucket, func(ctx context.Context) (err error) {
		kv, err = js.KeyValue(ctx, bus.ConfigBucket)
		return err
	})
	return kv
}

// checkConfidence fails the test unless the device's latest status says
// its camera runs at confidence c.
func checkConfidence(t *testing.T, board *statusBoard, device string, c float32) {
	t.Helper()
	st := board.status(device)
	if st == nil {
		t.Fatalf("%s: no status", device)
	}
	cam, ok := st.Cameras["cam1"]
	if !ok {
		t.Fatalf("%s: status has no camera cam1: %+v", device, st.Cameras)
	}
	if cam.Thresholds.Confidence != c {
		t.Errorf("%s: cam1 runs at confidence %v, want %v (the fleet document's)", device, cam.Thresholds.Confidence, c)
	}
}

// TestLongFleetDocumentReachesOnlineAndOfflineAgents: a fleet document written
// once into edge_config at the hub reaches three online agents, each
// reporting in edge_status that it applied that revision (and running at
// its confidence); a fourth agent, stopped while the document was written,
// converges within 5 s of its leaf link coming back, with nothing resent.
// A client of a device's server then gets only the shipped hub.conf's
// device grants at the hub (checkDeviceGrants).
func TestLongFleetDocumentReachesOnlineAndOfflineAgents(t *testing.T) {
	long(t) // make test has the agent's side in process: agent/TestFleetDesiredState
	began := time.Now()
	h := startHub(t)
	h.initBuckets()
	js, err := jetstream.New(h.connect("operator"))
	if err != nil {
		t.Fatal(err)
	}
	board := watchStatus(t, js)
	kv := configBucket(t, js)
	hubUp := time.Since(began)

	agents := startAgents(t, h, "d", 4, "none")
	online, offline := agents[:3], agents[3]
	for _, a := range agents {
		waitFor(t, 30*time.Second, a.device+"'s first status in "+bus.StatusBucket, func() bool { return board.reported(a.device) }, a.proc)
	}
	agentsUp := time.Since(began) - hubUp

	offline.stop()
	rev, wrote := putFleet(t, kv, bus.FleetKey, fleetDoc)
	var devices []string
	for _, a := range online {
		devices = append(devices, a.device)
	}
	applied := board.waitApplied(devices, bus.FleetKey, rev, 20*time.Second)
	toOnline := latest(applied, wrote)
	for _, a := range online {
		checkConfidence(t, board, a.device, 0.5)
	}

	offline.start()
	started := time.Now()
	var linked time.Time
	waitFor(t, 60*time.Second, offline.device+"'s leaf connection at the hub", func() bool {
		_, ok := h.leafOf(offline.server())
		if ok {
			linked = time.Now()
		}
		return ok
	}, offline.proc)
	got := board.waitApplied([]string{offline.device}, bus.FleetKey, rev, 20*time.Second)
	afterLink := got[offline.device].Sub(linked)
	checkConfidence(t, board, offline.device, 0.5)
	if afterLink > 5*time.Second {
		t.Errorf("%s reported revision %d applied %s after its leaf link came back, want within 5s", offline.device, rev, afterLink)
	}
	checkDeviceGrants(t, agents[0])
	checkOperatorTools(t, h, agents)
	t.Logf("hub up and buckets made in %s, 4 agents reporting in %s", hubUp.Round(time.Millisecond), agentsUp.Round(time.Millisecond))
	t.Logf("fleet revision %d: applied by the last of 3 online agents %s after the put (each: %v)", rev, toOnline.Round(time.Millisecond), sinceEach(applied, wrote))
	t.Logf("offline agent: leaf link back %s after its start, revision applied %s after that", linked.Sub(started).Round(time.Millisecond), afterLink.Round(time.Millisecond))
	t.Logf("whole test %s", time.Since(began).Round(time.Millisecond))
}

// sinceEach is each device's time from from, rounded to the millisecond.
func sinceEach(times map[string]time.Time, from time.Time) map[string]time.Duration {
	out := map[string]time.Duration{}
	for d, at := range times {
		out[d] = at.Sub(from).Round(time.Millisecond)
	}
	return out
}

// checkDeviceGrants uses the hub's JetStream from a device's embedded
// server as the agent does (its reply prefix _INBOX_edge_agent, the only
// one the hub answers across the link): the device user of
// deploy/hub/hub.conf lets it put a status into edge_status, and refuses a
// write into edge_config and the hub's account information (one of the
// JetStream API requests it was not granted).
func checkDeviceGrants(t *testing.T, a *agent) {
	t.Helper()
	js, err := jetstream.NewWithDomain(a.connectLocal(nats.CustomInboxPrefix("_INBOX_edge_agent")), bus.DefaultFleetDomain)
	if err != nil {
		t.Fatal(err)
	}
	var status, config jetstream.KeyValue
	idempotent(t, "from "+a.device+"'s server: bind the buckets", func(ctx context.Context) (err error) {
		if status, err = js.KeyValue(ctx, bus.StatusBucket); err != nil {
			return err
		}
		config, err = js.KeyValue(ctx, bus.ConfigBucket)
		return err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := status.Put(ctx, bus.DeviceKey(a.device), []byte(`{"device":"`+a.device+`"}`)); err != nil {
		t.Errorf("from %s's server: put its status: %v", a.device, err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), time.Second)
	defer cancelShort()
	if rev, err := config.Put(short, bus.FleetKey, []byte("defaults: {confidence: 0.9}\n")); err == nil {
		t.Errorf("from %s's server: wrote %s %s (revision %d); the device user may not", a.device, bus.ConfigBucket, bus.FleetKey, rev)
	}
	short2, cancelShort2 := context.WithTimeout(context.Background(), time.Second)
	defer cancelShort2()
	if _, err := js.AccountInfo(short2); err == nil {
		t.Errorf("from %s's server: read the hub account's JetStream information; the device user may not", a.device)
	}
}

// checkOperatorTools runs the operator's edgectl at the hub against the
// real agents: devices finds them all (discovery across the leaf links and
// edge_status), set writes a device's document and waits until the device
// reports it applied, get shows the setting in force from the device's own
// answer (its micro service, across the link), status shows the applied
// revision, and load-model prints the device's refusal of a model outside
// its model folder.
func checkOperatorTools(t *testing.T, h *hub, agents []*agent) {
	t.Helper()
	var rows []struct {
		Device  string   `json:"device"`
		Version string   `json:"version"`
		Cameras []string `json:"cameras"`
		Online  bool     `json:"online"`
	}
	if err := json.Unmarshal([]byte(h.edgectl("devices", "--json")), &rows); err != nil {
		t.Fatalf("edgectl devices --json: %v", err)
	}
	online := map[string]bool{}
	for _, r := range rows {
		if r.Online && len(r.Cameras) == 1 && r.Cameras[0] == "cam1" && r.Version != "" {
			online[r.Device] = true
		}
	}
	for _, a := range agents {
		if !online[a.device] {
			t.Errorf("edgectl devices: %s not listed online with camera cam1 and a version: %+v", a.device, rows)
		}
	}

	d := agents[0].device
	out := h.edgectl("set", "--device", d, "--camera", "cam1", "iou=0.6", "--wait", "20s")
	if !strings.Contains(out, d) || !strings.Contains(out, "applied revision") {
		t.Errorf("edgectl set: %s", out)
	}
	var got struct {
		Documents []struct {
			Key      string `json:"key"`
			Revision uint64 `json:"revision"`
			Present  bool   `json:"present"`
		} `json:"documents"`
		Online  bool       `json:"online"`
		InForce *bus.Reply `json:"in_force"`
	}
	if err := json.Unmarshal([]byte(h.edgectl("get", d, "--json")), &got); err != nil {
		t.Fatalf("edgectl get --json: %v", err)
	}
	if !got.Online || got.InForce == nil || !strings.Contains(string(mustJSON(t, got.InForce.Config)), `"iou":0.6`) {
		t.Errorf("edgectl get %s: online %v, in force %+v", d, got.Online, got.InForce)
	}
	var devRev uint64
	for _, doc := range got.Documents {
		if doc.Key == bus.DeviceKey(d) && doc.Present {
			devRev = doc.Revision
		}
	}
	var st bus.Status
	if err := json.Unmarshal([]byte(h.edgectl("status", d, "--json")), &st); err != nil {
		t.Fatalf("edgectl status --json: %v", err)
	}
	if devRev == 0 || st.Fleet == nil || st.Fleet.Applied[bus.DeviceKey(d)] != devRev {
		t.Errorf("edgectl status %s: fleet %+v, want %s at revision %d", d, st.Fleet, bus.DeviceKey(d), devRev)
	}

	out, errOut, err := h.runEdgectl("load-model", d, "elsewhere.onnx")
	if err == nil || !strings.Contains(out+errOut, "EDGE_MODEL_DIR") {
		t.Errorf("edgectl load-model of a model the device has no folder for: %v\n%s%s", err, out, errOut)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
