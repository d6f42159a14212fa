package pipeline

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-app-1.0 gstreamer-video-1.0
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>

static gint64 edge_wall_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// edge_tap counts the buffers crossing a pad. With stamp set it also writes the count
// (the buffer's sequence number) into GST_BUFFER_OFFSET and the wall-clock arrival time
// in Unix nanoseconds into GST_BUFFER_OFFSET_END, which nothing between the tap and the
// appsink touches.
typedef struct {
	gint64 count;
	gint64 last_ns;
	gboolean stamp;
	GstPad *pad;
	gulong probe;
} edge_tap;

static GstPadProbeReturn edge_tap_cb(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
	edge_tap *t = data;
	gint64 n = __atomic_add_fetch(&t->count, 1, __ATOMIC_SEQ_CST);
	gint64 now = edge_wall_ns();
	__atomic_store_n(&t->last_ns, now, __ATOMIC_SEQ_CST);
	if (t->stamp) {
		// Buffers from videoconvert's pool are writable (refcount 1): no copy. Otherwise
		// this copies the buffer's metadata, never its memory.
		GstBuffer *buf = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
		GST_BUFFER_OFFSET(buf) = (guint64)n;
		GST_BUFFER_OFFSET_END(buf) = (guint64)now;
		GST_PAD_PROBE_INFO_DATA(info) = buf;
	}
	return GST_PAD_PROBE_OK;
}

static edge_tap *edge_tap_new(GstElement *el, const char *pad_name, gboolean stamp) {
	GstPad *pad = gst_element_get_static_pad(el, pad_name);
	if (pad == NULL) {
		return NULL;
	}
	edge_tap *t = g_new0(edge_tap, 1);
	t->stamp = stamp;
	t->pad = pad;
	t->probe = gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, edge_tap_cb, t, NULL);
	return t;
}

// edge_tap_free must only run once no thread streams through the pad (pipeline in NULL).
static void edge_tap_free(edge_tap *t) {
	gst_pad_remove_probe(t->pad, t->probe);
	gst_object_unref(t->pad);
	g_free(t);
}

static gint64 edge_tap_count(edge_tap *t) { return __atomic_load_n(&t->count, __ATOMIC_SEQ_CST); }
static gint64 edge_tap_last(edge_tap *t) { return __atomic_load_n(&t->last_ns, __ATOMIC_SEQ_CST); }

// edge_puller holds one pulled, mapped sample between edge_pull and edge_release, and
// the video info of the last caps seen (parsed again only when the caps change).
typedef struct {
	GstCaps *ntp_caps;
	GstCaps *caps;
	GstVideoInfo info;
	GstSample *sample;
	GstBuffer *buffer;
	GstMapInfo map;
	// Results of the last successful edge_pull.
	guint64 seq;
	guint64 arrival_ns;
	guint64 ntp_ns;
	gboolean has_ntp;
	gint width, height, stride;
	gsize offset, size, need;
} edge_puller;

static edge_puller *edge_puller_new(void) {
	edge_puller *p = g_new0(edge_puller, 1);
	p->ntp_caps = gst_caps_new_empty_simple("timestamp/x-ntp");
	return p;
}

static void edge_release(edge_puller *p, guint8 *dst) {
	if (p->sample == NULL) {
		return;
	}
	if (dst != NULL) {
		memcpy(dst, p->map.data + p->offset, p->size);
	}
	gst_buffer_unmap(p->buffer, &p->map);
	gst_sample_unref(p->sample);
	p->sample = NULL;
	p->buffer = NULL;
}

static void edge_puller_free(edge_puller *p) {
	edge_release(p, NULL);
	gst_caps_unref(p->ntp_caps);
	gst_caps_replace(&p->caps, NULL);
	g_free(p);
}

enum { EDGE_PULL_NONE = 0, EDGE_PULL_FRAME = 1, EDGE_PULL_EOS = 2, EDGE_PULL_BAD = 3 };

