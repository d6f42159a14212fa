// Package rtspcam is a real RTSP camera for tests: GStreamer's RTSP server library
// (gst-rtsp-server) serving a live H.264 test pattern on 127.0.0.1, with RTCP sender
// reports whose NTP time is the wall clock shifted by a chosen offset, as from a camera
// whose clock is ahead of or behind the reader's.
//
// The offset works through the media's pipeline clock: each media runs on its own
// GstSystemClock (realtime) calibrated to read NTP-epoch time plus the offset, and the
// media's rtpbin takes the sender reports' NTP time from that clock
// (ntp-time-source=clock-time, which rtpsession uses as is, without adding the NTP
// epoch), mapped to the frames' capture time (rtcp-sync-send-time=false). The RTP
// timestamps follow the same clock's running time, so the reports' NTP↔RTP mapping is
// consistent, as from an honest camera with a wrong clock.
//
// The camera serves RTP over the RTSP connection only (TCP interleaved): no UDP socket
// is opened. It runs its own GMainContext and GMainLoop on a thread of its own; the
// package keeps no state besides GStreamer's process-wide initialisation.
//
// It is for tests and development only.
package rtspcam

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-rtsp-server-1.0
#include <stdlib.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

// NTP epoch (1900) to Unix epoch (1970) in seconds.
#define RC_NTP_UNIX_OFFSET G_GUINT64_CONSTANT(2208988800)

typedef struct {
	GMainContext *ctx;
	GMainLoop *loop;
	GThread *thread;
	GstRTSPServer *server;
	GstRTSPMediaFactory *factory;
	GstClock *clock;
	GSource *source;
	// Medias alive (constructed, not yet finalized), guarded by mu; Close waits for 0.
	GMutex mu;
	GCond cond;
	gint medias;
} rc_cam;

static void rc_media_gone(gpointer data, GObject *where) {
	rc_cam *c = data;
	g_mutex_lock(&c->mu);
	c->medias--;
	g_cond_broadcast(&c->cond);
	g_mutex_unlock(&c->mu);
}

// rc_element_added gives the media's rtpbin its NTP time from the pipeline clock and
// makes the sender reports map NTP to capture time (the buffers' running time), as
// a camera does, rather than to send time.
static void rc_element_added(GstBin *bin, GstElement *el, gpointer data) {
	GstElementFactory *f = gst_element_get_factory(el);
	if (f != NULL && g_strcmp0(GST_OBJECT_NAME(f), "rtpbin") == 0) {
		gst_util_set_object_arg(G_OBJECT(el), "ntp-time-source", "clock-time");
		g_object_set(el, "rtcp-sync-send-time", FALSE, NULL);
	}
}

static void rc_media_configure(GstRTSPMediaFactory *factory, GstRTSPMedia *media, gpointer data) {
	rc_cam *c = data;
	g_mutex_lock(&c->mu);
	c->medias++;
	g_mutex_unlock(&c->mu);
	g_object_weak_ref(G_OBJECT(media), rc_media_gone, c);
	// The media's bin is already inside its pipeline; the rtpbin is added when the
	// media is prepared.
	GstElement *el = gst_rtsp_media_get_element(media);
	GstObject *pipeline = gst_object_get_parent(GST_OBJECT(el));
	if (pipeline != NULL) {
		g_signal_connect(pipeline, "element-added", G_CALLBACK(rc_element_added), NULL);
		gst_object_unref(pipeline);
	}
	gst_object_unref(el);
}

static gpointer rc_run(gpointer data) {
	rc_cam *c = data;
	g_main_context_push_thread_default(c->ctx);
	g_main_loop_run(c->loop);
	g_main_context_pop_thread_default(c->ctx);
	return NULL;
}

static void rc_free(rc_cam *c) {
	if (c->source != NULL) {
		g_source_destroy(c->source);
		g_source_unref(c->source);
	}
	if (c->factory != NULL) {
		g_object_unref(c->factory);
	}
	if (c->server != NULL) {
		g_object_unref(c->server);
	}
	if (c->clock != NULL) {
		gst_object_unref(c->clock);
	}
	g_main_loop_unref(c->loop);
	g_main_context_unref(c->ctx);
	g_mutex_clear(&c->mu);
	g_cond_clear(&c->cond);
	g_free(c);
}

