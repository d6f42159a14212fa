package bench

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestChildStopKillsGroup starts a shell that leaves a grandchild behind and
// checks stop takes the whole process group down.
func TestChildStopKillsGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c, err := startChild(t.Context(), childSpec{name: "sh", path: "/bin/sh", args: []string{"-c", "sleep 60 & sleep 60"},
		logPath: filepath.Join(t.TempDir(), "sh.log")})
	if err != nil {
		t.Fatal(err)
	}
	pid := c.pid()
	if err := c.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// The group is empty once the leader is reaped and the rest killed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Kill(-pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has members after stop (kill 0: %v)", pid, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

// TestAwaitReportsEarlyExit checks a child that dies during a wait fails it
// with its output, and that a child the harness stopped does not.
func TestAwaitReportsEarlyExit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	r := &Runner{}
	dir := t.TempDir()
	g := newGroup()
	defer g.stopAll()
	c, err := startChild(t.Context(), childSpec{name: "edge-agent", path: "/bin/sh", args: []string{"-c", "echo model not found >&2; exit 3"},
		logPath: filepath.Join(dir, "agent.log")})
	if err != nil {
		t.Fatal(err)
	}
	g.add(c)
	err = r.await(t.Context(), g, nil, 10*time.Second, "")
	if err == nil || !strings.Contains(err.Error(), "edge-agent exited early (exit status 3)") || !strings.Contains(err.Error(), "model not found") {
		t.Fatalf("err = %v", err)
	}

	s, err := startChild(t.Context(), childSpec{name: "probe", path: "/bin/sh", args: []string{"-c", "sleep 60"},
		logPath: filepath.Join(dir, "probe.log")})
	if err != nil {
		t.Fatal(err)
	}
	g.add(s)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if err := r.await(t.Context(), g, nil, 200*time.Millisecond, ""); err != nil {
		t.Fatalf("a stopped child failed the wait: %v", err)
	}
}

func TestLineWriter(t *testing.T) {
	var lines []string
	w := &lineWriter{fn: func(line string, _ time.Time) { lines = append(lines, line) }}
	for _, p := range []string{"12 3 4", "5 0\n7 8", " 9 0\r\n", "\n"} {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"12 3 45 0", "7 8 9 0", ""}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("lines %q, want %q", lines, want)
	}
}
