// Package mtxconf writes the MediaMTX configuration the tests and the
// benchmark harness run MediaMTX with (its ports come from freeport).
// It is not the deployment configuration (deploy/mediamtx.yml).
package mtxconf

import "fmt"

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
