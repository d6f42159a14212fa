package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"edge-agent/internal/testenv"
	"edge-agent/pipeline"
)

func TestVersionLine(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v1.2.3-4-gabcdef0-dirty", "abcdef0"
	if got, want := versionLine(), "edge-agent v1.2.3-4-gabcdef0-dirty (commit abcdef0)"; got != want {
		t.Fatalf("versionLine() = %q, want %q", got, want)
	}
}

// serve starts a server on 127.0.0.1 whose /healthz answers code and
// returns its host:port.
func serve(t *testing.T, code int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestHealth(t *testing.T) {
	closed := net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t))) // nothing listens there

	ok := serve(t, http.StatusOK)
	_, okPort, _ := net.SplitHostPort(ok)
	for _, tc := range []struct {
		name, listen string
		want         int
		stderr       string
	}{
		{"ok", ok, 0, ""},
		{"wildcard asked on loopback", "0.0.0.0:" + okPort, 0, ""},
		{"empty host asked on loopback", ":" + okPort, 0, ""},
		{"unhealthy", serve(t, http.StatusServiceUnavailable), 1, "503 Service Unavailable"},
		{"none", "none", 1, "EDGE_HTTP_LISTEN=none"},
		{"unreachable", closed, 1, "connection refused"},
		{"not host:port", "9108", 1, "not host:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := health(tc.listen, &stderr); got != tc.want {
				t.Fatalf("health(%q) = %d, want %d (stderr %q)", tc.listen, got, tc.want, stderr.String())
			}
			if tc.stderr == "" && stderr.Len() != 0 {
				t.Fatalf("health(%q) wrote %q, want nothing", tc.listen, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("health(%q) stderr %q, want it to name %q", tc.listen, stderr.String(), tc.stderr)
			}
		})
	}
}

func TestCheckGStreamer(t *testing.T) {
	for _, tt := range []struct {
		name       string
		r          pipeline.ElementReport
		rc         int
		out, inErr string
	}{
		{"all there", pipeline.ElementReport{Hardware: []string{"vah264dec", "vapostproc"}}, 0,
			"hardware elements present: vah264dec vapostproc", ""},
		{"no hardware", pipeline.ElementReport{}, 0, "hardware elements present: none", ""},
		{"missing", pipeline.ElementReport{Missing: []string{"avdec_h264", "x265enc"}}, 1,
			"required elements checked", "the GStreamer registry lacks avdec_h264 x265enc"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if rc := checkGStreamer(tt.r, &out, &errb); rc != tt.rc {
				t.Errorf("rc %d, want %d", rc, tt.rc)
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.out)
			}
			if tt.inErr == "" && errb.Len() > 0 || !strings.Contains(errb.String(), tt.inErr) {
				t.Errorf("stderr %q, want %q", errb.String(), tt.inErr)
			}
		})
	}
}
