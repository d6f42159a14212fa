package agent

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"edge-agent/bus"
	"edge-agent/internal/testenv"
)

// A bus client whose Run fails (here: its journal is locked, as by a second
// agent on the same state directory) is started again with backoff, its
// failure shows in the heartbeat's buses, and it delivers once the cause is
// gone, without restarting the agent.
func TestSuperviseRestartsAFailedBusClient(t *testing.T) {
	srv := testenv.StartNATSServer(t)

	state := t.TempDir()
	dir := filepath.Join(state, "outbox", "nats")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := bus.NewNATS(bus.NATSConfig{Device: "d1", URL: srv.URL(), StateDir: state}, log)
	if err != nil {
		t.Fatal(err)
	}
	var health busHealth
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		supervise(ctx, "nats", n.Run, &health, log)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("supervise did not return after its context ended")
		}
	}()

	testenv.WaitFor(t, 10*time.Second, "the failure in the heartbeat", func() bool {
		st, ok := health.snapshot()["nats"]
		return ok && !st.Running && strings.Contains(st.Error, "in use") && !st.FailedAt.IsZero()
	})
	lock.Close() // releases the flock: the next start succeeds
	testenv.WaitFor(t, 10*time.Second, "a restart that connects", func() bool {
		st := health.snapshot()["nats"]
		return st.Running && st.Restarts >= 1 && n.Stats().Connected
	})
	if _, ok := health.snapshot()["mqtt"]; ok {
		t.Error("a bus that never failed is reported")
	}
}
