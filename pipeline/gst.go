package pipeline

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-base-1.0 gstreamer-app-1.0 gstreamer-video-1.0
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>
#include <gst/base/gstbasetransform.h>

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

// Pixel formats the puller and the pusher handle (PixelFormat on the Go side).
enum { EDGE_FMT_NONE = 0, EDGE_FMT_RGB = 1, EDGE_FMT_I420 = 2, EDGE_FMT_NV12 = 3 };

static int edge_fmt(GstVideoFormat f) {
	switch (f) {
	case GST_VIDEO_FORMAT_RGB:
		return EDGE_FMT_RGB;
	case GST_VIDEO_FORMAT_I420:
		return EDGE_FMT_I420;
	case GST_VIDEO_FORMAT_NV12:
		return EDGE_FMT_NV12;
	default:
		return EDGE_FMT_NONE;
	}
}

static GstVideoFormat edge_gst_fmt(int f) {
	switch (f) {
	case EDGE_FMT_RGB:
		return GST_VIDEO_FORMAT_RGB;
	case EDGE_FMT_I420:
		return GST_VIDEO_FORMAT_I420;
	case EDGE_FMT_NV12:
		return GST_VIDEO_FORMAT_NV12;
	default:
		return GST_VIDEO_FORMAT_UNKNOWN;
	}
}

// edge_layout is where the planes of a frame lie in one block of memory: plane i has
// rows[i] rows of stride[i] bytes from off[i], the first row[i] bytes of each pixels.
typedef struct {
	gint n;
	gsize off[3];
	gint stride[3];
	gint row[3];
	gint rows[3];
} edge_layout;

// edge_layout_shape fills the per-plane pixel bytes and rows of a width x height frame
// of format f (4:2:0 chroma rounded up for odd sizes); false for an unknown format or
// a size out of range.
static gboolean edge_layout_shape(edge_layout *l, int f, gint width, gint height) {
	if (width <= 0 || height <= 0 || width > 32767 || height > 32767) {
		return FALSE;
	}
	gint cw = (width + 1) / 2, ch = (height + 1) / 2;
	switch (f) {
	case EDGE_FMT_RGB:
		l->n = 1;
		l->row[0] = width * 3;
		l->rows[0] = height;
		return TRUE;
	case EDGE_FMT_I420:
		l->n = 3;
		l->row[0] = width, l->row[1] = cw, l->row[2] = cw;
		l->rows[0] = height, l->rows[1] = ch, l->rows[2] = ch;
		return TRUE;
	case EDGE_FMT_NV12:
		l->n = 2;
		l->row[0] = width, l->row[1] = 2 * cw;
		l->rows[0] = height, l->rows[1] = ch;
		return TRUE;
	}
	return FALSE;
}

// edge_layout_fits reports whether every plane of l lies within size bytes, with
// strides no shorter than a row of pixels. The last row need not have its padding.
static gboolean edge_layout_fits(const edge_layout *l, gsize size) {
	for (gint i = 0; i < l->n; i++) {
		if (l->stride[i] < l->row[i] || l->off[i] > size) {
			return FALSE;
		}
		gsize need = (gsize)l->stride[i] * (gsize)(l->rows[i] - 1) + (gsize)l->row[i];
		if (size - l->off[i] < need) {
			return FALSE;
		}
	}
	return TRUE;
}

// edge_copy_planes copies every plane from src (layout s) to dst (layout d, same
// shape): one memcpy a plane when the strides agree, else one a row.
static void edge_copy_planes(guint8 *dst, const edge_layout *d, const guint8 *src, const edge_layout *s) {
	for (gint i = 0; i < s->n; i++) {
		const guint8 *sp = src + s->off[i];
		guint8 *dp = dst + d->off[i];
		if (s->stride[i] == d->stride[i]) {
			memcpy(dp, sp, (gsize)s->stride[i] * (gsize)(s->rows[i] - 1) + (gsize)s->row[i]);
			continue;
		}
		for (gint y = 0; y < s->rows[i]; y++) {
			memcpy(dp + (gsize)y * d->stride[i], sp + (gsize)y * s->stride[i], s->row[i]);
		}
	}
}

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
	gint format, width, height;
	gboolean bt709, full_range;
	edge_layout src; // the planes in the mapped buffer
	edge_layout dst; // the planes in the copy: the same strides, packed one after the other
	gsize size;      // bytes of the copy
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
		edge_copy_planes(dst, &p->dst, p->map.data, &p->src);
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

