package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Mosquitto runs Debian's broker as a process on a loopback port picked at
// run time, with persistence in a temporary folder, and can stop and start
// it again on the same port with the same persistence.
type Mosquitto struct {
	t    testing.TB
	port int
	dir  string
	conf string
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

const mosquittoBin = "/usr/sbin/mosquitto"

// StartMosquitto starts a broker for the test.
func StartMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	m := NewMosquitto(t)
	m.Start()
	return m
}

// NewMosquitto prepares a broker without starting it.
func NewMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	if _, err := os.Stat(mosquittoBin); err != nil {
		missing(t, "mosquitto is required: %v (make setup installs it)", err)
	}
	m := &Mosquitto{t: t, port: FreePort(t), dir: t.TempDir()}
	m.conf = filepath.Join(m.dir, "mosquitto.conf")
	conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
autosave_interval 1
max_queued_messages 0
max_inflight_messages 0
user root
log_dest stderr
log_type error
log_type warning
`, m.port, m.dir)
	if err := os.WriteFile(m.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m
}

// ConfigFile is the broker's configuration file, for a test that runs
// mosquitto as a process of its own (to signal it).
func (m *Mosquitto) ConfigFile() string { return m.conf }

// URL is the broker's tcp:// URL.
func (m *Mosquitto) URL() string { return "tcp://127.0.0.1:" + strconv.Itoa(m.port) }

// Start starts the broker (again) and waits until it accepts connections.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.log = &bytes.Buffer{}
	m.cmd = exec.Command(mosquittoBin, "-c", m.conf)
	m.cmd.Stderr = m.log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	m.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(m.cmd, m.done)
	WaitFor(m.t, 10*time.Second, "mosquitto to listen", func() bool {
		select {
		case <-m.done:
			m.t.Fatalf("mosquitto exited: %s", m.log)
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(m.port), 100*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// Stop stops the broker with SIGTERM (it saves its persistence file) and
// waits for it to exit. Stopping a stopped broker does nothing.
func (m *Mosquitto) Stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd = nil
}

// NATSServer is a nats-server with JetStream on a loopback port picked at
// run time, which can be stopped and started again on the same port with
// the same store: the "remote" server of the tests.
type NATSServer struct {
	t    testing.TB
	port int
	dir  string
	srv  *server.Server
}

// StartNATSServer starts a server on a free port for the test.
func StartNATSServer(t testing.TB) *NATSServer {
	t.Helper()
	s := NewNATSServer(t, -1)
	s.Start()
	return s
}

// NewNATSServer prepares a server for port (-1: a free one) without
// starting it.
func NewNATSServer(t testing.TB, port int) *NATSServer {
	t.Helper()
	s := &NATSServer{t: t, port: port, dir: t.TempDir()}
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server (again) on its port.
func (s *NATSServer) Start() {
	s.t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: s.port, JetStream: true, StoreDir: s.dir, NoSigs: true, NoLog: true}
	srv, err := server.NewServer(opts)
	if err != nil {
		s.t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		s.t.Fatal("nats-server not ready")
	}
	s.srv = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
}

// Stop shuts the server down; stopping a stopped server does nothing.
func (s *NATSServer) Stop() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// URL is the server's nats:// URL.
func (s *NATSServer) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the broker's TCP port.
func (m *Mosquitto) Port() int { return m.port }

// Port is the server's client port (known once started, or given).
func (s *NATSServer) Port() int { return s.port }
