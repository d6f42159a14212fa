// Package marker writes a small object-detection model in ONNX format whose
// ground truth is known by construction, for the demo and the tests of
// edge-agent, where no trained weights can be downloaded.
//
// The model finds axis-aligned solid rectangles ("markers") of four colours,
// red, green, blue and yellow (see [Colors] and [Names]), on a neutral grey,
// textured background, at most one marker of each colour in view. With
// [Options].Shades it also finds magenta and cyan markers and reports them
// as red, each colour on an anchor of its own (see [References]), so that
// up to three red markers come out as three boxes of one class, as a
// learned detector would give them. It is written in closed form from
// standard ONNX operators: each pixel is classified by a per-channel
// tolerance around each reference colour, and each colour's box comes from
// the moments of its mask (centre from the mean, width and height from the
// variance). Its input and output are those of an Ultralytics YOLOv8 export
// (input "images" [1,3,S,S], RGB 0..1, letterboxed; output "output0"
// [1,4+K,N]) with the same metadata (names, imgsz, stride, task, batch), so
// the agent runs it like any YOLO model. With [Options].DynamicBatch its
// batch dimension is symbolic instead of 1, as in a dynamic Ultralytics
// export, so one run can take several frames. [Write] and [WriteFile]
// produce it, byte for byte the same on every run.
//
// It is not a learned detector and does not generalise: it sees only the
// exact marker colours, confuses two markers of one colour with one box
// around both, sees only the visible part of a marker another covers, and
// is fooled by strongly coloured backgrounds. The package
// carries just enough of an ONNX protobuf writer for this one graph; it does
// not read ONNX files and does not depend on ONNX Runtime (its tests do).
package marker
