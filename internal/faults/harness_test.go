package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
	"edge-agent/internal/testenv"
)

// The tests share one build of each program per package run, in a folder
// TestMain removes.
var (
	workDir string // the package run's temporary folder

	buildOnce sync.Map // program name → *built
	cacheDir  string   // XDG_CACHE_HOME of every agent: the marker model is written once
)

type built struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edge-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir, cacheDir = dir, filepath.Join(dir, "cache")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// program builds a Go program once per package run: "edge-agent" from
// ./cmd/edge-agent, "nats-server" from the module's nats-server (in go.mod).
func program(t *testing.T, name string) string {
	t.Helper()
	v, _ := buildOnce.LoadOrStore(name, &built{})
	b := v.(*built)
	b.once.Do(func() {
		pkg := "./cmd/" + name
		if name == "nats-server" {
			pkg = "github.com/nats-io/nats-server/v2"
		}
		b.path = filepath.Join(workDir, "bin", name)
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Dir = testenv.RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// endToEnd skips under -short: every test here runs real processes.
func endToEnd(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: runs the agent binary and real brokers")
	}
}

// long skips the tests that take minutes unless EDGE_TEST_LONG is set.
func long(t *testing.T) {
	t.Helper()
	endToEnd(t)
	testenv.Long(t, "brokers frozen and killed for minutes")
}

// missing skips outside CI and fails in CI, as testenv does.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so this is a failure, not a skip)")
	}
	t.Skip(msg)
}

// logBuffer keeps a process's output and counts its lines.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines int
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines += bytes.Count(p, []byte{'\n'})
	return b.buf.Write(p)
}

// Lines is the number of whole lines written so far.
func (b *logBuffer) Lines() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lines
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// linesFrom returns the whole lines from line n (0-based) on.
func (b *logBuffer) linesFrom(n int) []string {
	all := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if n >= len(all) {
		return nil
	}
	return all[n:]
}

// Tail returns the last n lines.
func (b *logBuffer) Tail(n int) string {
	all := b.linesFrom(0)
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return strings.Join(all, "\n")
}

// logLine is one line of the agent's JSON log (EDGE_LOG_FORMAT=json).
type logLine map[string]any

func (l logLine) msg() string   { s, _ := l["msg"].(string); return s }
func (l logLine) level() string { s, _ := l["level"].(string); return s }

// records parses the JSON lines; other lines are skipped.
func (b *logBuffer) records() []logLine {
	var out []logLine
	for _, s := range b.linesFrom(0) {
		var l logLine
		if json.Unmarshal([]byte(s), &l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// find returns the log lines whose msg contains substr.
func (b *logBuffer) find(substr string) []logLine {
	var out []logLine
	for _, l := range b.records() {
		if strings.Contains(l.msg(), substr) {
			out = append(out, l)
		}
	}
	return out
}

// agentProc is the edge-agent binary running as a child process.
type agentProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	log    *logBuffer
	http   string // host:port of /metrics, /healthz, /readyz
	device string
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, once done
}

// agentEnv is the settings every test starts from: the test pattern as a
// 1280x720, 15 fps camera (live), the built-in marker model, no annotated
// stream, every processed frame an event, JSON logs. NATS and MQTT are
// off unless the test sets them.
func agentEnv(t *testing.T, device string) map[string]string {
	return map[string]string{
		"EDGE_DEVICE_ID":       device,
		"EDGE_CAMERA_NAME":     "cam1",
		"EDGE_CAMERA_URL":      "testsrc",
		"EDGE_OUTPUT_URL":      "none",
		"EDGE_ORT_LIB":         testenv.ORTLibrary(t),
		"EDGE_ORT_THREADS":     "1",
		"EDGE_PUBLISH":         "all",
		"EDGE_LOG_FORMAT":      "json",
		"EDGE_STATUS_INTERVAL": "2s",
		"EDGE_STATE_DIR":       t.TempDir(),
		"EDGE_NATS_URL":        "none",
	}
}

// startAgent runs the agent with env (see agentEnv) until the test ends,
// and waits until /readyz answers 200. wrap, if given, is a command line
// that runs the agent: the agent's path is appended as its last argument.
func startAgent(t *testing.T, env map[string]string, wrap ...string) *agentProc {
	t.Helper()
	a := launchAgent(t, env, wrap...)
	a.waitReady(60 * time.Second)
	return a
}

// launchAgent starts the agent without waiting for it to be ready.
func launchAgent(t *testing.T, env map[string]string, wrap ...string) *agentProc {
	t.Helper()
	bin := program(t, "edge-agent")
	a := &agentProc{t: t, log: &logBuffer{}, device: env["EDGE_DEVICE_ID"], done: make(chan struct{})}
	a.http = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	full := map[string]string{"EDGE_HTTP_LISTEN": a.http, "XDG_CACHE_HOME": cacheDir}
	for k, v := range env {
		full[k] = v
	}
	args := append(append([]string(nil), wrap...), bin)
	a.cmd = exec.Command(args[0], args[1:]...)
	for _, kv := range os.Environ() { // the caller's EDGE_* settings must not leak in
		if !strings.HasPrefix(kv, "EDGE_") && !strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			a.cmd.Env = append(a.cmd.Env, kv)
		}
	}
	for k, v := range full {
		a.cmd.Env = append(a.cmd.Env, k+"="+v)
	}
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", args[0], err)
	}
	go func() {
		a.err = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("agent log, last 80 of %d lines:\n%s", a.log.Lines(), a.log.Tail(80))
		}
	})
	return a
}

