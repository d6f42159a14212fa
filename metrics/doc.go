// Package metrics is the agent's Prometheus metrics and its health
// endpoints: one registry per Metrics value holding per-camera frame
// counters and stage histograms, the loaded model per camera, command
// outcomes, the bus clients' counters (read at scrape time) and the Go and
// process collectors; and a Server that exposes them on /metrics next to
// /healthz and /readyz.
//
// Recording is cheap by construction: Camera binds a camera's label values
// once and hands back plain counters, gauges and observers, so the video
// loop records a frame without allocating or taking a lock.
//
// The package deliberately does not decide anything: it does not count
// frames itself, judge readiness, validate camera names or choose the
// listen address. The agent owns those decisions and calls in. It keeps no
// global state: it never touches prometheus.DefaultRegisterer, so two
// agents (or two tests) in one process do not see each other's series.
//
// The default listen address is loopback (DefaultAddr). The endpoints have
// no authentication and no TLS; listening on any other interface is the
// operator's choice and needs an authenticating proxy in front.
//
// Files: metrics.go (Metrics, the registry, commands, models), camera.go
// (per-camera handles), bus.go (the scrape-time bus collector), buckets.go
// (histogram buckets and why), server.go (Server, CheckListen,
// IsLoopback), errors.go (sentinels).
package metrics
