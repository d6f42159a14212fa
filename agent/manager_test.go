package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
	"edge-agent/internal/probe"
	"edge-agent/internal/testenv"
	"edge-agent/models/marker"
)

// countFor is how many results of the camera the collector holds, and the
// last one.
func (c *collector) countFor(camera string) (n int, last collected) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.results {
		if r.Camera == camera {
			n++
			last = r
		}
	}
	return n, last
}

// waitCamera waits until the collector holds n more results of camera than
// it did at from.
func (c *collector) waitCamera(t *testing.T, camera string, n int, timeout time.Duration) {
	t.Helper()
	start, _ := c.countFor(camera)
	testenv.WaitFor(t, timeout, fmt.Sprintf("%d frames of camera %s", n, camera), func() bool {
		got, _ := c.countFor(camera)
		return got >= start+n
	})
}

// camsim is a simulated camera the test can stop and start again.
type camsim struct {
	t    *testing.T
	path string
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func startCamsim(t *testing.T, path string, args ...string) *camsim {
	c := &camsim{t: t, path: path, args: args}
	c.start()
	t.Cleanup(c.stop)
	return c
}

func (c *camsim) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmd := exec.Command(c.path, c.args...)
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start camsim: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	c.cmd, c.done = cmd, done
}

func (c *camsim) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

// httpGet returns the status and body of a GET.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue reads one sample of the Prometheus text exposition.
func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("no series %s in /metrics", series)
	return 0
}

