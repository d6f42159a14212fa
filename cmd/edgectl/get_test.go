package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"edge-agent/bus"
)

// TestGet: get shows the documents that concern a device (fleet, its
// groups' as its device document lists them, its own), each with its
// revision, then what the device answers get_config; a device that does
// not answer is said to be offline and only the documents are shown.
func TestGet(t *testing.T) {
	f := startFleet(t, nil)
	f.mustInit()
	kv := f.kv(bus.ConfigBucket)
	for _, kvp := range [][2]string{
		{"fleet", "defaults:\n  confidence: 0.4 # the fleet's\n"},                                                              // revision 1
		{"group.north", "defaults:\n  publish: changes\n"},                                                                     // revision 2
		{"device.porch", "groups: [north, lobby]\ncameras:\n  - name: front\n    url: rtsp://admin:s3cret@10.0.0.7/stream1\n"}, // revision 3
	} {
		if _, err := kv.Put(t.Context(), kvp[0], []byte(kvp[1])); err != nil {
			t.Fatal(err)
		}
	}
	f.startDevice(&device{id: "porch", getConfig: func() bus.Reply {
		return bus.Reply{ID: "x", OK: true, Revision: 12, Config: map[string]any{"revision": 12,
			"cameras": []any{map[string]any{"name": "front", "confidence": 0.4, "publish": "changes", "url": "rtsp://admin:s3cret@10.0.0.7/stream1"}}}}
	}}, "front")

	r := f.edgectl("get", "porch")
	if r.code != 0 {
		t.Fatalf("get: %d %s", r.code, r.stderr)
	}
	want := "desired state of porch (fleet < group.north < group.lobby < device.porch, each over the one before):\n\n" +
		"fleet  revision 1\n  defaults:\n    confidence: 0.4 # the fleet's\n\n" +
		"group.north  revision 2\n  defaults:\n    publish: changes\n\n" +
		"group.lobby  absent\n\n" +
		"device.porch  revision 3\n  groups: [north, lobby]\n  cameras:\n    - name: front\n      url: rtsp://admin:xxxxx@10.0.0.7/stream1\n\n" +
		"in force on porch (revision 12):\n  cameras:\n    - confidence: 0.4\n      name: front\n      publish: changes\n      url: rtsp://admin:xxxxx@10.0.0.7/stream1\n  revision: 12\n"
	if r.stdout != want {
		t.Errorf("get printed\n%s\nwant\n%s", r.stdout, want)
	}

	r = f.edgectl("get", "porch", "--json")
	if strings.Contains(r.stdout, "s3cret") {
		t.Errorf("get --json printed the password:\n%s", r.stdout)
	}
	var res getResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Online || res.InForce == nil || res.InForce.Revision != 12 || len(res.Documents) != 4 || res.Documents[2].Present ||
		strings.Join(res.Groups, ",") != "north,lobby" {
		t.Errorf("get --json = %s", r.stdout)
	}

	// A device with no document and no service: the fleet document only,
	// and offline.
	cfg := f.config()
	cfg.Timeout = 300 * time.Millisecond
	r = runWith(t, cfg, nil, "get", "garage")
	if r.code != 0 {
		t.Fatalf("get of an offline device: %d %s", r.code, r.stderr)
	}
	contains(t, "get garage", r.stdout, "fleet  revision 1\n", "device.garage  absent\n",
		"in force: unknown, the device is offline (garage: offline (nothing listens on edge.garage.svc.get_config))\n")
}
