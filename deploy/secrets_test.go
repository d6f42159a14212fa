package deploy_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// What secrets.sh writes into its directory.
var secretFiles = []string{
	"passwords", "agent.env", "operator.env", "reader.env", "homeassistant.env", "viewer.env",
	"nats-auth.conf", "mosquitto-passwd", "mosquitto-acl", "mediamtx.yml", "stack.env",
}

func TestSecretsScript(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	// As root the script hands mosquitto's files to MOSQUITTO_UID.
	s := runSecrets(t, dir, []string{"MOSQUITTO_UID=4242"}, device)

	t.Run("modes", func(t *testing.T) {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s is %v, want 0700", dir, fi.Mode().Perm())
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != 0o600 {
				t.Errorf("%s is %v, want -rw-------", e.Name(), fi.Mode())
			}
			owner := fi.Sys().(*syscall.Stat_t).Uid
			want := uint32(os.Geteuid())
			if os.Geteuid() == 0 && strings.HasPrefix(e.Name(), "mosquitto-") {
				want = 4242
			}
			if owner != want {
				t.Errorf("%s belongs to uid %d, want %d", e.Name(), owner, want)
			}
		}
		// Exactly these files: no temporary one left behind.
		if want := slices.Sorted(slices.Values(secretFiles)); !slices.Equal(names, want) {
			t.Errorf("files %v, want %v", names, want)
		}
	})

	t.Run("passwords", func(t *testing.T) {
		if len(s.passwords) != 9 {
			t.Fatalf("%d passwords, want 9: %v", len(s.passwords), slices.Sorted(maps.Keys(s.passwords)))
		}
		seen := map[string]bool{}
		for k, pw := range s.passwords {
			// 32 of [A-Za-z0-9]: 190 bits, safe in URLs, env files and every config.
			if len(pw) != 32 || strings.Trim(pw, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
				t.Errorf("%s: not 32 letters and digits", k)
			}
			if seen[pw] {
				t.Errorf("%s: the same password twice", k)
			}
			seen[pw] = true
			if strings.Contains(s.stdout, pw) {
				t.Errorf("%s printed on stdout", k)
			}
		}
		for _, name := range []string{"operator.env", "reader.env", "viewer.env", "homeassistant.env"} {
			if !strings.Contains(s.stdout, name) {
				t.Errorf("stdout does not say where %s is:\n%s", name, s.stdout)
			}
		}
	})

	t.Run("agent.env", func(t *testing.T) {
		got := s.env(t, "agent.env")
		want := map[string]string{
			"EDGE_DEVICE_ID":       device,
			"EDGE_NATS_USER":       device,
			"EDGE_NATS_PASSWORD":   s.passwords["agent_nats"],
			"EDGE_MQTT_USER":       device,
			"EDGE_MQTT_PASSWORD":   s.passwords["agent_mqtt"],
			"EDGE_OUTPUT_USER":     "agent",
			"EDGE_OUTPUT_PASSWORD": s.passwords["agent_stream"],
		}
		if !maps.Equal(got, want) {
			t.Errorf("agent.env differs from what was expected (values not shown): keys %v", slices.Sorted(maps.Keys(got)))
		}
		if op := s.env(t, "operator.env"); op["NATS_USER"] != "operator" || op["NATS_PASSWORD"] != s.passwords["operator_nats"] ||
			op["MQTT_USER"] != "operator" || op["MQTT_PASSWORD"] != s.passwords["operator_mqtt"] {
			t.Error("operator.env does not hold the operator's logins")
		}
	})

	t.Run("mediamtx.yml", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(dir, "mediamtx.yml"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "SET+BY+secrets+sh") {
			t.Error("a placeholder is left in the generated mediamtx.yml")
		}
		for _, pw := range s.passwords {
			if strings.Contains(string(b), pw) {
				t.Error("a clear-text password in mediamtx.yml")
			}
		}
	})

	t.Run("rerun keeps the passwords", func(t *testing.T) {
		again := runSecrets(t, dir, nil)
		if !maps.Equal(again.passwords, s.passwords) {
			t.Error("a run without --rotate changed passwords")
		}
		// The device comes back from the last run.
		if a := again.env(t, "agent.env"); a["EDGE_DEVICE_ID"] != device {
			t.Errorf("rerun without arguments: device %q", a["EDGE_DEVICE_ID"])
		}
		if !strings.Contains(again.stdout, "9 passwords kept, 0 new") {
			t.Errorf("stdout: %s", again.stdout)
		}
	})

	t.Run("rotate", func(t *testing.T) {
		rotated := runSecrets(t, dir, nil, "--rotate")
		for k, pw := range rotated.passwords {
			if pw == s.passwords[k] {
				t.Errorf("%s kept across --rotate", k)
			}
		}
		if !strings.Contains(rotated.stdout, "force-recreate") {
			t.Errorf("--rotate does not say to recreate the services:\n%s", rotated.stdout)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"porch.box"}, `device id "porch.box" must be 1-64 letters, digits, '-' or '_'`},
			{[]string{"edge/#"}, `device id "edge/#" must be`},
			{[]string{"operator"}, `device id "operator" is the name of another user`},
			{[]string{"any"}, `device id "any" is the name of another user`},
			{[]string{"a", "b"}, "one device id only"},
			{[]string{"--bogus"}, "unknown option --bogus"},
		} {
			fresh := filepath.Join(t.TempDir(), "secrets")
			_, stderr, err := trySecrets(t, fresh, nil, tc.args...)
			if err == nil || !strings.Contains(stderr, tc.want) {
				t.Errorf("%v: err %v, stderr %q, want %q", tc.args, err, stderr, tc.want)
			}
		}
		// With no device anywhere (no argument, none in the settings file,
		// no earlier run) the script says how to give one.
		_, stderr, err := trySecrets(t, filepath.Join(t.TempDir(), "secrets"), nil)
		if err == nil || !strings.Contains(stderr, "no device id") {
			t.Errorf("no device: err %v, stderr %q", err, stderr)
		}
		_, stderr, err = trySecrets(t, filepath.Join(t.TempDir(), "secrets"), []string{"MOSQUITTO_UID=mosquitto"}, device)
		if err == nil || !strings.Contains(stderr, `MOSQUITTO_UID "mosquitto" is not a numeric uid`) {
			t.Errorf("MOSQUITTO_UID=mosquitto: err %v, stderr %q", err, stderr)
		}
	})

	t.Run("device from the settings file", func(t *testing.T) {
		env := filepath.Join(t.TempDir(), ".env")
		// As .env.example writes them, with the comment and quotes people add.
		if err := os.WriteFile(env, []byte("EDGE_DEVICE_ID=\"yard-box\"   # the box\nEDGE_CAMERA_NAME=gate\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got := runSecrets(t, filepath.Join(t.TempDir(), "secrets"), nil, "--env", env).env(t, "agent.env")
		if got["EDGE_DEVICE_ID"] != "yard-box" {
			t.Errorf("device %q, want yard-box", got["EDGE_DEVICE_ID"])
		}
	})
}

// The generated directory must never reach git.
func TestSecretsIgnored(t *testing.T) {
	b, err := os.ReadFile(".gitignore")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(string(b), "\n"), "/secrets/") {
		t.Errorf("deploy/.gitignore has no line /secrets/:\n%s", b)
	}
}
