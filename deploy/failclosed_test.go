package deploy_test

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Before secrets.sh ran, the brokers do not start at all (MediaMTX starts
// and lets no one in: TestMediaMTXAuth, "shipped file alone").
func TestBrokersRefuseToStartWithoutSecrets(t *testing.T) {
	t.Run("nats", func(t *testing.T) {
		root := t.TempDir()
		copyFile(t, "nats.conf", filepath.Join(root, "nats.conf"))
		_, err := server.ProcessConfigFile(filepath.Join(root, "nats.conf"))
		if err == nil || !strings.Contains(err.Error(), "nats-auth.conf") {
			t.Errorf("nats.conf without secrets/nats-auth.conf: %v, want an error naming it", err)
		}
	})
	t.Run("mosquitto", func(t *testing.T) {
		bin := need(t, "/usr/sbin/mosquitto")
		b, err := os.ReadFile("mosquitto.conf")
		if err != nil {
			t.Fatal(err)
		}
		me, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		// The shipped password_file and acl_file paths, absent here.
		conf := rewrite(t, string(b),
			"\nlistener 1883\n", fmt.Sprintf("\nlistener %d 127.0.0.1\n", freePort(t)),
			"persistence_location /mosquitto/data/", "persistence_location "+t.TempDir()+"/",
		) + "\nuser " + me.Username + "\n"
		path := filepath.Join(t.TempDir(), "mosquitto.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(t.Context(), bin, "-c", path)
		cmd.WaitDelay = time.Second
		done := make(chan error, 1)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(out.String(), "/mosquitto/config/passwd") {
				t.Errorf("exit %v, output %q; want a failure naming the password file", err, out.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("mosquitto started without its password file:\n%s", out.String())
		}
	})
}
