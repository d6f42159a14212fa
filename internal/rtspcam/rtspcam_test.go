package rtspcam

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// describe sends an RTSP DESCRIBE to url and returns the status code and the SDP.
func describe(t *testing.T, url string, port int) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "DESCRIBE %s RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n", url)
	r := textproto.NewReader(bufio.NewReader(conn))
	line, err := r.ReadLine()
	if err != nil {
		t.Fatalf("DESCRIBE: %v", err)
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		t.Fatalf("DESCRIBE: status line %q", line)
	}
	code, _ := strconv.Atoi(f[1])
	h, err := r.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("DESCRIBE: headers: %v", err)
	}
	n, _ := strconv.Atoi(h.Get("Content-Length"))
	body := make([]byte, n)
	if _, err := io.ReadFull(r.R, body); err != nil {
		t.Fatalf("DESCRIBE: body: %v", err)
	}
	return code, string(body)
}

func TestCamera(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cam, err := Start(ctx, Config{Width: 320, Height: 240, ClockOffset: -2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if cam.Port() <= 0 || cam.URL() != fmt.Sprintf("rtsp://127.0.0.1:%d/cam", cam.Port()) {
		t.Fatalf("port %d, URL %q", cam.Port(), cam.URL())
	}
	code, sdp := describe(t, cam.URL(), cam.Port())
	if code != 200 || !strings.Contains(sdp, "H264/90000") {
		t.Fatalf("DESCRIBE: %d\n%s", code, sdp)
	}
	if code, _ := describe(t, fmt.Sprintf("rtsp://127.0.0.1:%d/other", cam.Port()), cam.Port()); code != 404 {
		t.Errorf("DESCRIBE of an unknown path: %d, want 404", code)
	}
	cancel() // the context's end closes the camera
	select {
	case <-cam.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("camera still running 10 s after its context ended")
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(cam.Port()), time.Second); err == nil {
		c.Close()
		t.Error("still listening after the camera stopped")
	}
	if err := cam.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := cam.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{Port: -1}, "rtspcam: port -1 out of range"},
		{Config{Width: 320}, "rtspcam: size 320x0 at 0 fps: set width and height together, none negative"},
		{Config{Path: "cam"}, `rtspcam: path "cam" does not start with /`},
	} {
		if _, err := Start(t.Context(), tt.cfg); err == nil || err.Error() != tt.want {
			t.Errorf("Start(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}