// edge_pull waits up to timeout for the appsink's next sample and maps it.
static int edge_pull(GstElement *sink, GstClockTime timeout, edge_puller *p) {
	GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), timeout);
	if (sample == NULL) {
		return gst_app_sink_is_eos(GST_APP_SINK(sink)) ? EDGE_PULL_EOS : EDGE_PULL_NONE;
	}
	GstCaps *caps = gst_sample_get_caps(sample);
	GstBuffer *buf = gst_sample_get_buffer(sample);
	if (caps == NULL || buf == NULL) {
		gst_sample_unref(sample);
		return EDGE_PULL_BAD;
	}
	if (caps != p->caps) {
		if (!gst_video_info_from_caps(&p->info, caps)) {
			gst_sample_unref(sample);
			return EDGE_PULL_BAD;
		}
		gst_caps_replace(&p->caps, caps);
	}
	p->width = GST_VIDEO_INFO_WIDTH(&p->info);
	p->height = GST_VIDEO_INFO_HEIGHT(&p->info);
	p->stride = GST_VIDEO_INFO_PLANE_STRIDE(&p->info, 0);
	p->offset = GST_VIDEO_INFO_PLANE_OFFSET(&p->info, 0);
	GstVideoMeta *vm = gst_buffer_get_video_meta(buf);
	if (vm != NULL) {
		p->stride = vm->stride[0];
		p->offset = vm->offset[0];
	}
	if (!gst_buffer_map(buf, &p->map, GST_MAP_READ)) {
		gst_sample_unref(sample);
		return EDGE_PULL_BAD;
	}
	// The last row may lack its padding: copy what is there, require the pixels.
	p->need = (gsize)p->stride * (gsize)(p->height - 1) + (gsize)p->width * 3;
	p->size = (gsize)p->stride * (gsize)p->height;
	if (p->offset > p->map.size || p->map.size - p->offset < p->need) {
		gst_buffer_unmap(buf, &p->map);
		gst_sample_unref(sample);
		return EDGE_PULL_BAD;
	}
	if (p->map.size - p->offset < p->size) {
		p->size = p->map.size - p->offset;
	}
	p->seq = GST_BUFFER_OFFSET(buf);
	p->arrival_ns = GST_BUFFER_OFFSET_END(buf);
	GstReferenceTimestampMeta *m = gst_buffer_get_reference_timestamp_meta(buf, p->ntp_caps);
	p->has_ntp = m != NULL && GST_CLOCK_TIME_IS_VALID(m->timestamp);
	p->ntp_ns = p->has_ntp ? m->timestamp : 0;
	p->sample = sample;
	p->buffer = buf;
	return EDGE_PULL_FRAME;
}

// edge_push copies one RGB frame into a new buffer, re-packing rows when the caller's
// stride differs from GStreamer's, and pushes it into the appsrc (which takes it).
static GstFlowReturn edge_push(GstElement *src, const guint8 *pix, gint width, gint height, gint stride, gint dst_stride) {
	gsize size = (gsize)dst_stride * (gsize)height;
	GstBuffer *buf = gst_buffer_new_allocate(NULL, size, NULL);
	if (buf == NULL) {
		return GST_FLOW_ERROR;
	}
	GstMapInfo map;
	if (!gst_buffer_map(buf, &map, GST_MAP_WRITE)) {
		gst_buffer_unref(buf);
		return GST_FLOW_ERROR;
	}
	if (stride == dst_stride) {
		memcpy(map.data, pix, (gsize)stride * (gsize)(height - 1) + (gsize)width * 3);
	} else {
		for (gint y = 0; y < height; y++) {
			memcpy(map.data + (gsize)y * dst_stride, pix + (gsize)y * stride, (gsize)width * 3);
		}
	}
	gst_buffer_unmap(buf, &map);
	return gst_app_src_push_buffer(GST_APP_SRC(src), buf);
}

// edge_message_within reports whether el or one of its children posted m.
static gboolean edge_message_within(GstMessage *m, GstElement *el) {
	GstObject *src = GST_MESSAGE_SRC(m);
	return src != NULL && (src == GST_OBJECT(el) || gst_object_has_as_ancestor(src, GST_OBJECT(el)));
}
*/
import "C"