// edge_pull_layout works out where the planes of buf lie (GstVideoMeta when the buffer
// has one, else the caps' GstVideoInfo) and the layout of the copy. It checks every
// plane against the mapped size, so no caps, meta or buffer a stream can provoke makes
// edge_release read out of bounds.
static gboolean edge_pull_layout(edge_puller *p, GstBuffer *buf) {
	GstVideoInfo *info = &p->info;
	p->format = edge_fmt(GST_VIDEO_INFO_FORMAT(info));
	p->width = GST_VIDEO_INFO_WIDTH(info);
	p->height = GST_VIDEO_INFO_HEIGHT(info);
	if (!edge_layout_shape(&p->src, p->format, p->width, p->height)) {
		return FALSE;
	}
	if (GST_VIDEO_INFO_N_PLANES(info) != (guint)p->src.n) {
		return FALSE;
	}
	GstVideoMeta *vm = gst_buffer_get_video_meta(buf);
	if (vm != NULL && (vm->format != GST_VIDEO_INFO_FORMAT(info) || vm->n_planes != (guint)p->src.n)) {
		return FALSE;
	}
	for (gint i = 0; i < p->src.n; i++) {
		p->src.off[i] = vm != NULL ? vm->offset[i] : GST_VIDEO_INFO_PLANE_OFFSET(info, i);
		p->src.stride[i] = vm != NULL ? vm->stride[i] : GST_VIDEO_INFO_PLANE_STRIDE(info, i);
	}
	if (!edge_layout_fits(&p->src, p->map.size)) {
		return FALSE;
	}
	// The copy keeps the source's strides; I420's U and V share one (the larger, should
	// a buffer's differ) and follow the Y plane and each other.
	p->dst = p->src;
	if (p->src.n == 3 && p->dst.stride[2] != p->dst.stride[1]) {
		gint s = MAX(p->dst.stride[1], p->dst.stride[2]);
		p->dst.stride[1] = s, p->dst.stride[2] = s;
	}
	gsize off = 0;
	for (gint i = 0; i < p->dst.n; i++) {
		p->dst.off[i] = off;
		off += (gsize)p->dst.stride[i] * (gsize)p->dst.rows[i];
	}
	p->size = off;
	GstVideoColorimetry c = GST_VIDEO_INFO_COLORIMETRY(info);
	p->bt709 = c.matrix == GST_VIDEO_COLOR_MATRIX_BT709;
	p->full_range = c.range == GST_VIDEO_COLOR_RANGE_0_255;
	return TRUE;
}

// edge_take maps sample (taking it over) and works out its layout.
static int edge_take(edge_puller *p, GstSample *sample) {
	GstCaps *caps = gst_sample_get_caps(sample);
	GstBuffer *buf = gst_sample_get_buffer(sample);
	if (caps == NULL || buf == NULL) {
		gst_sample_unref(sample);
		return EDGE_PULL_BAD;
	}
	if (caps != p->caps) {
		if (!gst_video_info_from_caps(&p->info, caps)) {
			gst_caps_replace(&p->caps, NULL);
			gst_sample_unref(sample);
			return EDGE_PULL_BAD;
		}
		gst_caps_replace(&p->caps, caps);
	}
	if (!gst_buffer_map(buf, &p->map, GST_MAP_READ)) {
		gst_sample_unref(sample);
		return EDGE_PULL_BAD;
	}
	if (!edge_pull_layout(p, buf)) {
		gst_buffer_unmap(buf, &p->map);
		gst_sample_unref(sample);
		return EDGE_PULL_BAD;
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

// edge_pull waits up to timeout for the appsink's next sample and maps it.
static int edge_pull(GstElement *sink, GstClockTime timeout, edge_puller *p) {
	GstSample *sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), timeout);
	if (sample == NULL) {
		return gst_app_sink_is_eos(GST_APP_SINK(sink)) ? EDGE_PULL_EOS : EDGE_PULL_NONE;
	}
	return edge_take(p, sample);
}

