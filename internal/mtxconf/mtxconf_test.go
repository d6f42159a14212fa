package mtxconf

import (
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
