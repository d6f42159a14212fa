// Package pipeline moves video between cameras, the agent and MediaMTX through GStreamer.
//
// [Ingest] reads one camera (RTSP, a local file or a test pattern), decodes every
// compressed frame and hands the caller only the newest decoded frame: by default the
// decoder's own planar YUV 4:2:0 (I420 or NV12, with its strides: no colour conversion
// in GStreamer), or packed RGB converted by videoconvert (IngestConfig.Format). Under
// [PolicyLatest] the appsink is a one-slot mailbox, so a slow consumer skips frames
// (counted in [Frame.Dropped]) instead of falling behind. Each frame's capture time is
// the camera's own clock only once the ingest trusts it (clock.go: [ClockStatus]), else
// its arrival. [Output] encodes frames (YUV as they are, or RGB) to H.264 and publishes
// them to an RTSP server, rebuilding itself with capped backoff when the server goes
// away; [Output.Push] never blocks, and [Output.RequestKeyframe] asks the encoder for a
// keyframe for a new reader. [Publisher] glues the two together as a stand-in camera
// for development and tests, optionally one whose resolution keeps changing
// (PublisherConfig.SwitchEvery).
//
// Element choice and pipeline descriptions are pure functions ([ChooseDecoder],
// [ChooseEncoder], [IngestPipeline], [DecodeBranch], [OutputPipeline]) so they can be
// tested without GStreamer. Only gst.go, clocksync.go, keyframe.go, ingest.go and
// output.go touch go-gst or cgo; they exchange plain Go values (frames as []byte with
// their layout).
//
// The package deliberately does not run models, draw overlays, restart a failed
// ingest (the caller supervises it) or know about the message bus.
//
// GStreamer is initialised once per process, on first use, behind a sync.Once: gst_init
// is process-global by nature and idempotent, so this is the one piece of package-level
// state.
package pipeline