// TestManyCameras runs one agent with three cameras from EDGE_CONFIG_FILE:
// two on the built-in marker model (one shared session) and one on a
// smaller marker model. The probe watches camera a's annotated stream while
// cameras are removed, added and changed by commands and camera c's camera
// dies and comes back: camera a never notices. Home Assistant availability,
// /readyz and /metrics follow.
func TestManyCameras(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs MediaMTX, mosquitto, GStreamer and ONNX Runtime")
	}
	rtsp := testenv.StartMediaMTX(t)
	broker := testenv.StartMosquitto(t)
	camsimBin := buildCommand(t, "edge-camsim")
	sim := func(path string) *camsim {
		return startCamsim(t, camsimBin, "--source", "synthetic", "--url", rtsp+"/"+path, "--fps", "15", "--size", "640x360")
	}
	sim("a")
	sim("b")
	simC := sim("c")

	modelDir := t.TempDir()
	if err := marker.WriteFile(filepath.Join(modelDir, "small.onnx"), marker.Options{Size: 320}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cameras.yaml")
	yml := fmt.Sprintf(`
defaults:
  publish: all
  capture_clock: arrival
  rtsp_transport: tcp
  output_url: none
cameras:
  - name: a
    url: %[1]s/a
    output_url: %[1]s/a-annotated
  - name: b
    url: %[1]s/b
  - name: c
    url: %[1]s/c
    model: small.onnx
`, rtsp)
	if err := os.WriteFile(file, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := integrationConfig(t, "", "", "")
	cfg.ConfigFile, cfg.ModelDir, cfg.ORTThreads = file, modelDir, 1
	cfg.HTTPListen = "127.0.0.1:0"
	cfg.StatusInterval = time.Second
	cfg.MQTT = bus.MQTTConfig{URL: broker.URL(), ReconnectWait: 250 * time.Millisecond, MaxReconnectWait: time.Second}

	// Home Assistant's view: every camera's retained availability.
	var availMu sync.Mutex
	avail := map[string][]string{}
	ha := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID("test-ha-avail"))
	if tok := ha.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt: %v", tok.Error())
	}
	t.Cleanup(func() { ha.Disconnect(100) })
	ha.Subscribe("edge-agent/test-box/+/availability", 1, func(_ mqtt.Client, m mqtt.Message) {
		cam := strings.Split(m.Topic(), "/")[2]
		availMu.Lock()
		avail[cam] = append(avail[cam], string(m.Payload()))
		availMu.Unlock()
	}).Wait()
	lastAvail := func(cam string) string {
		availMu.Lock()
		defer availMu.Unlock()
		if v := avail[cam]; len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}

	results := newCollector()
	a := startAgentHandle(t, cfg, results)
	natsURL, err := a.BusReady(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := a.HTTPReady(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr
	for _, cam := range []string{"a", "b", "c"} {
		results.waitCamera(t, cam, 15, 90*time.Second)
	}
	// Two model files, two sessions: a and b share the built-in model.
	if n := a.pool.size(); n != 2 {
		t.Errorf("%d model sessions for 3 cameras on 2 models, want 2", n)
	}
	testenv.WaitFor(t, 10*time.Second, "/readyz 200", func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 200 })
	for _, cam := range []string{"a", "b", "c"} {
		testenv.WaitFor(t, 10*time.Second, "camera "+cam+" online", func() bool { return lastAvail(cam) == "online" })
	}

	cmd := newCommander(t, natsURL, broker.URL())
	const dev = "edge.test-box.cmd"
	r := cmd.natsCmd(dev, `{"id":"l1","op":"list_cameras"}`)
	if v := configOf(t, r); !r.OK || len(v.Cameras) != 3 || v.Cameras[2].Model.Name != "small.onnx" || v.Cameras[0].State != "streaming" {
		t.Fatalf("list_cameras = %+v", r)
	}

	// The probe reads camera a for the whole sequence of changes.
	probed := make(chan probe.Report, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		rep, err := probe.Run(ctx, probe.Config{URL: rtsp + "/a-annotated", Duration: 25 * time.Second}, nil)
		if err != nil {
			t.Errorf("probe: %v", err)
		}
		probed <- rep
	}()
	results.waitCamera(t, "a", 20, 20*time.Second) // the probe is reading
	_, aBefore := results.countFor("a")

	// remove_camera c: its session (small.onnx) closes with it.
	if r := cmd.natsCmd(dev, `{"id":"r1","op":"remove_camera","args":{"name":"c"}}`); !r.OK || len(configOf(t, r).Cameras) != 2 {
		t.Fatalf("remove_camera = %+v", r)
	}
	if n := a.pool.size(); n != 1 {
		t.Errorf("%d sessions after removing the only camera of small.onnx, want 1", n)
	}
	// Home Assistant sees c go: offline, then its topic cleared as its
	// entities are withdrawn (the two may reach the broker in either order
	// of arrival at the subscriber, but the last word is never "online").
	testenv.WaitFor(t, 10*time.Second, "camera c offline or withdrawn", func() bool {
		availMu.Lock()
		defer availMu.Unlock()
		v := avail["c"]
		return len(v) > 0 && v[len(v)-1] != "online" && slices.Contains(v, "online")
	})
	// add_camera d, on camera c's stream and small.onnx again.
	if r := cmd.mqttCmd("r2", `{"id":"r2","op":"add_camera","args":{"name":"d","url":"`+rtsp+`/c","model":"small.onnx","confidence":0.6}}`); !r.OK {
		t.Fatalf("add_camera = %+v", r)
	}
	results.waitCamera(t, "d", 10, 60*time.Second)
	if _, last := results.countFor("d"); last.Confidence != 0.6 || last.Model.Name != "small.onnx" {
		t.Errorf("camera d runs %+v", last.Result)
	}
	// update_camera b: a threshold (live) — b's frame numbers go on — then
	// its URL (b alone restarts, now on camera c's stream).
	_, bBefore := results.countFor("b")
	if r := cmd.natsCmd(dev, `{"id":"r3","op":"update_camera","args":{"name":"b","iou":0.3}}`); !r.OK {
		t.Fatalf("update_camera = %+v", r)
	}
	results.waitCamera(t, "b", 5, 10*time.Second)
	if _, last := results.countFor("b"); last.IoU != 0.3 || last.Seq <= bBefore.Seq {
		t.Errorf("b after a live change: iou %v seq %d (was %d): want 0.3 and no reconnection", last.IoU, last.Seq, bBefore.Seq)
	}
	if r := cmd.natsCmd(dev, `{"id":"r4","op":"update_camera","args":{"name":"b","url":"`+rtsp+`/c"}}`); !r.OK {
		t.Fatalf("update_camera url = %+v", r)
	}
	results.waitCamera(t, "b", 5, 30*time.Second)
	// set_thresholds for one camera leaves the others alone.
	if r := cmd.natsCmd(dev, `{"id":"r5","op":"set_thresholds","args":{"camera":"d","confidence":0.8}}`); !r.OK {
		t.Fatalf("set_thresholds camera d = %+v", r)
	}
	results.waitCamera(t, "a", 5, 10*time.Second)
	if _, last := results.countFor("a"); last.Confidence != 0.25 {
		t.Errorf("camera a's confidence became %v after a change to d", last.Confidence)
	}
	// Refused whole: a second camera on a's output, a bad URL.
	bad := []struct{ payload, want string }{
		{`{"id":"x1","op":"add_camera","args":{"name":"e","url":"` + rtsp + `/c","output_url":"` + rtsp + `/a-annotated"}}`, `is also camera "a"'s output`},
		{`{"id":"x2","op":"add_camera","args":{"name":"a","url":"` + rtsp + `/c"}}`, `camera "a" already runs`},
		{`{"id":"x3","op":"update_camera","args":{"name":"b","url":"http://x/y"}}`, `unsupported scheme "http"`},
		{`{"id":"x4","op":"remove_camera","args":{"name":"zz"}}`, `no camera "zz"`},
		{`{"id":"x5","op":"set_classes","args":{"camera":"a","classes":["unicorn"]}}`, "unicorn"},
	}
	for _, b := range bad {
		if r := cmd.natsCmd(dev, b.payload); r.OK || !strings.Contains(r.Error, b.want) {
			t.Errorf("%s: answer %+v, want a refusal containing %q", b.payload, r, b.want)
		}
	}

	// Camera c's stream (read by b and d now) dies and comes back.
	simC.stop()
	testenv.WaitFor(t, 20*time.Second, "camera d offline", func() bool { return lastAvail("d") == "offline" })
	testenv.WaitFor(t, 10*time.Second, "/readyz 503", func() bool {
		code, body := httpGet(t, base+"/readyz")
		return code == 503 && strings.Contains(body, `"d"`) && !strings.Contains(body, `"a"`)
	})
	simC.start()
	testenv.WaitFor(t, 60*time.Second, "camera d online again", func() bool { return lastAvail("d") == "online" })
	testenv.WaitFor(t, 30*time.Second, "/readyz 200 again", func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 200 })

	rep := <-probed
	t.Logf("camera a, across remove, add, update, and a camera lost and back: %s", rep)
	// Two frame intervals at 15 fps are 133 ms; two busy cores add their
	// scheduling noise.
	if rep.MaxGapMS > 300 || rep.FPS < 13 {
		t.Errorf("camera a noticed the others: %s", rep)
	}
	if _, last := results.countFor("a"); last.Seq <= aBefore.Seq {
		t.Errorf("camera a's frame numbers restarted: it was reconnected")
	}
	if v := lastAvail("a"); v != "online" {
		t.Errorf("camera a's availability %q", v)
	}

	// /metrics agrees with the frames the sink saw, between two looks.
	n1, _ := results.countFor("a")
	_, body := httpGet(t, base+"/metrics")
	n2, _ := results.countFor("a")
	processed := metricValue(t, body, `edge_frames_processed_total{camera="a"}`)
	if processed < float64(n1) || processed > float64(n2) {
		t.Errorf("edge_frames_processed_total{camera=a} = %v, the sink saw between %d and %d", processed, n1, n2)
	}
	if v := metricValue(t, body, `edge_camera_up{camera="a"}`); v != 1 {
		t.Errorf("edge_camera_up{a} = %v", v)
	}
	if strings.Contains(body, `camera="c"`) {
		t.Error("/metrics still has series of the removed camera c")
	}
	if v := metricValue(t, body, `edge_commands_total{op="add_camera",result="error"}`); v != 2 {
		t.Errorf("edge_commands_total{add_camera,error} = %v, want 2", v)
	}
	// Every processed frame is an event (publish: all): the stream holds
	// at least as many of camera a's as /metrics had counted frames, and
	// every event /metrics counts as published is in the stream.
	published := metricValue(t, body, `edge_events_published_total{bus="nats"}`)
	nc := natsConnect(t, natsURL)
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	subject := bus.EventSubject("test-box", "a")
	var inStream, total uint64
	testenv.WaitFor(t, 20*time.Second, "camera a's events in the stream", func() bool {
		st, err := js.Stream(t.Context(), bus.StreamName("test-box"))
		if err != nil {
			return false
		}
		info, err := st.Info(t.Context(), jetstream.WithSubjectFilter(subject))
		if err != nil {
			return false
		}
		inStream, total = info.State.Subjects[subject], info.State.Msgs
		return float64(inStream) >= processed
	})
	if float64(total) < published {
		t.Errorf("the stream holds %d events, /metrics says %v were published", total, published)
	}
	t.Logf("camera a: %v frames processed, %d events in the stream; %v events published in all", processed, inStream, published)

	// SIGHUP: the file changes camera a's confidence; the commands' layer
	// stays on top (c stays removed, d stays added, b keeps its URL).
	if err := os.WriteFile(file, []byte(strings.Replace(yml, "    output_url: "+rtsp+"/a-annotated\n",
		"    output_url: "+rtsp+"/a-annotated\n    confidence: 0.35\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(t.Context()); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	results.waitCamera(t, "a", 3, 10*time.Second)
	if _, last := results.countFor("a"); last.Confidence != 0.35 {
		t.Errorf("after the reload camera a runs at confidence %v, want the file's 0.35", last.Confidence)
	}
	spec, _ := a.mgr.current()
	if got := strings.Join(spec.names(), ","); got != "a,b,d" {
		t.Errorf("after the reload the cameras are %s, want a,b,d", got)
	}
	if b := spec.camera("b"); b == nil || b.URL != rtsp+"/c" {
		t.Errorf("camera b after the reload: %+v, want the URL update_camera gave it", b)
	}
	// A file with a problem is refused whole; the cameras run on.
	if err := os.WriteFile(file, []byte(yml+"    confidence: 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), "confidence: must be between 0.01 and 1 (lower fills every event with noise boxes), got 7") {
		t.Errorf("Reload of a bad file = %v", err)
	}
	results.waitCamera(t, "a", 3, 10*time.Second)

	// The heartbeat says which build it is and lists every camera with its state.
	testenv.WaitFor(t, 10*time.Second, "a heartbeat of build test (c0ffee1) with a, b and d streaming", func() bool {
		st := heartbeatOf(t, natsURL)
		return st.Version == "test" && st.Commit == "c0ffee1" && len(st.Cameras) == 3 && st.Cameras["a"].State == bus.CameraStreaming &&
			st.Cameras["b"].State == bus.CameraStreaming && st.Cameras["d"].State == bus.CameraStreaming
	})
}

func natsConnect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// heartbeatOf waits for the next heartbeat.
func heartbeatOf(t *testing.T, natsURL string) bus.Status {
	t.Helper()
	nc := natsConnect(t, natsURL)
	defer nc.Close()
	m, err := nc.SubscribeSync("edge.test-box.status")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := m.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	testenv.ValidateSchema(t, "status.v1.json", msg.Data)
	var st bus.Status
	if err := json.Unmarshal(msg.Data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}