// pid is the agent's process id.
func (a *agentProc) pid() int { return a.cmd.Process.Pid }

// exited says whether the process has ended.
func (a *agentProc) exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// stop ends the agent with SIGTERM, then SIGKILL after 15 s. It is
// idempotent.
func (a *agentProc) stop() {
	if a.exited() {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		if a.err != nil {
			a.t.Logf("agent stopped by SIGTERM: %v", a.err)
		}
	case <-time.After(15 * time.Second):
		a.t.Errorf("agent did not stop within 15 s of SIGTERM; killed")
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}

// get fetches a path of the agent's HTTP server.
func (a *agentProc) get(path string) (int, []byte, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + a.http + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// waitReady waits until /readyz answers 200, failing at once if the
// process exits.
func (a *agentProc) waitReady(timeout time.Duration) {
	a.t.Helper()
	var last string
	a.waitFor(timeout, "/readyz 200", func() bool {
		code, body, err := a.get("/readyz")
		last = fmt.Sprintf("%d %s %v", code, body, err)
		return code == http.StatusOK
	}, func() string { return "last /readyz: " + last })
}

// waitFor polls cond every 100 ms until it holds, failing the test after
// timeout or as soon as the agent exits.
func (a *agentProc) waitFor(timeout time.Duration, what string, cond func() bool, detail ...func() string) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if a.exited() {
			a.t.Fatalf("agent exited (%v) while waiting for %s", a.err, what)
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("waiting for %s: timed out after %s", what, timeout)
			for _, d := range detail {
				msg += "; " + d()
			}
			a.t.Fatal(msg)
		}
		<-tick.C
	}
}

// checkAlive fails the test unless the agent still runs and /healthz
// answers 200.
func (a *agentProc) checkAlive() {
	a.t.Helper()
	if a.exited() {
		a.t.Fatalf("agent exited: %v", a.err)
	}
	code, body, err := a.get("/healthz")
	if err != nil || code != http.StatusOK {
		a.t.Fatalf("/healthz: %d %s %v", code, body, err)
	}
}

