package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"edge-agent/bus"
	"edge-agent/internal/probe"
	"edge-agent/internal/testenv"
	"edge-agent/models/marker"
)

func TestResolveModel(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	write := func(p string) {
		if err := os.WriteFile(p, []byte("onnx"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "a.onnx"))
	write(filepath.Join(outside, "secret.onnx"))
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	write(filepath.Join(dir, "sub", "b.onnx"))
	os.Symlink(filepath.Join(outside, "secret.onnx"), filepath.Join(dir, "escape.onnx"))
	os.Symlink(filepath.Join(dir, "a.onnx"), filepath.Join(dir, "alias.onnx"))
	tests := []struct {
		name, want string // want: a substring of the error, or "" for success
	}{
		{"a.onnx", ""},
		{"sub/b.onnx", ""},
		{"alias.onnx", ""}, // a link that stays inside is fine
		{"../" + filepath.Base(outside) + "/secret.onnx", "no absolute path, no .."},
		{filepath.Join(outside, "secret.onnx"), "no absolute path, no .."},
		{"escape.onnx", "leaves the model folder through a symbolic link"},
		{"missing.onnx", "not found in the model folder"},
		{"sub", "not a regular file"},
	}
	for _, tt := range tests {
		got, root, err := resolveModel(dir, tt.name)
		if tt.want == "" {
			if err != nil || !strings.HasPrefix(got, dir) || root != dir {
				t.Errorf("resolveModel(%q) = %q, %v; want a file in %s", tt.name, got, err, dir)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("resolveModel(%q) = %q, %v; want an error containing %q", tt.name, got, err, tt.want)
		}
	}
	if _, _, err := resolveModel("", "a.onnx"); err == nil || !strings.Contains(err.Error(), "EDGE_MODEL_DIR") {
		t.Errorf("resolveModel without a folder = %v, want it to name EDGE_MODEL_DIR", err)
	}
}

// commander sends commands over NATS (request/reply) and MQTT (command
// topic, answers on the result topic).
type commander struct {
	t       *testing.T
	nc      *nats.Conn
	mc      mqtt.Client
	mu      sync.Mutex
	replies map[string]chan bus.Reply
	n       int
}

func newCommander(t *testing.T, natsURL, mqttURL string) *commander {
	c := &commander{t: t, replies: map[string]chan bus.Reply{}}
	var err error
	if c.nc, err = nats.Connect(natsURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.nc.Close)
	opts := mqtt.NewClientOptions().AddBroker(mqttURL).SetClientID("test-operator")
	c.mc = mqtt.NewClient(opts)
	if tok := c.mc.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt: %v", tok.Error())
	}
	t.Cleanup(func() { c.mc.Disconnect(100) })
	c.mc.Subscribe("edge-agent/test-box/cmd/result", 1, func(_ mqtt.Client, m mqtt.Message) {
		var r bus.Reply
		if err := json.Unmarshal(m.Payload(), &r); err != nil {
			t.Errorf("reply is not JSON: %s", m.Payload())
			return
		}
		c.mu.Lock()
		ch := c.replies[r.ID]
		c.mu.Unlock()
		if ch != nil {
			ch <- r
		}
	}).Wait()
	return c
}

func (c *commander) id() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return fmt.Sprintf("cmd-%d", c.n)
}

// natsCmd sends a command on subject and returns the answer.
func (c *commander) natsCmd(subject, payload string) bus.Reply {
	c.t.Helper()
	m, err := c.nc.Request(subject, []byte(payload), 30*time.Second)
	if err != nil {
		c.t.Fatalf("request %s: %v", payload, err)
	}
	var r bus.Reply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		c.t.Fatalf("reply is not JSON: %s", m.Data)
	}
	return r
}

