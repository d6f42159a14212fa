package deploy_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
	"edge-agent/internal/testenv"
)

const stream = "EDGE_" + device

// startNATS runs nats-server in process from the shipped nats.conf, which
// includes the generated secrets/nats-auth.conf; only the listeners (loopback,
// a free port, no monitoring) and the store directory are changed.
func startNATS(t *testing.T, root string) *server.Server {
	t.Helper()
	opts, err := server.ProcessConfigFile(filepath.Join(root, "nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !opts.JetStream || len(opts.Users) != 3 || opts.NoAuthUser != "" {
		t.Fatalf("nats.conf: JetStream %v, %d users, no_auth_user %q; want JetStream, 3 users, none",
			opts.JetStream, len(opts.Users), opts.NoAuthUser)
	}
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.HTTPHost, opts.HTTPPort = "", 0
	opts.StoreDir = t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready after 10s")
	}
	return srv
}

// natsClient is a connection whose asynchronous errors (the server's
// permission violations) the test waits for.
type natsClient struct {
	nc   *nats.Conn
	errs chan error
}

func connectNATS(t *testing.T, url, user, password string, opts ...nats.Option) *natsClient {
	t.Helper()
	c := &natsClient{errs: make(chan error, 64)}
	// A bcrypt (cost 11) login on two busy cores may take longer than
	// nats.go's 2 s default.
	opts = append(opts, nats.UserInfo(user, password), nats.MaxReconnects(0), nats.Timeout(10*time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case c.errs <- err:
			default:
			}
		}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	return c
}

// denied publishes on subject (or, with sub, subscribes to it) and waits
// for the server's permission violation naming it.
func (c *natsClient) denied(t *testing.T, sub bool, subject string) {
	t.Helper()
	var err error
	kind := "publish"
	if sub {
		kind = "subscription"
		_, err = c.nc.Subscribe(subject, func(*nats.Msg) {})
	} else {
		err = c.nc.Publish(subject, []byte(`{}`))
	}
	if err != nil {
		t.Fatalf("%s %s: %v", kind, subject, err)
	}
	_ = c.nc.Flush()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case err := <-c.errs:
			if msg := strings.ToLower(err.Error()); strings.Contains(msg, "permissions violation for "+kind) &&
				strings.Contains(msg, `"`+strings.ToLower(subject)+`"`) {
				return
			}
		case <-deadline:
			t.Fatalf("%s %s: allowed (no permission violation within 5s)", kind, subject)
		}
	}
}

// quiet fails if the client got any asynchronous error.
func (c *natsClient) quiet(t *testing.T, who string) {
	t.Helper()
	_ = c.nc.Flush()
	select {
	case err := <-c.errs:
		t.Errorf("%s: %v", who, err)
	default:
	}
}

