package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"edge-agent/internal/testenv"
	"edge-agent/metrics"
	"edge-agent/models"
)

// fakeModel is a modelDetector whose runs the test can hold and watch.
type fakeModel struct {
	name     string
	maxBatch int
	gate     chan struct{} // when set, each run waits for a value from it
	cost     time.Duration // how long each run takes
	lanes    int           // runs at once
	mu       sync.Mutex
	runs     [][]int // the width of each image of each run: the test's camera ids
	entered  int     // runs begun
	closed   bool
}

func (f *fakeModel) run(imgs []models.Image) {
	f.mu.Lock()
	f.entered++
	f.mu.Unlock()
	if f.gate != nil {
		<-f.gate
	}
	time.Sleep(f.cost)
	ids := make([]int, len(imgs))
	for i, img := range imgs {
		ids[i] = img.Width
	}
	f.mu.Lock()
	f.runs = append(f.runs, ids)
	f.mu.Unlock()
}

func (f *fakeModel) Detect(img models.Image, th models.Thresholds, dst []models.Detection) ([]models.Detection, models.Timings, error) {
	f.run([]models.Image{img})
	return append(dst[:0], models.Detection{Label: "x", ClassID: img.Width}), models.Timings{}, nil
}

func (f *fakeModel) DetectBatch(imgs []models.Image, th []models.Thresholds, dst [][]models.Detection) ([][]models.Detection, models.Timings, error) {
	if len(imgs) > f.maxBatch {
		return nil, models.Timings{}, errors.New("batch too large")
	}
	f.run(imgs)
	for i, img := range imgs {
		dst[i] = append(dst[i][:0], models.Detection{Label: "x", ClassID: img.Width})
	}
	return dst, models.Timings{}, nil
}

func (f *fakeModel) MaxBatch() int { return max(f.maxBatch, 1) }
func (f *fakeModel) Lanes() int    { return max(f.lanes, 1) }
func (f *fakeModel) Info() models.Info {
	return models.Info{Name: f.name, SHA256: strings.Repeat("a", 64)}
}
func (f *fakeModel) KeepMask(labels []string) ([]bool, error) { return nil, nil }
func (f *fakeModel) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// waitEntered waits until n runs have begun.
func (f *fakeModel) waitEntered(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		got := f.entered
		f.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs begun, want %d", got, n)
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
}

func (f *fakeModel) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

var errTruncated = errors.New("truncated")