// rc_start serves launch at rtsp://127.0.0.1:port/path; port 0 picks one. It returns
// NULL with *err set on failure.
static rc_cam *rc_start(const char *port, const char *path, const char *launch, gint64 offset_ns, char **err) {
	rc_cam *c = g_new0(rc_cam, 1);
	g_mutex_init(&c->mu);
	g_cond_init(&c->cond);
	c->ctx = g_main_context_new();
	c->loop = g_main_loop_new(c->ctx, FALSE);

	// Realtime system clock reading NTP-epoch time plus the offset:
	// external = internal + (NTP-Unix offset + offset).
	c->clock = g_object_new(GST_TYPE_SYSTEM_CLOCK, "clock-type", GST_CLOCK_TYPE_REALTIME, NULL);
	gst_object_ref_sink(c->clock);
	gst_clock_set_calibration(c->clock, 0, (GstClockTime)((gint64)(RC_NTP_UNIX_OFFSET * GST_SECOND) + offset_ns), 1, 1);

	c->server = gst_rtsp_server_new();
	gst_rtsp_server_set_address(c->server, "127.0.0.1");
	gst_rtsp_server_set_service(c->server, port);
	c->factory = gst_rtsp_media_factory_new();
	gst_rtsp_media_factory_set_launch(c->factory, launch);
	gst_rtsp_media_factory_set_shared(c->factory, FALSE);
	gst_rtsp_media_factory_set_protocols(c->factory, GST_RTSP_LOWER_TRANS_TCP);
	gst_rtsp_media_factory_set_clock(c->factory, c->clock);
	g_signal_connect(c->factory, "media-configure", G_CALLBACK(rc_media_configure), c);
	GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points(c->server);
	gst_rtsp_mount_points_add_factory(mounts, path, g_object_ref(c->factory));
	g_object_unref(mounts);

	GError *gerr = NULL;
	c->source = gst_rtsp_server_create_source(c->server, NULL, &gerr);
	if (c->source == NULL) {
		*err = g_strdup(gerr != NULL ? gerr->message : "cannot listen");
		g_clear_error(&gerr);
		rc_free(c);
		return NULL;
	}
	g_source_attach(c->source, c->ctx);
	c->thread = g_thread_new("rtspcam", rc_run, c);
	return c;
}

static int rc_port(rc_cam *c) { return gst_rtsp_server_get_bound_port(c->server); }

static GstRTSPFilterResult rc_remove_session(GstRTSPSessionPool *pool, GstRTSPSession *s, gpointer data) {
	return GST_RTSP_FILTER_REMOVE;
}

static GstRTSPFilterResult rc_remove_client(GstRTSPServer *server, GstRTSPClient *client, gpointer data) {
	return GST_RTSP_FILTER_REMOVE;
}

// rc_shutdown runs in the camera's thread: stop listening, drop every session and
// client, then end the loop.
static gboolean rc_shutdown(gpointer data) {
	rc_cam *c = data;
	g_source_destroy(c->source);
	GstRTSPSessionPool *pool = gst_rtsp_server_get_session_pool(c->server);
	gst_rtsp_session_pool_filter(pool, rc_remove_session, NULL);
	g_object_unref(pool);
	gst_rtsp_server_client_filter(c->server, rc_remove_client, NULL);
	g_main_loop_quit(c->loop);
	return G_SOURCE_REMOVE;
}

