package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go"

	"edge-agent/bus"
	"edge-agent/internal/redact"
)

// envPrefix is the prefix of every environment variable edgectl reads.
const envPrefix = "EDGECTL"

// Config is edgectl's connection settings, read from the environment by
// loadConfig. The struct tags are the one source of the names, defaults
// and the descriptions that help prints.
type Config struct {
	NATSURL     string        `envconfig:"NATS_URL" default:"nats://127.0.0.1:4222" desc:"NATS server or cluster, comma-separated nats:// or tls:// URLs"`
	CredsFile   string        `envconfig:"NATS_CREDS" desc:"credentials file (JWT and nkey seed)"`
	NKeyFile    string        `envconfig:"NATS_NKEY" desc:"nkey seed file"`
	User        string        `envconfig:"NATS_USER" desc:"user name"`
	Password    string        `envconfig:"NATS_PASSWORD" desc:"password of EDGECTL_NATS_USER"`
	TLSCA       string        `envconfig:"NATS_TLS_CA" desc:"CA certificate file to verify the server"`
	TLSCert     string        `envconfig:"NATS_TLS_CERT" desc:"client certificate file"`
	TLSKey      string        `envconfig:"NATS_TLS_KEY" desc:"client key file"`
	InboxPrefix string        `envconfig:"INBOX_PREFIX" desc:"prefix of the reply subjects edgectl listens on (default _INBOX); a user of an agent's embedded server must use _INBOX.<user>"`
	Domain      string        `envconfig:"DOMAIN" desc:"JetStream domain of the buckets and the hub stream (default: the connected server's own; hub when the hub is reached through a leaf node)"`
	Timeout     time.Duration `envconfig:"TIMEOUT" default:"5s" desc:"how long one NATS operation (connect, a JetStream call, a request) may take; a read, or a create or update to a given configuration, is sent again within it when its answer is lost"`
}

// loadConfig reads the configuration from the environment and validates
// it, every problem at once, each naming its variable.
func loadConfig() (Config, error) {
	var cfg Config
	if err := envconfig.Process(envPrefix, &cfg); err != nil {
		var perr *envconfig.ParseError
		if errors.As(err, &perr) {
			// Not perr.Value: a malformed value may be a secret.
			return cfg, fmt.Errorf("%s: cannot parse as %s", perr.KeyName, perr.TypeName)
		}
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// Validate returns every problem of c joined, each naming its variable.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s_%s: %s", envPrefix, key, fmt.Sprintf(format, args...)))
	}
	if strings.TrimSpace(c.NATSURL) == "" {
		bad("NATS_URL", "required")
	}
	for _, u := range strings.Split(c.NATSURL, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		switch {
		case err != nil:
			// Not err itself: it quotes the URL, password included.
			bad("NATS_URL", "%q is not a valid URL", redact.URL(u))
		case p.Scheme != "nats" && p.Scheme != "tls" && p.Scheme != "ws" && p.Scheme != "wss":
			bad("NATS_URL", "%q: the scheme must be nats, tls, ws or wss", redact.URL(u))
		case p.Host == "":
			bad("NATS_URL", "%q has no host", redact.URL(u))
		}
	}
	auth := 0
	for _, set := range []bool{c.CredsFile != "", c.NKeyFile != "", c.User != ""} {
		if set {
			auth++
		}
	}
	if auth > 1 {
		bad("NATS_CREDS", "set only one of EDGECTL_NATS_CREDS, EDGECTL_NATS_NKEY and EDGECTL_NATS_USER")
	}
	if c.Password != "" && c.User == "" {
		bad("NATS_USER", "required with EDGECTL_NATS_PASSWORD")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("NATS_TLS_CERT", "EDGECTL_NATS_TLS_CERT and EDGECTL_NATS_TLS_KEY go together")
	}
	for _, f := range [][2]string{{"NATS_CREDS", c.CredsFile}, {"NATS_NKEY", c.NKeyFile},
		{"NATS_TLS_CA", c.TLSCA}, {"NATS_TLS_CERT", c.TLSCert}, {"NATS_TLS_KEY", c.TLSKey}} {
		if f[1] == "" {
			continue
		}
		if st, err := os.Stat(f[1]); err != nil {
			bad(f[0], "%v", err)
		} else if st.IsDir() {
			bad(f[0], "%q is a directory", f[1])
		}
	}
	if c.InboxPrefix != "" {
		for _, tok := range strings.Split(strings.TrimSuffix(c.InboxPrefix, "."), ".") {
			if tok == "" || strings.ContainsAny(tok, "*> \t\r\n\x00") {
				bad("INBOX_PREFIX", "%q is not a subject prefix: tokens without wildcards or spaces, such as _INBOX.ops", c.InboxPrefix)
				break
			}
		}
	}
	if c.Domain != "" && !bus.ValidToken(c.Domain) {
		bad("DOMAIN", "%q must be 1-64 letters, digits, '-' or '_'", c.Domain)
	}
	if c.Timeout <= 0 {
		bad("TIMEOUT", "must be positive, got %s", c.Timeout)
	}
	return errors.Join(errs...)
}

// options are the connection's options: a name, the timeout, the login,
// TLS and the inbox prefix.
func (c Config) options() ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name("edgectl"),
		nats.Timeout(c.Timeout),
	}
	login, err := bus.Login{CredsFile: c.CredsFile, NKeyFile: c.NKeyFile, User: c.User, Password: c.Password,
		TLSCA: c.TLSCA, TLSCert: c.TLSCert, TLSKey: c.TLSKey}.Options()
	if err != nil {
		return nil, fmt.Errorf("%s_NATS_NKEY: %w", envPrefix, err)
	}
	opts = append(opts, login...)
	if c.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(strings.TrimSuffix(c.InboxPrefix, ".")))
	}
	return opts, nil
}

// printSettings writes every environment variable with its default and
// meaning, generated from the same struct tags loadConfig reads.
func printSettings(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	if err := envconfig.Usagef(envPrefix, &Config{}, tw, settingsFormat); err != nil {
		return err
	}
	return tw.Flush()
}

const settingsFormat = `VARIABLE	DEFAULT	MEANING
{{range .}}{{usage_key .}}	{{usage_default .}}	{{usage_description .}}
{{end}}`