// metrics scrapes /metrics into series → value, keyed as exposed:
// `edge_frames_processed_total{camera="cam1"}`.
func (a *agentProc) metrics() map[string]float64 {
	a.t.Helper()
	code, body, err := a.get("/metrics")
	if err != nil || code != http.StatusOK {
		a.t.Fatalf("/metrics: %d %v", code, err)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m
}

// metric is one series of /metrics; a missing series fails the test.
func (a *agentProc) metric(series string) float64 {
	a.t.Helper()
	m := a.metrics()
	v, ok := m[series]
	if !ok {
		a.t.Fatalf("/metrics has no %s", series)
	}
	return v
}

const processed = `edge_frames_processed_total{camera="cam1"}`

func published(bus string) string { return `edge_events_published_total{bus="` + bus + `"}` }
func dropped(bus string) string   { return `edge_events_dropped_total{bus="` + bus + `"}` }
func outbox(bus string) string    { return `edge_outbox_events{bus="` + bus + `"}` }
func connected(bus string) string { return `edge_bus_connected{bus="` + bus + `"}` }

// fpsMeter measures the processed frame rate between two scrapes.
type fpsMeter struct {
	a      *agentProc
	at     time.Time
	frames float64
}

func (a *agentProc) startFPS() fpsMeter {
	return fpsMeter{a: a, at: time.Now(), frames: a.metric(processed)}
}

// fps is the processed frames per second since the meter started.
func (m fpsMeter) fps() float64 {
	n := m.a.metric(processed)
	return (n - m.frames) / time.Since(m.at).Seconds()
}

// measureFPS is the processed rate over the next d.
func (a *agentProc) measureFPS(d time.Duration) float64 {
	m := a.startFPS()
	a.hold(d)
	return m.fps()
}

// hold lets d pass while the agent runs (a measurement window or a
// fault's duration, not a synchronisation), failing at once if it exits.
func (a *agentProc) hold(d time.Duration) {
	a.t.Helper()
	select {
	case <-a.done:
		a.t.Fatalf("agent exited: %v", a.err)
	case <-time.After(d):
	}
}

// settle waits until the bus's outbox is empty and its published count
// stays the same over a second, then returns that count: use it once no
// more events come (the camera removed).
func (a *agentProc) settle(busName string, timeout time.Duration) float64 {
	a.t.Helper()
	var last float64 = -1
	var stableSince time.Time
	a.waitFor(timeout, busName+" outbox empty and nothing more published", func() bool {
		m := a.metrics()
		p := m[published(busName)]
		if m[outbox(busName)] != 0 || p != last {
			last, stableSince = p, time.Now()
			return false
		}
		return time.Since(stableSince) >= time.Second
	}, func() string { return fmt.Sprintf("outbox %v, published %v", a.metrics()[outbox(busName)], last) })
	return last
}

// natsCommand sends a command to the agent over NATS and returns its answer.
func natsCommand(t *testing.T, nc *nats.Conn, device, payload string) bus.Reply {
	t.Helper()
	msg, err := nc.Request(bus.CommandSubject(device), []byte(payload), 10*time.Second)
	if err != nil {
		t.Fatalf("command %s: %v", payload, err)
	}
	var rep bus.Reply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		t.Fatalf("answer %s: %v", msg.Data, err)
	}
	return rep
}

// removeCamera stops the events: the agent removes its only camera.
func removeCamera(t *testing.T, nc *nats.Conn, device string) {
	t.Helper()
	if rep := natsCommand(t, nc, device, `{"id":"stop-events","op":"remove_camera","args":{"name":"cam1"}}`); !rep.OK {
		t.Fatalf("remove_camera refused: %s", rep.Error)
	}
}

// streamComplete stops the events (the agent removes its camera), waits
// until the agent's NATS outbox is empty, and reads the whole stream: in
// order per camera, as many events as the agent published, none dropped.
func streamComplete(t *testing.T, a *agentProc, nc *nats.Conn, device string, settle time.Duration) []streamEvent {
	t.Helper()
	removeCamera(t, nc, device)
	n := a.settle("nats", settle)
	evs := readStream(t, nc, device)
	checkOrder(t, evs)
	if len(evs) != int(n) {
		t.Errorf("the stream holds %d events, the agent published %v", len(evs), n)
	}
	if d := a.metric(dropped("nats")); d != 0 {
		t.Errorf("%v events dropped", d)
	}
	return evs
}

// natsConnect connects a test client that keeps trying while the server
// is away.
func natsConnect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// streamEvent is what the tests read of an event.
type streamEvent struct {
	Schema string `json:"schema"`
	ID     string `json:"id"`
	Camera string `json:"camera"`
	Seq    uint64 `json:"seq"`
}

