package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// event is the part of a detection event (schema edge.detection.v1, see
// docs/events.md) the harness reads. The harness is a consumer like any
// other: it decodes the wire format, not the agent's Go types.
type event struct {
	Seq           uint64    `json:"seq"`
	CaptureTime   time.Time `json:"capture_time"`
	PublishTime   time.Time `json:"publish_time"`
	FramesDropped uint64    `json:"frames_dropped"`
	LatencyMS     struct {
		Total       float64 `json:"total"`
		Wait        float64 `json:"wait"`
		Preprocess  float64 `json:"preprocess"`
		Inference   float64 `json:"inference"`
		Postprocess float64 `json:"postprocess"`
		Output      float64 `json:"output"`
	} `json:"latency_ms"`
}

// age is the age of the frame when the agent started processing it: from its
// capture (the camera relayed by MediaMTX is timed on arrival: when the decoded
// frame reached the agent's appsink) to the start of pre-processing. It is the total minus the
// stages that follow the pull (pre-processing, inference, post-processing,
// output), so it holds the time the frame sat in the ingest queue and excludes
// the loop's own wait for a frame.
func (e *event) age() float64 {
	l := e.LatencyMS
	return l.Total - (l.Preprocess + l.Inference + l.Postprocess + l.Output)
}

// overhead is the agent's own work on the frame: everything it timed except
// the model (pre-processing, post-processing, drawing and the hand-off to the
// encoder). Decoding and encoding run on GStreamer's threads, outside it.
func (e *event) overhead() float64 {
	l := e.LatencyMS
	return l.Preprocess + l.Postprocess + l.Output
}

// collector keeps every event received on a subscription.
type collector struct {
	sub *nats.Subscription

	mu     sync.Mutex
	events []event
	bad    int // payloads that did not decode
	first  chan struct{}
	once   sync.Once
}

// collectEvents subscribes to subject (core NATS: the events also go to the
// JetStream stream, which the harness does not need).
func collectEvents(nc *nats.Conn, subject string) (*collector, error) {
	c := &collector{first: make(chan struct{}), events: make([]event, 0, 2048)}
	sub, err := nc.Subscribe(subject, c.receive)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	// A slow harness must not make the server drop events as a slow consumer.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	c.sub = sub
	return c, nil
}

func (c *collector) receive(m *nats.Msg) {
	var e event
	err := json.Unmarshal(m.Data, &e)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.bad++
		return
	}
	c.events = append(c.events, e)
	c.once.Do(func() { close(c.first) })
}

// window returns the events published in [from, to].
func (c *collector) window(from, to time.Time) []event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []event
	for _, e := range c.events {
		if !e.PublishTime.Before(from) && !e.PublishTime.After(to) {
			out = append(out, e)
		}
	}
	return out
}

// decodeErrors is how many payloads did not decode.
func (c *collector) decodeErrors() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bad
}

// publishedAfter reports whether an event published after t has arrived.
func (c *collector) publishedAfter(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events) > 0 && c.events[len(c.events)-1].PublishTime.After(t)
}

// connectNATS connects to the agent's embedded server, retrying until it
// accepts or the timeout passes (the agent starts it after loading the model).
func connectNATS(ctx context.Context, url string, agent *child, timeout time.Duration) (*nats.Conn, error) {
	deadline := time.Now().Add(timeout)
	for {
		nc, err := nats.Connect(url, nats.Name("edge-bench"), nats.Timeout(time.Second), nats.MaxReconnects(-1))
		if err == nil {
			return nc, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("connect to the agent's NATS server %s: %w", url, err)
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-agent.done:
			t.Stop()
			return nil, agent.died()
		case <-t.C:
		}
	}
}
