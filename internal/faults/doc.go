// Package faults holds the fault and hostile-input tests that need the real
// edge-agent binary: a command flood on both buses, each broker frozen
// (SIGSTOP) and killed, a corrupt state directory at start and a state
// directory that fills up and is freed again. Each test builds
// cmd/edge-agent, runs it as a child process against real brokers on
// 127.0.0.1 (ports picked at run time) and asserts a specific error or
// recovery, that the agent is still running at the end (process alive,
// /healthz 200) and that nothing it accepted was lost.
//
// The package has no code besides its tests. The broker outages take
// minutes and run only with EDGE_TEST_LONG set (make test-long). The rows of
// docs/hardening.md that these tests prove name them.
package faults
