// Package pipeline moves video between cameras, the agent and MediaMTX through GStreamer.
//
// [Ingest] reads one camera (RTSP, a local file or a test pattern), decodes every
// compressed frame and hands the caller only the newest decoded frame as packed RGB:
// under [PolicyLatest] the appsink is a one-slot mailbox, so a slow consumer skips
// frames (counted in [Frame.Dropped]) instead of falling behind. [Output] encodes RGB
// frames to H.264 and publishes them to an RTSP server, rebuilding itself with capped
// backoff when the server goes away; [Output.Push] never blocks. [Publisher] glues the
// two together as a stand-in camera for development and tests, optionally one whose
// resolution keeps changing (PublisherConfig.SwitchEvery).
//
// Element choice and pipeline descriptions are pure functions ([ChooseDecoder],
// [ChooseEncoder], [IngestPipeline], [DecodeBranch], [OutputPipeline]) so they can be
// tested without GStreamer. Only gst.go, ingest.go and output.go touch go-gst or cgo;
// they exchange plain Go values ([]byte frames with width, height and stride).
//
// The package deliberately does not run models, draw overlays, restart a failed
// ingest (the caller supervises it) or know about the message bus.
//
// GStreamer is initialised once per process, on first use, behind a sync.Once: gst_init
// is process-global by nature and idempotent, so this is the one piece of package-level
// state.
package pipeline
