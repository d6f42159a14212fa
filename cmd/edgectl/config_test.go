package main

import (
	"strings"
	"testing"
	"time"
)

// TestLoadConfig: the environment's defaults, and every problem named by
// its variable at once, without the password or a URL's credentials.
func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig()
	if err != nil || cfg.NATSURL != "nats://127.0.0.1:4222" || cfg.Timeout != 5*time.Second || cfg.Domain != "" {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}

	t.Setenv("EDGECTL_NATS_URL", "http://user:hunter2@hub:4222")
	t.Setenv("EDGECTL_NATS_CREDS", "/nonexistent/ops.creds")
	t.Setenv("EDGECTL_NATS_USER", "ops")
	t.Setenv("EDGECTL_NATS_PASSWORD", "hunter2")
	t.Setenv("EDGECTL_NATS_TLS_CERT", "/nonexistent/cert.pem")
	t.Setenv("EDGECTL_INBOX_PREFIX", "_INBOX.*")
	t.Setenv("EDGECTL_DOMAIN", "a.b")
	t.Setenv("EDGECTL_TIMEOUT", "0s")
	_, err = loadConfig()
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	contains(t, "the problems", msg,
		`EDGECTL_NATS_URL: "http://user:xxxxx@hub:4222": the scheme must be nats, tls, ws or wss`,
		"EDGECTL_NATS_CREDS: set only one of EDGECTL_NATS_CREDS, EDGECTL_NATS_NKEY and EDGECTL_NATS_USER",
		"EDGECTL_NATS_CREDS: stat /nonexistent/ops.creds",
		"EDGECTL_NATS_TLS_CERT: EDGECTL_NATS_TLS_CERT and EDGECTL_NATS_TLS_KEY go together",
		`EDGECTL_INBOX_PREFIX: "_INBOX.*" is not a subject prefix`,
		`EDGECTL_DOMAIN: "a.b" must be`,
		"EDGECTL_TIMEOUT: must be positive")
	if strings.Contains(msg, "hunter2") {
		t.Errorf("the password is in the error:\n%s", msg)
	}

	t.Setenv("EDGECTL_TIMEOUT", "soon")
	if _, err := loadConfig(); err == nil || err.Error() != "EDGECTL_TIMEOUT: cannot parse as time.Duration" {
		t.Errorf("a malformed duration: %v", err)
	}
}

// TestHelp: edgectl help lists every command and setting; each command's
// --help (and help <command>) prints its usage and flags and exits 0;
// an unknown command or none is a usage error.
func TestHelp(t *testing.T) {
	cfg := Config{NATSURL: "nats://127.0.0.1:1", Timeout: time.Second} // never reached
	r := runWith(t, cfg, nil, "help")
	if r.code != 0 {
		t.Errorf("help: exit %d", r.code)
	}
	for _, c := range commands() {
		contains(t, "help", r.stdout, "  "+c.name+" ")
		for _, args := range [][]string{{c.name, "--help"}, {"help", c.name}, {c.name, "-h"}} {
			h := runWith(t, cfg, nil, args...)
			if h.code != 0 || !strings.HasPrefix(h.stdout, "usage: edgectl "+c.name+" ") || !strings.Contains(h.stdout, "-json") {
				t.Errorf("%v: exit %d\n%s%s", args, h.code, h.stdout, h.stderr)
			}
		}
	}
	contains(t, "help", r.stdout, "EDGECTL_NATS_URL", "EDGECTL_INBOX_PREFIX", "EDGECTL_DOMAIN", "EDGECTL_TIMEOUT")
	for _, args := range [][]string{{}, {"frobnicate"}, {"help", "frobnicate"}} {
		if r := runWith(t, cfg, nil, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, r.code, exitUsage)
		}
	}
}
