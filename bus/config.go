package bus

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"edge-agent/internal/redact"
)

// NATSConfig configures the NATS client. The zero value of every field
// means its default. The struct tags give the environment variable (after
// the EDGE_NATS_ prefix) and the default for a loader such as envconfig;
// the fields tagged ignored are set by the agent from shared settings.
type NATSConfig struct {
	Device   string   `ignored:"true"` // EDGE_DEVICE_ID: required
	StateDir string   `ignored:"true"` // EDGE_STATE_DIR: JetStream store and outbox journal
	Overflow Overflow `ignored:"true"` // EDGE_OUTBOX_OVERFLOW: which events a full outbox drops

	URL         string   `envconfig:"URL" desc:"NATS server or cluster, comma-separated nats:// or tls:// URLs; empty runs an embedded server; none turns NATS off"`
	Listen      string   `envconfig:"LISTEN" default:"127.0.0.1:4222" desc:"embedded server: client listen address (port -1 picks a free port); an address other than loopback needs EDGE_NATS_SERVER_USERS"`
	LeafRemotes []string `envconfig:"LEAF_REMOTES" desc:"embedded server: the leaf-node URLs of the nodes of one hub cluster (nats-leaf:// or tls://, comma-separated); the server keeps one leaf link, to one of them at a time"`
	Domain      string   `envconfig:"DOMAIN" desc:"embedded server: its JetStream domain (default edge-<device>), which keeps the device's stream apart from the hub's across the leaf link"`

	// The embedded server's own security: who may connect to it, and over
	// what (the agent itself connects in-process, as its own user).
	ServerUsers   string `envconfig:"SERVER_USERS" desc:"embedded server: users file (YAML or JSON: name, role operator or reader, password_bcrypt or nkey); set, every client must log in as one of them and take answers on its own inbox prefix _INBOX.<name>"`
	ServerTLSCert string `envconfig:"SERVER_TLS_CERT" desc:"embedded server: certificate file; with EDGE_NATS_SERVER_TLS_KEY, clients must connect with TLS (tls://)"`
	ServerTLSKey  string `envconfig:"SERVER_TLS_KEY" desc:"embedded server: key file of EDGE_NATS_SERVER_TLS_CERT"`
	ServerTLSCA   string `envconfig:"SERVER_TLS_CA" desc:"embedded server: CA certificate file; set, clients must also present a certificate it signed (mutual TLS)"`

	// The embedded server's leaf-node connections to EDGE_NATS_LEAF_REMOTES.
	LeafCreds   string `envconfig:"LEAF_CREDS" desc:"embedded server: credentials file (JWT and nkey seed) to log in to the hubs of EDGE_NATS_LEAF_REMOTES"`
	LeafTLSCA   string `envconfig:"LEAF_TLS_CA" desc:"embedded server: CA certificate file to verify the hubs (TLS to every hub when a leaf TLS file is set)"`
	LeafTLSCert string `envconfig:"LEAF_TLS_CERT" desc:"embedded server: client certificate file for the hubs"`
	LeafTLSKey  string `envconfig:"LEAF_TLS_KEY" desc:"embedded server: client key file for the hubs"`

	// The embedded server's JetStream store.
	MaxStore int64      `envconfig:"MAX_STORE" default:"1073741824" desc:"embedded server: bytes JetStream may keep on disk; at least EDGE_NATS_STREAM_MAX_BYTES"`
	Sync     SyncPolicy `envconfig:"SYNC" default:"1s" desc:"embedded server: when JetStream fsyncs its store: an interval (the agent keeps each acknowledged event in its own journal until JetStream has synced it) or always (each event before acknowledging it: slower, and about 5 times the disk writes)"`

	CredsFile string `envconfig:"CREDS" desc:"credentials file (JWT and nkey seed)"`
	NKeyFile  string `envconfig:"NKEY" desc:"nkey seed file"`
	User      string `envconfig:"USER" desc:"user name"`
	Password  string `envconfig:"PASSWORD" desc:"password"`
	TLSCA     string `envconfig:"TLS_CA" desc:"CA certificate file to verify the server"`
	TLSCert   string `envconfig:"TLS_CERT" desc:"client certificate file"`
	TLSKey    string `envconfig:"TLS_KEY" desc:"client key file"`

	Stream          string        `envconfig:"STREAM" desc:"JetStream stream of the events (default EDGE_<device>)"`
	StreamMaxAge    time.Duration `envconfig:"STREAM_MAX_AGE" default:"168h" desc:"events older than this leave the stream"`
	StreamMaxBytes  int64         `envconfig:"STREAM_MAX_BYTES" default:"268435456" desc:"the stream keeps at most this many bytes, dropping the oldest"`
	DuplicateWindow time.Duration `envconfig:"DUPLICATE_WINDOW" default:"10m" desc:"how long the stream remembers event ids to drop a resent event"`

	// The fleet (bus/fleet.go), set by the agent from EDGE_FLEET_*.
	FleetDomain string `ignored:"true"` // EDGE_FLEET_DOMAIN: the hub's JetStream domain, where the fleet's buckets are when the embedded server is a leaf node (default hub); unused with EDGE_NATS_URL, whose server holds them
	Fleet       bool   `ignored:"true"` // EDGE_FLEET: read the desired state from edge_config and write the status into edge_status (FleetActive)

	// The snapshot bucket (bus/snapshot.go), set by the agent.
	SnapshotTTL      time.Duration `ignored:"true"` // EDGE_SNAPSHOT_TTL: how long the bucket keeps a snapshot (default 24h, 1m to 720h)
	SnapshotMaxBytes int64         `ignored:"true"` // EDGE_SNAPSHOT_MAX_BYTES: the bucket's size; full, the oldest snapshots go (default 256 MiB, at least 1 MiB)

	MaxPending      int           `envconfig:"MAX_PENDING" default:"20000" desc:"events held while the server is unreachable; more are dropped and counted"`
	MaxPendingBytes int64         `envconfig:"MAX_PENDING_BYTES" default:"67108864" desc:"bytes of events held while the server is unreachable"`
	MaxInFlight     int           `envconfig:"MAX_IN_FLIGHT" default:"64" desc:"events sent and not yet acknowledged"`
	AckTimeout      time.Duration `envconfig:"ACK_TIMEOUT" default:"5s" desc:"how long to wait for JetStream to acknowledge an event before sending it again"`
	ReconnectWait   time.Duration `envconfig:"RECONNECT_WAIT" default:"1s" desc:"pause between reconnection attempts"`
	DrainTimeout    time.Duration `envconfig:"DRAIN_TIMEOUT" default:"5s" desc:"on stop, how long to keep sending what is pending"`

	ReplyPrefixes []string `envconfig:"REPLY_PREFIXES" desc:"subject prefixes, besides _INBOX., that command replies may go to (such as _INBOX_ops for nats.CustomInboxPrefix); a request with any other reply subject is dropped and counted"`
}

