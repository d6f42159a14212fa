package demand

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"edge-agent/internal/testenv"
)

// logRecord is one line a watcher logged.
type logRecord struct {
	level slog.Level
	text  string // message and attributes
}

// recorder is a slog.Handler keeping every record, for asserting what is logged.
type recorder struct {
	mu    *sync.Mutex
	recs  *[]logRecord
	attrs string
}

func newRecorder() *recorder { return &recorder{mu: &sync.Mutex{}, recs: &[]logRecord{}} }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message + r.attrs)
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.recs = append(*r.recs, logRecord{rec.Level, b.String()})
	return nil
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *r
	for _, a := range as {
		c.attrs += " " + a.String()
	}
	return &c
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

// count returns how many records of level have text containing sub.
func (r *recorder) count(level slog.Level, sub string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range *r.recs {
		if rec.level == level && strings.Contains(rec.text, sub) {
			n++
		}
	}
	return n
}

// assertNoSecret fails the test if any record holds secret.
func (r *recorder) assertNoSecret(t *testing.T, secret string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range *r.recs {
		if strings.Contains(rec.text, secret) {
			t.Errorf("a log line holds the password: %s", rec.text)
		}
	}
}

// newTestWatcher returns a watcher of cfg logging into a recorder (and the test's
// log with -v); start runs it until the test ends.
func newTestWatcher(t *testing.T, cfg Config) (*Watcher, *recorder, func()) {
	t.Helper()
	rec := newRecorder()
	w, err := NewWatcher(cfg, slog.New(rec))
	if err != nil {
		t.Fatalf("NewWatcher: %v", err)
	}
	start := func() { testenv.Run(t, w.Run, 5*time.Second) }
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			rec.mu.Lock()
			for _, r := range *rec.recs {
				t.Logf("%s %s", r.level, r.text)
			}
			rec.mu.Unlock()
		}
	})
	return w, rec, start
}

// waitPolls waits until the watcher has done n more polls than now.
func waitPolls(t *testing.T, w *Watcher, n uint64) {
	t.Helper()
	until := w.Stats().Polls + n
	testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("%d polls", n), func() bool { return w.Stats().Polls >= until })
}

