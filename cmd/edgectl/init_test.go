package main

import (
	"encoding/json"
	"testing"
	"time"

	"edge-agent/bus"
)

// TestInit: init creates both buckets in the domain, edge_status with its
// TTL as the stream's max age and edge_config with the document size
// limit and history; run again with other settings, it updates them.
func TestInit(t *testing.T) {
	f := startFleet(t, nil)
	r := f.edgectl("init", "--status-ttl", "90s", "--history", "5")
	if r.code != 0 {
		t.Fatalf("init: %d %s", r.code, r.stderr)
	}
	contains(t, "init's table", r.stdout, "edge_config  created", "edge_status  created", "1m30s")

	check := func(ttl time.Duration, history int64) {
		t.Helper()
		st, err := f.kv(bus.StatusBucket).Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.TTL() != ttl {
			t.Errorf("edge_status TTL = %s, want %s", st.TTL(), ttl)
		}
		cs, err := f.kv(bus.ConfigBucket).Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if cs.History() != history || cs.TTL() != 0 || cs.Config().MaxValueSize != bus.MaxFleetDocSize {
			t.Errorf("edge_config: history %d, TTL %s, max value %d; want %d, none, %d",
				cs.History(), cs.TTL(), cs.Config().MaxValueSize, history, bus.MaxFleetDocSize)
		}
	}
	check(90*time.Second, 5)

	r = f.edgectl("init", "--json")
	if r.code != 0 {
		t.Fatalf("init again: %d %s", r.code, r.stderr)
	}
	var got []bucketResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("init --json: %v\n%s", err, r.stdout)
	}
	if len(got) != 2 || got[0].Action != "updated" || got[1].Action != "updated" || got[1].TTL != "2m0s" {
		t.Errorf("init --json = %+v, want both updated, edge_status TTL 2m0s", got)
	}
	check(2*time.Minute, 10)
}

// TestInitUsage: flags out of range are refused before connecting, with
// exit status 2.
func TestInitUsage(t *testing.T) {
	cfg := Config{NATSURL: "nats://127.0.0.1:1", Timeout: time.Second} // never reached
	for _, args := range [][]string{
		{"init", "--replicas", "0"},
		{"init", "--status-ttl", "10ms"},
		{"init", "--history", "65"},
		{"init", "extra"},
		{"init", "--nope"},
	} {
		r := runWith(t, cfg, nil, args...)
		if r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, r.code, exitUsage, r.stderr)
		}
	}
}
