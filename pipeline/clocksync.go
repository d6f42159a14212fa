package pipeline

/*
#cgo pkg-config: gstreamer-1.0
#include <gst/gst.h>

// edge_srwatch counts the RTCP sender reports an rtspsrc's jitter buffers pass on in
// their handle-sync signal (rtspsrc "new-manager" → rtpbin "new-jitterbuffer" →
// rtpjitterbuffer "handle-sync"), and the reports whose NTP↔RTP mapping moved by more
// than a frame interval from the previous report of the same jitter buffer. Video only:
// reports of streams whose RTP clock is not 90 kHz are ignored.
//
// The counters are written with atomics from the streaming threads; the list of
// connected objects is guarded by mu, taken only when rtspsrc makes its manager or the
// manager a jitter buffer, and when the watch is freed.
typedef struct {
	guint64 reports, pairs, jumps, frac_ok;
	gint64 jump_ns;
	GMutex mu;
	GSList *conns; // edge_srconn*
} edge_srwatch;

// edge_srconn is one object the watch connected a handler to; for jitter buffers also
// the previous report's NTP and RTP times, touched only by that jitter buffer's
// handle-sync (emitted from its RTCP streaming thread).
typedef struct {
	edge_srwatch *w;
	GObject *obj;
	gulong handler;
	gboolean has_prev;
	guint64 prev_ntp; // ns since the NTP epoch
	guint32 prev_rtp;
} edge_srconn;

static edge_srconn *edge_srconn_add(edge_srwatch *w, gpointer obj) {
	edge_srconn *c = g_new0(edge_srconn, 1);
	c->w = w;
	c->obj = g_object_ref(obj);
	g_mutex_lock(&w->mu);
	w->conns = g_slist_prepend(w->conns, c);
	g_mutex_unlock(&w->mu);
	return c;
}

// 10^9 / 2^32 s in ns, rounded up: an NTP fraction of 10^9 or more has a sub-second
// part at least this long.
#define EDGE_FRAC_NS_MIN 232830644

static void edge_on_sync(GstElement *jb, GstStructure *s, gpointer data) {
	edge_srconn *c = data;
	edge_srwatch *w = c->w;
	guint rate = 0;
	guint64 ext = 0, ntp = 0;
	if (!gst_structure_get_uint(s, "clock-rate", &rate) || rate != 90000 ||
	    !gst_structure_get_uint64(s, "sr-ext-rtptime", &ext) || ext == G_MAXUINT64 ||
	    !gst_structure_get_uint64(s, "sr-ntpnstime", &ntp) || ntp == G_MAXUINT64) {
		return; // audio, in-band or RTP-Info sync, or an SR the jitter buffer distrusts
	}
	__atomic_add_fetch(&w->reports, 1, __ATOMIC_SEQ_CST);
	if (ntp % GST_SECOND >= EDGE_FRAC_NS_MIN) {
		__atomic_store_n(&w->frac_ok, 1, __ATOMIC_SEQ_CST);
	}
	guint32 rtp = (guint32)ext;
	if (c->has_prev) {
		// How far the mapping moved: the NTP time elapsed minus the RTP time elapsed.
		// The RTP difference is taken on the 32-bit timestamps, so a wrap (which the
		// jitter buffer's extended timestamp does not always follow) is no jump.
		gint64 rtp_ns = (gint64)(gint32)(rtp - c->prev_rtp) * GST_SECOND / rate;
		gint64 d = (gint64)(ntp - c->prev_ntp) - rtp_ns;
		if (d < 0) {
			d = -d;
		}
		__atomic_add_fetch(&w->pairs, 1, __ATOMIC_SEQ_CST);
		if (d > w->jump_ns) {
			__atomic_add_fetch(&w->jumps, 1, __ATOMIC_SEQ_CST);
		}
	}
	c->prev_ntp = ntp;
	c->prev_rtp = rtp;
	c->has_prev = TRUE;
}

static void edge_on_jitterbuffer(GstElement *rtpbin, GstElement *jb, guint session, guint ssrc, gpointer data) {
	edge_srconn *c = edge_srconn_add(data, jb);
	c->handler = g_signal_connect(jb, "handle-sync", G_CALLBACK(edge_on_sync), c);
}

static void edge_on_manager(GstElement *src, GstElement *manager, gpointer data) {
	if (g_signal_lookup("new-jitterbuffer", G_OBJECT_TYPE(manager)) == 0) {
		return; // not an rtpbin
	}
	edge_srconn *c = edge_srconn_add(data, manager);
	c->handler = g_signal_connect(manager, "new-jitterbuffer", G_CALLBACK(edge_on_jitterbuffer), data);
}

static edge_srwatch *edge_srwatch_new(GstElement *rtspsrc, gint64 jump_ns) {
	edge_srwatch *w = g_new0(edge_srwatch, 1);
	g_mutex_init(&w->mu);
	w->jump_ns = jump_ns;
	edge_srconn *c = edge_srconn_add(w, rtspsrc);
	c->handler = g_signal_connect(rtspsrc, "new-manager", G_CALLBACK(edge_on_manager), w);
	return w;
}

typedef struct {
	guint64 reports, pairs, jumps, frac_ok;
} edge_srcounts;

// edge_srwatch_read returns the counts by value: no Go pointer crosses into C, so the
// call does not make Go allocate.
static edge_srcounts edge_srwatch_read(edge_srwatch *w) {
	edge_srcounts n;
	n.reports = __atomic_load_n(&w->reports, __ATOMIC_SEQ_CST);
	n.pairs = __atomic_load_n(&w->pairs, __ATOMIC_SEQ_CST);
	n.jumps = __atomic_load_n(&w->jumps, __ATOMIC_SEQ_CST);
	n.frac_ok = __atomic_load_n(&w->frac_ok, __ATOMIC_SEQ_CST);
	return n;
}

static void edge_srconn_free(gpointer p) {
	edge_srconn *c = p;
	if (c->handler != 0) {
		g_signal_handler_disconnect(c->obj, c->handler);
	}
	g_object_unref(c->obj);
	g_free(c);
}

// edge_srwatch_free must only run once no thread streams (pipeline in NULL).
static void edge_srwatch_free(edge_srwatch *w) {
	g_mutex_lock(&w->mu);
	GSList *conns = w->conns;
	w->conns = NULL;
	g_mutex_unlock(&w->mu);
	g_slist_free_full(conns, edge_srconn_free);
	g_mutex_clear(&w->mu);
	g_free(w);
}
*/
import "C"

import (
	"time"

	"github.com/go-gst/go-gst/gst"
)

// srFrameInterval is the frame interval a sender report's NTP↔RTP mapping may move by
// without counting as a jump: 1/15 s, the slowest rate cameras are run at here.
const srFrameInterval = time.Second / 15

// srWatch counts an rtspsrc's sender reports (see edge_srwatch).
type srWatch struct{ c *C.edge_srwatch }

// newSRWatch connects to rtspsrc before it starts.
func newSRWatch(rtspsrc *gst.Element) *srWatch {
	return &srWatch{c: C.edge_srwatch_new(element(rtspsrc), C.gint64(srFrameInterval))}
}

// read returns the counts so far; it does not allocate.
func (w *srWatch) read() srInfo {
	n := C.edge_srwatch_read(w.c)
	return srInfo{reports: uint64(n.reports), pairs: uint64(n.pairs), jumps: uint64(n.jumps), fracOK: n.frac_ok != 0}
}

// free disconnects every handler; the pipeline must be in NULL.
func (w *srWatch) free() { C.edge_srwatch_free(w.c) }