// Defaults of NATSConfig, applied to zero fields.
const (
	DefaultNATSListen      = "127.0.0.1:4222"
	DefaultStreamMaxAge    = 7 * 24 * time.Hour
	DefaultStreamMaxBytes  = 256 << 20
	DefaultDuplicateWindow = 10 * time.Minute
	DefaultMaxPending      = 20000
	DefaultMaxPendingBytes = 64 << 20
	DefaultAckTimeout      = 5 * time.Second
	DefaultDrainTimeout    = 5 * time.Second
	DefaultMaxStore        = 1 << 30
	// DefaultSync is chosen from BenchmarkEmbeddedJetStreamSync (see
	// docs/events.md): always held the acknowledgement's p99 at 80-230 ms
	// for 4-16 cameras (the fsync is in every event's path, one at a
	// time) and wrote 4.7 times the bytes; 1s kept it at 2.5 ms.
	DefaultSync = SyncPolicy(time.Second)
)

// SyncPolicy says when the embedded server's JetStream fsyncs its file
// store: SyncAlways, or every so often (a positive interval, in the
// background). The zero value means the default, DefaultSync.
type SyncPolicy time.Duration

// SyncAlways fsyncs every event before JetStream acknowledges it.
const SyncAlways SyncPolicy = -1

// Interval is the time between fsyncs, 0 for SyncAlways.
func (s SyncPolicy) Interval() time.Duration {
	if s < 0 {
		return 0
	}
	return time.Duration(s)
}

// String returns the setting's spelling: always, or the interval.
func (s SyncPolicy) String() string {
	if s == SyncAlways {
		return "always"
	}
	return time.Duration(s).String()
}

// UnmarshalText reads "always" or a positive duration such as "1s" (""
// is the default).
func (s *SyncPolicy) UnmarshalText(b []byte) error {
	switch text := string(b); text {
	case "always":
		*s = SyncAlways
	case "":
		*s = DefaultSync
	default:
		d, err := time.ParseDuration(text)
		if err != nil || d <= 0 {
			return fmt.Errorf("must be always or a positive duration such as 1s, got %q", b)
		}
		*s = SyncPolicy(d)
	}
	return nil
}

