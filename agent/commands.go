package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/time/rate"

	"edge-agent/bus"
)

// Commands are rate-limited so that a flood cannot take the cores from the
// video loop: a burst of commandBurst, then commandRate a second.
const (
	commandRate  = 5
	commandBurst = 10
)

// commands answers the commands arriving on the buses and the reloads
// asked for, one at a time, until ctx ends. It is the one writer of the
// spec: a change is layered onto the saved command changes, the whole spec
// is rebuilt and validated, saved, and applied by the manager (which loads
// models before it changes anything); only then is the command answered.
// A command that fails changes nothing.
func (a *Agent) commands(ctx context.Context) {
	var natsC, mqttC <-chan bus.Request
	if a.nats != nil {
		natsC = a.nats.Commands()
	}
	if a.mqtt != nil {
		mqttC = a.mqtt.Commands()
	}
	limit := rate.NewLimiter(commandRate, commandBurst)
	for {
		var req bus.Request
		select {
		case <-ctx.Done():
			return
		case done := <-a.reloadC:
			err := a.reload()
			if err != nil {
				a.log.Error("config file not reloaded; the cameras run as they were", "err", err)
			}
			done <- err
			continue
		case req = <-natsC:
		case req = <-mqttC:
		case snap := <-a.fleetC:
			a.applyFleet(snap, false)
			continue
		}
		a.handle(req, limit)
	}
}

// configView is the spec in force as every reply shows it.
type configView struct {
	Revision uint64           `json:"revision"`
	Cameras  []cameraView     `json:"cameras"`
	Dropped  []droppedSetting `json:"dropped,omitempty"` // saved changes that did not fit at start, and why
}

// handle answers one command.
func (a *Agent) handle(req bus.Request, limit *rate.Limiter) {
	op := "unknown"
	answer := func(id string, err error, camera string, labels bool) {
		_, rev := a.mgr.current()
		view := configView{Revision: rev, Cameras: a.mgr.views(labels), Dropped: a.droppedSettings()}
		if camera != "" {
			for _, v := range view.Cameras {
				if v.Name == camera {
					view.Cameras = []cameraView{v}
				}
			}
		}
		rep := bus.Reply{ID: id, OK: err == nil, Revision: rev, Config: view}
		if err != nil {
			rep.Error = err.Error()
			a.refusals.refused(a.log, time.Now(), "via", req.Via, "id", id, "op", op, "err", err)
		}
		a.metrics.Command(op, err == nil)
		req.Answer(rep)
	}
	// Parse first: a malformed command is refused at the cost of reading
	// it, without taking a token, so garbage cannot lock the operator's
	// commands out; the limit applies to the commands that would run.
	cmd, err := bus.ParseCommandAs(req.Payload, req.Op) // req.Op: the micro endpoint's op, else ""
	if err != nil {
		answer(cmd.ID, err, "", false)
		return
	}
	op = cmd.Op
	if !limit.Allow() {
		answer(cmd.ID, fmt.Errorf("rate limited: at most %d commands a second", commandRate), "", false)
		return
	}
	if now := time.Now(); cmd.Expired(now) {
		answer(cmd.ID, fmt.Errorf("expired: the command's expires (%s) is past (the agent's clock: %s)",
			cmd.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), cmd.Camera, false)
		return
	}
	next, err := a.change(cmd)
	if err != nil {
		answer(cmd.ID, err, cmd.Camera, false)
		return
	}
	if next != nil {
		if err := a.commit(next); err != nil {
			answer(cmd.ID, err, cmd.Camera, false)
			return
		}
		_, rev := a.mgr.current()
		a.log.Info("settings changed", "via", req.Via, "id", cmd.ID, "op", cmd.Op, "camera", cmd.Camera, "revision", rev)
		a.retryFleet()
	}
	answer(cmd.ID, nil, cmd.Camera, cmd.Op == bus.OpGetConfig)
}

