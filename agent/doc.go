// Package agent runs many cameras through shared models into their annotated
// streams and the buses. It is the one package that imports pipeline,
// models, bus, track, zones, objects, snapshot, demand and metrics, and the one
// place that translates between their types.
//
// Read it top to bottom:
//   - config.go: the agent-wide settings (EDGE_*), read once at start.
//   - spec.go, layers.go, state.go: the cameras' desired state. Every
//     source of settings (the environment, EDGE_CONFIG_FILE, the changes
//     commands saved in EDGE_STATE_DIR/config.json) is a cameraPatch;
//     buildSpec layers them into one typed Spec and validates it whole;
//     diff says what a change to a camera takes (nothing, a live swap, a
//     model swap, a restart of that camera alone).
//   - manager.go: one worker per camera, reconciled with the spec.
//   - pool.go: one ONNX Runtime session per model file, shared by the
//     cameras that name it, reference-counted; the cameras take turns in
//     round-robin order, each with only its newest frame, and a model with
//     a dynamic batch dimension runs the waiting frames in one call.
//   - camera.go: the per-frame loop (newest frame → detect → track →
//     objects → draw → push → publish), with supervision and backoff. The
//     frame stays in the ingest's format (YUV by default) throughout; its
//     latency is split into stages that add up (result.go: stageTimings);
//     the camera's on-demand gate (demand/) says which frames the annotated
//     stream gets while nobody watches it. Each
//     camera owns a track.Tracker: a reconnection or another model ends its
//     tracks, and its IDs carry on across the camera's restarts
//     (manager.go). With EDGE_OUTPUT_FRAMES=all a video goroutine pushes
//     every frame with the predicted tracks while the loop detects on the
//     newest (streamAll, frameMailbox).
//   - objects.go, snapshots.go: a camera's zones and lines, its objects'
//     events and counts, and their snapshots (encoded off the loop).
//   - publishfilter.go: which frames become events, and the per-label
//     counts: the agent's decisions, handed to bus/ to carry.
//   - stats.go: the one collector per camera that the log summary, the
//     heartbeat and /metrics read.
//   - commands.go: the commands, applied through the same spec.
//   - agent.go: lifecycle, heartbeat, readiness, reload.
//
// It deliberately holds no GStreamer or ONNX Runtime code: those sit behind
// small interfaces declared here.
package agent