func TestPoolSharesAndCountsReferences(t *testing.T) {
	loaded := map[string]*fakeModel{}
	loads := 0
	p := newModelPool(func(ms ModelSpec) (modelDetector, error) {
		path, f := ms.Path, ms.Format
		loads++
		if path == "/m/bad.onnx" {
			return nil, fmt.Errorf("load /m/bad.onnx: %w", errTruncated)
		}
		m := &fakeModel{name: path}
		loaded[path+"|"+string(f)] = m
		return m, nil
	}, func() (string, error) { return "/cache/markers.onnx", nil }, 0)

	a, err := p.acquire(ModelSpec{Name: "x.onnx", Path: "/m/x.onnx"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.acquire(ModelSpec{Name: "x.onnx", Path: "/m/x.onnx"})
	if err != nil {
		t.Fatal(err)
	}
	if a != b || loads != 1 || p.size() != 1 {
		t.Fatalf("two cameras on x.onnx: same=%v loads=%d sessions=%d, want one session loaded once", a == b, loads, p.size())
	}
	// The same file read with another layout is another session.
	c, err := p.acquire(ModelSpec{Name: "x.onnx", Path: "/m/x.onnx", Format: models.FormatYOLOX})
	if err != nil || c == a || p.size() != 2 {
		t.Fatalf("forced layout: %v, same=%v, sessions=%d", err, c == a, p.size())
	}
	// The built-in model is written once and shared too.
	d1, _ := p.acquire(ModelSpec{})
	d2, _ := p.acquire(ModelSpec{})
	if d1 != d2 || loaded["/cache/markers.onnx|"] == nil {
		t.Fatal("built-in model not shared")
	}
	// A pinned digest that does not match is refused, and the session
	// nobody holds is not kept.
	if _, err := p.acquire(ModelSpec{Name: "y.onnx", Path: "/m/y.onnx", SHA256: strings.Repeat("b", 64)}); err == nil ||
		!strings.Contains(err.Error(), `model "y.onnx": sha256 is aaaa`) {
		t.Errorf("wrong digest: %v", err)
	}
	if p.size() != 3 || !loaded["/m/y.onnx|"].isClosed() {
		t.Errorf("refused model kept: sessions=%d", p.size())
	}
	// A load error names the model as the user did.
	if _, err := p.acquire(ModelSpec{Name: "bad.onnx", Path: "/m/bad.onnx"}); err == nil || err.Error() != "load bad.onnx: truncated" || !errors.Is(err, errTruncated) {
		t.Errorf("load error = %v, want it named by the model's name and wrapping the cause", err)
	}

	p.release(a)
	if loaded["/m/x.onnx|"].isClosed() {
		t.Fatal("closed while a camera still holds it")
	}
	p.release(b)
	if !loaded["/m/x.onnx|"].isClosed() || p.size() != 2 {
		t.Fatalf("last release: closed=%v sessions=%d, want closed and 2 left", loaded["/m/x.onnx|"].isClosed(), p.size())
	}
	p.release(c)
	p.release(d1)
	p.release(d2)
	if p.size() != 0 {
		t.Fatalf("sessions left: %d", p.size())
	}
}

// waitWaiting waits until n requests wait for the model.
func waitWaiting(t *testing.T, m *sharedModel, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		got := len(m.waiting)
		m.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting, want %d", got, n)
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
}

// frameFor is a camera's frame: its width is the camera's id, so the fake
// model can tell who it ran.
func frameFor(cam int) models.Image {
	return models.Image{Pix: make([]byte, 3*cam), Width: cam, Height: 1, Stride: 3 * cam}
}

func TestSharedModelRoundRobin(t *testing.T) {
	fm := &fakeModel{maxBatch: 1, gate: make(chan struct{})}
	m := newSharedModel(poolKey{}, fm, 0)
	// Camera 3 holds the turn; 1, 5 and 4 queue up in that order. Round
	// robin after 3 serves 4, 5, then wraps to 1 — not arrival order.
	reqs := map[int]*inferRequest{}
	var wg sync.WaitGroup
	start := func(cam int) {
		r := newInferRequest(cam)
		r.img = frameFor(cam)
		reqs[cam] = r
		wg.Go(func() { m.detect(r) })
	}
	start(3)
	fm.waitEntered(t, 1)
	for i, cam := range []int{1, 5, 4} {
		start(cam)
		waitWaiting(t, m, i+1)
	}
	for range 4 {
		fm.gate <- struct{}{}
	}
	wg.Wait()
	var order []int
	for _, r := range fm.runs {
		order = append(order, r...)
	}
	if !slices.Equal(order, []int{3, 4, 5, 1}) {
		t.Errorf("served %v, want [3 4 5 1]", order)
	}
	for cam, r := range reqs {
		if len(r.dets) != 1 || r.dets[0].ClassID != cam || r.err != nil {
			t.Errorf("camera %d got %+v, %v: another camera's answer", cam, r.dets, r.err)
		}
	}
}

func TestSharedModelNoCameraStarves(t *testing.T) {
	// Three cameras hammer one batch-1 model that takes 1 ms a frame, for
	// 150 runs: round robin gives each a third, give or take the first and
	// last rounds.
	fm := &fakeModel{maxBatch: 1, cost: time.Millisecond}
	m := newSharedModel(poolKey{}, fm, 0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	counts := make([]int, 3)
	for cam := range 3 {
		r := newInferRequest(cam)
		r.img = frameFor(cam + 1)
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				m.detect(r)
				counts[cam]++
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		fm.mu.Lock()
		n := len(fm.runs)
		fm.mu.Unlock()
		if n >= 150 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	total := counts[0] + counts[1] + counts[2]
	for cam, n := range counts {
		if n < total/6 {
			t.Errorf("camera %d ran %d of %d frames: starved (counts %v)", cam, n, total, counts)
		}
	}
}

func TestSharedModelBatches(t *testing.T) {
	fm := &fakeModel{maxBatch: 3, gate: make(chan struct{})}
	m := newSharedModel(poolKey{}, fm, 0)
	reqs := make([]*inferRequest, 5)
	var wg sync.WaitGroup
	start := func(cam int) {
		r := newInferRequest(cam)
		r.img = frameFor(cam)
		reqs[cam-1] = r
		wg.Go(func() { m.detect(r) })
	}
	// Camera 1 runs alone (nobody waits yet); 2..5 queue behind it. The
	// next turn (camera 2's) takes 2, 3, 4 in one batch of 3 — the batch
	// size — and 5 runs in the turn after.
	start(1)
	fm.waitEntered(t, 1)
	for cam := 2; cam <= 5; cam++ {
		start(cam)
		waitWaiting(t, m, cam-1)
	}
	for range 3 {
		fm.gate <- struct{}{}
	}
	wg.Wait()
	want := [][]int{{1}, {2, 3, 4}, {5}}
	if !slices.EqualFunc(fm.runs, want, slices.Equal) {
		t.Errorf("runs %v, want %v", fm.runs, want)
	}
	for i, r := range reqs {
		if len(r.dets) != 1 || r.dets[0].ClassID != i+1 {
			t.Errorf("camera %d got %+v", i+1, r.dets)
		}
	}
}

func TestSharedModelBatchWaitIsBounded(t *testing.T) {
	// With a wait of 20 ms and nobody else coming, a lone camera's frame
	// runs after about that wait, alone.
	fm := &fakeModel{maxBatch: 4}
	m := newSharedModel(poolKey{}, fm, 20*time.Millisecond)
	r := newInferRequest(1)
	r.img = frameFor(1)
	t0 := time.Now()
	m.detect(r)
	if d := time.Since(t0); d < 20*time.Millisecond || d > 2*time.Second {
		t.Errorf("lone frame took %s, want the 20ms wait and little more", d)
	}
	if len(fm.runs) != 1 || len(fm.runs[0]) != 1 {
		t.Errorf("runs %v", fm.runs)
	}
}

func TestSharedModelDetectAllocatesNothing(t *testing.T) {
	fm := &fakeModel{maxBatch: 1}
	m := newSharedModel(poolKey{}, fm, 0)
	r := newInferRequest(1)
	r.img = frameFor(1)
	r.dets = make([]models.Detection, 0, 4)
	// The fake itself allocates its record of the run; count the
	// scheduler's own by subtracting a direct call's.
	direct := testing.AllocsPerRun(100, func() { fm.Detect(r.img, r.th, r.dets) })
	via := testing.AllocsPerRun(100, func() { m.detect(r) })
	if via > direct {
		t.Errorf("detect through the scheduler: %.0f allocations, a direct call %.0f", via, direct)
	}
}

func TestSharedModelLanes(t *testing.T) {
	// Two lanes: cameras 1 and 2 run at once, camera 3 waits for a lane.
	fm := &fakeModel{maxBatch: 1, lanes: 2, gate: make(chan struct{})}
	m := newSharedModel(poolKey{}, fm, 0)
	var wg sync.WaitGroup
	reqs := make([]*inferRequest, 3)
	for i := range reqs {
		r := newInferRequest(i + 1)
		r.img = frameFor(i + 1)
		reqs[i] = r
	}
	wg.Go(func() { m.detect(reqs[0]) })
	wg.Go(func() { m.detect(reqs[1]) })
	fm.waitEntered(t, 2) // both inside the model together
	wg.Go(func() { m.detect(reqs[2]) })
	waitWaiting(t, m, 1)
	for range 3 {
		fm.gate <- struct{}{}
	}
	wg.Wait()
	for i, r := range reqs {
		if len(r.dets) != 1 || r.dets[0].ClassID != i+1 {
			t.Errorf("camera %d got %+v", i+1, r.dets)
		}
	}
	if m.running != 0 || len(m.free) != 2 {
		t.Errorf("after the runs: %d running, %d free lanes; want 0 and 2", m.running, len(m.free))
	}
}

func TestManagerAppliesOnlyWhatChanged(t *testing.T) {
	// Cameras a and b on model x; sources that never fail. Each change is
	// checked for what it restarted (a new connection) and what the pool
	// holds.
	var mu sync.Mutex
	connects := map[string]int{}
	loaded := map[string]*fakeModel{}
	pool := newModelPool(func(ms ModelSpec) (modelDetector, error) {
		path := ms.Path
		m := &fakeModel{name: filepath.Base(path), maxBatch: 1}
		loaded[path] = m
		return m, nil
	}, func() (string, error) { return "/cache/markers.onnx", nil }, 0)
	m := &manager{
		device: "box", log: slog.New(slog.DiscardHandler), pool: pool, metrics: metrics.New("test"),
		report: time.Second, maxDets: 100, workers: map[string]*worker{}, ctx: t.Context(),
		newSource: func(cs CameraSpec, _ *slog.Logger) (frameSource, error) {
			mu.Lock()
			connects[cs.Name]++
			mu.Unlock()
			return &fakeSource{frames: 1 << 30}, nil
		},
	}
	t.Cleanup(m.stop)
	cam := func(name, url, model string) CameraSpec {
		return CameraSpec{Name: name, URL: url, OutputURL: OutputDisabled, Confidence: 0.25, IoU: 0.45,
			Model: ModelSpec{Name: model, Path: "/m/" + model}, StallTimeout: 5 * time.Second}
	}
	conns := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return connects[name]
	}
	waitConns := func(name string, n int) {
		t.Helper()
		testenv.WaitFor(t, 5*time.Second, fmt.Sprintf("%d connections of %s", n, name), func() bool { return conns(name) >= n })
	}
	apply := func(rev uint64, cams ...CameraSpec) {
		t.Helper()
		if err := m.apply(Spec{Cameras: cams}, rev); err != nil {
			t.Fatalf("apply revision %d: %v", rev, err)
		}
	}

	a, b := cam("a", "rtsp://h/a", "x.onnx"), cam("b", "rtsp://h/b", "x.onnx")
	// As if earlier workers of b had handed out track IDs 1 to 6.
	m.trackNext = map[string]uint64{"b": 7}
	apply(1, a, b)
	waitConns("a", 1)
	waitConns("b", 1)
	if pool.size() != 1 {
		t.Fatalf("two cameras on x.onnx: %d sessions, want 1", pool.size())
	}
	wa := m.workers["a"]

	// Live: a's confidence. Same worker, no new connection, new revision.
	a.Confidence = 0.6
	apply(2, a, b)
	if m.workers["a"] != wa || wa.cam.settings().th.Confidence != 0.6 || wa.cam.settings().revision != 2 {
		t.Errorf("a after a live change: same worker %v, settings %+v", m.workers["a"] == wa, wa.cam.settings())
	}
	// Model: a moves to y.onnx; b keeps x; a is not reconnected.
	a.Model = ModelSpec{Name: "y.onnx", Path: "/m/y.onnx"}
	apply(3, a, b)
	if m.workers["a"] != wa || wa.cam.settings().model.info.Name != "y.onnx" || pool.size() != 2 {
		t.Errorf("a after a model change: same worker %v, model %s, %d sessions", m.workers["a"] == wa, wa.cam.settings().model.info.Name, pool.size())
	}
	// Restart: b's URL. b alone gets a new connection.
	b.URL = "rtsp://h/b2"
	apply(4, a, b)
	waitConns("b", 2)
	if conns("a") != 1 {
		t.Errorf("a reconnected %d times for a change to b", conns("a")-1)
	}
	// b's new worker goes on with the track IDs where the old one stopped
	// (the fake model's detections, of confidence 0, confirm no track, so
	// the worker's tracker only reads nextID: no race with the test).
	if got := m.workers["b"].cam.tracker.NextID(); got != 7 {
		t.Errorf("b's tracker after its restart hands out %d next, want 7", got)
	}
	// Remove b: x.onnx's last camera leaves, its session closes.
	apply(5, a)
	if _, ok := m.workers["b"]; ok || pool.size() != 1 || !loaded["/m/x.onnx"].isClosed() {
		t.Errorf("after removing b: worker kept %v, %d sessions, x closed %v", ok, pool.size(), loaded["/m/x.onnx"].isClosed())
	}
	// A model that cannot load refuses the whole change: c is not added,
	// a keeps running y.
	bad := cam("c", "rtsp://h/c", "bad.onnx")
	pool.load = func(ModelSpec) (modelDetector, error) {
		return nil, errors.New("load bad.onnx: truncated")
	}
	a.Confidence = 0.9
	if err := m.apply(Spec{Cameras: []CameraSpec{a, bad}}, 6); err == nil || !strings.Contains(err.Error(), `camera "c": load bad.onnx: truncated`) {
		t.Fatalf("apply with a broken model = %v", err)
	}
	if _, ok := m.workers["c"]; ok || wa.cam.settings().th.Confidence != 0.6 || wa.cam.settings().revision != 5 {
		t.Errorf("a refused change was applied in part: c started %v, a at %+v", ok, wa.cam.settings())
	}
	if spec, rev := m.current(); rev != 5 || len(spec.Cameras) != 1 {
		t.Errorf("current = %d cameras at revision %d, want 1 at 5", len(spec.Cameras), rev)
	}
}