// readStream reads every detection event of the device's stream with an
// ordered consumer, in stream order (the object events the stream also
// holds are left out).
func readStream(t *testing.T, nc *nats.Conn, device string) []streamEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, bus.StreamName(device))
	if err != nil {
		t.Fatalf("stream %s: %v", bus.StreamName(device), err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := int(info.State.Msgs)
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]streamEvent, 0, want)
	for len(out) < want {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatalf("fetch after %d of %d: %v", len(out), want, err)
		}
		n := 0
		for msg := range batch.Messages() {
			var ev streamEvent
			if err := json.Unmarshal(msg.Data(), &ev); err != nil {
				t.Fatalf("stream message %d: %v", len(out), err)
			}
			out = append(out, ev)
			n++
		}
		if len(out) >= want {
			break
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			t.Fatalf("fetch after %d of %d: %v", len(out), want, err)
		}
		if n == 0 && ctx.Err() != nil {
			t.Fatalf("read %d of the stream's %d messages", len(out), want)
		}
	}
	return slices.DeleteFunc(out, func(ev streamEvent) bool { return ev.Schema == bus.SchemaObject })
}

// checkOrder fails the test unless each camera's events come with
// strictly increasing frame seqs and no id twice.
func checkOrder(t *testing.T, evs []streamEvent) {
	t.Helper()
	last := map[string]uint64{}
	seen := make(map[string]bool, len(evs))
	for i, ev := range evs {
		if seen[ev.ID] {
			t.Fatalf("event %d: id %s twice", i, ev.ID)
		}
		seen[ev.ID] = true
		if prev, ok := last[ev.Camera]; ok && ev.Seq <= prev {
			t.Fatalf("event %d (%s): camera %s seq %d after %d: out of order", i, ev.ID, ev.Camera, ev.Seq, prev)
		}
		last[ev.Camera] = ev.Seq
	}
}

// process is a broker run as a child process (a built nats-server,
// mosquitto), which the tests freeze, kill and start again on the same
// port with the same store.
type process struct {
	t    *testing.T
	name string
	args []string
	port int
	cmd  *exec.Cmd
	done chan struct{}
	log  *logBuffer
}

func newProcess(t *testing.T, port int, name string, args ...string) *process {
	p := &process{t: t, name: name, args: args, port: port}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() && p.log != nil {
			t.Logf("%s output, last 30 lines:\n%s", filepath.Base(name), p.log.Tail(30))
		}
	})
	return p
}

// start starts the process (again) and waits until its port accepts
// connections.
func (p *process) start() {
	p.t.Helper()
	p.log = &logBuffer{}
	p.cmd = exec.Command(p.name, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.done = done
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(done) }(p.cmd)
	testenv.WaitFor(p.t, 30*time.Second, filepath.Base(p.name)+" to listen", func() bool {
		select {
		case <-done:
			p.t.Fatalf("%s exited: %s", p.name, p.log)
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.port), 100*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// signal sends sig to the process.
func (p *process) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to %s: %v", sig, p.name, err)
	}
}

// kill kills the process (SIGCONT first, in case it is frozen) and waits
// for it to exit. Killing a stopped one does nothing.
func (p *process) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	<-p.done
	p.cmd = nil
}

// startNATSServer runs the built nats-server with JetStream on a free port,
// its store in a temporary folder.
func startNATSServer(t *testing.T) (*process, string) {
	t.Helper()
	port := testenv.FreePort(t)
	p := newProcess(t, port, program(t, "nats-server"),
		"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", t.TempDir())
	p.start()
	return p, fmt.Sprintf("nats://127.0.0.1:%d", port)
}

// startMosquitto runs /usr/sbin/mosquitto as a process of the test's own
// (to signal it), with testenv.Mosquitto's configuration: a free port,
// persistence in a temporary folder.
func startMosquitto(t *testing.T) (*process, string) {
	t.Helper()
	m := testenv.NewMosquitto(t) // writes the configuration; never started
	p := newProcess(t, m.Port(), "/usr/sbin/mosquitto", "-c", m.ConfigFile())
	p.start()
	return p, m.URL()
}
