package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"edge-agent/internal/mtxconf"
)

// mediaMTXReadyTimeout bounds the wait for MediaMTX's RTSP listener.
const mediaMTXReadyTimeout = 15 * time.Second

// MediaMTXOptions tunes RunMediaMTX. The zero value is what StartMediaMTX uses.
type MediaMTXOptions struct {
	// RTSPPort is the RTSP listener's port on 127.0.0.1; 0 picks a free one. Set it to
	// start a server at an address handed out earlier (FreePort), e.g. to test a
	// client that must wait for the server to appear.
	RTSPPort int
	// AbsoluteTimestamps sets useAbsoluteTimestamp on every path: MediaMTX then relays
	// the publisher's NTP timestamps (from its RTCP sender reports) to readers instead
	// of stamping frames with its own receive time.
	AbsoluteTimestamps bool
	// API turns on the control API on a loopback port of its own (MediaMTX.API).
	API bool
}

// StartMediaMTX starts <repo>/bin/mediamtx on 127.0.0.1 with every path open for
// publishing and reading, waits until its RTSP port accepts connections and returns
// "rtsp://127.0.0.1:<port>". The server is killed when the test ends.
func StartMediaMTX(t testing.TB) string {
	t.Helper()
	return RunMediaMTX(t, MediaMTXOptions{}).URL
}

// MediaMTX is a running server started by RunMediaMTX.
type MediaMTX struct {
	URL  string // rtsp://127.0.0.1:<port>
	Port int
	API  string // http://127.0.0.1:<port> of the control API, with MediaMTXOptions.API

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	once sync.Once
}

// Stop kills the server and waits for it to exit; it is idempotent and also runs when
// the test ends.
func (m *MediaMTX) Stop() {
	m.once.Do(func() { _ = m.cmd.Process.Kill() })
	<-m.done
}

// RunMediaMTX is StartMediaMTX with options, returning a handle that can stop the
// server before the test ends.
func RunMediaMTX(t testing.TB, opts MediaMTXOptions) *MediaMTX {
	t.Helper()
	bin := filepath.Join(RepoRoot(t), "bin", "mediamtx")
	if _, err := os.Stat(bin); err != nil {
		missing(t, "testenv: %s is missing: run `make setup` to build it", bin)
	}
	port := opts.RTSPPort
	if port == 0 {
		port = FreePort(t)
	}
	rtp := freeUDPPair(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "mediamtx.yml")
	mo := mtxconf.Options{RTSPPort: port, RTPPort: rtp, AbsoluteTimestamps: opts.AbsoluteTimestamps}
	if opts.API {
		mo.APIPort = FreePort(t)
	}
	if err := os.WriteFile(conf, []byte(mtxconf.Config(mo)), 0o600); err != nil {
		t.Fatalf("testenv: write MediaMTX config: %v", err)
	}

	var out syncBuffer
	m := &MediaMTX{
		URL:  fmt.Sprintf("rtsp://127.0.0.1:%d", port),
		Port: port,
		API:  apiURL(mo.APIPort),
		cmd:  exec.Command(bin, conf),
		done: make(chan struct{}),
	}
	m.cmd.Dir = dir
	m.cmd.Stdout, m.cmd.Stderr = &out, &out
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", bin, err)
	}
	var waitErr error
	go func() {
		waitErr = m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("MediaMTX output:\n%s", out.String())
		}
	})

	addr := fmt.Sprintf("127.0.0.1:%d", port)
	err := poll(mediaMTXReadyTimeout, func() bool {
		select {
		case <-m.done:
			return true
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	select {
	case <-m.done:
		t.Fatalf("testenv: MediaMTX exited at start (%v):\n%s", waitErr, out.String())
	default:
	}
	if err != nil {
		t.Fatalf("testenv: MediaMTX RTSP listener %s: %v\n%s", addr, err, out.String())
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

func apiURL(port int) string {
	if port == 0 {
		return ""
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}