// edge_sample_new builds a sample of caps holding a copy of data and, when n_planes is
// not 0, a GstVideoMeta with n_planes planes at off and stride: how the unit tests
// feed edge_take the buffers a decoder (or a hostile stream) could produce. NULL when
// the caps do not parse.
static GstSample *edge_sample_new(const char *caps_str, const guint8 *data, gsize size, gint n_planes, const edge_layout *l) {
	GstCaps *caps = gst_caps_from_string(caps_str);
	if (caps == NULL) {
		return NULL;
	}
	GstBuffer *buf = gst_buffer_new_memdup(data, size);
	GstVideoInfo info;
	if (n_planes > 0 && gst_video_info_from_caps(&info, caps)) {
		gsize off[GST_VIDEO_MAX_PLANES] = {0};
		gint stride[GST_VIDEO_MAX_PLANES] = {0};
		for (gint i = 0; i < n_planes && i < 3; i++) {
			off[i] = l->off[i];
			stride[i] = l->stride[i];
		}
		gst_buffer_add_video_meta_full(buf, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(&info),
			GST_VIDEO_INFO_WIDTH(&info), GST_VIDEO_INFO_HEIGHT(&info), n_planes, off, stride);
	}
	GstSample *s = gst_sample_new(buf, caps, NULL, NULL);
	gst_buffer_unref(buf);
	gst_caps_unref(caps);
	return s;
}

// edge_default_layout fills l with GStreamer's own layout of a width x height frame of
// format f (what a downstream element without GstVideoMeta support expects) and
// returns its size in bytes, 0 when the shape is not one edge_layout_shape takes.
static gsize edge_default_layout(edge_layout *l, int f, gint width, gint height) {
	GstVideoInfo info;
	if (!edge_layout_shape(l, f, width, height) || !gst_video_info_set_format(&info, edge_gst_fmt(f), width, height)) {
		return 0;
	}
	for (gint i = 0; i < l->n; i++) {
		l->off[i] = GST_VIDEO_INFO_PLANE_OFFSET(&info, i);
		l->stride[i] = GST_VIDEO_INFO_PLANE_STRIDE(&info, i);
	}
	return GST_VIDEO_INFO_SIZE(&info);
}

// edge_push copies one frame (layout s in pix) into a new buffer of size bytes in
// layout d and pushes it into the appsrc (which takes it). The caller checked that s
// fits pix and d fits size.
static GstFlowReturn edge_push(GstElement *src, const guint8 *pix, const edge_layout *s, const edge_layout *d, gsize size) {
	GstBuffer *buf = gst_buffer_new_allocate(NULL, size, NULL);
	if (buf == NULL) {
		return GST_FLOW_ERROR;
	}
	GstMapInfo map;
	if (!gst_buffer_map(buf, &map, GST_MAP_WRITE)) {
		gst_buffer_unref(buf);
		return GST_FLOW_ERROR;
	}
	edge_copy_planes(map.data, d, pix, s);
	gst_buffer_unmap(buf, &map);
	return gst_app_src_push_buffer(GST_APP_SRC(src), buf);
}

// edge_passthrough reports whether a GstBaseTransform (videoconvert) passes its input
// buffers through untouched.
static gboolean edge_passthrough(GstElement *el) {
	return GST_IS_BASE_TRANSFORM(el) && gst_base_transform_is_passthrough(GST_BASE_TRANSFORM(el));
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
	"runtime"
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

// stopPipeline sets p to NULL, keeping p reachable until the state change
// has returned. go-gst drops its reference to a wrapped object from a
// finalizer, and SetState's last use of p is handing its pointer to C: where
// the caller uses p no more (a teardown), the collector could finalize p,
// dispose the pipeline in the middle of gst_element_set_state and crash the
// process ("Trying to dispose element pipeline49, but it is in READY", then
// SIGSEGV in make test; TestStopPipelineUnderGC).
func stopPipeline(p *gst.Pipeline) error {
	err := p.SetState(gst.StateNull)
	runtime.KeepAlive(p)
	return err
}

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
	format        PixelFormat
	width, height int
	// Layout of the copy copyOut makes: plane 0 (RGB, Y) at 0 with stride; YUV chroma
	// at uOffset (and vOffset for I420) with uvStride.
	stride, uOffset, vOffset, uvStride int
	size                               int // bytes release copies
	color                              Colorimetry
	seq                                uint64
	arrival                            time.Time
	ntp                                uint64 // ns since the NTP epoch; valid when hasNTP
	hasNTP                             bool
}

type pullStatus int