// rc_stop stops the camera and waits up to timeout_us for its medias to be freed; it
// returns how many are still alive (then c is leaked rather than freed under them).
static int rc_stop(rc_cam *c, gint64 timeout_us) {
	GSource *s = g_idle_source_new();
	g_source_set_callback(s, rc_shutdown, c, NULL);
	g_source_attach(s, c->ctx);
	g_source_unref(s);
	g_thread_join(c->thread);
	// Dispatch what the shutdown left queued (client and session finalisation).
	while (g_main_context_iteration(c->ctx, FALSE)) {
	}
	gint64 deadline = g_get_monotonic_time() + timeout_us;
	g_mutex_lock(&c->mu);
	while (c->medias > 0) {
		if (!g_cond_wait_until(&c->cond, &c->mu, deadline)) {
			break;
		}
	}
	int left = c->medias;
	g_mutex_unlock(&c->mu);
	if (left == 0) {
		rc_free(c);
	}
	return left;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// Config describes a Camera. The zero value serves 1280x720 at 15 fps on a free port
// with an honest clock.
type Config struct {
	// Port on 127.0.0.1; 0 picks a free one (Camera.Port says which).
	Port int
	// Path is the stream's path (default "/cam").
	Path string
	// Width, Height and FPS of the test pattern (default 1280x720 at 15 fps); a
	// keyframe every second.
	Width, Height, FPS int
	// ClockOffset is how far the camera's clock is ahead of the wall clock (negative:
	// behind): the NTP times of its sender reports are the wall clock plus this.
	ClockOffset time.Duration
}

// stopTimeout bounds Close's wait for the served media pipelines to be freed.
const stopTimeout = 5 * time.Second

// Camera is a running RTSP test camera.
type Camera struct {
	c    *C.rc_cam
	url  string
	port int

	once sync.Once
	err  error
	stop chan struct{} // closed by Close: ends the goroutine watching Start's ctx
	done chan struct{} // closed when Close has finished
}

// initOnce guards gst.Init, which is process-wide and idempotent.
var initOnce sync.Once

// Start serves cfg until ctx ends or Close is called.
func Start(ctx context.Context, cfg Config) (*Camera, error) {
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("rtspcam: port %d out of range", cfg.Port)
	}
	if cfg.Width < 0 || cfg.Height < 0 || cfg.FPS < 0 || (cfg.Width == 0) != (cfg.Height == 0) {
		return nil, fmt.Errorf("rtspcam: size %dx%d at %d fps: set width and height together, none negative", cfg.Width, cfg.Height, cfg.FPS)
	}
	if cfg.Path == "" {
		cfg.Path = "/cam"
	}
	if cfg.Path[0] != '/' {
		return nil, fmt.Errorf("rtspcam: path %q does not start with /", cfg.Path)
	}
	if cfg.Width == 0 {
		cfg.Width, cfg.Height = 1280, 720
	}
	if cfg.FPS == 0 {
		cfg.FPS = 15
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	initOnce.Do(func() { gst.Init(nil) })

	launch := fmt.Sprintf("( videotestsrc is-live=true pattern=ball ! video/x-raw,width=%d,height=%d,framerate=%d/1 ! "+
		"x264enc tune=zerolatency speed-preset=ultrafast key-int-max=%d ! rtph264pay name=pay0 pt=96 config-interval=-1 )",
		cfg.Width, cfg.Height, cfg.FPS, cfg.FPS)
	cport, cpath, claunch := C.CString(strconv.Itoa(cfg.Port)), C.CString(cfg.Path), C.CString(launch)
	defer C.free(unsafe.Pointer(cport))
	defer C.free(unsafe.Pointer(cpath))
	defer C.free(unsafe.Pointer(claunch))
	var cerr *C.char
	c := C.rc_start(cport, cpath, claunch, C.gint64(cfg.ClockOffset), &cerr)
	if c == nil {
		msg := C.GoString(cerr)
		C.g_free(C.gpointer(cerr))
		return nil, fmt.Errorf("rtspcam: listen on 127.0.0.1:%d: %s", cfg.Port, msg)
	}
	port := int(C.rc_port(c))
	cam := &Camera{c: c, port: port, url: fmt.Sprintf("rtsp://127.0.0.1:%d%s", port, cfg.Path), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		select {
		case <-ctx.Done():
			cam.Close()
		case <-cam.stop:
		}
	}()
	return cam, nil
}

// URL is the stream's address, rtsp://127.0.0.1:<port><path>.
func (c *Camera) URL() string { return c.url }

// Port is the port the camera listens on.
func (c *Camera) Port() int { return c.port }

// Done is closed once the camera has stopped (Close returned, or Start's context
// ended and the camera closed itself).
func (c *Camera) Done() <-chan struct{} { return c.done }

// Close stops serving, disconnects every client and waits (up to 5 s) for the media
// pipelines to be freed. It is idempotent; every call returns the first call's result.
func (c *Camera) Close() error {
	c.once.Do(func() {
		close(c.stop)
		if left := int(C.rc_stop(c.c, C.gint64(stopTimeout/time.Microsecond))); left > 0 {
			c.err = errors.New("rtspcam: " + strconv.Itoa(left) + " media pipelines still alive after " + stopTimeout.String())
		}
		c.c = nil
		close(c.done)
	})
	return c.err
}
