package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"edge-agent/bus"
)

// TestGather: gather creates the hub stream with a source per device
// named (each device's stream through its domain), with a duplicate
// window; run again without devices, it adds those of edge_status and
// keeps the sources already there, saying which it added.
func TestGather(t *testing.T) {
	f := startFleet(t, nil)
	f.mustInit()
	r := f.edgectl("gather", "porch", "garage", "--duplicates", "5m")
	if r.code != 0 {
		t.Fatalf("gather: %d %s", r.code, r.stderr)
	}
	contains(t, "gather", r.stdout, "stream EDGE_FLEET created: 2 sources added, 0 kept\n",
		"EDGE_porch   $JS.edge-porch.API   added\n", "EDGE_garage  $JS.edge-garage.API  added\n")

	f.putStatus(status("garage", nil, nil))
	f.putStatus(status("shed", nil, nil))
	r = f.edgectl("gather", "--json")
	if r.code != 0 {
		t.Fatalf("gather: %d %s", r.code, r.stderr)
	}
	var res gatherResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range res.Sources {
		got = append(got, s.Stream+" "+s.APIPrefix+" "+s.Action)
	}
	want := "EDGE_porch $JS.edge-porch.API kept, EDGE_garage $JS.edge-garage.API kept, EDGE_shed $JS.edge-shed.API added"
	if res.Action != "updated" || strings.Join(got, ", ") != want {
		t.Errorf("gather --json: %s %v, want updated %s", res.Action, got, want)
	}

	s, err := f.js.Stream(t.Context(), bus.HubStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if len(cfg.Sources) != 3 || cfg.Duplicates != 5*time.Minute || cfg.Sources[2].Name != "EDGE_shed" ||
		cfg.Sources[2].External == nil || cfg.Sources[2].External.APIPrefix != "$JS.edge-shed.API" {
		t.Errorf("EDGE_FLEET: duplicates %s, sources %+v", cfg.Duplicates, cfg.Sources)
	}
}

// TestLoadModel: load-model sends {"args": ...} as load_model takes it to
// the device's service endpoint and prints its answer; a refusal's error
// is printed with exit status 1; arguments the agent's parser refuses are
// refused before anything is sent; a device nobody serves is offline.
func TestLoadModel(t *testing.T) {
	f := startFleet(t, nil)
	d := f.startDevice(&device{id: "porch", loadModel: func(req []byte) bus.Reply {
		var r struct {
			Args loadModelArgs `json:"args"`
		}
		_ = json.Unmarshal(req, &r)
		if r.Args.Name == "missing.onnx" {
			return bus.Reply{ID: "x", OK: false, Revision: 4, Error: `load model "missing.onnx": not found in the model folder`}
		}
		return bus.Reply{ID: "x", OK: true, Revision: 5}
	}}, "front")
	sha := strings.Repeat("ab", 32)

	r := f.edgectl("load-model", "porch", "yolox_nano.onnx", "--camera", "front", "--sha256", sha, "--format", "yolox")
	if r.code != 0 || r.stdout != "porch loaded yolox_nano.onnx for camera front (revision 5)\n" {
		t.Errorf("load-model: %d %q %s", r.code, r.stdout, r.stderr)
	}
	d.mu.Lock()
	sent := string(d.requests[0])
	d.mu.Unlock()
	if want := `{"args":{"camera":"front","name":"yolox_nano.onnx","sha256":"` + sha + `","format":"yolox"}}`; sent != want {
		t.Errorf("sent %s, want %s", sent, want)
	}

	r = f.edgectl("load-model", "porch", "missing.onnx")
	if r.code != exitFail || !strings.Contains(r.stderr, `porch refused load_model missing.onnx: load model "missing.onnx": not found in the model folder`) {
		t.Errorf("refused: %d %s", r.code, r.stderr)
	}
	r = f.edgectl("load-model", "porch", "missing.onnx", "--json")
	var reply bus.Reply
	if err := json.Unmarshal([]byte(r.stdout), &reply); err != nil || reply.OK || reply.Revision != 4 {
		t.Errorf("refused --json: %v %s", err, r.stdout)
	}

	r = f.edgectl("load-model", "porch", "x.onnx", "--sha256", "abc")
	if r.code != exitUsage || !strings.Contains(r.stderr, `args.sha256: "abc" is not 64 hexadecimal digits`) {
		t.Errorf("bad digest: %d %s", r.code, r.stderr)
	}
	r = f.edgectl("load-model", "porch", "x.onnx", "--format", "yolov9")
	if r.code != exitUsage || !strings.Contains(r.stderr, `args.format: must be auto, yolov8, yolov5 or yolox, got "yolov9"`) {
		t.Errorf("bad format: %d %s", r.code, r.stderr)
	}
	if d.mu.Lock(); len(d.requests) != 3 {
		t.Errorf("the device got %d requests, want 3", len(d.requests))
	}
	d.mu.Unlock()

	r = f.edgectl("load-model", "garage", "x.onnx")
	if r.code != exitFail || !strings.Contains(r.stderr, "garage: offline (nothing listens on edge.garage.svc.load_model)") {
		t.Errorf("offline: %d %s", r.code, r.stderr)
	}
}

// TestInboxPrefix: on a server that confines each user's inbox, as the
// agent's embedded server does (_INBOX.<user>), edgectl works with
// EDGECTL_INBOX_PREFIX and cannot get answers without it.
func TestInboxPrefix(t *testing.T) {
	perms := func(user string) *server.Permissions {
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{">"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX." + user + ".>", "edge.>", "$SRV.>"}},
		}
	}
	f := startFleet(t, &server.Options{Users: []*server.User{
		{Username: "ops", Password: "ops-pw", Permissions: perms("ops")},
		{Username: "dev", Password: "dev-pw", Permissions: perms("dev")},
	}})
	f.startDevice(&device{id: "porch", loadModel: func([]byte) bus.Reply { return bus.Reply{ID: "x", OK: true, Revision: 2} }},
		"front", nats.UserInfo("dev", "dev-pw"), nats.CustomInboxPrefix("_INBOX.dev"))

	cfg := f.config()
	cfg.User, cfg.Password, cfg.Timeout = "ops", "ops-pw", 500*time.Millisecond
	r := runWith(t, cfg, nil, "load-model", "porch", "a.onnx", "--timeout", "500ms")
	if r.code != exitFail || strings.Contains(r.stderr, "ops-pw") || !strings.Contains(r.stderr, "set EDGECTL_INBOX_PREFIX") {
		t.Errorf("without the prefix: %d %s", r.code, r.stderr)
	}
	cfg.InboxPrefix = "_INBOX.ops"
	for _, args := range [][]string{{"load-model", "porch", "a.onnx"}, {"init"}, {"set", "--fleet", "iou=0.5", "--no-wait"}} {
		if r := runWith(t, cfg, nil, args...); r.code != 0 {
			t.Errorf("%v with the prefix: %d %s", args, r.code, r.stderr)
		}
	}
}
