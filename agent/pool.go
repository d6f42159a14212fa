package agent

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"edge-agent/models"
)

// modelDetector is a loaded model as the pool sees it: models.Detector.
type modelDetector interface {
	Detect(img models.Image, th models.Thresholds, dst []models.Detection) ([]models.Detection, models.Timings, error)
	DetectBatch(imgs []models.Image, th []models.Thresholds, dst [][]models.Detection) ([][]models.Detection, models.Timings, error)
	MaxBatch() int
	Lanes() int
	Info() models.Info
	KeepMask(labels []string) ([]bool, error)
	Close() error
}

// poolKey identifies a shared session: the same file read with the same
// layout.
type poolKey struct {
	path   string
	format models.Format
}

// modelPool shares one loaded model among every camera that names the same
// file: one ONNX Runtime session, reference-counted, closed when the last
// camera lets it go. It is used by the manager only (acquire, release); the
// cameras use the sharedModel they were given.
type modelPool struct {
	// load loads a model; a non-empty sha256 is checked before the file is
	// parsed.
	load      func(ms ModelSpec) (modelDetector, error)
	builtin   func() (string, error) // writes the built-in marker model, returns its path
	batchWait time.Duration

	mu          sync.Mutex
	models      map[poolKey]*sharedModel
	builtinPath string
}

func newModelPool(load func(ModelSpec) (modelDetector, error), builtin func() (string, error), batchWait time.Duration) *modelPool {
	return &modelPool{load: load, builtin: builtin, batchWait: batchWait, models: map[poolKey]*sharedModel{}}
}

// acquire returns the shared model of ms, loading and warming it up when
// no camera runs it yet. Each acquire needs one release.
func (p *modelPool) acquire(ms ModelSpec) (*sharedModel, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	path := ms.Path
	if ms.Name == "" {
		if p.builtinPath == "" {
			bp, err := p.builtin()
			if err != nil {
				return nil, err
			}
			p.builtinPath = bp
		}
		path = p.builtinPath
	}
	key := poolKey{path: path, format: ms.Format}
	m := p.models[key]
	if m == nil {
		ls := ms
		ls.Path = path
		det, err := p.load(ls)
		if err != nil {
			if ms.Name != "" && ms.Name != path {
				// Name the model as the user did, not where the agent keeps
				// it; errors.Is and As still see the cause.
				return nil, &renamedError{msg: strings.ReplaceAll(err.Error(), path, ms.Name), err: err}
			}
			return nil, err
		}
		// Warm up: the first run of a session is slow, and a model that
		// cannot run must not go live.
		if _, _, err := det.Detect(greyFrame(), models.Thresholds{Confidence: 0.5, IoU: 0.5}, nil); err != nil {
			det.Close()
			return nil, fmt.Errorf("model %q: warm-up: %w", displayModel(ms), err)
		}
		m = newSharedModel(key, det, p.batchWait)
		p.models[key] = m
	}
	if ms.SHA256 != "" && !strings.EqualFold(ms.SHA256, m.info.SHA256) {
		if m.refs == 0 {
			delete(p.models, key)
			m.det.Close()
		}
		return nil, fmt.Errorf("model %q: sha256 is %s, not %s", displayModel(ms), m.info.SHA256, ms.SHA256)
	}
	m.refs++
	return m, nil
}

// release gives back a model acquire returned; the last release closes it.
// No frame may use the model any more when it is called.
func (p *modelPool) release(m *sharedModel) {
	if m == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(p.models, m.key)
	m.det.Close()
}

// size is how many sessions are open.
func (p *modelPool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.models)
}

// close releases every model, whoever holds it: the agent is stopping.
func (p *modelPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, m := range p.models {
		m.det.Close()
		delete(p.models, k)
	}
}

func displayModel(ms ModelSpec) string {
	if ms.Name == "" {
		return "built-in marker model"
	}
	return ms.Name
}

// greyFrame is the frame a new model warms up on.
func greyFrame() models.Image {
	const w, h = 640, 360
	pix := make([]byte, 3*w*h)
	for i := range pix {
		pix[i] = 114
	}
	return models.Image{Pix: pix, Width: w, Height: h, Stride: 3 * w}
}

// sharedModel is one session serving several cameras. Each camera has at
// most one request in it at a time, for its newest frame: nothing stale
// queues. Requests take turns in round-robin order of the cameras, so no
// camera starves; the camera whose turn it is runs the model in its own
// goroutine. Up to lanes turns run at once (the session's lanes: one copy
// of the weights, several frames in flight, so a shared model can use
// every core). When the model takes batches, a turn runs every waiting
// request (up to the model's batch size) in one call.
type sharedModel struct {
	key       poolKey
	det       modelDetector
	info      models.Info
	maxBatch  int
	lanes     int
	batchWait time.Duration
	refs      int // guarded by the pool's mutex

	mu      sync.Mutex
	running int // turns running
	waiting []*inferRequest
	last    int           // the camera served last
	arrived chan struct{} // a request joined the queue (for the batch wait)
	free    []*turnScratch
}

// turnScratch is what one running turn uses; there is one per lane, so a
// turn allocates nothing.
type turnScratch struct {
	batch []*inferRequest
	imgs  []models.Image
	ths   []models.Thresholds
	dsts  [][]models.Detection
	timer *time.Timer
}

