package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// wait bounds every wait on a real server: generous, since the test only
// waits for as long as the condition takes.
const wait = 10 * time.Second

// start runs s on a loopback port picked at run time and returns its base
// URL. The server stops when the test ends.
func start(t *testing.T, s *Server) string {
	t.Helper()
	if s.Addr == "" {
		s.Addr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			t.Errorf("Run did not return within %v of cancel", wait)
		}
	})
	addr, err := s.Ready(wait)
	if err != nil {
		t.Fatalf("Ready: %v", err)
	}
	return "http://" + addr
}

func do(t *testing.T, method, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, body
}

func TestEndpoints(t *testing.T) {
	var ready atomic.Bool
	s := &Server{
		Metrics: New("t"),
		Readiness: func() (bool, any) {
			if ready.Load() {
				return true, map[string]any{"cameras": map[string]string{"a": "streaming"}}
			}
			return false, map[string]any{"cameras": map[string]string{"a": "connecting"}}
		},
	}
	base := start(t, s)

	tests := []struct {
		name       string
		method     string
		path       string
		ready      bool
		wantCode   int
		wantBody   string // exact; "" with wantPrefix unset means empty
		wantPrefix string // instead of wantBody, for /metrics
		wantType   string
		wantAllow  string
	}{
		{"healthz", "GET", "/healthz", false, 200, "ok\n", "", "text/plain; charset=utf-8", ""},
		{"healthz head", "HEAD", "/healthz", false, 200, "", "", "text/plain; charset=utf-8", ""},
		{"ready", "GET", "/readyz", true, 200, `{"cameras":{"a":"streaming"}}` + "\n", "", "application/json", ""},
		{"not ready", "GET", "/readyz", false, 503, `{"cameras":{"a":"connecting"}}` + "\n", "", "application/json", ""},
		{"metrics", "GET", "/metrics", false, 200, "", "# HELP ", "text/plain; version=0.0.4; charset=utf-8; escaping=underscores", ""},
		{"post metrics", "POST", "/metrics", false, 405, "Method Not Allowed\n", "", "text/plain; charset=utf-8", "GET, HEAD"},
		{"put healthz", "PUT", "/healthz", false, 405, "Method Not Allowed\n", "", "text/plain; charset=utf-8", "GET, HEAD"},
		{"delete readyz", "DELETE", "/readyz", false, 405, "Method Not Allowed\n", "", "text/plain; charset=utf-8", "GET, HEAD"},
		{"unknown path", "GET", "/debug/pprof/", false, 404, "404 page not found\n", "", "text/plain; charset=utf-8", ""},
		{"sub path", "GET", "/healthz/x", false, 404, "404 page not found\n", "", "text/plain; charset=utf-8", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready.Store(tt.ready)
			resp, body := do(t, tt.method, base+tt.path)
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if tt.wantPrefix != "" {
				if !bytes.HasPrefix(body, []byte(tt.wantPrefix)) {
					t.Errorf("body starts %.40q, want %q", body, tt.wantPrefix)
				}
			} else if string(body) != tt.wantBody {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
			if got := resp.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

func TestReadyzDefaults(t *testing.T) {
	tests := []struct {
		name      string
		readiness func() (bool, any)
		wantCode  int
		wantBody  string
	}{
		// No Readiness: always ready, nothing to say.
		{"nil", nil, 200, "null\n"},
		{"ready, no detail", func() (bool, any) { return true, nil }, 200, "null\n"},
		{"not ready, a reason", func() (bool, any) { return false, "model loading" }, 503, `"model loading"` + "\n"},
		// A detail JSON cannot encode is the agent's bug, answered 500.
		{"detail not JSON", func() (bool, any) { return true, make(chan int) }, 500, "encode readiness detail: json: unsupported type: chan int\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := start(t, &Server{Metrics: New("t"), Readiness: tt.readiness})
			resp, body := do(t, "GET", base+"/readyz")
			if resp.StatusCode != tt.wantCode || string(body) != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

// TestLint is `promtool check metrics` on a real scrape: promlint is the
// linter promtool runs, here on the text exposition read over HTTP.
func TestLint(t *testing.T) {
	m := New("1.2.3")
	record(m)
	base := start(t, &Server{Metrics: m})
	resp, body := do(t, "GET", base+"/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}

	// The scrape holds every family, so the lint covers them.
	for _, f := range wantFamilies() {
		want := "# TYPE " + f.name + " " + strings.ToLower(f.typ.String()) + "\n"
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	// By hand from record: 3 processed frames on a.
	if want := "edge_frames_processed_total{camera=\"a\"} 3\n"; !bytes.Contains(body, []byte(want)) {
		t.Errorf("scrape lacks %q", want)
	}

	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestRunStops(t *testing.T) {
	s := &Server{Addr: "127.0.0.1:0", Metrics: New("t")}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	addr, err := s.Ready(wait)
	if err != nil {
		t.Fatalf("Ready: %v", err)
	}
	// An idle keep-alive connection must not hold up the stop.
	if resp, _ := do(t, "GET", "http://"+addr+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v, want nil", err)
		}
	case <-time.After(wait):
		t.Fatalf("Run did not return within %v of cancel", wait)
	}
	if c, err := net.DialTimeout("tcp", addr, wait); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Run returned", addr)
	}

	// A Server runs once.
	if err := s.Run(t.Context()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
}

func TestRunListenErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	tests := []struct {
		name   string
		server *Server
		is     error // what errors.Is must find
		want   string
	}{
		{"port taken", &Server{Addr: taken.Addr().String(), Metrics: New("t")}, syscall.EADDRINUSE,
			"metrics server: listen tcp " + taken.Addr().String() + ": bind: address already in use"},
		{"bad address", &Server{Addr: "9108", Metrics: New("t")}, ErrListenAddr,
			`metrics server: bad listen address "9108": want host:port such as 127.0.0.1:9108`},
		{"no metrics", &Server{Addr: "127.0.0.1:0"}, nil, "metrics server: no Metrics to serve"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.server.Run(t.Context())
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Run: %v, want %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			// Ready reports the same failure at once rather than timing out.
			if _, rerr := tt.server.Ready(wait); rerr != err {
				t.Errorf("Ready: %v, want Run's error", rerr)
			}
		})
	}
}

func TestReadyTimeout(t *testing.T) {
	// On the virtual clock the minute passes at once.
	synctest.Test(t, func(t *testing.T) {
		s := &Server{Metrics: New("t")} // never Run
		addr, err := s.Ready(time.Minute)
		if !errors.Is(err, ErrNotReady) || addr != "" {
			t.Errorf("Ready = %q, %v; want ErrNotReady", addr, err)
		}
		if want := "metrics server: not ready after 1m0s"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	})
}

func TestCheckListen(t *testing.T) {
	tests := []struct {
		addr string
		want string // "" for accepted
	}{
		{"127.0.0.1:9108", ""},
		{"127.0.0.1:0", ""},
		{"localhost:9108", ""},
		{"[::1]:9108", ""},
		{":9108", ""}, // every interface: valid, but not loopback
		{"0.0.0.0:65535", ""},
		{"9108", `bad listen address "9108": want host:port such as 127.0.0.1:9108`},
		{"", `bad listen address "": want host:port such as 127.0.0.1:9108`},
		{"::1:9108", `bad listen address "::1:9108": want host:port such as 127.0.0.1:9108`},
		{"127.0.0.1:", `bad listen address "127.0.0.1:": missing port after "127.0.0.1:"`},
		{"127.0.0.1:http", `bad listen address "127.0.0.1:http": port "http" is not a number from 0 to 65535`},
		{"127.0.0.1:65536", `bad listen address "127.0.0.1:65536": port "65536" is not a number from 0 to 65535`},
		{"127.0.0.1:-1", `bad listen address "127.0.0.1:-1": port "-1" is not a number from 0 to 65535`},
	}
	for _, tt := range tests {
		err := CheckListen(tt.addr)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckListen(%q): %v, want nil", tt.addr, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("CheckListen(%q): %v, want %q", tt.addr, err, tt.want)
		case tt.want != "" && !errors.Is(err, ErrListenAddr):
			t.Errorf("CheckListen(%q): %v does not wrap ErrListenAddr", tt.addr, err)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{DefaultAddr, true},
		{"127.0.0.2:9108", true},
		{"localhost:9108", true},
		{"[::1]:9108", true},
		{":9108", false}, // every interface
		{"0.0.0.0:9108", false},
		{"[::]:9108", false},
		{"192.168.1.10:9108", false},
		{"edge-1.local:9108", false}, // a name may resolve anywhere
		{"9108", false},
	}
	for _, tt := range tests {
		if got := IsLoopback(tt.addr); got != tt.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}
