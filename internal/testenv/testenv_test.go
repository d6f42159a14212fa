package testenv

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRepoRoot(t *testing.T) {
	root := RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("RepoRoot = %s, which has no go.mod", root)
	}
}

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatalf("port %d from FreePort is not free: %v", p, err)
	}
	l.Close()
}

func TestFreeUDPPair(t *testing.T) {
	p := freeUDPPair(t)
	if p%2 != 0 {
		t.Fatalf("RTP port %d is odd", p)
	}
}

func TestPoll(t *testing.T) {
	n := 0
	if err := poll(time.Second, func() bool { n++; return n == 3 }); err != nil {
		t.Fatalf("poll: %v", err)
	}
	start := time.Now()
	err := poll(50*time.Millisecond, func() bool { return false })
	if err == nil {
		t.Fatal("poll of a false condition succeeded")
	}
	if el := time.Since(start); el < 50*time.Millisecond || el > 2*time.Second {
		t.Fatalf("poll gave up after %v, want about 50ms", el)
	}
}

func TestStartMediaMTX(t *testing.T) {
	url := StartMediaMTX(t)
	addr := strings.TrimPrefix(url, "rtsp://")
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.Close()
}

func TestMediaMTXStop(t *testing.T) {
	port := FreePort(t)
	m := RunMediaMTX(t, MediaMTXOptions{RTSPPort: port})
	if m.Port != port {
		t.Fatalf("Port = %d, want %d", m.Port, port)
	}
	m.Stop()
	m.Stop() // idempotent
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	WaitFor(t, 5*time.Second, "the RTSP port to close", func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
}