func newSharedModel(key poolKey, det modelDetector, batchWait time.Duration) *sharedModel {
	n := max(det.MaxBatch(), 1)
	lanes := max(det.Lanes(), 1)
	m := &sharedModel{
		key: key, det: det, info: det.Info(), maxBatch: n, lanes: lanes, batchWait: batchWait, last: -1,
		arrived: make(chan struct{}, 1),
	}
	for range lanes {
		m.free = append(m.free, &turnScratch{
			batch: make([]*inferRequest, 0, n), imgs: make([]models.Image, 0, n),
			ths: make([]models.Thresholds, 0, n), dsts: make([][]models.Detection, 0, n),
		})
	}
	return m
}

// inferRequest is one camera's frame for the model, and its answer. Each
// camera owns one and reuses it for every frame.
type inferRequest struct {
	cam  int // the camera's place in the round-robin order
	img  models.Image
	th   models.Thresholds
	dets []models.Detection // the buffer to fill, then the detections
	tm   models.Timings
	err  error

	served bool          // set before wake when another turn ran this request
	wake   chan struct{} // the request was served, or it is its turn
}

func newInferRequest(cam int) *inferRequest {
	return &inferRequest{cam: cam, wake: make(chan struct{}, 1)}
}

// detect runs r through the model, waiting for its turn.
func (m *sharedModel) detect(r *inferRequest) {
	r.served = false
	m.mu.Lock()
	if m.running >= m.lanes {
		m.waiting = append(m.waiting, r)
		select {
		case m.arrived <- struct{}{}:
		default:
		}
		m.mu.Unlock()
		<-r.wake
		if r.served {
			return
		}
	} else {
		m.running++
		m.mu.Unlock()
	}
	m.turn(r)
}

// turn runs r (and, for a batch model, the requests waiting) and hands the
// turn on to the next camera in round-robin order.
func (m *sharedModel) turn(r *inferRequest) {
	m.mu.Lock()
	ts := m.free[len(m.free)-1]
	m.free = m.free[:len(m.free)-1]
	m.mu.Unlock()

	ts.batch = append(ts.batch[:0], r)
	if m.maxBatch > 1 {
		m.gather(ts)
	}
	if len(ts.batch) == 1 {
		r.dets, r.tm, r.err = m.det.Detect(r.img, r.th, r.dets[:0])
	} else {
		ts.imgs, ts.ths, ts.dsts = ts.imgs[:0], ts.ths[:0], ts.dsts[:0]
		for _, q := range ts.batch {
			ts.imgs = append(ts.imgs, q.img)
			ts.ths = append(ts.ths, q.th)
			ts.dsts = append(ts.dsts, q.dets[:0])
		}
		dsts, tm, err := m.det.DetectBatch(ts.imgs, ts.ths, ts.dsts)
		for i, q := range ts.batch {
			q.tm, q.err = tm, err
			if err == nil {
				q.dets = dsts[i]
			}
		}
	}
	m.mu.Lock()
	m.last = ts.batch[len(ts.batch)-1].cam
	next := m.pickLocked()
	if next == nil {
		m.running--
	}
	m.free = append(m.free, ts)
	m.mu.Unlock()
	for _, q := range ts.batch[1:] {
		q.served = true
		q.wake <- struct{}{}
	}
	if next != nil {
		next.wake <- struct{}{} // its turn
	}
}

// gather adds waiting requests to the turn's batch, up to the model's
// batch size, waiting up to batchWait for more when it is not full.
func (m *sharedModel) gather(ts *turnScratch) {
	var deadline time.Time
	for {
		m.mu.Lock()
		for len(ts.batch) < m.maxBatch {
			q := m.pickLocked()
			if q == nil {
				break
			}
			ts.batch = append(ts.batch, q)
		}
		m.mu.Unlock()
		if len(ts.batch) >= m.maxBatch || m.batchWait <= 0 {
			return
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(m.batchWait)
		}
		left := deadline.Sub(now)
		if left <= 0 {
			return
		}
		if ts.timer == nil {
			ts.timer = time.NewTimer(left)
		} else {
			ts.timer.Reset(left)
		}
		select {
		case <-m.arrived:
			ts.timer.Stop()
		case <-ts.timer.C:
			return
		}
	}
}

// pickLocked takes the waiting request of the camera next after the last
// served in round-robin order.
func (m *sharedModel) pickLocked() *inferRequest {
	best := -1
	for i, q := range m.waiting {
		if best < 0 || rrBefore(q.cam, m.waiting[best].cam, m.last) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	q := m.waiting[best]
	m.waiting = append(m.waiting[:best], m.waiting[best+1:]...)
	return q
}

// rrBefore says whether camera a comes before camera b in the round-robin
// order that starts after last.
func rrBefore(a, b, last int) bool {
	ka, kb := a <= last, b <= last // true: wrapped around
	if ka != kb {
		return !ka
	}
	return a < b
}

// renamedError is a model error whose text names the model as the user
// wrote it.
type renamedError struct {
	msg string
	err error
}

func (e *renamedError) Error() string { return e.msg }
func (e *renamedError) Unwrap() error { return e.err }
