package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"edge-agent/bus"
)

// TestDevices: devices joins the discovery answers with edge_status: a
// device in both is online with its heartbeat's cameras and summed frame
// rate, one only in edge_status is offline, one only answering discovery
// is online with its metadata's cameras and no heartbeat.
func TestDevices(t *testing.T) {
	f := startFleet(t, nil)
	f.mustInit()
	st := status("porch", nil, map[string]float64{"front": 14.5, "back": 7.25})
	st.Time = bus.Timestamp{Time: time.Now().Add(-12 * time.Second)}
	f.putStatus(st)
	f.putStatus(status("garage", nil, map[string]float64{"cam1": 15}))
	f.startDevice(&device{id: "porch"}, "front,back")
	f.startDevice(&device{id: "shed"}, "yard")

	r := f.edgectl("devices", "--discover", "300ms")
	if r.code != 0 {
		t.Fatalf("devices: %d %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 {
		t.Fatalf("devices printed %d lines, want a header and 3:\n%s", len(lines), r.stdout)
	}
	fields := func(i int) string { return strings.Join(strings.Fields(lines[i]), " ") }
	if got, want := fields(0), "DEVICE VERSION CAMERAS FPS LAST SEEN ONLINE"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
	if got := fields(1); !strings.HasPrefix(got, "garage 1.2.3 cam1 15.0 ") || !strings.HasSuffix(got, " ago no") {
		t.Errorf("garage: %q", got)
	}
	if got := fields(2); !regexp.MustCompile(`^porch 1\.2\.3 back,front 21\.8 1[2-9]s ago yes$`).MatchString(got) { // 12s ago, and the time the test took
		t.Errorf("porch: %q", got)
	}
	if got, want := fields(3), "shed 1.2.3 yard - - yes"; got != want {
		t.Errorf("shed: %q, want %q", got, want)
	}

	r = f.edgectl("devices", "--discover", "300ms", "--json")
	var rows []deviceRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("devices --json: %v\n%s", err, r.stdout)
	}
	if len(rows) != 3 || rows[1].Device != "porch" || !rows[1].Online || rows[1].FPS == nil || *rows[1].FPS != 21.75 ||
		*rows[1].FPSIn != 30 || rows[0].Online || rows[2].LastSeen != nil || rows[2].Instance == "" {
		t.Errorf("devices --json = %s", r.stdout)
	}
}

// TestDevicesWithoutBuckets: without edge_status, devices says to run
// init.
func TestDevicesWithoutBuckets(t *testing.T) {
	f := startFleet(t, nil)
	r := f.edgectl("devices")
	if r.code != exitFail || !strings.Contains(r.stderr, "bucket edge_status not found in JetStream domain hub: run edgectl init") {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}
}

// TestStatus: status prints a device's heartbeat readably: cameras with
// state, rates and latency, its groups, applied revisions and every
// problem of a refusal; --json gives the document.
func TestStatus(t *testing.T) {
	f := startFleet(t, nil)
	f.mustInit()
	st := status("porch", []string{"north"}, map[string]float64{"front": 14.5})
	st.Cameras["back"] = bus.CameraStatus{State: bus.CameraFailed, Error: "read camera: connection refused"}
	st.Fleet.Applied = map[string]uint64{"device.porch": 9, "fleet": 3, "group.north": 5}
	st.Fleet.Refused = []bus.FleetRefusal{{Key: "device.porch", Revision: 10, At: st.Time,
		Problems: []string{"device.porch: cameras[0] (front).confidence: must be between 0.01 and 1, got 5", "device.porch: defaults.iou: must be in (0,1]"}}}
	f.putStatus(st)

	r := f.edgectl("status", "porch")
	if r.code != 0 {
		t.Fatalf("status: %d %s", r.code, r.stderr)
	}
	contains(t, "status", r.stdout,
		"device   porch\n",
		"  front   streaming  15.0    14.5  0        40.0/55.0/61.0 ms    yolox_nano.onnx  3\n",
		"  back    failed ",
		"  back: read camera: connection refused\n",
		"  groups   north\n",
		"  applied  fleet 3, group.north 5, device.porch 9\n",
		"  refused  device.porch revision 10 at ",
		"           - device.porch: cameras[0] (front).confidence: must be between 0.01 and 1, got 5\n",
		"           - device.porch: defaults.iou: must be in (0,1]\n")

	r = f.edgectl("status", "porch", "--json")
	var got bus.Status
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Fleet.Applied["group.north"] != 5 || len(got.Fleet.Refused[0].Problems) != 2 {
		t.Errorf("status --json: %v\n%s", err, r.stdout)
	}

	r = f.edgectl("status", "nobody")
	if r.code != exitFail || !strings.Contains(r.stderr, "device nobody has no status in edge_status") {
		t.Errorf("status of an unknown device: %d %s", r.code, r.stderr)
	}
}

// TestParseStatus: a status document is read strictly: within 1 MiB, one
// JSON object, the status schema, the device of its key.
func TestParseStatus(t *testing.T) {
	good, _ := json.Marshal(status("porch", nil, nil))
	for _, c := range []struct {
		name string
		data []byte
		want string // "" for no error
	}{
		{"good", good, ""},
		{"unknown fields are a newer agent's", []byte(`{"schema":"edge.status.v1","device":"porch","time":"2024-05-01T12:00:00Z","new_field":1}`), ""},
		{"too big", append(append([]byte(`{"schema":"edge.status.v1","device":"porch","version":"`), make([]byte, 1<<20)...), `"}`...), "more than the 1048576 allowed"},
		{"two values", append(append([]byte{}, good...), good...), "data after the value"},
		{"malformed", []byte(`{"schema":`), "malformed JSON"},
		{"wrong type", []byte(`{"schema":"edge.status.v1","device":"porch","uptime_s":"long"}`), "malformed JSON"},
		{"other schema", []byte(`{"schema":"edge.detection.v1","device":"porch"}`), `schema "edge.detection.v1"`},
		{"other device", []byte(`{"schema":"edge.status.v1","device":"garage"}`), `the document is device "garage"'s`},
	} {
		_, err := parseStatus("device.porch", c.data)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
