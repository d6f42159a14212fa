package deploy_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startMediaMTX runs bin/mediamtx with config; only its listeners change,
// through MediaMTX's own MTX_* overrides: RTSP over TCP on a free loopback
// port, the other servers off.
func startMediaMTX(t *testing.T, config string) (*process, string) {
	t.Helper()
	bin := need(t, filepath.Join("..", "bin", "mediamtx"))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := start(t, bin, []string{
		"MTX_RTSPADDRESS=" + addr, "MTX_RTSPTRANSPORTS=tcp",
		"MTX_HLS=no", "MTX_WEBRTC=no", "MTX_API=no", "MTX_RTMP=no", "MTX_SRT=no",
	}, config)
	waitListening(t, addr, p)
	return p, addr
}

// sdp is a minimal H.264 session, enough for ANNOUNCE.
const sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n"

// rtspStatus sends one RTSP request (ANNOUNCE: publish; DESCRIBE: read) for
// path, with Basic credentials unless user is empty, and returns the
// response's status code. MediaMTX answers a wrong login after 2 s (its
// brute-force pause), so callers run these in parallel.
func rtspStatus(addr, method, path, user, password string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("%s rtsp://%s/%s RTSP/1.0\r\nCSeq: 1\r\n", method, addr, path)
	if user != "" {
		req += "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password)) + "\r\n"
	}
	body := ""
	if method == "ANNOUNCE" {
		body = sdp
		req += fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d\r\n", len(body))
	} else {
		req += "Accept: application/sdp\r\n"
	}
	if _, err := c.Write([]byte(req + "\r\n" + body)); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, err
	}
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "RTSP/1.0" {
		return 0, fmt.Errorf("not an RTSP response: %q", line)
	}
	return strconv.Atoi(f[1])
}

type rtspCase struct {
	name, method, path, user, password string
	want                               []int
}

// checkRTSP runs the cases in parallel.
func checkRTSP(t *testing.T, addr string, cases []rtspCase) {
	t.Helper()
	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Go(func() {
			got, err := rtspStatus(addr, c.method, c.path, c.user, c.password)
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			} else if !containsInt(c.want, got) {
				t.Errorf("%s: %s %s answered %d, want %v", c.name, c.method, c.path, got, c.want)
			}
		})
	}
	wg.Wait()
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

const (
	ok           = 200
	unauthorized = 401
	notFound     = 404 // logged in and allowed to read; nothing published yet
)

func TestMediaMTXAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no MediaMTX, no encoder")
	}
	_, s := sharedSecrets(t)
	dir := s.dir
	agentPW, viewerPW := s.passwords["agent_stream"], s.passwords["viewer_stream"]

	t.Run("shipped file alone: nobody", func(t *testing.T) {
		_, addr := startMediaMTX(t, "mediamtx.yml")
		checkRTSP(t, addr, []rtspCase{
			{"anonymous publish", "ANNOUNCE", "cam1-annotated", "", "", []int{unauthorized}},
			{"agent publish", "ANNOUNCE", "cam1-annotated", "agent", agentPW, []int{unauthorized}},
			{"anonymous read", "DESCRIBE", "cam1-annotated", "", "", []int{unauthorized}},
			{"viewer read", "DESCRIBE", "cam1-annotated", "viewer", viewerPW, []int{unauthorized}},
		})
	})

	mtx, addr := startMediaMTX(t, filepath.Join(dir, "mediamtx.yml"))

	t.Run("logins and their rights", func(t *testing.T) {
		checkRTSP(t, addr, []rtspCase{
			{"anonymous publish", "ANNOUNCE", "cam1-annotated", "", "", []int{unauthorized}},
			{"agent, wrong password", "ANNOUNCE", "cam1-annotated", "agent", viewerPW, []int{unauthorized}},
			{"viewer publish", "ANNOUNCE", "cam1-annotated", "viewer", viewerPW, []int{unauthorized}},
			{"agent over a camera's path", "ANNOUNCE", "cam1", "agent", agentPW, []int{unauthorized}},
			{"agent publish", "ANNOUNCE", "other-annotated", "agent", agentPW, []int{ok}},
			{"anonymous read", "DESCRIBE", "cam1-annotated", "", "", []int{unauthorized}},
			{"agent read", "DESCRIBE", "cam1-annotated", "agent", agentPW, []int{unauthorized}},
			{"viewer read", "DESCRIBE", "nothing-here", "viewer", viewerPW, []int{notFound}},
		})
	})

	t.Run("rtspclientsink publishes with the agent's EDGE_OUTPUT_USER and _PASSWORD", func(t *testing.T) {
		gst := need(t, "gst-launch-1.0")
		env := s.env(t, "agent.env")
		if env["EDGE_OUTPUT_USER"] == "" || env["EDGE_OUTPUT_PASSWORD"] == "" {
			t.Fatal("agent.env has no EDGE_OUTPUT_USER and EDGE_OUTPUT_PASSWORD")
		}
		// As the agent writes a camera's default output URL (agent/layers.go).
		out := (&url.URL{Scheme: "rtsp", Host: addr, Path: "/cam1-annotated",
			User: url.UserPassword(env["EDGE_OUTPUT_USER"], env["EDGE_OUTPUT_PASSWORD"])}).String()
		// The agent's output elements (pipeline/launch.go) with a live test
		// picture, stopped as the agent stops its output: torn down, not
		// drained to an end of stream (rtspclientsink's TEARDOWN at EOS may
		// hang or fail against MediaMTX, a path the agent does not take).
		ctx, stop := context.WithCancel(t.Context())
		defer stop()
		cmd := exec.CommandContext(ctx, gst, "-q",
			"videotestsrc", "is-live=true", "!", "video/x-raw,width=320,height=240,framerate=15/1",
			"!", "x264enc", "tune=zerolatency", "speed-preset=ultrafast", "!", "h264parse", "config-interval=-1",
			"!", "rtspclientsink", "location="+out, "protocols=tcp")
		cmd.WaitDelay = time.Second
		var output strings.Builder
		cmd.Stdout, cmd.Stderr = &output, &output
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		mtx.waitLine(t, 15*time.Second, "is publishing to path 'cam1-annotated'")
		// While it plays: the viewer reads it, nobody else does.
		checkRTSP(t, addr, []rtspCase{
			{"viewer read", "DESCRIBE", "cam1-annotated", "viewer", viewerPW, []int{ok}},
			{"anonymous read", "DESCRIBE", "cam1-annotated", "", "", []int{unauthorized}},
		})
		select {
		case err := <-exited:
			t.Errorf("gst-launch-1.0 ended while publishing (%v):\n%s", err, s.redact(output.String()))
		default:
			stop()
			if err := recv(t, exited, 10*time.Second, "end of gst-launch-1.0, killed"); err == nil {
				t.Errorf("gst-launch-1.0 ended cleanly after being killed?\n%s", s.redact(output.String()))
			}
		}
	})
}
