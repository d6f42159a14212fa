package bus

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// waitFor polls cond every 10ms until it holds, failing the test after
// timeout with what.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// schemas compiles docs/schema/*.json once per test binary.
var schemas = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	out := map[string]*jsonschema.Schema{}
	for _, name := range []string{"detection.v1.json", "status.v1.json"} {
		f, err := os.Open(filepath.Join("..", "docs", "schema", name))
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := c.AddResource(name, doc); err != nil {
			return nil, err
		}
		s, err := c.Compile(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = s
	}
	return out, nil
})

// validate checks payload against docs/schema/<name>.
func validate(t testing.TB, name string, payload []byte) {
	t.Helper()
	s, err := schemas()
	if err != nil {
		t.Fatalf("schemas: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, payload)
	}
	if err := s[name].Validate(inst); err != nil {
		t.Fatalf("payload does not match %s: %v\n%s", name, err, payload)
	}
}

// testEvent builds a valid event with one detection per label.
func testEvent(ids *IDs, device, camera string, seq uint64, labels ...string) *Event {
	now := time.Now()
	ev := &Event{
		ID: ids.New(now), Device: device, Camera: camera, Seq: seq,
		CaptureTime: Timestamp{now.Add(-40 * time.Millisecond)}, CaptureClock: ClockArrival,
		PublishTime: Timestamp{now},
		LatencyMS:   Latency{Total: 40, Wait: 1, Preprocess: 2, Inference: 30, Postprocess: 1, Output: 6},
		Width:       1280, Height: 720,
		Model:      Model{Name: "yolox_nano.onnx", SHA256: "3f1b7c1a0d2e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"},
		Thresholds: Thresholds{Confidence: 0.25, IoU: 0.45},
	}
	for i, l := range labels {
		b := Box{X: float32(10 * i), Y: 20, W: 64, H: 128}
		ev.Detections = append(ev.Detections, Detection{Label: l, ClassID: i, Confidence: 0.8, Box: b, BoxNorm: b.Norm(1280, 720)})
	}
	return ev
}

// freePort asks the kernel for a free loopback port.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// mosquitto runs Debian's broker as a process on a loopback port picked at
// run time, with persistence in a temporary folder, and can stop and start
// it again on the same port with the same persistence.
type mosquitto struct {
	t    testing.TB
	port int
	dir  string
	conf string
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

const mosquittoBin = "/usr/sbin/mosquitto"

func startMosquitto(t testing.TB) *mosquitto {
	t.Helper()
	m := newMosquitto(t)
	m.Start()
	return m
}

// newMosquitto prepares a broker without starting it.
func newMosquitto(t testing.TB) *mosquitto {
	t.Helper()
	if _, err := os.Stat(mosquittoBin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mosquitto is required: %v (make setup installs it)", err)
		}
		t.Skipf("mosquitto not installed: %v", err)
	}
	m := &mosquitto{t: t, port: freePort(t), dir: t.TempDir()}
	m.conf = filepath.Join(m.dir, "mosquitto.conf")
	conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
autosave_interval 1
max_queued_messages 0
max_inflight_messages 0
user root
log_dest stderr
log_type error
log_type warning
`, m.port, m.dir)
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m
}

// URL is the broker's tcp:// URL.
func (m *mosquitto) URL() string { return "tcp://127.0.0.1:" + strconv.Itoa(m.port) }

// Start starts the broker (again) and waits until it accepts connections.
func (m *mosquitto) Start() {
	m.t.Helper()
	m.log = &bytes.Buffer{}
	m.cmd = exec.Command(mosquittoBin, "-c", m.conf)
	m.cmd.Stderr = m.log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	m.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(m.cmd, m.done)
	waitFor(m.t, 10*time.Second, "mosquitto to listen", func() bool {
		select {
		case <-m.done:
			m.t.Fatalf("mosquitto exited: %s", m.log)
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(m.port), 100*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// Stop stops the broker with SIGTERM (it saves its persistence file) and
// waits for it to exit. Stopping a stopped broker does nothing.
func (m *mosquitto) Stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd = nil
}

// natsServer is a nats-server with JetStream on a loopback port picked at
// run time, which can be stopped and started again on the same port with
// the same store: the "remote" server of the tests.
type natsServer struct {
	t    testing.TB
	port int
	dir  string
	srv  *server.Server
}

func startNATSServer(t testing.TB) *natsServer {
	t.Helper()
	s := newNATSServer(t, -1)
	s.Start()
	return s
}

// newNATSServer prepares a server for port (-1: a free one) without
// starting it.
func newNATSServer(t testing.TB, port int) *natsServer {
	t.Helper()
	s := &natsServer{t: t, port: port, dir: t.TempDir()}
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server (again) on its port.
func (s *natsServer) Start() {
	s.t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: s.port, JetStream: true, StoreDir: s.dir, NoSigs: true, NoLog: true}
	srv, err := server.NewServer(opts)
	if err != nil {
		s.t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		s.t.Fatal("nats-server not ready")
	}
	s.srv = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
}

// Stop shuts the server down; stopping a stopped server does nothing.
func (s *natsServer) Stop() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// URL is the server's nats:// URL.
func (s *natsServer) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

func itoa(n int) string { return strconv.Itoa(n) }

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
