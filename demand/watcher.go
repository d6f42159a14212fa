package demand

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"edge-agent/internal/redact"
)

// Defaults of Config's fields, used where a field is zero.
const (
	DefaultInterval = 250 * time.Millisecond
	DefaultHold     = 10 * time.Second
	DefaultTrickle  = time.Second
)

// Limits of the polls.
const (
	// MaxBody is the largest answer read from the API; a bigger one is not MediaMTX's
	// paths list as far as the watcher is concerned (the gates fail open).
	MaxBody = 4 << 20
	// minRequestTimeout is the least a request may take before it counts as failed:
	// MediaMTX answers a wrong login only after a pause of 2 s (measured with v1.14:
	// 2.1 s, against 0.15 s without a login), and that answer, 401, says more than a
	// timeout would; also a busy box may answer a poll late, and a failed poll costs
	// Hold of encoding.
	minRequestTimeout = 3 * time.Second
	// itemsPerPage is the page size asked of /v3/paths/list; maxPages bounds the pages
	// read per poll (a list that keeps growing cannot keep a poll going).
	itemsPerPage = 100
	maxPages     = 100
)

// Config configures a Watcher. The zero value of each duration means its default.
type Config struct {
	// API is MediaMTX's Control API: http(s)://[user:password@]host:port, the user
	// needing MediaMTX's "api" permission (without user info the request is
	// anonymous). A path in it is kept as a prefix of /v3/paths/list.
	API string
	// Interval is how often the API is polled (default 250 ms). A request that takes
	// longer than Interval, or 3 s if that is more, counts as failed.
	Interval time.Duration
	// Hold is how long a path with no reader keeps getting every frame after the last
	// reader left (default 10 s).
	Hold time.Duration
	// Trickle is the least time between two frames pushed while nobody watches
	// (default 1 s): enough to keep the publisher's RTSP session and the path alive.
	Trickle time.Duration
	// Client makes the requests; nil means a client of the watcher's own that uses no
	// proxy and follows no redirect.
	Client *http.Client
}

func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Hold == 0 {
		c.Hold = DefaultHold
	}
	if c.Trickle == 0 {
		c.Trickle = DefaultTrickle
	}
	return c
}

// parseAPI checks raw and splits it into the list endpoint's URL (without user
// info) and the login.
func parseAPI(raw string) (list *url.URL, user *url.Userinfo, err error) {
	u, err := url.Parse(raw)
	if err != nil { // not err: it quotes raw, password included
		return nil, nil, fmt.Errorf("%q does not parse (check its escaping, e.g. %%25 for %% in a password)", redact.URL(raw))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, nil, fmt.Errorf("%q is not an http:// or https:// URL", redact.URL(raw))
	case u.Host == "":
		return nil, nil, fmt.Errorf("%q has no host", redact.URL(raw))
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, nil, fmt.Errorf("%q has a query or fragment", redact.URL(raw))
	}
	user, u.User = u.User, nil
	u.Path = strings.TrimSuffix(u.Path, "/") + "/v3/paths/list"
	u.RawPath = ""
	return u, user, nil
}

// CheckAPI reports whether raw is a usable Config.API: an http:// or https://
// URL with a host and no query or fragment. Its message never quotes the
// password.
func CheckAPI(raw string) error {
	_, _, err := parseAPI(raw)
	return err
}

