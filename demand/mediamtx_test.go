package demand

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"edge-agent/internal/testenv"
)

// Logins of the test MediaMTX. The API user's password has characters that must be
// escaped in a URL's user info, to prove the watcher decodes it.
const (
	apiUser   = "agent"
	apiPass   = "p@ss#w;rd"
	pubLogin  = "pub:pubpw"       // publishes any path
	viewLogin = "viewer:viewerpw" // reads any path
)

// mediaMTX is a bin/mediamtx with its Control API on, started by startMediaMTX.
type mediaMTX struct {
	RTSPPort int
	API      string // http://agent:<escaped password>@127.0.0.1:<port>
	APIPort  int

	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	once sync.Once
}

// rtsp returns the RTSP URL of path with the given login ("user:pass").
func (m *mediaMTX) rtsp(login, path string) string {
	return fmt.Sprintf("rtsp://%s@127.0.0.1:%d/%s", login, m.RTSPPort, path)
}

func (m *mediaMTX) stop() {
	m.once.Do(func() { _ = m.cmd.Process.Kill() })
	<-m.done
}

// mediaMTXConfig is the test's MediaMTX configuration: RTSP over TCP and the Control
// API, both on loopback, and internal authentication as deploy/mediamtx.yml has it
// (plain passwords here, hashes there).
func mediaMTXConfig(rtspPort, apiPort int) string {
	return fmt.Sprintf(`logLevel: info
logDestinations: [stdout]
authMethod: internal
rtspAuthMethods: [basic]
authInternalUsers:
- user: %s
  pass: %q
  ips: []
  permissions:
  - action: api
- user: pub
  pass: pubpw
  ips: []
  permissions:
  - action: publish
- user: viewer
  pass: viewerpw
  ips: []
  permissions:
  - action: read
rtsp: yes
rtspTransports: [tcp]
rtspEncryption: "no"
rtspAddress: 127.0.0.1:%d
rtmp: no
hls: no
webrtc: no
srt: no
api: yes
apiAddress: 127.0.0.1:%d
metrics: no
pprof: no
playback: no
pathDefaults:
  overridePublisher: yes
paths:
  all_others:
`, apiUser, apiPass, rtspPort, apiPort)
}

// startMediaMTX starts <repo>/bin/mediamtx with mediaMTXConfig on ports picked now
// and waits until both listeners accept connections. It is killed when the test ends.
// (testenv's MediaMTX has its API off and no logins.)
func startMediaMTX(t *testing.T) *mediaMTX {
	t.Helper()
	return startMediaMTXAt(t, testenv.FreePort(t))
}

// startMediaMTXAt is startMediaMTX with the API on the given port.
func startMediaMTXAt(t *testing.T, apiPort int) *mediaMTX {
	t.Helper()
	if testing.Short() {
		t.Skip("needs MediaMTX: not a unit test (-short)")
	}
	bin := filepath.Join(testenv.RepoRoot(t), "bin", "mediamtx")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: run `make setup` (CI is set, so this is a failure, not a skip)", bin)
		}
		t.Skipf("%s is missing: run `make setup` to build it", bin)
	}
	m := &mediaMTX{RTSPPort: testenv.FreePort(t), APIPort: apiPort, done: make(chan struct{})}
	m.API = (&url.URL{Scheme: "http", User: url.UserPassword(apiUser, apiPass), Host: fmt.Sprintf("127.0.0.1:%d", m.APIPort)}).String()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mediamtx.yml")
	if err := os.WriteFile(conf, []byte(mediaMTXConfig(m.RTSPPort, m.APIPort)), 0o600); err != nil {
		t.Fatal(err)
	}
	m.cmd = exec.Command(bin, conf)
	m.cmd.Dir = dir
	m.cmd.Stdout, m.cmd.Stderr = &m.out, &m.out
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		_ = m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			t.Logf("MediaMTX output:\n%s", m.out.String())
		}
	})
	for _, port := range []int{m.RTSPPort, m.APIPort} {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		testenv.WaitFor(t, 15*time.Second, "MediaMTX listening on "+addr, func() bool {
			select {
			case <-m.done:
				t.Fatalf("MediaMTX exited at start:\n%s", m.out.String())
			default:
			}
			c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
	return m
}

// syncBuffer is a bytes.Buffer safe for the child's writers and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gstLaunch runs gst-launch-1.0 with the pipeline description args until the test
// ends or the returned stop is called (idempotent): a publisher or reader other than
// the pipeline package's.
func gstLaunch(t *testing.T, args ...string) (stop func()) {
	t.Helper()
	if _, err := exec.LookPath("gst-launch-1.0"); err != nil {
		t.Skip("gst-launch-1.0 is not installed")
	}
	cmd := exec.Command("gst-launch-1.0", append([]string{"-q"}, args...)...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("gst-launch-1.0: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-done
			if t.Failed() {
				t.Logf("gst-launch-1.0 %v:\n%s", args, out.String())
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
