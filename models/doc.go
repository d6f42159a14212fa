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
// The package deliberately knows nothing of GStreamer, message buses or the
// agent: it exchanges plain Go values ([Image], [Detection]). Only runtime.go
// and session.go use cgo (onnxruntime_go, and a few lines of C in runtime.go
// that ask the library for its execution providers); letterboxing, decoding,
// non-maximum suppression, labels and drawing are pure Go and are tested with a
// fake session.
package models