func (c Config) validate() error {
	var errs []error
	if _, _, err := parseAPI(c.API); err != nil {
		errs = append(errs, fmt.Errorf("API: %w", err))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Interval", c.Interval}, {"Hold", c.Hold}, {"Trickle", c.Trickle}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %v is negative", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// Watcher polls MediaMTX's Control API for the reader counts of the paths it has
// gates for and hands each gate its count. Run polls; Gate may be called before or
// while it runs.
type Watcher struct {
	cfg     Config
	log     *slog.Logger
	list    *url.URL      // the list endpoint, without user info
	login   *url.Userinfo // nil: anonymous
	client  *http.Client
	own     bool      // client is the watcher's own (its idle connections are closed at the end of Run)
	base    time.Time // the gates' clock
	timeout time.Duration
	perPage int // itemsPerPage asked for (itemsPerPage; tests set less to read several pages)

	mu    sync.Mutex
	gates map[string]*Gate

	running atomic.Bool
	polls   atomic.Uint64
	failed  atomic.Uint64

	// Run's own.
	counts   map[string]int // reused by each poll
	seen     map[string]int // each gate's count at the last answer, for the logs
	failKind string         // the kind of the last failure ("" after an answer), for the logs
	answered bool
}

// NewWatcher validates cfg; it starts nothing until Run. log is narrowed with the
// (redacted) API URL only: the caller names the component.
func NewWatcher(cfg Config, log *slog.Logger) (*Watcher, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("demand config: %w", err)
	}
	cfg = cfg.withDefaults()
	list, login, _ := parseAPI(cfg.API)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{
		cfg:     cfg,
		log:     log.With("api", redact.URL(cfg.API)),
		list:    list,
		login:   login,
		client:  cfg.Client,
		base:    time.Now(),
		timeout: max(cfg.Interval, minRequestTimeout),
		perPage: itemsPerPage,
		gates:   map[string]*Gate{},
		counts:  map[string]int{},
		seen:    map[string]int{},
	}
	if w.client == nil {
		w.own = true
		w.client = &http.Client{
			Transport: &http.Transport{
				Proxy:               nil, // the API is on the box: never through a proxy
				DialContext:         (&net.Dialer{Timeout: w.timeout}).DialContext,
				MaxIdleConns:        1,
				MaxIdleConnsPerHost: 1,
				IdleConnTimeout:     30 * time.Second,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return w, nil
}

// Gate returns the gate of the MediaMTX path name path (e.g. "cam1-annotated"),
// creating it on first use. Until a poll answers, a gate fails open (Push).
func (w *Watcher) Gate(path string) *Gate {
	w.mu.Lock()
	defer w.mu.Unlock()
	g, ok := w.gates[path]
	if !ok {
		g = newGate(path, w.base, w.cfg.Hold, w.cfg.Trickle)
		w.gates[path] = g
	}
	return g
}

// WatcherStats are a watcher's running totals.
type WatcherStats struct {
	Polls  uint64 // polls done (each reads every page of the list)
	Failed uint64 // polls that failed: the gates failed open after each
}

// Stats returns the running totals. Safe from any goroutine.
func (w *Watcher) Stats() WatcherStats {
	return WatcherStats{Polls: w.polls.Load(), Failed: w.failed.Load()}
}

// Run polls the API every Interval until ctx ends, then returns nil. A poll that
// fails makes every gate fail open until one answers again; the failure is logged
// once (Warn), and again only when its kind changes (unreachable, an HTTP status,
// a body that is not the paths list); the recovery is logged once (Info).
func (w *Watcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("demand watcher already running")
	}
	defer w.running.Store(false)
	if w.own {
		defer w.client.CloseIdleConnections()
	}
	tick := time.NewTicker(w.cfg.Interval)
	defer tick.Stop()
	for {
		w.pollOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// pollOnce polls the API once and updates every gate.
func (w *Watcher) pollOnce(ctx context.Context) {
	clear(w.counts)
	kind, err := w.poll(ctx, w.counts)
	if ctx.Err() != nil {
		return // stopping: not the API's failure
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.polls.Add(1) // after the gates have the answer
	if err != nil {
		w.failed.Add(1)
		reason := err.Error()
		for _, g := range w.gates {
			g.fail(reason, now)
		}
		if kind != w.failKind {
			w.log.Warn("MediaMTX API failed: every annotated stream is encoded until it answers (fail open)", "err", err)
		}
		w.failKind = kind
		return
	}
	switch {
	case w.failKind != "":
		w.log.Info("MediaMTX API answers again: annotated streams are encoded only while watched")
	case !w.answered:
		w.log.Info("MediaMTX API answers: annotated streams are encoded only while watched", "interval", w.cfg.Interval, "hold", w.cfg.Hold, "trickle", w.cfg.Trickle)
	}
	w.failKind, w.answered = "", true
	for path, g := range w.gates {
		n := w.counts[path]
		g.observe(n, now)
		if before, ok := w.seen[path]; ok && (before > 0) == (n > 0) {
			w.seen[path] = n
			continue
		}
		w.seen[path] = n
		if n > 0 {
			w.log.Info("annotated stream watched: encoding every frame", "path", path, "readers", n)
		} else {
			w.log.Debug("annotated stream not watched", "path", path, "trickle after", w.cfg.Hold)
		}
	}
}

// Failure kinds, for logging once per kind.
const (
	failUnreachable = "unreachable"
	failMalformed   = "malformed"
)

// poll reads every page of the paths list into counts. On failure it returns its
// kind: failUnreachable, failMalformed or "HTTP <status>".
func (w *Watcher) poll(ctx context.Context, counts map[string]int) (kind string, err error) {
	for page := 0; page < maxPages; page++ {
		body, kind, err := w.get(ctx, page)
		if err != nil {
			return kind, err
		}
		pages, err := parsePathList(body, counts)
		if err != nil {
			return failMalformed, err
		}
		if page+1 >= pages {
			return "", nil
		}
	}
	return failMalformed, fmt.Errorf("%w: more than %d pages of %d paths", errNotMediaMTX, maxPages, w.perPage)
}

// get fetches one page of the list.
func (w *Watcher) get(ctx context.Context, page int) (body []byte, kind string, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	u := *w.list
	u.RawQuery = "itemsPerPage=" + strconv.Itoa(w.perPage) + "&page=" + strconv.Itoa(page)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, failUnreachable, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	if w.login != nil {
		pass, _ := w.login.Password()
		req.SetBasicAuth(w.login.Username(), pass)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, failUnreachable, err // *url.Error: names the request, without user info
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, failUnreachable, fmt.Errorf("GET %s: read the answer: %w", u.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("GET %s: %s", u.Redacted(), resp.Status)
		if resp.StatusCode == http.StatusUnauthorized {
			err = fmt.Errorf("%w (check the user and password in the API URL, and that MediaMTX gives that user the api permission)", err)
		}
		return nil, "HTTP " + strconv.Itoa(resp.StatusCode), err
	}
	if len(body) > MaxBody {
		return nil, failMalformed, fmt.Errorf("GET %s: %w: the answer is over %d bytes", u.Redacted(), errNotMediaMTX, MaxBody)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil, failMalformed, fmt.Errorf("GET %s: %w: Content-Type %q", u.Redacted(), errNotMediaMTX, resp.Header.Get("Content-Type"))
	}
	return body, "", nil
}
