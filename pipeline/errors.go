package pipeline

import (
	"errors"
	"fmt"
)

// ErrEOS is returned by [Ingest.Next] once a finite source (a file without Loop, or a
// server that ended the stream) has delivered its last frame.
var ErrEOS = errors.New("pipeline: end of stream")

// ErrStalled is returned by [Ingest.Next] when no decoded frame arrived for
// IngestConfig.StallTimeout, whether the camera sent nothing or sent bytes that never
// decoded.
var ErrStalled = errors.New("pipeline: stream stalled")

// ErrClosed is returned by [Ingest.Next] after [Ingest.Close].
var ErrClosed = errors.New("pipeline: ingest closed")

// ErrNoDecoder says the GStreamer registry has no usable decoder for the stream's codec,
// or the forced decoder is missing.
var ErrNoDecoder = errors.New("no decoder")

// ErrNoEncoder says the GStreamer registry has no usable encoder, or the forced encoder
// is missing.
var ErrNoEncoder = errors.New("no encoder")

// StreamError is an error GStreamer posted on a pipeline's bus, with the name of the
// element that posted it.
type StreamError struct {
	Element string // name of the posting element, e.g. "src" or "avdec_h264-0"
	Message string // GStreamer's message, e.g. "Could not open resource for reading."
	Debug   string // GStreamer's debug detail; may be long, may name files
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("gstreamer: %s: %s", e.Element, e.Message)
}