import (
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// initOnce guards gst.Init. gst_init is process-global (and idempotent); the Once is
// the package's only state, so the first Ingest or Output initialises GStreamer.
var initOnce sync.Once

func ensureInit() {
	initOnce.Do(func() { gst.Init(nil) })
}

// registryHas reports whether GStreamer's registry has an element factory called name.
func registryHas(name string) bool {
	ensureInit()
	return gst.Find(name) != nil
}

func element(el *gst.Element) *C.GstElement { return (*C.GstElement)(el.Unsafe()) }

// tap counts buffers on a pad (see edge_tap).
type tap struct{ c *C.edge_tap }

func newTap(el *gst.Element, pad string, stamp bool) (*tap, error) {
	cpad := C.CString(pad)
	defer C.free(unsafe.Pointer(cpad))
	var cstamp C.gboolean
	if stamp {
		cstamp = 1
	}
	c := C.edge_tap_new(element(el), cpad, cstamp)
	if c == nil {
		return nil, fmt.Errorf("element %s has no pad %q", el.GetName(), pad)
	}
	return &tap{c: c}, nil
}

func (t *tap) count() uint64 { return uint64(C.edge_tap_count(t.c)) }

// last returns when the last buffer crossed the pad, or the zero time.
func (t *tap) last() time.Time {
	ns := int64(C.edge_tap_last(t.c))
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// free removes the probe; the pipeline must be in NULL.
func (t *tap) free() { C.edge_tap_free(t.c) }

// pulled is what edge_pull found out about a sample, as plain Go values.
type pulled struct {
	width, height, stride int
	size                  int // bytes release copies
	seq                   uint64
	arrival               time.Time
	ntp                   uint64 // ns since the NTP epoch; valid when hasNTP
	hasNTP                bool
}

type pullStatus int

const (
	pullNone  pullStatus = C.EDGE_PULL_NONE
	pullFrame pullStatus = C.EDGE_PULL_FRAME
	pullEOS   pullStatus = C.EDGE_PULL_EOS
	pullBad   pullStatus = C.EDGE_PULL_BAD
)

// puller pulls samples from an appsink and copies them out without Go allocations:
// it maps the buffer and memcpys from the mapped C memory (go-gst's MapInfo.Bytes
// copies through C.GoBytes, one allocation a frame).
type puller struct{ c *C.edge_puller }

func newPuller() *puller { return &puller{c: C.edge_puller_new()} }

// pull waits up to timeout for a sample; on pullFrame it stays mapped until release.
func (p *puller) pull(sink *gst.Element, timeout time.Duration) (pullStatus, pulled) {
	st := pullStatus(C.edge_pull(element(sink), C.GstClockTime(timeout), p.c))
	if st != pullFrame {
		return st, pulled{}
	}
	c := p.c
	return st, pulled{
		width:   int(c.width),
		height:  int(c.height),
		stride:  int(c.stride),
		size:    int(c.size),
		seq:     uint64(c.seq),
		arrival: time.Unix(0, int64(c.arrival_ns)),
		ntp:     uint64(c.ntp_ns),
		hasNTP:  c.has_ntp != 0,
	}
}

// release copies the pulled frame into dst (len(dst) >= size; nil skips the copy) and
// gives the sample back.
func (p *puller) release(dst []byte) {
	var d *C.guint8
	if len(dst) > 0 {
		d = (*C.guint8)(unsafe.Pointer(&dst[0]))
	}
	C.edge_release(p.c, d)
}

// copyOut copies the pulled frame f into dst (reusing dst.Pix's capacity), sets its
// layout fields and gives the sample back.
func (p *puller) copyOut(dst *Frame, f pulled) {
	n := f.stride * f.height
	if cap(dst.Pix) < n {
		dst.Pix = make([]byte, n)
	}
	dst.Pix = dst.Pix[:n]
	p.release(dst.Pix)
	dst.Format = FormatRGB
	dst.Width, dst.Height, dst.Stride = f.width, f.height, f.stride
}

func (p *puller) free() { C.edge_puller_free(p.c) }

// gstStride is GStreamer's default row stride for packed RGB: rows are 4-byte aligned.
func gstStride(width int) int { return (width*3 + 3) &^ 3 }

// pushRGB copies one frame into the appsrc. pix must hold stride*(height-1)+width*3
// bytes. It reports whether the appsrc accepted the buffer; with leaky-type=downstream
// it never blocks.
func pushRGB(src *gst.Element, pix []byte, width, height, stride int) bool {
	fr := C.edge_push(element(src), (*C.guint8)(unsafe.Pointer(&pix[0])),
		C.gint(width), C.gint(height), C.gint(stride), C.gint(gstStride(width)))
	return fr == C.GST_FLOW_OK
}

// streamError converts an error message from a bus into a *StreamError.
func streamError(msg *gst.Message) *StreamError {
	gerr := msg.ParseError()
	if gerr == nil {
		return &StreamError{Element: msg.Source(), Message: "unknown error"}
	}
	return &StreamError{Element: msg.Source(), Message: gerr.Error(), Debug: gerr.DebugString()}
}

// messageWithin reports whether el or one of its children posted msg.
func messageWithin(msg *gst.Message, el *gst.Element) bool {
	return C.edge_message_within((*C.GstMessage)(unsafe.Pointer(msg.Instance())), element(el)) != 0
}