// Embedded says whether the client runs its own server (no URL set).
func (c NATSConfig) Embedded() bool { return c.URL == "" }

func (c NATSConfig) withDefaults() NATSConfig {
	setDefault(&c.Listen, DefaultNATSListen)
	setDefault(&c.Stream, StreamName(c.Device))
	setDefault(&c.Overflow, DropOldest)
	setDefault(&c.StreamMaxAge, DefaultStreamMaxAge)
	setDefault(&c.StreamMaxBytes, DefaultStreamMaxBytes)
	setDefault(&c.DuplicateWindow, DefaultDuplicateWindow)
	setDefault(&c.MaxPending, DefaultMaxPending)
	setDefault(&c.MaxPendingBytes, DefaultMaxPendingBytes)
	setDefault(&c.MaxInFlight, 64)
	setDefault(&c.AckTimeout, DefaultAckTimeout)
	setDefault(&c.ReconnectWait, time.Second)
	setDefault(&c.DrainTimeout, DefaultDrainTimeout)
	setDefault(&c.MaxStore, DefaultMaxStore)
	setDefault(&c.Sync, DefaultSync)
	setDefault(&c.SnapshotTTL, DefaultSnapshotTTL)
	setDefault(&c.SnapshotMaxBytes, DefaultSnapshotMaxBytes)
	setDefault(&c.Domain, DefaultDomain(c.Device))
	setDefault(&c.FleetDomain, DefaultFleetDomain)
	return c
}

// FleetActive says whether the client reads the fleet's desired state and
// writes its status (bus/fleet.go): Fleet is set and there is a server
// beyond the device to hold the buckets, EDGE_NATS_URL's or a hub of
// EDGE_NATS_LEAF_REMOTES. A standalone embedded server has no fleet.
func (c NATSConfig) FleetActive() bool {
	return c.Fleet && (!c.Embedded() || len(c.LeafRemotes) > 0)
}

// fleetDomain is the JetStream domain of the fleet's buckets: the hub's
// (FleetDomain, default hub) through the embedded server's leaf link, or
// none, the server's own, with EDGE_NATS_URL.
func (c NATSConfig) fleetDomain() string {
	if !c.Embedded() {
		return ""
	}
	if c.FleetDomain == "" {
		return DefaultFleetDomain
	}
	return c.FleetDomain
}

// SyncHold is how long an event JetStream acknowledged may still be only
// in the embedded server's memory, not yet fsynced to its store: the sync
// interval. It is 0 with EDGE_NATS_SYNC=always (the store is fsynced
// before the acknowledgement) and 0 with EDGE_NATS_URL set (an external
// server's policy is its operator's: nats-server's default is 2 minutes).
func (c NATSConfig) SyncHold() time.Duration {
	if !c.Embedded() {
		return 0
	}
	return c.withDefaults().Sync.Interval()
}

