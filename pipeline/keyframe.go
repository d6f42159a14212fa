package pipeline

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-video-1.0
#include <gst/gst.h>
#include <gst/video/video.h>

// edge_force_key_unit queues a downstream force-key-unit event (all headers, as soon
// as possible) in the appsrc: it travels in order with the frames, through
// videoconvert, to the encoder, which makes the next frame it encodes after the event
// a keyframe with SPS/PPS. The appsrc queues the event and returns: it never blocks.
static gboolean edge_force_key_unit(GstElement *src) {
	GstEvent *ev = gst_video_event_new_downstream_force_key_unit(
		GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, TRUE, 0);
	return gst_element_send_event(src, ev); // takes the event
}
*/
import "C"

// RequestKeyframe asks the encoder to make the next frame pushed after it a keyframe
// (an IDR with SPS and PPS), so that a reader who just connected can decode at once
// instead of waiting for the next one of the keyframe interval. It never blocks and
// reports whether the request was queued: false while no pipeline is playing (the
// frames are dropped then anyway, and a new pipeline starts with a keyframe).
func (o *Output) RequestKeyframe() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.src == nil || !o.playing {
		return false
	}
	return C.edge_force_key_unit((*C.GstElement)(o.src.Unsafe())) != 0
}
