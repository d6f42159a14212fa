package mtxconf

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestMediaMTXConfig(t *testing.T) {
	c := Config(Options{RTSPPort: 18554, RTPPort: 18000, AbsoluteTimestamps: true})
	// Every listener but RTSP is off, and RTSP is bound to loopback.
	for _, want := range []string{
		"rtspAddress: 127.0.0.1:18554", "rtpAddress: 127.0.0.1:18000", "rtcpAddress: 127.0.0.1:18001",
		"rtmp: no", "hls: no", "webrtc: no", "srt: no", "api: no", "metrics: no", "pprof: no", "playback: no",
		"useAbsoluteTimestamp: true", "all_others:",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %q:\n%s", want, c)
		}
	}
}

func TestFreePorts(t *testing.T) {
	p, err := FreeUDPPair()
	if err != nil || p%2 != 0 {
		t.Fatalf("FreeUDPPair = %d, %v; want an even port", p, err)
	}
	tp, err := FreeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", itoa(tp)))
	if err != nil {
		t.Fatalf("port %d from FreeTCPPort is not free: %v", tp, err)
	}
	l.Close()
}

func itoa(n int) string { return strconv.Itoa(n) }