// Validate checks the configuration (with defaults applied to zero
// fields) and returns every problem at once, each naming its variable.
func (c NATSConfig) Validate() error {
	c = c.withDefaults()
	var p problems
	const pre = "EDGE_NATS_"
	if !ValidToken(c.Device) {
		p.add("EDGE_DEVICE_ID", "%q must be 1-64 letters, digits, '-' or '_'", c.Device)
	}
	if c.Embedded() {
		if c.StateDir == "" {
			p.add("EDGE_STATE_DIR", "required for the embedded NATS server's JetStream store")
		}
		if err := checkListen(c.Listen); err != nil {
			p.add(pre+"LISTEN", "%v", err)
		}
		c.checkServerSecurity(&p)
		for _, r := range c.LeafRemotes {
			if err := checkURL(r, "nats-leaf", "nats", "tls", "ws", "wss"); err != nil {
				p.add(pre+"LEAF_REMOTES", "%v", err)
			}
		}
		c.checkLeafSecurity(&p)
		for _, kv := range [][2]string{{"CREDS", c.CredsFile}, {"NKEY", c.NKeyFile}, {"USER", c.User},
			{"PASSWORD", c.Password}, {"TLS_CA", c.TLSCA}, {"TLS_CERT", c.TLSCert}, {"TLS_KEY", c.TLSKey}} {
			if kv[1] != "" {
				p.add(pre+kv[0], "only used with EDGE_NATS_URL: the agent logs in to its embedded server by itself; the server's users are in EDGE_NATS_SERVER_USERS")
			}
		}
		if c.Sync < 0 && c.Sync != SyncAlways {
			p.add(pre+"SYNC", "must be always or a positive duration, got %s", time.Duration(c.Sync))
		}
		if c.MaxStore < c.StreamMaxBytes {
			p.add(pre+"MAX_STORE", "%d must be at least EDGE_NATS_STREAM_MAX_BYTES (%d)", c.MaxStore, c.StreamMaxBytes)
		}
		c.checkDomains(&p)
	} else {
		for _, u := range strings.Split(c.URL, ",") {
			if err := checkURL(strings.TrimSpace(u), "nats", "tls", "ws", "wss"); err != nil {
				p.add(pre+"URL", "%v", err)
			}
		}
		for _, kv := range [][2]string{{"LEAF_REMOTES", strings.Join(c.LeafRemotes, ",")},
			{"SERVER_USERS", c.ServerUsers}, {"SERVER_TLS_CERT", c.ServerTLSCert}, {"SERVER_TLS_KEY", c.ServerTLSKey},
			{"SERVER_TLS_CA", c.ServerTLSCA}, {"LEAF_CREDS", c.LeafCreds}, {"LEAF_TLS_CA", c.LeafTLSCA},
			{"LEAF_TLS_CERT", c.LeafTLSCert}, {"LEAF_TLS_KEY", c.LeafTLSKey}} {
			if kv[1] != "" {
				p.add(pre+kv[0], "only used by the embedded server (EDGE_NATS_URL empty)")
			}
		}
		auth := 0
		for _, set := range []bool{c.CredsFile != "", c.NKeyFile != "", c.User != ""} {
			if set {
				auth++
			}
		}
		if auth > 1 {
			p.add(pre+"CREDS", "set only one of EDGE_NATS_CREDS, EDGE_NATS_NKEY and EDGE_NATS_USER")
		}
		if c.Password != "" && c.User == "" {
			p.add(pre+"USER", "required with EDGE_NATS_PASSWORD")
		}
		checkFiles(&p, pre, [][2]string{{"CREDS", c.CredsFile}, {"NKEY", c.NKeyFile},
			{"TLS_CA", c.TLSCA}, {"TLS_CERT", c.TLSCert}, {"TLS_KEY", c.TLSKey}})
		if (c.TLSCert == "") != (c.TLSKey == "") {
			p.add(pre+"TLS_CERT", "EDGE_NATS_TLS_CERT and EDGE_NATS_TLS_KEY go together")
		}
	}
	if !validStreamName(c.Stream) {
		p.add(pre+"STREAM", "%q must be 1-255 characters without spaces, '.', '*', '>', '/' or '\\'", c.Stream)
	}
	positive(&p, pre+"STREAM_MAX_AGE", c.StreamMaxAge)
	positive(&p, pre+"DUPLICATE_WINDOW", c.DuplicateWindow)
	if c.StreamMaxAge > 0 && c.DuplicateWindow > c.StreamMaxAge {
		p.add(pre+"DUPLICATE_WINDOW", "%s must not be longer than EDGE_NATS_STREAM_MAX_AGE (%s)", c.DuplicateWindow, c.StreamMaxAge)
	}
	if hold := 2 * c.SyncHold(); hold >= c.DuplicateWindow {
		p.add(pre+"SYNC", "%s: the agent keeps acknowledged events for twice this long to resend them after a power loss, which must stay under EDGE_NATS_DUPLICATE_WINDOW (%s)", time.Duration(c.Sync), c.DuplicateWindow)
	}
	if c.StreamMaxBytes < 1<<20 {
		p.add(pre+"STREAM_MAX_BYTES", "must be at least 1048576, got %d", c.StreamMaxBytes)
	}
	checkOutbox(&p, pre, c.MaxPending, c.MaxPendingBytes, c.MaxInFlight)
	for _, rp := range c.ReplyPrefixes {
		if err := checkReplyPrefix(rp); err != nil {
			p.add(pre+"REPLY_PREFIXES", "%v", err)
		}
	}
	positive(&p, pre+"ACK_TIMEOUT", c.AckTimeout)
	positive(&p, pre+"RECONNECT_WAIT", c.ReconnectWait)
	positive(&p, pre+"DRAIN_TIMEOUT", c.DrainTimeout)
	c.checkSnapshotConfig(&p)
	return p.err()
}