const (
	pullNone  pullStatus = C.EDGE_PULL_NONE
	pullFrame pullStatus = C.EDGE_PULL_FRAME
	pullEOS   pullStatus = C.EDGE_PULL_EOS
	pullBad   pullStatus = C.EDGE_PULL_BAD
)

// cFormat and goFormat translate between PixelFormat and the C side's EDGE_FMT_*.
func cFormat(f PixelFormat) C.int {
	switch f {
	case FormatRGB:
		return C.EDGE_FMT_RGB
	case FormatI420:
		return C.EDGE_FMT_I420
	case FormatNV12:
		return C.EDGE_FMT_NV12
	}
	return C.EDGE_FMT_NONE
}

func goFormat(f C.gint) PixelFormat {
	switch f {
	case C.EDGE_FMT_RGB:
		return FormatRGB
	case C.EDGE_FMT_I420:
		return FormatI420
	case C.EDGE_FMT_NV12:
		return FormatNV12
	}
	return ""
}

// puller pulls samples from an appsink and copies them out without Go allocations:
// it maps the buffer and memcpys from the mapped C memory (go-gst's MapInfo.Bytes
// copies through C.GoBytes, one allocation a frame).
//
// It takes RGB, I420 and NV12 samples (anything else is pullBad). The plane offsets
// and strides come from the buffer's GstVideoMeta when it has one (decoders with
// padded strides attach it), else from the caps; every plane is checked against the
// mapped size before anything is copied. The copy keeps the decoder's strides (one
// memcpy a plane, no repacking) and puts the planes one after the other: see
// Frame.Pix for the exact layout.
type puller struct{ c *C.edge_puller }

func newPuller() *puller { return &puller{c: C.edge_puller_new()} }

// pull waits up to timeout for a sample; on pullFrame it stays mapped until release.
func (p *puller) pull(sink *gst.Element, timeout time.Duration) (pullStatus, pulled) {
	st := pullStatus(C.edge_pull(element(sink), C.GstClockTime(timeout), p.c))
	if st != pullFrame {
		return st, pulled{}
	}
	return st, p.result()
}

// result is the last pulled sample's description.
func (p *puller) result() pulled {
	c := p.c
	f := pulled{
		format:  goFormat(c.format),
		width:   int(c.width),
		height:  int(c.height),
		stride:  int(c.dst.stride[0]),
		size:    int(c.size),
		seq:     uint64(c.seq),
		arrival: time.Unix(0, int64(c.arrival_ns)),
		ntp:     uint64(c.ntp_ns),
		hasNTP:  c.has_ntp != 0,
	}
	if f.format != FormatRGB {
		f.uOffset, f.uvStride = int(c.dst.off[1]), int(c.dst.stride[1])
		if f.format == FormatI420 {
			f.vOffset = int(c.dst.off[2])
		}
		f.color = Colorimetry{BT709: c.bt709 != 0, FullRange: c.full_range != 0}
	}
	return f
}

// testSample is a sample built from bytes: the unit tests' way to feed the puller the
// buffers a decoder (or a hostile stream) could produce, cgo being unavailable in
// _test.go files.
type testSample struct{ s *C.GstSample }

// newTestSample builds a sample of caps holding a copy of data (not empty) with, when
// nPlanes > 0, a GstVideoMeta of nPlanes planes at meta's offsets and strides. It
// returns nil when the caps do not parse.
func newTestSample(caps string, data []byte, nPlanes int, meta *planeLayout) *testSample {
	ccaps := C.CString(caps)
	defer C.free(unsafe.Pointer(ccaps))
	var l planeLayout
	if meta != nil {
		l = *meta
	}
	s := C.edge_sample_new(ccaps, (*C.guint8)(unsafe.Pointer(&data[0])), C.gsize(len(data)), C.gint(nPlanes), &l)
	if s == nil {
		return nil
	}
	return &testSample{s: s}
}

func (s *testSample) free() { C.gst_sample_unref(s.s) }

