package bus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"edge-agent/bus"
)

// The agent runs an embedded NATS server (no URL configured), hands every
// processed frame to Publish from its video loop, and another process on
// the box reads the events.
func ExampleNewNATS() {
	state, err := os.MkdirTemp("", "edge-agent-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(state)

	n, err := bus.NewNATS(bus.NATSConfig{
		Device:   "porch",
		StateDir: state,          // JetStream store and outbox journal
		Listen:   "127.0.0.1:-1", // a free port; the default is 127.0.0.1:4222
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	if err := n.Ready(10 * time.Second); err != nil {
		fmt.Println(err)
		return
	}

	// A consumer on the box.
	nc, err := nats.Connect(n.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	sub, _ := nc.SubscribeSync("edge.porch.*.detections")
	nc.Flush()

	// The video loop: build the event, hand it over, move on.
	var ids bus.IDs
	captured := time.Now().Add(-45 * time.Millisecond)
	now := time.Now()
	box := bus.Box{X: 600, Y: 200, W: 120, H: 330}
	n.Publish(&bus.Event{
		ID: ids.New(now), Device: "porch", Camera: "front", Seq: 1,
		CaptureTime: bus.Timestamp{Time: captured}, CaptureClock: bus.ClockArrival,
		PublishTime: bus.Timestamp{Time: now},
		LatencyMS:   bus.Latency{Total: bus.Millis(now.Sub(captured))},
		Width:       1280, Height: 720,
		Model:      bus.Model{Name: "yolox_nano.onnx"},
		Thresholds: bus.Thresholds{Confidence: 0.25, IoU: 0.45},
		Detections: []bus.Detection{{Label: "person", Confidence: 0.9, Box: box, BoxNorm: box.Norm(1280, 720)}},
	})

	msg, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}
	var ev bus.Event
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(msg.Subject, ev.Schema, ev.Detections[0].Label, msg.Header.Get("Nats-Msg-Id") == ev.ID)

	stop()
	fmt.Println("stopped:", <-done)
	// Output:
	// edge.porch.front.detections edge.detection.v1 person true
	// stopped: <nil>
}

// A command is parsed once, at the edge, into typed values: a pointer
// field is a setting the command gives, nil one it leaves alone. A refusal
// names the field at fault.
func ExampleParseCommand() {
	cmd, err := bus.ParseCommand([]byte(`{"id":"7","op":"update_camera","args":{"name":"yard","confidence":0.4,"publish":"changes"}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	u := cmd.UpdateCamera
	fmt.Println(cmd.Op, u.Name, *u.Confidence, *u.Publish, u.URL == nil)

	_, err = bus.ParseCommand([]byte(`{"id":"8","op":"set_publish","args":{"camera":"front door","policy":"all"}}`))
	fmt.Println(err)
	// Output:
	// update_camera yard 0.4 changes true
	// invalid command: args.camera: "front door" must be 1-64 letters, digits, '-' or '_' (leave it out for every camera)
}

// The agent hands a tracked object's events to PublishObject, through the
// same outbox as the detection events: they reach the device's stream in
// the order handed over, each kind on its own subject.
func ExampleNATS_PublishObject() {
	state, err := os.MkdirTemp("", "edge-agent-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(state)
	n, err := bus.NewNATS(bus.NATSConfig{Device: "porch", StateDir: state, Listen: "127.0.0.1:-1"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	if err := n.Ready(10 * time.Second); err != nil {
		fmt.Println(err)
		return
	}
	nc, err := nats.Connect(n.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	sub, _ := nc.SubscribeSync("edge.porch.>")
	nc.Flush()

	var ids bus.IDs
	now := time.Now()
	box := bus.Box{X: 600, Y: 200, W: 120, H: 330}
	ev := &bus.Event{ID: ids.New(now), Device: "porch", Camera: "front", Seq: 9,
		CaptureTime: bus.Timestamp{Time: now}, CaptureClock: bus.ClockArrival, PublishTime: bus.Timestamp{Time: now},
		Width: 1280, Height: 720, Model: bus.Model{Name: "yolox_nano.onnx"},
		Detections: []bus.Detection{{Label: "person", TrackID: 4, Confidence: 0.9, Box: box, BoxNorm: box.Norm(1280, 720)}}}
	obj := &bus.ObjectEvent{ID: ids.New(now), Device: "porch", Camera: "front", Type: bus.ObjectLineCross,
		TrackID: 4, Label: "person", Seq: 9, CaptureTime: ev.CaptureTime, CaptureClock: bus.ClockArrival,
		PublishTime: ev.PublishTime, Width: 1280, Height: 720, Confidence: 0.9, Box: box, BoxNorm: box.Norm(1280, 720),
		Line: "gate", Direction: "in"}
	n.Publish(ev)
	n.PublishObject(obj)

	for range 2 {
		msg, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			fmt.Println(err)
			return
		}
		var head struct{ Schema, Type string }
		json.Unmarshal(msg.Data, &head)
		line := msg.Subject + " " + head.Schema
		if head.Type != "" {
			line += " " + head.Type
		}
		fmt.Println(line)
	}
	stop()
	fmt.Println("stopped:", <-done)
	// Output:
	// edge.porch.front.detections edge.detection.v1
	// edge.porch.front.objects edge.object.v1 line_cross
	// stopped: <nil>
}
