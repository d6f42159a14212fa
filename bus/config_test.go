package bus

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// problemsOf splits a joined Validate error into its lines.
func problemsOf(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestNATSConfigValidate(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "user.creds")
	if err := os.WriteFile(creds, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  NATSConfig
		want []string // every problem, in order
	}{
		{"embedded defaults", NATSConfig{Device: "d1", StateDir: dir}, nil},
		{"remote", NATSConfig{Device: "d1", URL: "nats://a:4222, tls://b:4222", CredsFile: creds}, nil},
		{"nothing", NATSConfig{}, []string{
			`EDGE_DEVICE_ID: "" must be 1-64 letters, digits, '-' or '_'`,
			"EDGE_STATE_DIR: required for the embedded NATS server's JetStream store",
		}},
		{"embedded with remote settings", NATSConfig{Device: "d1", StateDir: dir, Listen: "4222", User: "u",
			LeafRemotes: []string{"http://hub"}}, []string{
			`EDGE_NATS_LISTEN: "4222": want host:port: address 4222: missing port in address`,
			`EDGE_NATS_LEAF_REMOTES: "http://hub": scheme must be one of nats-leaf, nats, tls, ws, wss`,
			"EDGE_NATS_USER: only used with EDGE_NATS_URL (the embedded server listens on loopback without authentication)",
		}},
		{"reply prefixes", NATSConfig{Device: "d1", StateDir: dir, ReplyPrefixes: []string{"_INBOX_ops", "ops.replies.", "a.*", "b.>", "c..d", "", "edge.x", "a b"}}, []string{
			`EDGE_NATS_REPLY_PREFIXES: "a.*" is not a subject prefix: no wildcards ('*', '>') or whitespace`,
			`EDGE_NATS_REPLY_PREFIXES: "b.>" is not a subject prefix: no wildcards ('*', '>') or whitespace`,
			`EDGE_NATS_REPLY_PREFIXES: "c..d" is not a subject prefix: empty token`,
			`EDGE_NATS_REPLY_PREFIXES: "" is not a subject prefix: empty token`,
			`EDGE_NATS_REPLY_PREFIXES: "edge.x" is inside the agent's own subjects (edge.)`,
			`EDGE_NATS_REPLY_PREFIXES: "a b" is not a subject prefix: no wildcards ('*', '>') or whitespace`,
		}},
		{"listen port", NATSConfig{Device: "d1", StateDir: dir, Listen: "127.0.0.1:70000"}, []string{
			`EDGE_NATS_LISTEN: "127.0.0.1:70000": port must be 0-65535, or -1 for a free port`,
		}},
		{"remote problems", NATSConfig{Device: "d.1", URL: "http://x:1,nats://", CredsFile: creds, User: "u",
			TLSCert: filepath.Join(dir, "missing.pem"), Stream: "a.b", DuplicateWindow: time.Hour, StreamMaxAge: time.Minute,
			MaxInFlight: -1}, []string{
			`EDGE_DEVICE_ID: "d.1" must be 1-64 letters, digits, '-' or '_'`,
			`EDGE_NATS_URL: "http://x:1": scheme must be one of nats, tls, ws, wss`,
			`EDGE_NATS_URL: "nats://" has no host`,
			"EDGE_NATS_CREDS: set only one of EDGE_NATS_CREDS, EDGE_NATS_NKEY and EDGE_NATS_USER",
			"EDGE_NATS_TLS_CERT: stat " + filepath.Join(dir, "missing.pem") + ": no such file or directory",
			"EDGE_NATS_TLS_CERT: EDGE_NATS_TLS_CERT and EDGE_NATS_TLS_KEY go together",
			`EDGE_NATS_STREAM: "a.b" must be 1-255 characters without spaces, '.', '*', '>', '/' or '\'`,
			"EDGE_NATS_DUPLICATE_WINDOW: 1h0m0s must not be longer than EDGE_NATS_STREAM_MAX_AGE (1m0s)",
			"EDGE_NATS_MAX_IN_FLIGHT: must be at least 1, got -1",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := problemsOf(tc.cfg.Validate()); !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}

func TestMQTTConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  MQTTConfig
		want []string
	}{
		{"defaults", MQTTConfig{Device: "d1", URL: "tcp://127.0.0.1:1883"}, nil},
		{"all schemes", MQTTConfig{Device: "d1", URL: "wss://broker:443/mqtt", QoS: QoS0, Cameras: []string{"c1", "c2"}}, nil},
		{"nothing", MQTTConfig{}, []string{
			`EDGE_DEVICE_ID: "" must be 1-64 letters, digits, '-' or '_'`,
			"EDGE_MQTT_URL: required: tcp://, ssl://, ws:// or wss://host:port",
		}},
		{"problems", MQTTConfig{Device: "d1", URL: "http://b:1883", Cameras: []string{"front door"}, Password: "p",
			TopicPrefix: "a/#", QoS: 7, DiscoveryPrefix: "/ha", DiscoveryLabels: []string{" "},
			KeepAlive: time.Millisecond, MaxPendingBytes: 10}, []string{
			`EDGE_CAMERA_NAME: "front door" must be 1-64 letters, digits, '-' or '_'`,
			`EDGE_MQTT_URL: "http://b:1883": scheme must be one of tcp, mqtt, ssl, tls, mqtts, ws, wss`,
			"EDGE_MQTT_USER: required with EDGE_MQTT_PASSWORD",
			`EDGE_MQTT_PREFIX: "a/#" must not contain '+', '#' or NUL`,
			"EDGE_MQTT_QOS: must be 0, 1 or 2",
			`EDGE_HA_PREFIX: "/ha" must not have empty levels`,
			"EDGE_HA_LABELS: contains an empty label",
			"EDGE_MQTT_MAX_PENDING_BYTES: must be at least 65536, got 10",
			"EDGE_MQTT_KEEPALIVE: must be at least 1s, got 1ms",
		}},
		{"discovery off skips its settings", MQTTConfig{Device: "d1", URL: "tcp://b:1", DisableDiscovery: true, DiscoveryPrefix: "#"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := problemsOf(tc.cfg.Validate()); !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n got: %q\nwant: %q", got, tc.want)
			}
		})
	}
}

func TestQoS(t *testing.T) {
	for in, want := range map[string]byte{"0": 0, "1": 1, "2": 2, "": 1} {
		var q QoS
		if err := q.UnmarshalText([]byte(in)); err != nil || q.Level() != want {
			t.Errorf("QoS %q = %v (%v), want %d", in, q.Level(), err, want)
		}
	}
	var q QoS
	if q.Level() != 1 || q.String() != "1" {
		t.Errorf("zero QoS = %d, want the default 1", q.Level())
	}
	if err := q.UnmarshalText([]byte("3")); err == nil {
		t.Error("QoS 3 accepted")
	}
}

func TestRedactURL(t *testing.T) {
	if got := redactURL("tcp://user:secret@b:1883"); strings.Contains(got, "secret") {
		t.Errorf("redactURL kept the password: %s", got)
	}
}