// checkServerSecurity checks the embedded server's users file and TLS
// files, and that a listener other than loopback makes clients log in (and
// sends no password in clear).
func (c NATSConfig) checkServerSecurity(p *problems) {
	const pre = "EDGE_NATS_"
	var users []serverUser
	if c.ServerUsers != "" {
		var err error
		if users, err = loadServerUsers(c.ServerUsers); err != nil {
			p.add(pre+"SERVER_USERS", "%v", err)
		}
	}
	tlsOn := c.ServerTLSCert != "" || c.ServerTLSKey != ""
	before := len(*p)
	checkFiles(p, pre, [][2]string{{"SERVER_TLS_CERT", c.ServerTLSCert}, {"SERVER_TLS_KEY", c.ServerTLSKey}, {"SERVER_TLS_CA", c.ServerTLSCA}})
	switch {
	case (c.ServerTLSCert == "") != (c.ServerTLSKey == ""):
		p.add(pre+"SERVER_TLS_CERT", "EDGE_NATS_SERVER_TLS_CERT and EDGE_NATS_SERVER_TLS_KEY go together")
	case c.ServerTLSCA != "" && !tlsOn:
		p.add(pre+"SERVER_TLS_CA", "needs EDGE_NATS_SERVER_TLS_CERT and EDGE_NATS_SERVER_TLS_KEY")
	case tlsOn && len(*p) == before:
		if _, err := c.serverTLS(); err != nil {
			*p = append(*p, err)
		}
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil || isLoopback(host) {
		return
	}
	passwords := 0
	for _, u := range users {
		if u.passwordHash != "" {
			passwords++
		}
	}
	switch {
	case c.ServerUsers == "":
		p.add(pre+"LISTEN", "%q is not a loopback address: anyone who reaches it could read the events and send commands; set EDGE_NATS_SERVER_USERS (and EDGE_NATS_SERVER_TLS_CERT and EDGE_NATS_SERVER_TLS_KEY), or listen on 127.0.0.1", c.Listen)
	case passwords > 0 && !tlsOn:
		p.add(pre+"SERVER_TLS_CERT", "required: EDGE_NATS_LISTEN %q is not a loopback address and %d users of EDGE_NATS_SERVER_USERS log in with a password, which would cross the network in clear; set EDGE_NATS_SERVER_TLS_CERT and EDGE_NATS_SERVER_TLS_KEY, or give those users nkeys", c.Listen, passwords)
	}
}

// checkDomains checks the JetStream domains of the embedded server and of
// the hub: NATS tokens (the default edge-<device> of a valid device always
// is one, whatever its length), and different from each other when the
// server is a leaf node (the same domain at both ends would extend the
// hub's JetStream instead of linking two).
func (c NATSConfig) checkDomains(p *problems) {
	if c.Domain != DefaultDomain(c.Device) && !ValidToken(c.Domain) {
		p.add("EDGE_NATS_DOMAIN", "%q must be 1-64 letters, digits, '-' or '_'", c.Domain)
	}
	if !ValidToken(c.FleetDomain) {
		p.add("EDGE_FLEET_DOMAIN", "%q must be 1-64 letters, digits, '-' or '_'", c.FleetDomain)
	}
	if len(c.LeafRemotes) > 0 && c.Domain == c.FleetDomain {
		p.add("EDGE_NATS_DOMAIN", "%q is also EDGE_FLEET_DOMAIN: the device's JetStream domain must differ from the hub's", c.Domain)
	}
}

// checkLeafSecurity checks the credentials and TLS files of the leaf-node
// connections.
func (c NATSConfig) checkLeafSecurity(p *problems) {
	const pre = "EDGE_NATS_"
	files := [][2]string{{"LEAF_CREDS", c.LeafCreds}, {"LEAF_TLS_CA", c.LeafTLSCA}, {"LEAF_TLS_CERT", c.LeafTLSCert}, {"LEAF_TLS_KEY", c.LeafTLSKey}}
	if len(c.LeafRemotes) == 0 {
		for _, kv := range files {
			if kv[1] != "" {
				p.add(pre+kv[0], "only used with EDGE_NATS_LEAF_REMOTES")
			}
		}
		return
	}
	before := len(*p)
	checkFiles(p, pre, files)
	if (c.LeafTLSCert == "") != (c.LeafTLSKey == "") {
		p.add(pre+"LEAF_TLS_CERT", "EDGE_NATS_LEAF_TLS_CERT and EDGE_NATS_LEAF_TLS_KEY go together")
	}
	if len(*p) != before {
		return
	}
	if c.LeafCreds != "" {
		if err := checkCreds(c.LeafCreds); err != nil {
			p.add(pre+"LEAF_CREDS", "%v", err)
		}
	}
	if _, err := c.leafTLS(); err != nil {
		*p = append(*p, err)
	}
}

// isLoopback says whether a listen host only accepts connections from the
// machine itself: localhost or a loopback address (127.0.0.0/8, ::1).
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// QoS is an MQTT quality of service. The zero value means the default, at
// least once (1); QoS0, QoS1 and QoS2 name the levels.
type QoS uint8

// The QoS values.
const (
	QoSDefault QoS = iota
	QoS0
	QoS1
	QoS2
)

// Level is the MQTT QoS level, 0 to 2.
func (q QoS) Level() byte {
	if q == QoSDefault {
		return 1
	}
	return byte(q - 1)
}

// String returns the level as a digit.
func (q QoS) String() string { return strconv.Itoa(int(q.Level())) }

// UnmarshalText reads "0", "1" or "2".
func (q *QoS) UnmarshalText(b []byte) error {
	switch string(b) {
	case "0":
		*q = QoS0
	case "1", "":
		*q = QoS1
	case "2":
		*q = QoS2
	default:
		return fmt.Errorf("must be 0, 1 or 2, got %q", b)
	}
	return nil
}

// MQTTConfig configures the MQTT client. The zero value of every field
// means its default; tags as for NATSConfig, after the EDGE_MQTT_ prefix.
type MQTTConfig struct {
	Device   string   `ignored:"true"` // EDGE_DEVICE_ID: required
	StateDir string   `ignored:"true"` // EDGE_STATE_DIR: paho's store and the outbox journal; empty keeps them in memory
	Cameras  []string `ignored:"true"` // the cameras at start (MQTT.SetCameras changes the set): each a Home Assistant device
	Version  string   `ignored:"true"` // agent version, shown by Home Assistant
	Overflow Overflow `ignored:"true"` // EDGE_OUTBOX_OVERFLOW: which events a full outbox drops

	URL         string `envconfig:"URL" desc:"MQTT broker, tcp://, ssl://, ws:// or wss://host:port; empty turns MQTT off"`
	ClientID    string `envconfig:"CLIENT_ID" desc:"MQTT client id (default edge-agent-<device>)"`
	User        string `envconfig:"USER" desc:"user name"`
	Password    string `envconfig:"PASSWORD" desc:"password"`
	TLSCA       string `envconfig:"TLS_CA" desc:"CA certificate file to verify the broker"`
	TLSCert     string `envconfig:"TLS_CERT" desc:"client certificate file"`
	TLSKey      string `envconfig:"TLS_KEY" desc:"client key file"`
	TLSInsecure bool   `envconfig:"TLS_INSECURE_SKIP_VERIFY" desc:"accept any broker certificate (testing only)"`

	TopicPrefix string `envconfig:"PREFIX" default:"edge-agent" desc:"topics are <prefix>/<device>/..."`
	QoS         QoS    `envconfig:"QOS" default:"1" desc:"QoS of the detection events: 0, 1 or 2 (object events always go at 1)"`

	// SnapshotMaxPacket is set by the agent from EDGE_SNAPSHOT_MAX_PACKET:
	// the largest MQTT packet a snapshot is published in (bytes, JPEG and
	// topic; default 1 MiB); a bigger snapshot is refused and counted.
	SnapshotMaxPacket int `ignored:"true"`

	// Home Assistant discovery is set by the agent from EDGE_HA_DISCOVERY,
	// EDGE_HA_PREFIX and EDGE_HA_LABELS.
	DisableDiscovery bool     `ignored:"true"` // EDGE_HA_DISCOVERY=false
	DiscoveryPrefix  string   `ignored:"true"` // EDGE_HA_PREFIX (default homeassistant)
	DiscoveryLabels  []string `ignored:"true"` // EDGE_HA_LABELS (default person): labels that get a count sensor and a detected binary sensor per camera

	MaxPending       int           `envconfig:"MAX_PENDING" default:"20000" desc:"events held while the broker is unreachable; more are dropped and counted"`
	MaxPendingBytes  int64         `envconfig:"MAX_PENDING_BYTES" default:"67108864" desc:"bytes of events held while the broker is unreachable"`
	MaxInFlight      int           `envconfig:"MAX_IN_FLIGHT" default:"32" desc:"events sent and not yet acknowledged"`
	KeepAlive        time.Duration `envconfig:"KEEPALIVE" default:"15s" desc:"MQTT keep-alive"`
	ConnectTimeout   time.Duration `envconfig:"CONNECT_TIMEOUT" default:"5s" desc:"time allowed to connect"`
	ReconnectWait    time.Duration `envconfig:"RECONNECT_WAIT" default:"2s" desc:"pause between connection attempts while the broker has never been reached"`
	MaxReconnectWait time.Duration `envconfig:"MAX_RECONNECT_WAIT" default:"10s" desc:"longest pause between reconnection attempts"`
	DrainTimeout     time.Duration `envconfig:"DRAIN_TIMEOUT" default:"5s" desc:"on stop, how long to keep sending what is pending"`
}

// Defaults of MQTTConfig, applied to zero fields.
const (
	DefaultTopicPrefix     = "edge-agent"
	DefaultDiscoveryPrefix = "homeassistant"
	DefaultDiscoveryLabel  = "person"
)

func (c MQTTConfig) withDefaults() MQTTConfig {
	setDefault(&c.ClientID, "edge-agent-"+c.Device)
	setDefault(&c.Overflow, DropOldest)
	setDefault(&c.TopicPrefix, DefaultTopicPrefix)
	setDefault(&c.QoS, QoS1)
	setDefault(&c.SnapshotMaxPacket, DefaultSnapshotMaxPacket)
	setDefault(&c.DiscoveryPrefix, DefaultDiscoveryPrefix)
	if len(c.DiscoveryLabels) == 0 {
		c.DiscoveryLabels = []string{DefaultDiscoveryLabel}
	}
	setDefault(&c.MaxPending, DefaultMaxPending)
	setDefault(&c.MaxPendingBytes, DefaultMaxPendingBytes)
	setDefault(&c.MaxInFlight, 32)
	setDefault(&c.KeepAlive, 15*time.Second)
	setDefault(&c.ConnectTimeout, 5*time.Second)
	setDefault(&c.ReconnectWait, 2*time.Second)
	setDefault(&c.MaxReconnectWait, 10*time.Second)
	setDefault(&c.DrainTimeout, DefaultDrainTimeout)
	return c
}

// Enabled says whether MQTT is configured at all (a URL is set).
func (c MQTTConfig) Enabled() bool { return c.URL != "" }

// Validate checks the configuration (with defaults applied to zero
// fields) and returns every problem at once, each naming its variable.
func (c MQTTConfig) Validate() error {
	c = c.withDefaults()
	var p problems
	const pre = "EDGE_MQTT_"
	if !ValidToken(c.Device) {
		p.add("EDGE_DEVICE_ID", "%q must be 1-64 letters, digits, '-' or '_'", c.Device)
	}
	for _, cam := range c.Cameras {
		if !ValidToken(cam) {
			p.add("EDGE_CAMERA_NAME", "%q must be 1-64 letters, digits, '-' or '_'", cam)
		}
	}
	if c.URL == "" {
		p.add(pre+"URL", "required: tcp://, ssl://, ws:// or wss://host:port")
	} else if err := checkURL(c.URL, "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"); err != nil {
		p.add(pre+"URL", "%v", err)
	}
	if c.ClientID == "" || len(c.ClientID) > 128 || strings.ContainsAny(c.ClientID, "/+#") {
		p.add(pre+"CLIENT_ID", "%q must be 1-128 characters without '/', '+' or '#'", c.ClientID)
	}
	if c.Password != "" && c.User == "" {
		p.add(pre+"USER", "required with EDGE_MQTT_PASSWORD")
	}
	checkFiles(&p, pre, [][2]string{{"TLS_CA", c.TLSCA}, {"TLS_CERT", c.TLSCert}, {"TLS_KEY", c.TLSKey}})
	if (c.TLSCert == "") != (c.TLSKey == "") {
		p.add(pre+"TLS_CERT", "EDGE_MQTT_TLS_CERT and EDGE_MQTT_TLS_KEY go together")
	}
	if err := checkTopicPrefix(c.TopicPrefix); err != nil {
		p.add(pre+"PREFIX", "%v", err)
	}
	if c.QoS > QoS2 {
		p.add(pre+"QOS", "must be 0, 1 or 2")
	}
	if !c.DisableDiscovery {
		if err := checkTopicPrefix(c.DiscoveryPrefix); err != nil {
			p.add("EDGE_HA_PREFIX", "%v", err)
		}
		for _, l := range c.DiscoveryLabels {
			if strings.TrimSpace(l) == "" {
				p.add("EDGE_HA_LABELS", "contains an empty label")
				break
			}
		}
	}
	checkOutbox(&p, pre, c.MaxPending, c.MaxPendingBytes, c.MaxInFlight)
	if c.MaxInFlight > 30000 {
		p.add(pre+"MAX_IN_FLIGHT", "must be at most 30000 (MQTT packet ids), got %d", c.MaxInFlight)
	}
	if c.KeepAlive < time.Second {
		p.add(pre+"KEEPALIVE", "must be at least 1s, got %s", c.KeepAlive)
	}
	positive(&p, pre+"CONNECT_TIMEOUT", c.ConnectTimeout)
	positive(&p, pre+"RECONNECT_WAIT", c.ReconnectWait)
	positive(&p, pre+"MAX_RECONNECT_WAIT", c.MaxReconnectWait)
	positive(&p, pre+"DRAIN_TIMEOUT", c.DrainTimeout)
	c.checkSnapshotConfig(&p)
	return p.err()
}

// problems collects configuration errors, each naming its variable.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

func (p problems) err() error { return errors.Join(p...) }

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func positive(p *problems, key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "must be positive, got %s", d)
	}
}

