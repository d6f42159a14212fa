package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"edge-agent/bus"
	"edge-agent/models"
)

// Commands are rate-limited so that a flood cannot take the cores from the
// video loop: a burst of commandBurst, then commandRate a second.
const (
	commandRate  = 5
	commandBurst = 10
)

// commands answers the commands arriving on the buses, one at a time, until
// ctx ends. It is the one writer of the settings: it validates a command
// whole, builds what it needs (a model session, a keep mask) off the hot
// path, saves the result, swaps it in between two frames and only then
// answers. A command that fails changes nothing.
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
		case req = <-natsC:
		case req = <-mqttC:
		}
		a.handle(ctx, req, limit)
	}
}

// handle answers one command.
func (a *Agent) handle(ctx context.Context, req bus.Request, limit *rate.Limiter) {
	cur := a.cam.settings()
	refuse := func(id string, err error) {
		a.log.Warn("command refused", "via", req.Via, "id", id, "err", err)
		req.Answer(bus.Reply{ID: id, OK: false, Error: err.Error(), Revision: cur.revision, Config: cur.view()})
	}
	if !limit.Allow() {
		refuse("", fmt.Errorf("rate limited: at most %d commands a second", commandRate))
		return
	}
	cmd, err := bus.ParseCommand(req.Payload)
	if err != nil {
		refuse(cmd.ID, err)
		return
	}
	next, err := a.prepare(ctx, cur, cmd)
	if err != nil {
		refuse(cmd.ID, err)
		return
	}
	if next != nil {
		if err := a.commit(cur, next); err != nil {
			refuse(cmd.ID, err)
			return
		}
		a.log.Info("settings changed", "via", req.Via, "id", cmd.ID, "op", cmd.Op, "revision", next.revision,
			"model", next.det.Info().Name, "confidence", next.th.Confidence, "iou", next.th.IoU,
			"classes", next.classes, "publish", next.publish)
		cur = next
	}
	req.Answer(bus.Reply{ID: cmd.ID, OK: true, Revision: cur.revision, Config: cur.view()})
}

// prepare builds the settings a command asks for, or nil when it changes
// nothing (get_config). It touches nothing the camera loop uses.
func (a *Agent) prepare(ctx context.Context, cur *settings, cmd bus.Command) (*settings, error) {
	next := *cur
	next.revision++
	switch {
	case cmd.Thresholds != nil:
		if c := cmd.Thresholds.Confidence; c != nil {
			next.th.Confidence = *c
		}
		if iou := cmd.Thresholds.IoU; iou != nil {
			next.th.IoU = *iou
		}
	case cmd.Classes != nil:
		keep, err := cur.det.KeepMask(cmd.Classes.Classes)
		if err != nil {
			return nil, fmt.Errorf("args.classes: %w", err)
		}
		next.th.Keep = keep
		next.classes = nil
		if len(cmd.Classes.Classes) > 0 {
			next.classes = cmd.Classes.Classes
		}
	case cmd.Publish != nil:
		p, _ := bus.ParsePolicy(cmd.Publish.Policy) // checked by ParseCommand
		next.publish = p
	case cmd.LoadModel != nil:
		if err := a.loadModel(ctx, &next, cmd.LoadModel); err != nil {
			return nil, err
		}
	default: // get_config
		return nil, nil
	}
	return &next, nil
}

// loadModel loads, checks and warms up the model a command names, while the
// old one keeps serving.
func (a *Agent) loadModel(ctx context.Context, next *settings, args *bus.LoadModelArgs) error {
	path, err := resolveModel(a.cfg.ModelDir, args.Name)
	if err != nil {
		return err
	}
	format, err := models.ParseFormat(args.Format)
	if err != nil {
		return fmt.Errorf("args.format: %w", err)
	}
	det, err := a.rt.Load(models.Options{
		Path: path, Format: format, LabelsPath: a.cfg.LabelsPath,
		Threads: a.cfg.ORTThreads, Provider: a.cfg.ORTProvider,
	})
	if err != nil {
		// The answer names the model as the command did, not where the
		// agent keeps it.
		return errors.New(strings.ReplaceAll(err.Error(), path, args.Name))
	}
	fail := func(err error) error {
		det.Close()
		return err
	}
	info := det.Info()
	if args.SHA256 != "" && !strings.EqualFold(args.SHA256, info.SHA256) {
		return fail(fmt.Errorf("model %q: sha256 is %s, not %s", args.Name, info.SHA256, strings.ToLower(args.SHA256)))
	}
	keep, err := det.KeepMask(next.classes)
	if err != nil {
		return fail(fmt.Errorf("model %q lacks the classes in force (set_classes first): %w", args.Name, err))
	}
	th := next.th
	th.Keep = keep
	// Warm up on a real frame: the first run of a session is slow, and a
	// model that cannot run on this camera's frames must not go live.
	img := a.cam.snapshot(ctx, time.Second)
	if _, _, err := det.Detect(img, th, nil); err != nil {
		return fail(fmt.Errorf("model %q: warm-up: %w", args.Name, err))
	}
	next.det, next.th = det, th
	next.model = modelSource{Name: args.Name, Path: path, SHA256: info.SHA256, Format: args.Format}
	return nil
}

// commit saves the new settings, swaps them in between two frames and
// closes the model they replaced. If saving fails nothing changes.
func (a *Agent) commit(cur, next *settings) error {
	if err := saveState(a.cfg.StateDir, next.saved()); err != nil {
		if next.det != cur.det {
			closeDetector(next.det)
		}
		return err
	}
	a.cam.swap(next)
	if next.det != cur.det {
		closeDetector(cur.det)
	}
	return nil
}

// closeDetector closes a model no frame uses any more.
func closeDetector(d detector) {
	if c, ok := d.(interface{ Close() error }); ok {
		c.Close()
	}
}
