package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// stopGrace is how long a child gets to exit after SIGTERM before its whole
// process group is killed. The agent drains its NATS outbox for up to 5 s
// (EDGE_NATS_DRAIN_TIMEOUT) on a clean stop.
const stopGrace = 10 * time.Second

// child is one program of a scenario, started in its own process group so that
// stopping it also stops anything it started.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	err     error         // the exit status; read after done
	once    sync.Once
	stopped atomic.Bool // stop was called: its exit is expected
}

// childSpec says how to start a child.
type childSpec struct {
	name    string // for messages: "edge-agent"
	path    string
	args    []string
	env     []string // the whole environment
	dir     string
	logPath string    // stdout and stderr go here unless stdout/stderr are set
	stdout  io.Writer // also gets the output when set (the log file still does)
	stderr  io.Writer
}

// startChild starts the program. When ctx ends the child's process group gets
// SIGTERM, then SIGKILL after stopGrace; stop does the same on demand. The
// child also gets SIGTERM should the harness die first (Pdeathsig).
func startChild(ctx context.Context, spec childSpec) (*child, error) {
	f, err := os.Create(spec.logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	cmd := exec.CommandContext(ctx, spec.path, spec.args...)
	cmd.Env = spec.env
	cmd.Dir = spec.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Stdout, cmd.Stderr = f, f
	if spec.stdout != nil {
		cmd.Stdout = io.MultiWriter(f, spec.stdout)
	}
	if spec.stderr != nil {
		cmd.Stderr = io.MultiWriter(f, spec.stderr)
	}
	cmd.Cancel = func() error { return signalGroup(cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	c := &child{name: spec.name, cmd: cmd, logPath: spec.logPath, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		// Whatever the leader left behind in its group goes with it.
		_ = signalGroup(cmd.Process.Pid, syscall.SIGKILL)
		f.Close()
		close(c.done)
	}()
	return c, nil
}

// signalGroup sends sig to the process group led by pid; a group that is
// already gone is not an error.
func signalGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// pid is the child's process id (and process group id).
func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the process has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the child's process group, waits up to stopGrace for
// it to exit, then kills the group. It is idempotent and returns the exit
// status when the child did not exit cleanly on SIGTERM.
func (c *child) stop() error {
	c.stopped.Store(true)
	c.once.Do(func() {
		if c.exited() {
			return
		}
		_ = signalGroup(c.pid(), syscall.SIGTERM)
		t := time.NewTimer(stopGrace)
		defer t.Stop()
		select {
		case <-c.done:
		case <-t.C:
			_ = signalGroup(c.pid(), syscall.SIGKILL)
			<-c.done
		}
	})
	<-c.done
	return c.exitError()
}

// exitError is nil for a clean exit or one by SIGTERM (from stop or from the
// harness's context ending), else why it exited.
func (c *child) exitError() error {
	if errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded) {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return nil
		}
	}
	return c.err
}

// died describes a child that exited on its own: its status and the end of
// its output.
func (c *child) died() error {
	return fmt.Errorf("%s exited early (%v); last output:\n%s", c.name, c.err, c.tail(20))
}

// tail returns the last n lines of the child's output.
func (c *child) tail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return "(no output: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// group is the children of one scenario; stopAll stops them last started first.
type group struct {
	children []*child
	// exits receives each child as it exits (buffered: no sender blocks).
	exits chan *child
}

func newGroup() *group { return &group{exits: make(chan *child, maxChildren)} }

// maxChildren bounds the children of one scenario: MediaMTX, a camera
// simulator and an agent per camera of the largest multi-camera run, the
// probe.
const maxChildren = 16

// add records a started child; at most cap(g.exits) children per group.
func (g *group) add(c *child) *child {
	g.children = append(g.children, c)
	go func() {
		<-c.done
		g.exits <- c
	}()
	return c
}

// stopAll stops every child, last started first, and returns what went wrong.
func (g *group) stopAll() error {
	var errs []error
	for i := len(g.children) - 1; i >= 0; i-- {
		c := g.children[i]
		if err := c.stop(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	return errors.Join(errs...)
}

// lineWriter calls fn with each complete line written to it and the time it
// was written. It is the probe's stderr: the time a line arrives is the time
// of its interval report.
type lineWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
	fn  func(line string, at time.Time)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil { // incomplete: keep it for the next write
			w.buf.Reset()
			w.buf.WriteString(line)
			return len(p), nil
		}
		w.fn(strings.TrimRight(line, "\r\n"), now)
	}
}