func checkOutbox(p *problems, pre string, items int, bytes int64, inflight int) {
	if items < 1 {
		p.add(pre+"MAX_PENDING", "must be at least 1, got %d", items)
	}
	if bytes < 64<<10 {
		p.add(pre+"MAX_PENDING_BYTES", "must be at least 65536, got %d", bytes)
	}
	if inflight < 1 {
		p.add(pre+"MAX_IN_FLIGHT", "must be at least 1, got %d", inflight)
	}
}

// checkFiles checks that each named file (key, path) exists; empty paths
// are not set.
func checkFiles(p *problems, pre string, files [][2]string) {
	for _, kv := range files {
		key, path := kv[0], kv[1]
		if path == "" {
			continue
		}
		if st, err := os.Stat(path); err != nil {
			p.add(pre+key, "%v", err)
		} else if st.IsDir() {
			p.add(pre+key, "%q is a directory", path)
		}
	}
}

func checkURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		// Not err itself: it quotes raw, password included, and can quote
		// part of the password ("invalid URL escape \"%of\"").
		return fmt.Errorf("%q is not a valid URL (check its escaping, e.g. %%25 for %% in a password)", redactURL(raw))
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		return fmt.Errorf("%q: scheme must be one of %s", redactURL(raw), strings.Join(schemes, ", "))
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", redactURL(raw))
	}
	return nil
}

