package fleete2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"edge-agent/internal/jsretry"
	"edge-agent/internal/testenv"
)

// The tests share one build of each program per package run, in a folder
// TestMain removes.
var (
	workDir  string // the package run's temporary folder
	cacheDir string // XDG_CACHE_HOME of every agent: the marker model is written once

	builds sync.Map // package → *built
)

type built struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edge-fleete2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir, cacheDir = dir, filepath.Join(dir, "cache")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// program builds ./cmd/<name> once per package run.
func program(t *testing.T, name string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(name, &built{})
	b := v.(*built)
	b.once.Do(func() {
		pkg := "./cmd/" + name
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

// natsServerBinary is bin/nats-server, which make setup builds from the
// version go.mod pins.
func natsServerBinary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(testenv.RepoRoot(t), "bin", "nats-server")
	if _, err := os.Stat(path); err != nil {
		missing(t, "%s is missing: run `make setup` (scripts/setup.sh builds it)", path)
	}
	return path
}

// endToEnd skips under -short: every test here runs real processes.
func endToEnd(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: runs a nats-server cluster and agent processes")
	}
}

// long skips the tests that take minutes unless EDGE_TEST_LONG is set.
func long(t *testing.T) {
	t.Helper()
	endToEnd(t)
	testenv.Long(t, "a hub cluster, agents and their builds, for minutes")
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

// logBuffer keeps a process's output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns the last n lines.
func (b *logBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// process is a program run as a child of the test, started again at will.
type process struct {
	t    *testing.T
	name string // for messages
	path string
	args []string
	env  []string // added to the test's environment, minus EDGE_* and HUB_*
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  *logBuffer
}

// start starts the process (again).
func (p *process) start() {
	p.t.Helper()
	p.log = &logBuffer{}
	p.cmd = exec.Command(p.path, p.args...)
	for _, kv := range os.Environ() { // the caller's settings must not leak in
		if !strings.HasPrefix(kv, "EDGE_") && !strings.HasPrefix(kv, "HUB_") && !strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, p.env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.done = done
	go func(cmd *exec.Cmd) {
		p.err = cmd.Wait()
		close(done)
	}(p.cmd)
}

// running says whether the process was started and has not exited.
func (p *process) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to exit.
func (p *process) kill() {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM, then SIGKILL after limit, and waits for the exit.
func (p *process) stop(limit time.Duration) {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(limit):
		p.t.Errorf("%s did not stop within %s of SIGTERM; killed", p.name, limit)
		p.kill()
	}
}

// waitFor polls cond every 20 ms until it holds, failing the test after
// timeout, or at once if one of procs exits.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool, procs ...*process) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		for _, p := range procs {
			if p.cmd != nil && !p.running() {
				t.Fatalf("%s exited (%v) while waiting for %s; its output, last 40 lines:\n%s", p.name, p.err, what, p.log.tail(40))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out after %s", what, timeout)
		}
		<-tick.C
	}
}

// idempotent makes an idempotent JetStream call (a read, a bind) within
// 20 s, sending it again when its answer is lost (jsretry.Idempotent): in
// the first seconds after the hub cluster forms, a request can go
// unanswered (CI saw a STREAM.INFO do so right after edgectl init).
func idempotent(t *testing.T, what string, f func(context.Context) error) {
	t.Helper()
	if err := jsretry.Idempotent(context.Background(), 20*time.Second, f); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// httpGet fetches url and returns its status code (0 when unreachable)
// and body.
func httpGet(url string) (int, []byte) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}