// mqttCmd publishes a command with the given id and waits for its answer.
func (c *commander) mqttCmd(id, payload string) bus.Reply {
	c.t.Helper()
	ch := make(chan bus.Reply, 2)
	c.mu.Lock()
	c.replies[id] = ch
	c.mu.Unlock()
	c.mc.Publish("edge-agent/test-box/cmd", 1, false, payload).Wait()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		c.t.Fatalf("no answer on MQTT to %s", payload)
	}
	return bus.Reply{}
}

// configOf decodes the spec a reply carries.
func configOf(t *testing.T, r bus.Reply) configView {
	t.Helper()
	b, _ := json.Marshal(r.Config)
	var v configView
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("config %s: %v", b, err)
	}
	return v
}

// config decodes the settings of the reply's first camera.
func config(t *testing.T, r bus.Reply) cameraView {
	t.Helper()
	v := configOf(t, r)
	if len(v.Cameras) == 0 {
		t.Fatalf("reply without cameras: %+v", r)
	}
	return v.Cameras[0]
}

// TestCommands drives a running agent over NATS and MQTT: every op, a
// threshold and a class change showing in the events within two frames, a
// model swap from YOLOX to YOLOv8 while the probe watches the annotated
// video, a table of bad commands that change nothing, and a restart that
// keeps the last applied settings.
func TestCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs MediaMTX, mosquitto, GStreamer and ONNX Runtime")
	}
	shared := testenv.SharedDir(t)
	rtsp := testenv.StartMediaMTX(t)
	broker := testenv.StartMosquitto(t)
	camsim := buildCommand(t, "edge-camsim")
	cameraURL, outputURL := rtsp+"/cam1", rtsp+"/cam1-annotated"

	// The model folder: both real models, a truncated file, a model whose
	// output fits no layout, and a link leaving the folder.
	modelDir := t.TempDir()
	for _, m := range []string{"yolox_nano.onnx", "yolov8n_int8.onnx"} {
		b, err := os.ReadFile(filepath.Join(shared, "models", m))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(modelDir, m), b, 0o644)
		if m == "yolox_nano.onnx" {
			os.WriteFile(filepath.Join(modelDir, "truncated.onnx"), b[:len(b)/3], 0o644)
		}
	}
	if err := marker.WriteFile(filepath.Join(modelDir, "no_layout.onnx"), marker.Options{Size: 320, Anchors: 5}); err != nil {
		t.Fatal(err)
	}
	os.Symlink(filepath.Join(shared, "models", "yolox_nano.onnx"), filepath.Join(modelDir, "outside.onnx"))

	state := t.TempDir()
	cfg := integrationConfig(t, cameraURL, outputURL, filepath.Join(modelDir, "yolox_nano.onnx"))
	cfg.StateDir = state
	cfg.ModelDir = modelDir
	cfg.Publish = "all"
	cfg.MQTT = bus.MQTTConfig{URL: broker.URL()}
	// 640x360 rather than 720p: this test is about commands, and three
	// decoders, two encoders and two models on two cores leave no headroom
	// at 720p while a model loads.
	startProcess(t, camsim, "--source", filepath.Join(shared, "media", "vtest.avi"), "--timecode",
		"--url", cameraURL, "--fps", "15", "--size", "640x360")
	results := newCollector()
	a := startAgentHandle(t, cfg, results)
	natsURL, err := a.BusReady(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	results.waitFor(t, 15, 90*time.Second)
	cmd := newCommander(t, natsURL, broker.URL())
	const dev = "edge.test-box.cmd"

	// get_config over both buses, and the fleet subject.
	for _, r := range []bus.Reply{
		cmd.natsCmd(dev, `{"id":"g1","op":"get_config"}`),
		cmd.mqttCmd("g2", `{"id":"g2","op":"get_config"}`),
		cmd.natsCmd(bus.FleetCommandSubject, `{"id":"g3","op":"get_config"}`),
	} {
		v := config(t, r)
		if !r.OK || r.Revision != 1 || v.Model.Name != "yolox_nano.onnx" || v.Confidence != 0.25 || len(v.Labels) != 80 {
			t.Errorf("get_config = %+v", r)
		}
	}

	// set_thresholds over NATS: the events show it within two processed
	// frames, and a heartbeat at once (not at the next 10 s interval).
	statuses := make(chan *nats.Msg, 64)
	statusSub, err := cmd.nc.ChanSubscribe(bus.StatusSubject("test-box"), statuses)
	if err != nil {
		t.Fatal(err)
	}
	before := len(results.snapshot())
	sent := time.Now()
	r := cmd.natsCmd(dev, `{"id":"t1","op":"set_thresholds","args":{"confidence":0.5,"iou":0.4}}`)
	if !r.OK || r.Revision != 2 || config(t, r).Confidence != 0.5 {
		t.Fatalf("set_thresholds = %+v", r)
	}
	for beat := false; !beat; {
		select {
		case m := <-statuses:
			var st bus.Status
			if err := json.Unmarshal(m.Data, &st); err != nil {
				t.Fatal(err)
			}
			beat = st.Cameras["cam1"].Thresholds.Confidence == 0.5 && st.Cameras["cam1"].Revision == 2
		case <-time.After(3 * time.Second):
			t.Fatalf("no heartbeat with the new confidence %s after set_thresholds (the interval is 10 s)", time.Since(sent))
		}
	}
	statusSub.Unsubscribe()

	checkAppliedWithin(t, results, before, 2, func(r collected) bool { return r.Revision == 2 && r.Confidence == 0.5 && r.IoU == 0.4 })
	for _, r := range results.waitFor(t, before+10, 10*time.Second)[before+3:] {
		for _, d := range r.Detections {
			if d.Confidence < 0.5 {
				t.Errorf("frame %d: %s at %.2f after confidence 0.5", r.Seq, d.Label, d.Confidence)
			}
		}
	}

	// set_zones: a camera's zones and lines, checked whole; get_config
	// shows them normalised.
	r = cmd.natsCmd(dev, `{"id":"z1","op":"set_zones","args":{"camera":"cam1","zones":[{"name":"door","polygon":[[0,0],[0.5,0],[0.5,1]]}],"lines":[{"name":"gate","from":[0.5,0],"to":[0.5,1],"labels":["person"]}]}}`)
	if v := config(t, r); !r.OK || r.Revision != 3 || len(v.Zones) != 1 || v.Zones[0].MinFrames != 3 || len(v.Lines) != 1 {
		t.Fatalf("set_zones = %+v", r)
	}
	r = cmd.natsCmd(dev, `{"id":"z2","op":"set_zones","args":{"camera":"cam1","zones":[{"name":"bow","polygon":[[0,0],[1,1],[1,0],[0,1]]}]}}`)
	if r.OK || !strings.Contains(r.Error, "args.zones[0] (bow).polygon") || r.Revision != 3 {
		t.Fatalf("set_zones with a self-crossing polygon = %+v, want refused, revision 3", r)
	}
	r = cmd.natsCmd(dev, `{"id":"z3","op":"set_zones","args":{"camera":"nope","lines":[]}}`)
	if r.OK || !strings.Contains(r.Error, `no camera "nope"`) {
		t.Fatalf("set_zones of an unknown camera = %+v", r)
	}
	r = cmd.natsCmd(dev, `{"id":"z4","op":"set_zones","args":{"camera":"cam1","zones":[],"lines":[]}}`)
	if v := config(t, r); !r.OK || r.Revision != 4 || len(v.Zones) != 0 || len(v.Lines) != 0 {
		t.Fatalf("set_zones [] = %+v", r)
	}
	// set_classes over MQTT.
	before = len(results.snapshot())
	r = cmd.mqttCmd("c1", `{"id":"c1","op":"set_classes","args":{"classes":["person"]}}`)
	if !r.OK || r.Revision != 5 {
		t.Fatalf("set_classes = %+v", r)
	}
	checkAppliedWithin(t, results, before, 2, func(r collected) bool { return r.Revision == 5 })
	for _, r := range results.waitFor(t, before+10, 10*time.Second)[before+3:] {
		for _, d := range r.Detections {
			if d.Label != "person" {
				t.Errorf("frame %d: %s after set_classes [person]", r.Seq, d.Label)
			}
		}
	}

	// set_publish over NATS, and back.
	if r := cmd.natsCmd(dev, `{"id":"p1","op":"set_publish","args":{"policy":"changes"}}`); !r.OK || config(t, r).Publish != "changes" {
		t.Errorf("set_publish = %+v", r)
	}
	if r := cmd.mqttCmd("p2", `{"id":"p2","op":"set_publish","args":{"policy":"all"}}`); !r.OK || r.Revision != 7 {
		t.Errorf("set_publish = %+v", r)
	}

	// Bad commands: each answered with its own error, nothing changes,
	// frames keep flowing.
	big := `{"id":"big","op":"get_config","pad":"` + strings.Repeat("x", 1<<20-64) + `"}`
	yoloxSum := config(t, cmd.natsCmd(dev, `{"id":"g4","op":"get_config"}`)).Model.SHA256
	bad := []struct{ name, payload, want string }{
		{"malformed JSON", `{"id":"b1","op":`, "truncated JSON"},
		{"wrong type", `{"id":"b2","op":"set_thresholds","args":{"confidence":"high"}}`, "args.confidence: want a number, got string"},
		{"out of range", `{"id":"b3","op":"set_thresholds","args":{"iou":1.5}}`, "args.iou: must be in (0,1], got 1.5"},
		{"unknown op", `{"id":"b4","op":"reboot"}`, `unknown operation "reboot"`},
		{"unknown field", `{"id":"b5","op":"get_config","sudo":true}`, `unknown field "sudo"`},
		{"unknown label", `{"id":"b6","op":"set_classes","args":{"classes":["unicorn"]}}`, "unicorn"},
		{"path traversal", `{"id":"b7","op":"load_model","args":{"name":"../yolox_nano.onnx"}}`, "no absolute path, no .."},
		{"absolute path", `{"id":"b8","op":"load_model","args":{"name":"/etc/passwd"}}`, "no absolute path, no .."},
		{"symlink escape", `{"id":"b9","op":"load_model","args":{"name":"outside.onnx"}}`, "leaves the model folder"},
		{"truncated model", `{"id":"b10","op":"load_model","args":{"name":"truncated.onnx"}}`, "truncated.onnx"},
		{"no layout fits", `{"id":"b11","op":"load_model","args":{"name":"no_layout.onnx"}}`, "no_layout.onnx"},
		{"wrong sha256", `{"id":"b12","op":"load_model","args":{"name":"yolov8n_int8.onnx","sha256":"` + strings.Repeat("0", 64) + `"}}`, "sha256 is"},
		{"1 MiB payload", big, "more than the 65536 allowed"},
		{"expired", `{"id":"b14","op":"set_thresholds","expires":"2020-01-01T00:00:00Z","args":{"confidence":0.9}}`, "expired: the command's expires (2020-01-01T00:00:00Z) is past"},
		{"key in another case", `{"id":"b15","op":"get_config","OP":"set_thresholds","ARGS":{"confidence":0.9,"iou":0.5}}`, `unknown field "OP"`},
	}
	for i, b := range bad {
		flowing := len(results.snapshot())
		var r bus.Reply
		if i%2 == 0 {
			r = cmd.natsCmd(dev, b.payload)
		} else {
			id := fmt.Sprintf("b%d", i+1)
			if b.name == "1 MiB payload" {
				id = ""
			}
			r = cmd.mqttCmd(id, b.payload)
		}
		if b.name == "1 MiB payload" {
			// Refused by the bus where it arrives, before the agent sees
			// it: the answer has no revision or config.
			if r.OK || !strings.Contains(r.Error, b.want) {
				t.Errorf("%s: answer %+v, want a refusal containing %q", b.name, r.Error, b.want)
			}
		} else {
			if r.OK || !strings.Contains(r.Error, b.want) || r.Revision != 7 {
				t.Errorf("%s: answer %+v, want a refusal containing %q at revision 7", b.name, r.Error, b.want)
			}
			if v := config(t, r); v.Model.SHA256 != yoloxSum || v.Confidence != 0.5 || len(v.Classes) != 1 {
				t.Errorf("%s: config changed to %+v", b.name, v)
			}
		}
		results.waitFor(t, flowing+2, 10*time.Second) // events keep flowing
	}

	// load_model YOLOX → YOLOv8 over NATS while the probe watches the video.
	sum := sha256File(t, filepath.Join(modelDir, "yolov8n_int8.onnx"))
	probed := make(chan probe.Report, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		rep, err := probe.Run(ctx, probe.Config{URL: outputURL, Duration: 12 * time.Second}, nil)
		if err != nil {
			t.Errorf("probe: %v", err)
		}
		probed <- rep
	}()
	results.waitFor(t, len(results.snapshot())+30, 20*time.Second) // the probe is reading
	// Loading takes seconds, while the old model serves: count from the answer.
	r = cmd.natsCmd(dev, `{"id":"m1","op":"load_model","args":{"name":"yolov8n_int8.onnx","sha256":"`+sum+`"}}`)
	before = len(results.snapshot())
	if v := config(t, r); !r.OK || r.Revision != 8 || v.Model.Name != "yolov8n_int8.onnx" || v.Model.SHA256 != sum {
		t.Fatalf("load_model = %+v", r)
	}
	checkAppliedWithin(t, results, before, 2, func(r collected) bool { return r.Model.Name == "yolov8n_int8.onnx" })
	rep := <-probed
	t.Logf("probe across the model swap: %s", rep)
	if rep.MaxGapMS > 500 || rep.FramesSeen < 50 {
		t.Errorf("the annotated video stalled across the swap: %s", rep)
	}
	rs := results.snapshot()
	for i := 1; i < len(rs); i++ {
		if rs[i].Seq <= rs[i-1].Seq {
			t.Fatalf("frame numbers restarted (%d after %d): the camera was reconnected", rs[i].Seq, rs[i-1].Seq)
		}
	}
	persons := 0
	for _, r := range rs[len(rs)-10:] {
		for _, d := range r.Detections {
			if d.Label == "person" {
				persons++
			}
		}
	}
	if persons == 0 {
		t.Error("YOLOv8 finds no person in the last 10 frames")
	}

	// A restart comes back with the last applied settings.
	a.stop()
	results2 := newCollector()
	a2 := startAgentHandle(t, cfg, results2)
	if _, err := a2.BusReady(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	rs2 := results2.waitFor(t, 5, 60*time.Second)
	if r := rs2[len(rs2)-1]; r.Model.Name != "yolov8n_int8.onnx" || r.Revision != 8 || r.Confidence != 0.5 || r.IoU != 0.4 || len(r.Classes) != 1 {
		t.Errorf("after a restart: model %s revision %d confidence %v iou %v classes %v; want the last applied", r.Model.Name, r.Revision, r.Confidence, r.IoU, r.Classes)
	}
}

// checkAppliedWithin checks that a change answered when the collector held
// before results shows from at most n frames later on.
func checkAppliedWithin(t *testing.T, results *collector, before, n int, applied func(collected) bool) {
	t.Helper()
	rs := results.waitFor(t, before+n+3, 20*time.Second)
	for i := before + n; i < len(rs); i++ {
		if !applied(rs[i]) {
			t.Errorf("frame %d (the %dth after the answer) does not show the change", rs[i].Seq, i-before+1)
			return
		}
	}
}