func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port: %v", addr, err)
	}
	if host == "" {
		return fmt.Errorf("%q: name the interface, e.g. 127.0.0.1 (0.0.0.0 for all)", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < -1 || n > 65535 {
		return fmt.Errorf("%q: port must be 0-65535, or -1 for a free port", addr)
	}
	return nil
}

func splitListen(addr string) (string, int) {
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return host, n
}

func validStreamName(s string) bool {
	return s != "" && len(s) <= 255 && !strings.ContainsAny(s, " \t\r\n.*>/\\")
}

// redactURL hides the credentials in a URL (or a list of them) for logs and
// errors: see redact.URL, the project's one redactor.
func redactURL(raw string) string { return redact.URL(raw) }

// Overflow says which events a full outbox gives up. The zero value means
// the default, DropOldest.
type Overflow uint8

// The Overflow values.
const (
	OverflowDefault Overflow = iota
	// DropOldest makes room for a new event by dropping the oldest one not
	// yet sent: a camera's newest events are usually the ones that matter.
	DropOldest
	// DropNewest refuses the new event and keeps what is queued: no gap
	// inside what is delivered, but the end of an outage is lost.
	DropNewest
)

// String returns the setting's spelling: drop-oldest or drop-newest.
func (o Overflow) String() string {
	if o == DropNewest {
		return "drop-newest"
	}
	return "drop-oldest"
}

// UnmarshalText reads "drop-oldest" or "drop-newest" ("" is the default).
func (o *Overflow) UnmarshalText(b []byte) error {
	switch string(b) {
	case "drop-oldest", "":
		*o = DropOldest
	case "drop-newest":
		*o = DropNewest
	default:
		return fmt.Errorf("must be drop-oldest or drop-newest, got %q", b)
	}
	return nil
}
