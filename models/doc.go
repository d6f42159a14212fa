// Package models turns frames (packed RGB, or the decoder's own YUV 4:2:0:
// I420 or NV12, letterboxed, converted and normalised into the model's input
// in one pass) into object detections with an ONNX Runtime session running
// a YOLO model (YOLOv8/YOLO11, YOLOv5 or YOLOX output layouts), and draws
// boxes, labels, zones and lines into frames of any of those formats.
//
// [Runtime.Load] treats a model file as untrusted input: it reads at most
// [Options].MaxBytes from one open descriptor of a regular file (inside
// [Options].Root when set), checks [Options].SHA256 before ONNX Runtime
// parses a byte, and refuses shapes beyond [MaxInputSide], [MaxAnchors],
// [MaxClasses] and [MaxOutputValues] before allocating tensors
// (TestLoadHostile).
//
// A process creates one [Runtime] (ONNX Runtime's environment is
// process-global), loads one or more [Detector]s from .onnx files with
// [Runtime.Load] and calls [Detector.Detect] for each frame. Detect letterboxes
// the frame into the model input, runs the model, decodes its output,
// suppresses overlapping boxes and maps the boxes back to the frame's pixels.
// The per-frame path allocates nothing once warmed up (on each lane it
// uses: a lone caller always gets the same lane). [Draw] paints
// detections onto a frame, [DrawTracked] with their track IDs, and
// [DrawPolygon] and [DrawLine] a camera's zones and lines.
//
// One detector can serve several cameras in two ways, which combine.
//
// Lanes let several calls run the model at the same time. A detector loaded
// with [Options].Lanes = N holds one ONNX Runtime session (one copy of the
// weights) and N lanes, each with input and output buffers of its own (and
// ONNX Runtime tensors over them, bound to the session with I/O bindings of
// its own), its own letterbox geometry and its own decoding scratch. Detect
// and DetectBatch are safe for concurrent use: each call takes a free lane
// for its whole length, so up to N calls run together (ONNX Runtime allows
// concurrent runs of one session) and a call beyond N waits for a lane
// (TestDetectLanesRunTogether); each call gets what it would get alone
// (TestDetectLanesKeepResultsApart, and TestDetectLanesYOLOX on a real
// model). [Detector.Close] waits for the calls under way
// (TestCloseWaitsForCalls). With one lane (the default) calls take turns. On
// the CPU, lanes pay off when Lanes x Threads is about the number of cores:
// with one intra-op thread per run, two lanes let two cameras use two cores
// (BenchmarkDetectLanes).
//
// A batch runs several frames in one run of the model, when the model's
// input has a dynamic batch dimension (symbolic or -1, as in a dynamic
// Ultralytics export, or the marker model written with
// marker.Options.DynamicBatch): load it with [Options].MaxBatch above 1 and
// call [Detector.DetectBatch] with up to [Detector.MaxBatch] frames, each of
// its own size and with its own [Thresholds]. Each frame is letterboxed into
// its own slot of the lane's input and its detections are decoded from its
// own slot of the output with its own geometry; a batch gives each frame what
// Detect gives it alone (TestDetectBatchMarkers). Each lane has, for each
// batch size, tensors over the first frames of its buffers, bound with an
// I/O binding of their own, so DetectBatch allocates nothing either once
// warmed up. A model with a fixed batch of 1 ignores MaxBatch: its MaxBatch
// is 1. Whether a batch is faster than as many Detect calls depends on the
// model and the execution provider; on the CPU it can be slower
// (BenchmarkDetectBatch4 against BenchmarkDetectSequential4), so measure
// before turning it on.
//
// The package deliberately knows nothing of GStreamer, message buses or the
// agent: it exchanges plain Go values ([Image], [Detection]). Only runtime.go
// and session.go use cgo (onnxruntime_go, and a few lines of C in runtime.go
// that ask the library for its execution providers); letterboxing, decoding,
// non-maximum suppression, labels and drawing are pure Go and are tested with a
// fake session.
package models