func TestNATSRoles(t *testing.T) {
	if raceEnabled {
		t.Skip("race detector: each bcrypt login takes seconds in process; the run without -race checks the roles")
	}
	root, s := sharedSecrets(t)
	srv := startNATS(t, root)
	url := srv.ClientURL()
	agentEnv, operatorEnv, readerEnv := s.env(t, "agent.env"), s.env(t, "operator.env"), s.env(t, "reader.env")

	t.Run("no login, no access", func(t *testing.T) {
		for _, o := range []nats.Option{nil, nats.UserInfo("operator", "wrong"), nats.UserInfo(device, s.passwords["operator_nats"])} {
			opts := []nats.Option{nats.MaxReconnects(0), nats.Timeout(10 * time.Second)}
			if o != nil {
				opts = append(opts, o)
			}
			nc, err := nats.Connect(url, opts...)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
				t.Errorf("err %v, want an authorization violation", err)
			}
		}
	})

	// The agent itself, with its generated login: it creates its stream and
	// publishes an event with acks, and takes commands.
	ctx, cancel := context.WithCancel(t.Context())
	agent, err := bus.NewNATS(bus.NATSConfig{
		Device: device, URL: url, StateDir: t.TempDir(),
		User: agentEnv["EDGE_NATS_USER"], Password: agentEnv["EDGE_NATS_PASSWORD"],
		Fleet: true, // the buckets on this server, once the operator created them
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := recv(t, done, 15*time.Second, "end of the agent's NATS client"); err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	if err := agent.Ready(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	var ids bus.IDs
	now := time.Now()
	ev := &bus.Event{ID: ids.New(now), Device: device, Camera: "cam1", Seq: 1,
		CaptureTime: bus.Timestamp{Time: now}, CaptureClock: bus.ClockArrival, PublishTime: bus.Timestamp{Time: now},
		Width: 640, Height: 480, Model: bus.Model{Name: "m.onnx"}, Thresholds: bus.Thresholds{Confidence: 0.25, IoU: 0.45},
		Detections: []bus.Detection{{Label: "person", Confidence: 0.9}}}
	agent.Publish(ev)
	obj := &bus.ObjectEvent{ID: ids.New(now), Device: device, Camera: "cam1", Type: bus.ObjectNew, TrackID: 1,
		Label: "person", Seq: 1, CaptureTime: bus.Timestamp{Time: now}, CaptureClock: bus.ClockArrival,
		PublishTime: bus.Timestamp{Time: now}, Width: 640, Height: 480}
	agent.PublishObject(obj)
	// The stream exists once JetStream acknowledged both events.
	testenv.WaitFor(t, 15*time.Second, "the agent's two events acknowledged", func() bool { return agent.Stats().Published >= 2 })

	operator := connectNATS(t, url, operatorEnv["NATS_USER"], operatorEnv["NATS_PASSWORD"], nats.CustomInboxPrefix("_INBOX.operator"))
	reader := connectNATS(t, url, readerEnv["NATS_USER"], readerEnv["NATS_PASSWORD"], nats.CustomInboxPrefix("_INBOX.reader"))

	t.Run("reader consumes the agent's stream", func(t *testing.T) {
		js, err := jetstream.New(reader.nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		cons, err := js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{
			AckPolicy: jetstream.AckExplicitPolicy, InactiveThreshold: time.Minute})
		if err != nil {
			t.Fatalf("create consumer: %v", err)
		}
		if _, err := cons.Info(ctx); err != nil {
			t.Fatalf("consumer info: %v", err)
		}
		// The agent created the stream when it connected; the event is
		// there once JetStream acknowledged it.
		msgs, err := cons.Fetch(2, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		// The detection event, then the object event (the agent's grants
		// cover both subjects of its stream).
		for _, want := range []struct{ subject, id string }{
			{"edge." + device + ".cam1.detections", ev.ID}, {"edge." + device + ".cam1.objects", obj.ID},
		} {
			m := recv(t, msgs.Messages(), 11*time.Second, "event from the stream")
			if m == nil {
				t.Fatalf("no event in the stream: %v", msgs.Error())
			}
			var got struct{ ID string }
			if err := json.Unmarshal(m.Data(), &got); err != nil || got.ID != want.id || m.Subject() != want.subject {
				t.Fatalf("got %s %q (%v), want the agent's event %s on %s", m.Subject(), got.ID, err, want.id, want.subject)
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Errorf("ack: %v", err)
			}
		}
		if _, err := js.Stream(ctx, stream); err != nil {
			t.Errorf("stream info: %v", err)
		}
		reader.quiet(t, "reader")
	})

	t.Run("operator commands the agent", func(t *testing.T) {
		for i, subject := range []string{"edge." + device + ".cmd", "edge.fleet.cmd"} {
			id := []string{"a", "b"}[i]
			answer := make(chan *nats.Msg, 1)
			go func() {
				m, err := operator.nc.Request(subject, []byte(`{"id":"`+id+`","op":"get_config"}`), 10*time.Second)
				if err != nil {
					t.Errorf("request %s: %v", subject, err)
				}
				answer <- m
			}()
			r := recv(t, agent.Commands(), 10*time.Second, "command at the agent via "+subject)
			r.Answer(bus.Reply{ID: id, OK: true})
			m := recv(t, answer, 11*time.Second, "answer")
			if m == nil {
				t.FailNow()
			}
			var rep bus.Reply
			if err := json.Unmarshal(m.Data, &rep); err != nil || rep.ID != id || !rep.OK {
				t.Errorf("answer %s (%v), want id %s ok", m.Data, err, id)
			}
		}
		if st := agent.Stats(); st.RefusedReplies != 0 {
			t.Errorf("the agent refused %d replies", st.RefusedReplies)
		}
		operator.quiet(t, "operator")
	})

	// A door permissions cannot close: nats-server does not check a push
	// consumer's deliver subject against its creator's grants, so the
	// reader can have the stream's events delivered onto the agent's
	// command subject. They come with a reply subject $JS.ACK..., not an
	// inbox, so the agent drops them unread and counts them.
	t.Run("reader's push consumer onto the command subject", func(t *testing.T) {
		req := `{"stream_name":"` + stream + `","config":{"name":"push","deliver_subject":"edge.` + device +
			`.cmd","ack_policy":"none","deliver_policy":"all"}}`
		m, err := reader.nc.Request("$JS.API.CONSUMER.CREATE."+stream+".push", []byte(req), 10*time.Second)
		if err != nil || strings.Contains(string(m.Data), `"error"`) {
			t.Fatalf("create push consumer: %v %s", err, m.Data)
		}
		deadline := time.Now().Add(10 * time.Second)
		for agent.Stats().RefusedReplies == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the agent did not refuse the delivered event within 10s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		select {
		case r := <-agent.Commands():
			t.Errorf("the agent took a delivered event as a command: %s", r.Payload)
		default:
		}
	})

	t.Run("reader hears the heartbeat", func(t *testing.T) {
		sub, err := reader.nc.SubscribeSync("edge.*.status")
		if err != nil {
			t.Fatal(err)
		}
		_ = reader.nc.Flush()
		agentRaw := connectNATS(t, url, agentEnv["EDGE_NATS_USER"], agentEnv["EDGE_NATS_PASSWORD"])
		if err := agentRaw.nc.Publish("edge."+device+".status", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		agentRaw.quiet(t, "agent")
	})

	t.Run("the fleet on the shipped server", func(t *testing.T) {
		// The operator creates the buckets (as edgectl init does) and
		// writes the device's document; the agent watches it and puts its
		// heartbeat; both find the agent's micro service.
		js, err := jetstream.New(operator.nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		cfgKV, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bus.ConfigBucket, MaxValueSize: bus.MaxFleetDocSize})
		if err != nil {
			t.Fatalf("operator creates %s: %v", bus.ConfigBucket, err)
		}
		statusKV, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bus.StatusBucket, TTL: time.Minute})
		if err != nil {
			t.Fatalf("operator creates %s: %v", bus.StatusBucket, err)
		}
		rev, err := cfgKV.Put(ctx, bus.DeviceKey(device), []byte("defaults: {confidence: 0.5}\n"))
		if err != nil {
			t.Fatalf("operator writes the device's document: %v", err)
		}
		for {
			snap := recv(t, agent.FleetConfig(), 20*time.Second, "the device's document at the agent")
			if len(snap.Docs) == 1 && snap.Docs[0].Revision == rev {
				break
			}
		}
		w, err := statusKV.Watch(ctx, bus.DeviceKey(device))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		agent.PublishStatus(&bus.Status{Device: device, Time: bus.Timestamp{Time: time.Now()}, Cameras: map[string]bus.CameraStatus{}})
		for e := range w.Updates() {
			if e != nil {
				break // the agent's heartbeat, read back by the operator
			}
		}
		rjs, err := jetstream.New(reader.nc)
		if err != nil {
			t.Fatal(err)
		}
		rkv, err := rjs.KeyValue(ctx, bus.StatusBucket)
		if err != nil {
			t.Fatalf("reader binds %s: %v", bus.StatusBucket, err)
		}
		if _, err := rkv.Get(ctx, bus.DeviceKey(device)); err != nil {
			t.Errorf("reader reads the device's status: %v", err)
		}
		for _, c := range []*natsClient{operator, reader} {
			m, err := c.nc.Request("$SRV.PING."+bus.ServiceName, nil, 10*time.Second)
			if err != nil || !strings.Contains(string(m.Data), device) {
				t.Errorf("discovery: %v %s", err, m.Data)
			}
		}
		operator.quiet(t, "operator")
		reader.quiet(t, "reader")
		// Least privilege: the reader writes no document, the agent no other
		// device's status and no document.
		reader.denied(t, false, "$KV.edge_config."+bus.DeviceKey(device))
		reader.denied(t, false, "$JS.API.STREAM.DELETE.KV_edge_status")
		a := connectNATS(t, url, agentEnv["EDGE_NATS_USER"], agentEnv["EDGE_NATS_PASSWORD"])
		a.denied(t, false, "$KV.edge_status.device.other-box")
		a.denied(t, false, "$KV.edge_config.fleet")
		a.denied(t, false, "$JS.API.STREAM.CREATE.KV_edge_config")
	})

	t.Run("agent stays on its own subjects", func(t *testing.T) {
		a := connectNATS(t, url, agentEnv["EDGE_NATS_USER"], agentEnv["EDGE_NATS_PASSWORD"])
		for _, subject := range []string{
			"edge.other-box.cam1.detections", "edge.other-box.cam1.objects", "edge.other-box.status",
			"edge." + device + ".cmd", "edge.other-box.cmd", "edge.fleet.cmd", // no commands, not even to itself
			"_INBOX.operator.x", // answers only through allow_responses
			"$JS.API.STREAM.CREATE.EDGE_other-box", "$JS.API.STREAM.PURGE." + stream,
			"$JS.API.STREAM.DELETE." + stream, "$JS.API.CONSUMER.CREATE." + stream,
		} {
			a.denied(t, false, subject)
		}
		for _, subject := range []string{"edge.other-box.cmd", "edge.>", "edge.*.*.detections"} {
			a.denied(t, true, subject)
		}
	})

	t.Run("operator cannot change the stream or forge events", func(t *testing.T) {
		for _, subject := range []string{
			"edge." + device + ".cam1.detections", "edge." + device + ".cam1.objects", "edge." + device + ".status",
			"$JS.API.STREAM.PURGE." + stream, "$JS.API.STREAM.DELETE." + stream,
			"$JS.API.STREAM.UPDATE." + stream, "$JS.API.STREAM.CREATE.EDGE_x",
			"$JS.API.STREAM.MSG.DELETE." + stream,
		} {
			operator.denied(t, false, subject)
		}
		for _, subject := range []string{"_INBOX.>", "_INBOX.reader.>"} {
			operator.denied(t, true, subject)
		}
	})

	t.Run("reader only reads", func(t *testing.T) {
		for _, subject := range []string{
			"edge." + device + ".cmd", "edge.fleet.cmd", "edge." + device + ".cam1.detections",
			"edge." + device + ".cam1.objects", "$JS.API.STREAM.PURGE." + stream, "$JS.API.STREAM.DELETE." + stream,
			"$JS.API.STREAM.UPDATE." + stream, "$JS.API.STREAM.MSG.DELETE." + stream,
			"$JS.API.CONSUMER.DELETE." + stream + ".c", "$JS.API.STREAM.NAMES",
		} {
			reader.denied(t, false, subject)
		}
		for _, subject := range []string{"edge." + device + ".cmd", "edge.fleet.cmd", "edge.>", "_INBOX.>", "_INBOX.operator.>"} {
			reader.denied(t, true, subject)
		}
	})

	t.Run("the stream is intact", func(t *testing.T) {
		js, err := jetstream.New(operator.nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if n := st.CachedInfo().State.Msgs; n != 2 {
			t.Errorf("the stream holds %d events, want the agent's 2", n)
		}
	})
}
