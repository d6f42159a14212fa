package agent

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"time"

	"edge-agent/bus"
	"edge-agent/internal/backoff"
)

// busRetry is the pause before a failed bus client is started again: 1 s
// doubling to a minute, less up to 20% jitter. A run that lasted longer
// than busRetryMax starts the sequence over.
const (
	busRetryMin = time.Second
	busRetryMax = time.Minute
)

// busHealth records the failures of the bus clients for the heartbeat.
// Written by the supervisors, read by the heartbeat goroutine.
type busHealth struct {
	mu    sync.Mutex
	buses map[string]bus.BusStatus
}

func (h *busHealth) failed(name string, err error, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.buses == nil {
		h.buses = map[string]bus.BusStatus{}
	}
	st := h.buses[name]
	st.Running, st.Error, st.FailedAt = false, err.Error(), bus.Timestamp{Time: at}
	h.buses[name] = st
}

func (h *busHealth) restarted(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.buses[name]
	st.Running = true
	st.Restarts++
	h.buses[name] = st
}

// snapshot is a copy for one heartbeat; nil while no bus failed.
func (h *busHealth) snapshot() map[string]bus.BusStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.buses) == 0 {
		return nil
	}
	return maps.Clone(h.buses)
}

// supervise runs a bus client until ctx ends. A Run that returns before
// (it could not open its journal, start its embedded server, connect…) is
// logged, shown in the heartbeat, and started again after a backoff: the
// cameras and the other bus go on meanwhile, and events wait in the
// client's hand-off and outbox (Run may be called again after it
// returned).
func supervise(ctx context.Context, name string, run func(context.Context) error, health *busHealth, log *slog.Logger) {
	bo := backoff.Backoff{Min: busRetryMin, Max: busRetryMax, Jitter: 0.2}
	for {
		began := time.Now()
		err := run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil { // Run returns nil only when ctx ends
			err = errors.New("stopped unexpectedly")
		}
		if time.Since(began) > busRetryMax {
			bo.Reset()
		}
		wait := bo.Next()
		health.failed(name, err, time.Now())
		log.Error("bus client failed; starting it again", "bus", name, "err", err, "retry_in", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		health.restarted(name)
		log.Info("bus client starting again", "bus", name)
	}
}
