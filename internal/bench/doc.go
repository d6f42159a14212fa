// Package bench is the latency benchmark harness behind `make bench`: it runs
// each scenario (MediaMTX, the camera simulator, the agent and a probe as
// child processes on loopback), measures glass-to-glass latency with the probe,
// per-frame stage timings from the agent's events on NATS and CPU and memory
// from /proc, runs the Go micro-benchmarks of the hot path, and writes
// docs/BENCHMARKS.md, the raw JSON and a PNG plot from what it measured.
//
// Its multi-camera section (multicam.go) runs N cameras in one agent against
// N agents of one camera each, and reads each camera's frame rates from the
// agents' per-camera log summaries and the agents' CPU and memory summed
// over their processes.
//
// Its CPU section (cpu.go) runs one camera with yolox_nano on one ONNX
// Runtime thread with the frames in RGB and in YUV (EDGE_FRAME_FORMAT), the
// annotated stream off, on, and on demand with and without a reader, and
// reads the agent's CPU from /proc, its stages from the events, the
// annotated path's bit rate and readers from MediaMTX's API.
//
// It measures the programs in bin/ as a user runs them and never imports the
// agent, the models or the buses; only its probe (FrameProbe, a viewer) reads
// video through the pipeline package, as edge-probe does. It does not judge
// the numbers against fixed targets: the document's analysis is derived from
// the run it describes.
package bench
