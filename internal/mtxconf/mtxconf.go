// Package mtxconf writes the MediaMTX configuration the tests and the
// benchmark harness run MediaMTX with, and picks the loopback ports for it.
// It is not the deployment configuration (deploy/mediamtx.yml).
package mtxconf

import (
	"errors"
	"fmt"
	"net"
)

// Options are the ports and the one behaviour the callers vary.
type Options struct {
	RTSPPort int // TCP, on 127.0.0.1
	RTPPort  int // UDP, even; RTCP is RTPPort+1
	// AbsoluteTimestamps relays the publisher's own timestamps
	// (useAbsoluteTimestamp) instead of MediaMTX's receive times.
	AbsoluteTimestamps bool
	// APIPort, when not 0, turns the control API on at 127.0.0.1:APIPort
	// (MediaMTX's default users let anonymous clients use it from
	// loopback only).
	APIPort int
}

// Config binds RTSP (TCP and UDP) to 127.0.0.1 on the given ports and turns
// every other listener off. Keys left out keep MediaMTX's defaults, which let
// anyone publish and read any path.
func Config(o Options) string {
	api := "api: no"
	if o.APIPort != 0 {
		api = fmt.Sprintf("api: yes\napiAddress: 127.0.0.1:%d", o.APIPort)
	}
	return fmt.Sprintf(`logLevel: info
logDestinations: [stdout]
rtsp: yes
rtspTransports: [udp, tcp]
rtspEncryption: "no"
rtspAddress: 127.0.0.1:%d
rtpAddress: 127.0.0.1:%d
rtcpAddress: 127.0.0.1:%d
rtmp: no
hls: no
webrtc: no
srt: no
%s
metrics: no
pprof: no
playback: no
pathDefaults:
  useAbsoluteTimestamp: %t
paths:
  all_others:
`, o.RTSPPort, o.RTPPort, o.RTPPort+1, api, o.AbsoluteTimestamps)
}

// FreeTCPPort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeUDPPair returns an even UDP port p on 127.0.0.1 such that p and p+1
// were both free a moment ago (MediaMTX's RTP and RTCP ports).
func FreeUDPPair() (int, error) {
	for range 100 {
		a, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick a free UDP port: %w", err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		if p%2 != 0 || p+1 > 65535 {
			a.Close()
			continue
		}
		b, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p+1))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p, nil
	}
	return 0, errors.New("no free pair of UDP ports found")
}
