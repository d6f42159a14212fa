package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"edge-agent/bus"
)

// loadModelArgs are load_model's arguments as docs/commands.md defines
// them.
type loadModelArgs struct {
	Camera string `json:"camera,omitempty"`
	Name   string `json:"name"`
	SHA256 string `json:"sha256,omitempty"`
	Format string `json:"format,omitempty"`
}

func cmdLoadModel(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	var la loadModelArgs
	fs.StringVar(&la.SHA256, "sha256", "", "the model file must have this SHA-256 digest (64 hex digits)")
	fs.StringVar(&la.Camera, "camera", "", "load it for camera `C` only (default: every camera)")
	fs.StringVar(&la.Format, "format", "", "the model's output layout: auto, yolov8, yolov5 or yolox (default: auto)")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for the answer (loading and warming up a model takes a while)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("name the device and the model file")
	}
	device := pos[0]
	la.Name = pos[1]
	if err := checkDevice(device); err != nil {
		return err
	}
	if *timeout <= 0 {
		return usagef("--timeout: must be positive, got %s", *timeout)
	}
	payload, err := loadModelPayload(la)
	if err != nil {
		return err
	}
	if err := a.connect(ctx); err != nil {
		return err
	}
	reply, err := a.request(ctx, device, bus.OpLoadModel, payload, *timeout)
	if err != nil {
		return err
	}
	if a.json {
		if err := a.printJSON(reply); err != nil {
			return err
		}
	}
	if !reply.OK {
		return fmt.Errorf("%s refused load_model %s: %s", device, la.Name, reply.Error)
	}
	if !a.json {
		target := "every camera"
		if la.Camera != "" {
			target = "camera " + la.Camera
		}
		fmt.Fprintf(a.stdout, "%s loaded %s for %s (revision %d)\n", device, la.Name, target, reply.Revision)
	}
	return nil
}

// loadModelPayload is the request a device's load_model endpoint takes,
// {"args": {...}}, once the arguments passed the agent's own command
// parser (bus.ParseCommand), so that a malformed one is refused here.
func loadModelPayload(la loadModelArgs) ([]byte, error) {
	args, err := json.Marshal(la)
	if err != nil {
		return nil, err
	}
	cmd, err := json.Marshal(map[string]any{"id": "edgectl", "op": bus.OpLoadModel, "args": json.RawMessage(args)})
	if err != nil {
		return nil, err
	}
	if _, err := bus.ParseCommand(cmd); err != nil {
		return nil, usageError{strings.TrimPrefix(err.Error(), bus.ErrCommand.Error()+": ")}
	}
	return json.Marshal(map[string]any{"args": json.RawMessage(args)})
}
