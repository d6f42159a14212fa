package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultAddr is where a Server listens when Addr is empty: loopback only,
// so nothing off the device can scrape it unless the operator chooses to.
const DefaultAddr = "127.0.0.1:9108"

// Server timeouts. A scrape of this registry takes milliseconds; the
// bounds only stop a slow or idle client from holding a connection
// (slowloris), and shutdownTimeout bounds how long Run waits for
// in-flight requests when ctx ends.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 8 << 10
	shutdownTimeout   = 5 * time.Second
)

// Server serves /metrics, /healthz and /readyz on one listener. It is
// ready to Run after a struct literal; the zero value of each field means
// its default.
//
// The endpoints have no authentication and no TLS. The default address is
// loopback; a caller that listens elsewhere (checked with CheckListen and
// IsLoopback) relies on the operator putting an authenticating proxy in
// front, and Run warns in the log when the address is not loopback.
//
// Only GET and HEAD are allowed: any other method gets 405 with an Allow
// header, and any other path 404.
type Server struct {
	// Addr is host:port to listen on, DefaultAddr if empty; port 0 picks
	// a free port (see Ready).
	Addr string
	// Metrics is served on /metrics. Required.
	Metrics *Metrics
	// Readiness answers /readyz: 200 when ready, else 503, with detail
	// encoded as JSON in the body either way. It is called once per
	// request, possibly concurrently. Nil means always ready, with a null
	// body.
	Readiness func() (ready bool, detail any)
	// Log receives the start-up line and net/http's own errors. Nil
	// discards them.
	Log *slog.Logger

	initOnce  sync.Once
	running   atomic.Bool
	listening chan struct{} // closed once Run has listened, or failed to
	addr      string        // the bound address, set before listening closes
	startErr  error         // why Run could not listen, set before listening closes
}

func (s *Server) init() { s.initOnce.Do(func() { s.listening = make(chan struct{}) }) }

// Run listens, serves until ctx ends, then shuts down gracefully: it stops
// accepting, waits up to 5 s for requests in flight and then closes what
// is left. It returns nil after a stop caused by ctx, the error if it
// could not listen or serve, and ErrRunning if the server runs or ran
// before: a Server runs once.
func (s *Server) Run(ctx context.Context) error {
	s.init()
	if !s.running.CompareAndSwap(false, true) {
		return fmt.Errorf("metrics server: %w", ErrRunning)
	}
	ln, err := s.listen(ctx)
	s.startErr = err
	if err == nil {
		s.addr = ln.Addr().String()
	}
	close(s.listening)
	if err != nil {
		return err
	}

	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "metrics")
	log.Info("serving /metrics, /healthz and /readyz", "addr", s.addr)
	if !IsLoopback(s.addr) {
		log.Warn("metrics endpoints listen beyond loopback without authentication; put an authenticating proxy in front", "addr", s.addr)
	}

	srv := &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }() // Serve closes ln when it returns

	select {
	case <-ctx.Done():
	case err := <-served:
		srv.Close()
		return fmt.Errorf("metrics server: serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Requests still running after the timeout are cut; that is the
		// bounded part of a normal stop, not a failure.
		log.Warn("closed connections still busy at shutdown", "timeout", shutdownTimeout)
		srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: serve: %w", err)
	}
	return nil
}

func (s *Server) listen(ctx context.Context) (net.Listener, error) {
	if s.Metrics == nil {
		return nil, errors.New("metrics server: no Metrics to serve")
	}
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	if err := CheckListen(addr); err != nil {
		return nil, fmt.Errorf("metrics server: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics server: %w", err) // net.OpError names the address
	}
	return ln, nil
}

// Ready waits up to timeout for Run to listen and returns the bound
// address (the real port when Addr asked for port 0). It returns Run's
// error if Run could not listen, and an error wrapping ErrNotReady if Run
// has not listened in time. It may be called before Run starts.
func (s *Server) Ready(timeout time.Duration) (addr string, err error) {
	s.init()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.listening:
		return s.addr, s.startErr
	case <-t.C:
		return "", fmt.Errorf("metrics server: %w after %v", ErrNotReady, timeout)
	}
}

// handler routes the three endpoints. Method patterns make the mux answer
// 405 with an Allow header for anything but GET and HEAD.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Metrics.Handler())
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	return mux
}

// healthz answers while the process serves HTTP at all: it is a liveness
// probe and checks nothing else.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	ready, detail := true, any(nil)
	if s.Readiness != nil {
		ready, detail = s.Readiness()
	}
	body, err := json.Marshal(detail)
	if err != nil {
		http.Error(w, "encode readiness detail: "+err.Error(), http.StatusInternalServerError)
		return
	}
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// CheckListen reports whether addr is a listen address Run accepts:
// host:port with a numeric port from 0 to 65535. The host may be empty
// (every interface), an IP address or a name. The error wraps
// ErrListenAddr and quotes addr; the caller adds which setting it came
// from.
func CheckListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w %q: want host:port such as %s", ErrListenAddr, addr, DefaultAddr)
	}
	if port == "" {
		return fmt.Errorf("%w %q: missing port after %q", ErrListenAddr, addr, host+":")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%w %q: port %q is not a number from 0 to 65535", ErrListenAddr, addr, port)
	}
	return nil
}

// IsLoopback reports whether a host:port listens on loopback only: the
// host is "localhost" or a loopback IP (127.0.0.0/8, ::1). An empty host
// (every interface), any other name, or an address CheckListen refuses is
// not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
