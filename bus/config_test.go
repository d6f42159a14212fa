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
			"EDGE_NATS_USER: only used with EDGE_NATS_URL: the agent logs in to its embedded server by itself; the server's users are in EDGE_NATS_SERVER_USERS",
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

// The embedded server's security settings: a listener beyond loopback
// needs users, password users beyond loopback need TLS, files must exist
// and parse, and the client's own settings stay refused.
func TestNATSConfigValidateServerSecurity(t *testing.T) {
	dir := t.TempDir()
	pki := writePKI(t, dir)
	opHash := bcryptHash(t, "op-secret-pw")
	readerKey, _ := newUserNKey(t, dir)
	passwordUsers := writeFile(t, dir, "pw-users.yaml", "users:\n  - {name: ops, role: operator, password_bcrypt: '"+opHash+"'}\n")
	nkeyUsers := writeFile(t, dir, "nkey-users.yaml", "users:\n  - {name: viewer, role: reader, nkey: "+readerKey+"}\n")
	plain := writeFile(t, dir, "plain.yaml", "users:\n  - {name: ops, role: operator, password: Hunter2Plain}\n")
	creds := writeCreds(t, dir)
	notPEM := writeFile(t, dir, "not.pem", "not a certificate")
	missing := filepath.Join(dir, "missing.pem")
	base := func(mutate func(*NATSConfig)) NATSConfig {
		c := NATSConfig{Device: "d1", StateDir: dir}
		mutate(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  NATSConfig
		want []string // every problem, in order
	}{
		{"loopback without users", base(func(c *NATSConfig) { c.Listen = "127.0.0.1:4222" }), nil},
		{"::1 is loopback", base(func(c *NATSConfig) { c.Listen = "[::1]:-1" }), nil},
		{"localhost is loopback", base(func(c *NATSConfig) { c.Listen = "localhost:4222" }), nil},
		{"a host name is not", base(func(c *NATSConfig) { c.Listen = "edge-box.local:4222" }), []string{
			`EDGE_NATS_LISTEN: "edge-box.local:4222" is not a loopback address: anyone who reaches it could read the events and send commands; set EDGE_NATS_SERVER_USERS (and EDGE_NATS_SERVER_TLS_CERT and EDGE_NATS_SERVER_TLS_KEY), or listen on 127.0.0.1`,
		}},
		{"LAN without users", base(func(c *NATSConfig) { c.Listen = "0.0.0.0:4222" }), []string{
			`EDGE_NATS_LISTEN: "0.0.0.0:4222" is not a loopback address: anyone who reaches it could read the events and send commands; set EDGE_NATS_SERVER_USERS (and EDGE_NATS_SERVER_TLS_CERT and EDGE_NATS_SERVER_TLS_KEY), or listen on 127.0.0.1`,
		}},
		{"LAN, password users, no TLS", base(func(c *NATSConfig) { c.Listen, c.ServerUsers = "192.168.1.20:4222", passwordUsers }), []string{
			`EDGE_NATS_SERVER_TLS_CERT: required: EDGE_NATS_LISTEN "192.168.1.20:4222" is not a loopback address and 1 users of EDGE_NATS_SERVER_USERS log in with a password, which would cross the network in clear; set EDGE_NATS_SERVER_TLS_CERT and EDGE_NATS_SERVER_TLS_KEY, or give those users nkeys`,
		}},
		// nkeys send no secret: allowed, with a warning at start.
		{"LAN, nkey users, no TLS", base(func(c *NATSConfig) { c.Listen, c.ServerUsers = "0.0.0.0:4222", nkeyUsers }), nil},
		{"LAN, password users, TLS, client CA", base(func(c *NATSConfig) {
			c.Listen, c.ServerUsers = "0.0.0.0:4222", passwordUsers
			c.ServerTLSCert, c.ServerTLSKey, c.ServerTLSCA = pki.serverCert, pki.serverKey, pki.ca
		}), nil},
		{"plain-text password", base(func(c *NATSConfig) { c.ServerUsers = plain }), []string{
			"EDGE_NATS_SERVER_USERS: " + plain + `: user "ops": plain-text password refused: put a bcrypt hash in password_bcrypt (nats server passwd, or htpasswd -nbBC 11 '' PASSWORD | cut -d: -f2)`,
		}},
		{"TLS halves and files", base(func(c *NATSConfig) { c.ServerTLSCert, c.ServerTLSCA = pki.serverCert, missing }), []string{
			"EDGE_NATS_SERVER_TLS_CA: stat " + missing + ": no such file or directory",
			"EDGE_NATS_SERVER_TLS_CERT: EDGE_NATS_SERVER_TLS_CERT and EDGE_NATS_SERVER_TLS_KEY go together",
		}},
		{"CA without certificate", base(func(c *NATSConfig) { c.ServerTLSCA = pki.ca }), []string{
			"EDGE_NATS_SERVER_TLS_CA: needs EDGE_NATS_SERVER_TLS_CERT and EDGE_NATS_SERVER_TLS_KEY",
		}},
		{"certificate not PEM", base(func(c *NATSConfig) { c.ServerTLSCert, c.ServerTLSKey = notPEM, pki.serverKey }), []string{
			"EDGE_NATS_SERVER_TLS_CERT: tls: failed to find any PEM data in certificate input",
		}},
		{"CA not PEM", base(func(c *NATSConfig) {
			c.ServerTLSCert, c.ServerTLSKey, c.ServerTLSCA = pki.serverCert, pki.serverKey, notPEM
		}), []string{
			"EDGE_NATS_SERVER_TLS_CA: " + notPEM + " holds no PEM certificate",
		}},
		{"leaf settings without remotes", base(func(c *NATSConfig) { c.LeafCreds, c.LeafTLSCA = creds, pki.ca }), []string{
			"EDGE_NATS_LEAF_CREDS: only used with EDGE_NATS_LEAF_REMOTES",
			"EDGE_NATS_LEAF_TLS_CA: only used with EDGE_NATS_LEAF_REMOTES",
		}},
		{"leaf credentials and TLS", base(func(c *NATSConfig) {
			c.LeafRemotes = []string{"tls://hub:7422"}
			c.LeafCreds, c.LeafTLSCA, c.LeafTLSCert, c.LeafTLSKey = creds, pki.ca, pki.clientCert, pki.clientKey
		}), nil},
		{"leaf files", base(func(c *NATSConfig) {
			c.LeafRemotes = []string{"nats-leaf://hub:7422"}
			c.LeafCreds, c.LeafTLSCert = missing, pki.clientCert
		}), []string{
			"EDGE_NATS_LEAF_CREDS: stat " + missing + ": no such file or directory",
			"EDGE_NATS_LEAF_TLS_CERT: EDGE_NATS_LEAF_TLS_CERT and EDGE_NATS_LEAF_TLS_KEY go together",
		}},
		{"leaf credentials not a creds file", base(func(c *NATSConfig) {
			c.LeafRemotes, c.LeafCreds = []string{"nats-leaf://hub:7422"}, notPEM
		}), []string{
			"EDGE_NATS_LEAF_CREDS: " + notPEM + ": no user nkey seed: nkeys: no nkey seed found",
		}},
		{"store smaller than the stream", base(func(c *NATSConfig) { c.MaxStore, c.StreamMaxBytes = 2<<20, 4<<20 }), []string{
			"EDGE_NATS_MAX_STORE: 2097152 must be at least EDGE_NATS_STREAM_MAX_BYTES (4194304)",
		}},
		{"sync out of range", base(func(c *NATSConfig) { c.Sync = -5 }), []string{
			"EDGE_NATS_SYNC: must be always or a positive duration, got -5ns",
		}},
		{"server settings with a URL", NATSConfig{Device: "d1", URL: "nats://a:4222", ServerUsers: nkeyUsers,
			ServerTLSCert: pki.serverCert, LeafCreds: creds}, []string{
			"EDGE_NATS_SERVER_USERS: only used by the embedded server (EDGE_NATS_URL empty)",
			"EDGE_NATS_SERVER_TLS_CERT: only used by the embedded server (EDGE_NATS_URL empty)",
			"EDGE_NATS_LEAF_CREDS: only used by the embedded server (EDGE_NATS_URL empty)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if got := problemsOf(err); !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n got: %q\nwant: %q", got, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), "Hunter2Plain") || strings.Contains(err.Error(), opHash)) {
				t.Errorf("a secret in %v", err)
			}
		})
	}
}

