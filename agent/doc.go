// Package agent wires a camera, a detector and the outputs together and runs
// the hot path: take the newest frame → detect → draw → push the annotated
// frame → hand the detections on. It is the one package that imports
// pipeline, models and (later) bus, and the one place that translates
// between their types.
//
// Read it top to bottom: config.go (settings), agent.go (lifecycle and
// supervision), camera.go (the per-frame loop), report.go (what happens to a
// processed frame's results). It deliberately holds no GStreamer or ONNX
// Runtime code: those sit behind small interfaces declared here.
package agent