// take hands the puller s as if pulled from an appsink (s stays the caller's).
func (p *puller) take(s *testSample) (pullStatus, pulled) {
	if st := pullStatus(C.edge_take(p.c, C.gst_sample_ref(s.s))); st != pullFrame {
		return st, pulled{}
	}
	return pullFrame, p.result()
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

// copyOut copies the pulled frame f into dst (reusing dst.Pix's capacity: it allocates
// only when that is too small), sets its layout fields and gives the sample back.
func (p *puller) copyOut(dst *Frame, f pulled) {
	if cap(dst.Pix) < f.size {
		dst.Pix = make([]byte, f.size)
	}
	dst.Pix = dst.Pix[:f.size]
	p.release(dst.Pix)
	dst.Format = f.format
	dst.Width, dst.Height, dst.Stride = f.width, f.height, f.stride
	dst.UOffset, dst.VOffset, dst.UVStride = f.uOffset, f.vOffset, f.uvStride
	dst.Colorimetry = f.color
}

func (p *puller) free() { C.edge_puller_free(p.c) }

// planeLayout is a frame's planes in a block of memory, in the C side's terms;
// planeLayoutOff and planeLayoutStride are the types of its off and stride entries.
type (
	planeLayout       = C.edge_layout
	planeLayoutOff    = C.gsize
	planeLayoutStride = C.gint
)

// setFrameLayout sets l to where f's planes lie in f.Pix. The caller has checked f
// (pushCaps). Pure Go: a local layout handed to C would escape to the heap.
func setFrameLayout(l *planeLayout, f *Frame, format PixelFormat) {
	luma, chroma := rowBytes(format, f.Width)
	ch := ChromaHeight(f.Height)
	*l = planeLayout{}
	l.n = 1
	l.off[0], l.stride[0], l.row[0], l.rows[0] = 0, C.gint(f.Stride), C.gint(luma), C.gint(f.Height)
	switch format {
	case FormatI420:
		l.n = 3
		l.off[2], l.stride[2], l.row[2], l.rows[2] = C.gsize(f.VOffset), C.gint(f.UVStride), C.gint(chroma), C.gint(ch)
		fallthrough
	case FormatNV12:
		if format == FormatNV12 {
			l.n = 2
		}
		l.off[1], l.stride[1], l.row[1], l.rows[1] = C.gsize(f.UOffset), C.gint(f.UVStride), C.gint(chroma), C.gint(ch)
	}
}

// gstLayout is GStreamer's default layout of a width x height frame of format (what
// gst_video_info_set_format gives: rows 4-byte aligned, I420 and NV12 chroma after a
// luma plane of an even number of rows) and its size in bytes; size 0 for a shape it
// does not take.
func gstLayout(format PixelFormat, width, height int) (l planeLayout, size int) {
	n := C.edge_default_layout(&l, cFormat(format), C.gint(width), C.gint(height))
	return l, int(n)
}

// pushFrame copies pix (laid out as s) into a new buffer of size bytes laid out as d
// and pushes it into the appsrc. It reports whether the appsrc accepted the buffer;
// with leaky-type=downstream it never blocks. s must fit pix, d must fit size, and both
// must be of the same shape. s and d point at memory that outlives the call (fields of
// the caller's heap-allocated struct), so the call allocates nothing in Go.
func pushFrame(src *gst.Element, pix []byte, s, d *planeLayout, size int) bool {
	fr := C.edge_push(element(src), (*C.guint8)(unsafe.Pointer(&pix[0])), s, d, C.gsize(size))
	return fr == C.GST_FLOW_OK
}

// streamError converts an error message from a bus into a *StreamError.
func streamError(msg *gst.Message) *StreamError {
	gerr := msg.ParseError()
	if gerr == nil {
		return &StreamError{Element: sourceOf(msg), Message: "unknown error"}
	}
	return &StreamError{Element: sourceOf(msg), Message: gerr.Error(), Debug: gerr.DebugString()}
}

// sourceOf is the name of the element that posted msg, read while msg is
// kept reachable: its finalizer frees the message (see stopPipeline).
func sourceOf(msg *gst.Message) string {
	name := msg.Source()
	runtime.KeepAlive(msg)
	return name
}

// passthrough reports whether el, a GstBaseTransform such as videoconvert, passes its
// buffers through without converting them.
func passthrough(el *gst.Element) bool { return C.edge_passthrough(element(el)) != 0 }

// messageWithin reports whether el or one of its children posted msg.
func messageWithin(msg *gst.Message, el *gst.Element) bool {
	within := C.edge_message_within((*C.GstMessage)(unsafe.Pointer(msg.Instance())), element(el)) != 0
	runtime.KeepAlive(msg) // its finalizer frees the message: see stopPipeline
	return within
}