// waitReady waits until MediaMTX's API lists every path in paths as ready (it has a
// publisher whose stream readers can join).
func waitReady(t *testing.T, m *mediaMTX, paths ...string) {
	t.Helper()
	testenv.WaitFor(t, 20*time.Second, fmt.Sprintf("paths %v ready", paths), func() bool {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/v3/paths/list", m.APIPort), nil)
		req.SetBasicAuth(apiUser, apiPass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var l struct {
			Items []struct {
				Name  string `json:"name"`
				Ready bool   `json:"ready"`
			} `json:"items"`
		}
		if json.NewDecoder(resp.Body).Decode(&l) != nil {
			return false
		}
		ready := map[string]bool{}
		for _, it := range l.Items {
			ready[it.Name] = it.Ready
		}
		for _, p := range paths {
			if !ready[p] {
				return false
			}
		}
		return true
	})
}

// publishTestPattern publishes a small test pattern to path with gst-launch-1.0.
func publishTestPattern(t *testing.T, m *mediaMTX, path string) (stop func()) {
	t.Helper()
	return gstLaunch(t, strings.Fields("videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=10/1"+
		" ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! h264parse config-interval=-1"+
		" ! rtspclientsink protocols=tcp location="+m.rtsp(pubLogin, path))...)
}

// readStream reads path with gst-launch-1.0 (rtspsrc ! fakesink) until stopped.
func readStream(t *testing.T, m *mediaMTX, path string) (stop func()) {
	t.Helper()
	return gstLaunch(t, "rtspsrc", "protocols=tcp", "location="+m.rtsp(viewLogin, path), "!", "fakesink")
}

// TestWatcherReaders polls a real MediaMTX with three published paths, one page of
// one path at a time, and follows the reader counts of the gated paths as readers
// come and go; a gated path without publisher counts no reader.
func TestWatcherReaders(t *testing.T) {
	m := startMediaMTX(t)
	for _, p := range []string{"cam1-annotated", "cam2-annotated", "other"} {
		publishTestPattern(t, m, p)
	}
	waitReady(t, m, "cam1-annotated", "cam2-annotated", "other")

	w, rec, start := newTestWatcher(t, Config{API: m.API, Interval: 100 * time.Millisecond})
	w.perPage = 1 // three pages a poll
	g1, g2, g3 := w.Gate("cam1-annotated"), w.Gate("cam2-annotated"), w.Gate("cam3-annotated")
	if w.Gate("cam1-annotated") != g1 {
		t.Error("Gate returned a second gate for the same path")
	}
	start()
	wantReaders := func(what string, n1, n2 int) {
		t.Helper()
		testenv.WaitFor(t, 15*time.Second, what, func() bool {
			return g1.State().Readers == n1 && g2.State().Readers == n2
		})
		if s := g3.State(); s.Readers != 0 || s.FailOpen != "" {
			t.Errorf("%s: the path without publisher: %+v, want 0 readers, not failing open", what, s)
		}
	}
	wantReaders("no reader yet", 0, 0)

	stop1 := readStream(t, m, "cam1-annotated")
	stop2 := readStream(t, m, "cam1-annotated")
	readStream(t, m, "cam2-annotated")
	wantReaders("two readers of cam1, one of cam2", 2, 1)
	stop1()
	wantReaders("one reader of cam1 left", 1, 1)
	stop2()
	wantReaders("the last reader of cam1 left", 0, 1)

	if s := w.Stats(); s.Failed != 0 {
		t.Errorf("Stats = %+v, want no failed poll", s)
	}
	if n := rec.count(slog.LevelInfo, "annotated stream watched"); n != 2 {
		t.Errorf("%d log lines say a stream is watched, want 2 (cam1 and cam2 once each)", n)
	}
	rec.assertNoSecret(t, apiPass)
	rec.assertNoSecret(t, url.UserPassword(apiUser, apiPass).String())
}

// TestWatcherAPIComesAndGoes starts the watcher before MediaMTX, starts MediaMTX on
// the API's port and kills it: the gate fails open while the API is away, holds
// from the moment it answers again, and each change is logged once.
func TestWatcherAPIComesAndGoes(t *testing.T) {
	port := testenv.FreePort(t)
	api := (&url.URL{Scheme: "http", User: url.UserPassword(apiUser, apiPass), Host: fmt.Sprintf("127.0.0.1:%d", port)}).String()
	const hold = 2 * time.Second
	w, rec, start := newTestWatcher(t, Config{API: api, Interval: 100 * time.Millisecond, Hold: hold})
	g := w.Gate("cam1-annotated")
	start()

	testenv.WaitFor(t, 10*time.Second, "fail open", func() bool { return strings.Contains(g.State().FailOpen, "connection refused") })
	waitPolls(t, w, 5)
	if d := g.Decide(time.Now()); d != Push {
		t.Errorf("API unreachable: Decide = %v, want push", d)
	}
	if n := rec.count(slog.LevelWarn, "fail open"); n != 1 {
		t.Errorf("API unreachable for 5 polls and more: %d warnings, want 1", n)
	}

	m := startMediaMTXAt(t, port)
	up := time.Now()
	testenv.WaitFor(t, 10*time.Second, "the API answers", func() bool { return g.State().FailOpen == "" })
	s := g.State()
	// Hold counts from the first answer, which came after MediaMTX listened.
	if s.Readers != 0 || s.ReadersSince.Before(up) || time.Since(s.ReadersSince) > time.Second {
		t.Errorf("after MediaMTX started at %v: %+v, want 0 readers since then", up, s)
	}
	if d := g.Decide(s.ReadersSince.Add(hold - time.Millisecond)); d != Push {
		t.Errorf("Decide 1 ms before Hold ends = %v, want push", d)
	}
	if d := g.Decide(s.ReadersSince.Add(hold)); d != Skip {
		t.Errorf("Decide when Hold ends, 1 ms after a push = %v, want skip", d)
	}
	if n := rec.count(slog.LevelInfo, "answers again"); n != 1 {
		t.Errorf("%d lines say the API answers again, want 1", n)
	}

	m.stop()
	testenv.WaitFor(t, 10*time.Second, "fail open again", func() bool { return g.State().FailOpen != "" })
	waitPolls(t, w, 3)
	if n := rec.count(slog.LevelWarn, "fail open"); n != 2 {
		t.Errorf("API gone twice: %d warnings, want 2", n)
	}
	rec.assertNoSecret(t, apiPass)
}

// TestWatcherFailsOpen points the watcher at answers that are not MediaMTX's paths
// list: each makes the gate push every frame, with a reason, and one warning.
func TestWatcherFailsOpen(t *testing.T) {
	m := startMediaMTX(t)
	serve := func(h http.HandlerFunc) string {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return s.URL
	}
	json := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			io.WriteString(w, body)
		}
	}
	withLogin := func(login string) string {
		return fmt.Sprintf("http://%s@127.0.0.1:%d", login, m.APIPort)
	}
	cases := []struct {
		name, api, reason string
	}{
		{"wrong password", withLogin(apiUser + ":wrong"), "401 Unauthorized"},
		{"a user without the api permission", withLogin(viewLogin), "401 Unauthorized"},
		{"no login", fmt.Sprintf("http://127.0.0.1:%d", m.APIPort), "401 Unauthorized"},
		{"a web page", serve(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "<html>hello</html>")
		}), `Content-Type "text/html; charset=utf-8"`},
		{"other JSON", serve(json(`{"error":"no such thing"}`)), "itemCount, pageCount or items missing"},
		{"over 4 MiB", serve(json(`{"itemCount":0,"pageCount":0,"items":[],"pad":"` + strings.Repeat("x", MaxBody) + `"}`)), "over 4194304 bytes"},
		{"a redirect", serve(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/", http.StatusFound)
		}), "302 Found"},
		{"a server error", serve(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "oops", http.StatusInternalServerError)
		}), "500 Internal Server Error"},
		{"no answer in time", serve(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}), "context deadline exceeded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, rec, start := newTestWatcher(t, Config{API: c.api, Interval: 100 * time.Millisecond})
			g := w.Gate("cam1-annotated")
			start()
			testenv.WaitFor(t, 10*time.Second, "fail open", func() bool {
				return g.State().FailOpen != FailOpenNoAnswer && g.State().FailOpen != ""
			})
			waitPolls(t, w, 2)
			if s := g.State(); !strings.Contains(s.FailOpen, c.reason) || s.Readers != -1 {
				t.Errorf("State = %+v, want readers -1 and FailOpen with %q", s, c.reason)
			}
			if d := g.Decide(time.Now()); d != Push {
				t.Errorf("Decide = %v, want push", d)
			}
			if n := rec.count(slog.LevelWarn, c.reason); n != 1 {
				t.Errorf("%d warnings with %q, want 1", n, c.reason)
			}
		})
	}
}

func TestNewWatcherErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want []string // each in the error
	}{
		{"not http", Config{API: "rtsp://agent:s3cret@127.0.0.1:9997"},
			[]string{`API: "rtsp://agent:xxxxx@127.0.0.1:9997" is not an http:// or https:// URL`}},
		{"empty", Config{}, []string{`API: "" is not an http:// or https:// URL`}},
		{"no host", Config{API: "http:///v3"}, []string{`API: "http:///v3" has no host`}},
		{"a query", Config{API: "http://agent:s3cret@127.0.0.1:9997/?x=1"},
			[]string{`API: "http://agent:xxxxx@127.0.0.1:9997/?x=1" has a query or fragment`}},
		{"unparsable", Config{API: "http://agent:50%@127.0.0.1:9997"},
			[]string{`API: "http://agent:xxxxx@127.0.0.1:9997" does not parse`}},
		{"negative durations, all reported", Config{API: "http://127.0.0.1:9997", Interval: -1, Hold: -time.Second, Trickle: -2 * time.Second},
			[]string{"Interval: -1ns is negative", "Hold: -1s is negative", "Trickle: -2s is negative"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewWatcher(c.cfg, nil)
			if err == nil {
				t.Fatal("NewWatcher succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
	w, err := NewWatcher(Config{API: "https://u:p@box:9997/mtx/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.list.String(), "https://box:9997/mtx/v3/paths/list"; got != want {
		t.Errorf("list endpoint %q, want %q", got, want)
	}
	if w.cfg.Interval != DefaultInterval || w.cfg.Hold != DefaultHold || w.cfg.Trickle != DefaultTrickle {
		t.Errorf("defaults not applied: %+v", w.cfg)
	}
}
