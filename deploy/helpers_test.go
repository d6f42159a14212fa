// Package deploy_test checks the shipped stack's security against the real
// servers: secrets.sh writes the credentials into a temporary directory, and
// nats-server (in process), mosquitto and MediaMTX load the shipped
// configurations with them, on loopback ports picked at run time. Docker
// Compose itself is not run (there is no engine here): compose.yml is only
// read and checked against what the script writes. setup_test.go checks what
// the images are built from: scripts/setup.sh's downloads against a loopback
// npm registry, and the list of packages the images compile first.
package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"edge-agent/internal/testenv"
)

const device = "porch-box"

// onCI says whether a missing tool fails the test instead of skipping it.
func onCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// need returns the path of a program the test runs: skipped when it is
// missing, unless on CI, where that is a failure.
func need(t *testing.T, path string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err == nil {
		return p
	}
	if onCI() {
		t.Fatalf("%s is needed (CI is set): %v", path, err)
	}
	t.Skipf("%s not found (%v); CI unset, so skipped: scripts/setup.sh installs it", path, err)
	return ""
}

// TestMain removes what sharedSecrets made.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared.root != "" {
		os.RemoveAll(shared.root)
	}
	os.Exit(code)
}

// shared is one run of secrets.sh for the tests that only read its files
// (each run builds deploy/pwhash and hashes with bcrypt: seconds on two
// busy cores). Its root also holds a copy of nats.conf, which includes
// secrets/nats-auth.conf.
var shared struct {
	once sync.Once
	root string
	s    secrets
	err  error
}

// sharedSecrets returns the shared run for device; its files
// must not be changed.
func sharedSecrets(t *testing.T) (root string, s secrets) {
	t.Helper()
	shared.once.Do(func() {
		shared.root, shared.err = os.MkdirTemp("", "deploy-test-")
		if shared.err != nil {
			return
		}
		if shared.err = os.WriteFile(filepath.Join(shared.root, "nats.conf"), mustRead(t, "nats.conf"), 0o600); shared.err != nil {
			return
		}
		dir := filepath.Join(shared.root, "secrets")
		var stdout, stderr string
		stdout, stderr, shared.err = trySecrets(t, dir, nil, device)
		if shared.err != nil {
			shared.err = fmt.Errorf("secrets.sh: %w\n%s%s", shared.err, stdout, stderr)
			return
		}
		shared.s = secrets{dir: dir, stdout: stdout, passwords: readEnv(t, filepath.Join(dir, "passwords"))}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.root, shared.s
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// secrets is one run of secrets.sh: the directory and what it holds.
type secrets struct {
	dir       string
	stdout    string
	passwords map[string]string // role_service -> password
}

// env reads one of the generated env files.
func (s secrets) env(t *testing.T, name string) map[string]string {
	t.Helper()
	return readEnv(t, filepath.Join(s.dir, name))
}

// runSecrets runs secrets.sh with args (besides --dir dir) and returns its
// output, failing the test if it fails.
func runSecrets(t *testing.T, dir string, extraEnv []string, args ...string) secrets {
	t.Helper()
	out, errOut, err := trySecrets(t, dir, extraEnv, args...)
	if err != nil {
		t.Fatalf("secrets.sh %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return secrets{dir: dir, stdout: out, passwords: readEnv(t, filepath.Join(dir, "passwords"))}
}

// trySecrets runs secrets.sh and returns stdout, stderr and the exit error.
// Its settings file is none (a deploy/.env of the developer's is not read)
// unless args give one. The script needs go on PATH; the test's own
// toolchain is put first.
func trySecrets(t *testing.T, dir string, extraEnv []string, args ...string) (string, string, error) {
	t.Helper()
	bash := need(t, "bash")
	args = append([]string{"secrets.sh", "--dir", dir, "--env", filepath.Join(t.TempDir(), "no.env")}, args...)
	cmd := exec.CommandContext(t.Context(), bash, args...)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(runtime.GOROOT(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Env = append(cmd.Env, extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// readEnv reads KEY=value lines, skipping comments and blank lines.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not KEY=value: %q", path, line)
		}
		m[k] = v
	}
	return m
}

// rewrite returns text with each old string replaced by its new one; each
// must occur exactly once, so a change to the shipped file fails the test
// rather than testing something else.
func rewrite(t *testing.T, text string, pairs ...string) string {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if n := strings.Count(text, pairs[i]); n != 1 {
			t.Fatalf("%q occurs %d times in the shipped file, want 1", pairs[i], n)
		}
		text = strings.Replace(text, pairs[i], pairs[i+1], 1)
	}
	return text
}

// freePort returns a loopback TCP port (testenv.FreePort).
func freePort(t *testing.T) int { return testenv.FreePort(t) }

// waitListening waits until addr accepts TCP connections or proc exits.
func waitListening(t *testing.T, addr string, proc *process) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-proc.exited:
			t.Fatalf("%s exited before listening on %s:\n%s", proc.name, addr, proc.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s after 15s:\n%s", proc.name, addr, proc.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// process is a server the test started; its output is kept and matched
// line by line.
type process struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}

	mu    sync.Mutex
	out   bytes.Buffer
	lines chan string // every output line, for waitLine; dropped when full
}

// start runs a server until the test ends.
func start(t *testing.T, name string, env []string, args ...string) *process {
	t.Helper()
	p := &process{name: filepath.Base(name), exited: make(chan struct{}), lines: make(chan string, 1024)}
	p.cmd = exec.Command(name, args...)
	p.cmd.Env = append(os.Environ(), env...)
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		_ = p.cmd.Wait()
		w.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitLine waits for an output line containing every one of parts.
func (p *process) waitLine(t *testing.T, d time.Duration, parts ...string) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case l := <-p.lines:
			if containsAll(l, parts) {
				return
			}
		case <-deadline:
			t.Fatalf("%s did not log %q within %s:\n%s", p.name, parts, d, p.output())
		}
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// recv waits for a value on c for at most d.
func recv[T any](t *testing.T, c <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(d):
		var zero T
		t.Fatalf("no %s within %s", what, d)
		return zero
	}
}

// errTimeout marks a wait that ran out.
var errTimeout = errors.New("timed out")

// redact hides the passwords of s in text, for failure messages.
func (s secrets) redact(text string) string {
	for _, pw := range s.passwords {
		text = strings.ReplaceAll(text, pw, "xxxxx")
	}
	return text
}

// copyFile copies a shipped file into the test's directory.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
