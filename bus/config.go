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
	Listen      string   `envconfig:"LISTEN" default:"127.0.0.1:4222" desc:"embedded server: client listen address (port -1 picks a free port)"`
	LeafRemotes []string `envconfig:"LEAF_REMOTES" desc:"embedded server: hub URLs to connect to as a leaf node (nats-leaf:// or tls://)"`

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
)

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
	return c
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
		for _, r := range c.LeafRemotes {
			if err := checkURL(r, "nats-leaf", "nats", "tls", "ws", "wss"); err != nil {
				p.add(pre+"LEAF_REMOTES", "%v", err)
			}
		}
		for _, kv := range [][2]string{{"CREDS", c.CredsFile}, {"NKEY", c.NKeyFile}, {"USER", c.User},
			{"PASSWORD", c.Password}, {"TLS_CA", c.TLSCA}, {"TLS_CERT", c.TLSCert}, {"TLS_KEY", c.TLSKey}} {
			if kv[1] != "" {
				p.add(pre+kv[0], "only used with EDGE_NATS_URL (the embedded server listens on loopback without authentication)")
			}
		}
	} else {
		for _, u := range strings.Split(c.URL, ",") {
			if err := checkURL(strings.TrimSpace(u), "nats", "tls", "ws", "wss"); err != nil {
				p.add(pre+"URL", "%v", err)
			}
		}
		if len(c.LeafRemotes) > 0 {
			p.add(pre+"LEAF_REMOTES", "only used by the embedded server (EDGE_NATS_URL empty)")
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
	return p.err()
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
	QoS         QoS    `envconfig:"QOS" default:"1" desc:"QoS of the events: 0, 1 or 2"`

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
