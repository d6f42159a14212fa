package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"edge-agent/bus"
)

// testDomain is the JetStream domain of the tests' server: edgectl
// reaches the buckets through it, as it reaches a hub's.
const testDomain = "hub"

// fleet is a nats-server with JetStream for one test, and a client of it
// that plays the devices' side.
type fleet struct {
	t   *testing.T
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

// startFleet starts a server on a loopback port picked at run time, with
// JetStream in domain testDomain.
func startFleet(t *testing.T, opts *server.Options) *fleet {
	t.Helper()
	if opts == nil {
		opts = &server.Options{}
	}
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.JetStream, opts.JetStreamDomain, opts.StoreDir = true, testDomain, t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(srv.Shutdown)
	f := &fleet{t: t, srv: srv}
	if len(opts.Users) == 0 {
		f.nc = f.connect()
		f.js, err = jetstream.NewWithDomain(f.nc, testDomain)
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fleet) connect(opts ...nats.Option) *nats.Conn {
	f.t.Helper()
	nc, err := nats.Connect(f.srv.ClientURL(), opts...)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(nc.Close)
	return nc
}

// config is edgectl's configuration for this server.
func (f *fleet) config() Config {
	return Config{NATSURL: f.srv.ClientURL(), Domain: testDomain, Timeout: 2 * time.Second}
}

// result is one run of edgectl.
type result struct {
	code           int
	stdout, stderr string
}

// edgectl runs edgectl with args against the fleet's server.
func (f *fleet) edgectl(args ...string) result {
	f.t.Helper()
	return runWith(f.t, f.config(), nil, args...)
}

// runWith runs edgectl with cfg; stderr, when given, also receives what
// edgectl writes there as it writes it.
func runWith(t *testing.T, cfg Config, stderr *syncBuffer, args ...string) result {
	t.Helper()
	var out bytes.Buffer
	if stderr == nil {
		stderr = &syncBuffer{}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	load := func() (Config, error) { return cfg, cfg.Validate() }
	code := run(ctx, args, load, &out, stderr)
	return result{code: code, stdout: out.String(), stderr: stderr.String()}
}

// syncBuffer is a bytes.Buffer safe for one writer and readers at once,
// which signals each write.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{} // optional: gets a token per write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.wrote != nil {
		select {
		case s.wrote <- struct{}{}:
		default:
		}
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mustInit runs edgectl init.
func (f *fleet) mustInit() {
	f.t.Helper()
	if r := f.edgectl("init"); r.code != 0 {
		f.t.Fatalf("init: %d %s", r.code, r.stderr)
	}
}

func (f *fleet) kv(bucket string) jetstream.KeyValue {
	f.t.Helper()
	kv, err := f.js.KeyValue(f.t.Context(), bucket)
	if err != nil {
		f.t.Fatal(err)
	}
	return kv
}

// putStatus writes a device's heartbeat into edge_status, as the agent does.
func (f *fleet) putStatus(st bus.Status) uint64 {
	f.t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		f.t.Fatal(err)
	}
	rev, err := f.kv(bus.StatusBucket).Put(f.t.Context(), bus.DeviceKey(st.Device), b)
	if err != nil {
		f.t.Fatal(err)
	}
	return rev
}

// status is a heartbeat of device with cameras at the given processed
// frame rates, in the groups given.
func status(device string, groups []string, fps map[string]float64) bus.Status {
	st := bus.Status{Device: device, Time: bus.Timestamp{Time: time.Now()}, Version: "1.2.3", UptimeS: 3600, IntervalS: 10,
		Cameras: map[string]bus.CameraStatus{},
		Fleet:   &bus.FleetStatus{Groups: groups, Applied: map[string]uint64{}}}
	for cam, f := range fps {
		st.Cameras[cam] = bus.CameraStatus{State: bus.CameraStreaming, FPSIn: 15, FPSProcessed: f,
			LatencyMS: bus.Percentiles{P50: 40, P95: 55, P99: 61}, Model: bus.Model{Name: "yolox_nano.onnx"}, Revision: 3}
	}
	return st
}

// device is a fake agent: a NATS micro service named edge-agent with the
// device's metadata, whose get_config and load_model endpoints answer
// with the functions given (nil: not registered).
type device struct {
	id        string
	svc       micro.Service
	mu        sync.Mutex
	requests  [][]byte // load_model's requests
	getConfig func() bus.Reply
	loadModel func(req []byte) bus.Reply
}

func (f *fleet) startDevice(d *device, cameras string, opts ...nats.Option) *device {
	f.t.Helper()
	nc := f.connect(opts...)
	svc, err := micro.AddService(nc, micro.Config{Name: serviceName, Version: "1.2.3",
		Metadata: map[string]string{"device": d.id, "cameras": cameras}})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = svc.Stop() })
	g := svc.AddGroup("edge." + d.id + ".svc")
	if d.getConfig != nil {
		if err := g.AddEndpoint(bus.OpGetConfig, micro.HandlerFunc(func(r micro.Request) {
			_ = r.RespondJSON(d.getConfig())
		})); err != nil {
			f.t.Fatal(err)
		}
	}
	if d.loadModel != nil {
		if err := g.AddEndpoint(bus.OpLoadModel, micro.HandlerFunc(func(r micro.Request) {
			d.mu.Lock()
			d.requests = append(d.requests, append([]byte(nil), r.Data()...))
			d.mu.Unlock()
			_ = r.RespondJSON(d.loadModel(r.Data()))
		})); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		f.t.Fatal(err)
	}
	d.svc = svc
	return d
}

// contains fails the test unless s holds every one of want.
func contains(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, s)
		}
	}
}