// change returns the saved command changes with cmd's layered on, or nil
// when cmd changes nothing (get_config, list_cameras).
func (a *Agent) change(cmd bus.Command) (*overlay, error) {
	spec, _ := a.mgr.current()
	if cmd.Camera != "" && spec.camera(cmd.Camera) == nil {
		return nil, fmt.Errorf("args.camera: no camera %q (the cameras are %v)", cmd.Camera, spec.names())
	}
	next := a.saved.clone()
	switch {
	case cmd.Thresholds != nil:
		next.set(cmd.Camera, cameraPatch{Confidence: cmd.Thresholds.Confidence, IoU: cmd.Thresholds.IoU})
	case cmd.Classes != nil:
		classes := cmd.Classes.Classes
		if classes == nil {
			classes = []string{}
		}
		next.set(cmd.Camera, cameraPatch{Classes: &classes})
	case cmd.Publish != nil:
		p := cmd.Publish.Policy.String()
		next.set(cmd.Camera, cameraPatch{Publish: &p})
	case cmd.LoadModel != nil:
		m := cmd.LoadModel
		p := cameraPatch{Model: &m.Name, ModelSHA256: &m.SHA256}
		if m.Format != "" {
			p.Format = &m.Format
		}
		next.set(cmd.Camera, p)
	case cmd.Zones != nil:
		next.set(cmd.Camera, cameraPatch{Zones: cmd.Zones.Zones, Lines: cmd.Zones.Lines})
	case cmd.AddCamera != nil:
		if spec.camera(cmd.AddCamera.Name) != nil {
			return nil, fmt.Errorf("args.name: camera %q already runs (update_camera changes it)", cmd.AddCamera.Name)
		}
		next.add(patchOf(cmd.AddCamera))
	case cmd.UpdateCamera != nil:
		if spec.camera(cmd.UpdateCamera.Name) == nil {
			return nil, fmt.Errorf("args.name: no camera %q (add_camera adds one)", cmd.UpdateCamera.Name)
		}
		p := patchOf(cmd.UpdateCamera)
		next.set(cmd.UpdateCamera.Name, p)
	case cmd.RemoveCamera != nil:
		if spec.camera(cmd.RemoveCamera.Name) == nil {
			return nil, fmt.Errorf("args.name: no camera %q", cmd.RemoveCamera.Name)
		}
		next.remove(cmd.RemoveCamera.Name)
	default: // get_config, list_cameras
		return nil, nil
	}
	return next, nil
}

// patchOf is a command's camera settings as a layer.
func patchOf(c *bus.CameraArgs) cameraPatch {
	p := cameraPatch{
		Name: &c.Name, URL: c.URL, OutputURL: c.OutputURL, Model: c.Model, Format: c.Format,
		Confidence: c.Confidence, IoU: c.IoU, Classes: c.Classes,
	}
	if c.Publish != nil {
		s := c.Publish.String()
		p.Publish = &s
	}
	return p
}

// commit rebuilds the spec with next, saves next and applies the spec. If
// anything fails, the saved state is put back and nothing changed.
func (a *Agent) commit(next *overlay) error {
	next.source = "command"
	spec, err := a.build(a.file, next)
	next.source = ""
	if err != nil {
		return err
	}
	_, rev := a.mgr.current()
	next.Revision = rev + 1
	if err := saveState(a.cfg.StateDir, next); err != nil {
		return err
	}
	if err := a.mgr.apply(spec, next.Revision); err != nil {
		prev := a.saved
		if prev == nil {
			prev = &overlay{}
		}
		if rerr := saveState(a.cfg.StateDir, prev); rerr != nil {
			err = errors.Join(err, fmt.Errorf("and the previous settings could not be saved back: %w", rerr))
		}
		return err
	}
	a.saved = next
	a.dropped.Store(nil) // what was dropped at start is gone from the saved state now
	a.beatNow()
	return nil
}

// refusalLog logs refused commands at most once a second, saying how many
// more were refused since its previous line: a flood of bad commands
// cannot flood the log. It is owned by the command goroutine.
type refusalLog struct {
	last       time.Time
	suppressed int
}

func (l *refusalLog) refused(log *slog.Logger, now time.Time, args ...any) {
	if !l.last.IsZero() && now.Sub(l.last) < time.Second {
		l.suppressed++
		return
	}
	if l.suppressed > 0 {
		args = append(args, "more_refused_not_logged", l.suppressed)
	}
	log.Warn("command refused", args...)
	l.last, l.suppressed = now, 0
}