func TestSyncPolicy(t *testing.T) {
	for _, tc := range []struct {
		in       string
		want     SyncPolicy
		interval time.Duration
		str      string
	}{
		{"always", SyncAlways, 0, "always"},
		{"", DefaultSync, DefaultSync.Interval(), DefaultSync.String()},
		{"1s", SyncPolicy(time.Second), time.Second, "1s"},
		{"2m", SyncPolicy(2 * time.Minute), 2 * time.Minute, "2m0s"},
	} {
		var s SyncPolicy
		if err := s.UnmarshalText([]byte(tc.in)); err != nil || s != tc.want || s.Interval() != tc.interval || s.String() != tc.str {
			t.Errorf("%q: %v (%v), interval %s, %q; want %v, %s, %q", tc.in, s, err, s.Interval(), s.String(), tc.want, tc.interval, tc.str)
		}
	}
	for _, bad := range []string{"0", "-1s", "1", "sometimes", "Always"} {
		var s SyncPolicy
		if err := s.UnmarshalText([]byte(bad)); err == nil || !strings.Contains(err.Error(), "must be always or a positive duration") {
			t.Errorf("%q: %v, want refused", bad, err)
		}
	}
}

// SyncHold is what the agent keeps an acknowledged event for: the embedded
// server's sync interval; 0 when it fsyncs before acknowledging, and 0 for
// an external server.
func TestSyncHold(t *testing.T) {
	for _, tc := range []struct {
		cfg  NATSConfig
		want time.Duration
	}{
		{NATSConfig{Sync: SyncAlways}, 0},
		{NATSConfig{Sync: SyncPolicy(time.Second)}, time.Second},
		{NATSConfig{}, DefaultSync.Interval()},
		{NATSConfig{URL: "nats://a:4222", Sync: SyncPolicy(time.Second)}, 0},
	} {
		if got := tc.cfg.SyncHold(); got != tc.want {
			t.Errorf("%+v: SyncHold %s, want %s", tc.cfg, got, tc.want)
		}
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
