// Package models turns RGB frames into object detections with an ONNX Runtime
// session running a YOLO model (YOLOv8/YOLO11, YOLOv5 or YOLOX output
// layouts).
//
// A process creates one [Runtime] (ONNX Runtime's environment is
// process-global), loads one or more [Detector]s from .onnx files with
// [Runtime.Load] and calls [Detector.Detect] for each frame. Detect letterboxes
// the frame into the model input, runs the model, decodes its output,
// suppresses overlapping boxes and maps the boxes back to the frame's pixels.
// The per-frame path allocates nothing once warmed up. [Draw] paints
// detections onto a frame.
//
// One detector can serve several cameras in one run of the model when the
// model's input has a dynamic batch dimension (symbolic or -1, as in a
// dynamic Ultralytics export, or the marker model written with
// marker.Options.DynamicBatch): load it with [Options].MaxBatch above 1 and
// call [Detector.DetectBatch] with up to [Detector.MaxBatch] frames, each of
// its own size and with its own [Thresholds]. Each frame is letterboxed into
// its own slot of the input and its detections are decoded from its own slot
// of the output with its own geometry; a batch gives each frame what Detect
// gives it alone (TestDetectBatchMarkers). The session holds one copy of the
// model and, for each batch size, ONNX Runtime tensors over the first frames
// of the same buffers, bound with an I/O binding, so DetectBatch allocates
// nothing either once warmed up. A model with a fixed batch of 1 ignores
// MaxBatch: its MaxBatch is 1. Whether a batch is faster than as many Detect
// calls depends on the model and the execution provider; on the CPU it can
// be slower (BenchmarkDetectBatch4 against BenchmarkDetectSequential4), so
// measure before turning it on.
//
// The package deliberately knows nothing of GStreamer, message buses or the
// agent: it exchanges plain Go values ([Image], [Detection]). Only runtime.go
// and session.go use cgo (onnxruntime_go, and a few lines of C in runtime.go
// that ask the library for its execution providers); letterboxing, decoding,
// non-maximum suppression, labels and drawing are pure Go and are tested with a
// fake session.
package models
