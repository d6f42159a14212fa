package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"edge-agent/bus"
	"edge-agent/internal/redact"
)

// docResult is one desired-state document in edgectl get.
type docResult struct {
	Key      string `json:"key"`
	Revision uint64 `json:"revision,omitempty"` // absent when the document is
	Present  bool   `json:"present"`
	YAML     string `json:"yaml,omitempty"` // with credentials hidden
}

// getResult is what edgectl get shows.
type getResult struct {
	Device    string      `json:"device"`
	Groups    []string    `json:"groups"`
	Documents []docResult `json:"documents"` // in the order they are layered
	Online    bool        `json:"online"`
	Offline   string      `json:"offline,omitempty"`  // why the device did not answer
	InForce   *bus.Reply  `json:"in_force,omitempty"` // its get_config answer
}

func cmdGet(ctx context.Context, a *app, args []string) error {
	device, err := a.oneDevice(ctx, args)
	if err != nil {
		return err
	}
	kv, err := a.bucket(ctx, bus.ConfigBucket)
	if err != nil {
		return err
	}
	res := getResult{Device: device, Groups: []string{}}
	devDoc, devNode, err := a.readDoc(ctx, kv, bus.DeviceKey(device))
	if err != nil {
		return err
	}
	if devNode != nil {
		if res.Groups, err = docGroups(devNode, devDoc.Key); err != nil {
			return err
		}
	}
	keys := []string{bus.FleetKey}
	for _, g := range res.Groups {
		keys = append(keys, bus.GroupKey(g))
	}
	for _, k := range keys {
		d, _, err := a.readDoc(ctx, kv, k)
		if err != nil {
			return err
		}
		res.Documents = append(res.Documents, d)
	}
	res.Documents = append(res.Documents, devDoc)

	reply, rerr := a.request(ctx, device, bus.OpGetConfig, []byte("{}"), a.cfg.Timeout)
	switch {
	case errors.Is(rerr, errOffline):
		res.Offline = rerr.Error()
	case rerr == nil:
		reply.Config = redactValue(reply.Config) // the agent hides passwords; so does edgectl
		res.Online, res.InForce = true, reply
	}
	if a.json {
		if err := a.printJSON(res); err != nil {
			return err
		}
	} else if err := printGet(a.stdout, res); err != nil {
		return err
	}
	if rerr != nil && !errors.Is(rerr, errOffline) {
		return rerr
	}
	return nil
}

// readDoc reads a desired-state document; the node is nil when it is
// absent.
func (a *app) readDoc(ctx context.Context, kv jetstream.KeyValue, key string) (docResult, *yaml.Node, error) {
	d := docResult{Key: key}
	var e jetstream.KeyValueEntry
	err := a.call(ctx, func(ctx context.Context) (err error) {
		e, err = kv.Get(ctx, key)
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return d, nil, nil
	}
	if err != nil {
		return d, nil, fmt.Errorf("read %s %s: %w", bus.ConfigBucket, key, err)
	}
	doc, err := parseDoc(key, e.Value())
	if err != nil {
		return d, nil, err
	}
	if d.YAML, err = displayDoc(doc); err != nil {
		return d, nil, fmt.Errorf("%s: %w", key, err)
	}
	d.Revision, d.Present = e.Revision(), true
	return d, doc, nil
}

func printGet(w io.Writer, res getResult) error {
	keys := make([]string, len(res.Documents))
	for i, d := range res.Documents {
		keys[i] = d.Key
	}
	fmt.Fprintf(w, "desired state of %s (%s, each over the one before):\n", res.Device, strings.Join(keys, " < "))
	for _, d := range res.Documents {
		if !d.Present {
			fmt.Fprintf(w, "\n%s  absent\n", d.Key)
			continue
		}
		fmt.Fprintf(w, "\n%s  revision %d\n", d.Key, d.Revision)
		text := d.YAML
		if text == "" {
			text = "(empty)\n"
		}
		fmt.Fprint(w, indent(text, "  "))
	}
	switch {
	case res.InForce == nil:
		fmt.Fprintf(w, "\nin force: unknown, the device is offline (%s)\n", res.Offline)
	case !res.InForce.OK:
		fmt.Fprintf(w, "\nin force: the device refused get_config: %s\n", res.InForce.Error)
	default:
		fmt.Fprintf(w, "\nin force on %s (revision %d):\n", res.Device, res.InForce.Revision)
		var b strings.Builder
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(res.InForce.Config); err != nil {
			return fmt.Errorf("the device's settings: %w", err)
		}
		fmt.Fprint(w, indent(b.String(), "  "))
	}
	return nil
}

// redactValue returns v, decoded JSON, with every string passed through
// redact.URL.
func redactValue(v any) any {
	switch v := v.(type) {
	case string:
		return redact.URL(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = redactValue(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = redactValue(x)
		}
		return out
	}
	return v
}

// indent puts prefix before every line of text.
func indent(text, prefix string) string {
	lines := strings.SplitAfter(text, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}
