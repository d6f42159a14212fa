package bus

import (
	"cmp"
	"maps"
	"slices"
	"sync"
)

// cameraSet is the MQTT client's retained per-camera state: the cameras the
// agent runs now, each one's availability and label counts as the agent
// last gave them, and the cameras withdrawn whose retained topics are still
// to be cleared. The agent's calls (SetCameras, SetCameraAvailable,
// PublishCounts) update it under a mutex and never wait for the broker; the
// sender goroutine takes snapshots and publishes what differs from what it
// sent on the current connection.
type cameraSet struct {
	mu      sync.Mutex
	labels  []string // the discovery labels: each camera's counts start with them at 0
	order   []string // cameras in the set, in the order they joined
	cams    map[string]*cameraState
	gone    map[string]goneCamera // withdrawn, retained topics not yet cleared
	gen     uint64                // bumped at each withdrawal
	changed chan struct{}
}

type cameraState struct {
	up     bool
	counts map[string]int // label → number in view; a label once given stays, at 0
}

// goneCamera is a withdrawn camera: the labels whose count topics it had,
// and the withdrawal it is (a camera can be removed, added and removed
// again before the sender catches up).
type goneCamera struct {
	labels []string
	gen    uint64
}

func newCameraSet(labels []string) *cameraSet {
	return &cameraSet{labels: labels, cams: map[string]*cameraState{}, gone: map[string]goneCamera{},
		changed: make(chan struct{}, 1)}
}

// set makes cameras the set: a camera that joins starts offline with the
// discovery labels at 0; one that leaves is to be cleared. Names that are
// not tokens are left out and returned.
func (s *cameraSet) set(cameras []string) (invalid []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := make(map[string]bool, len(cameras))
	for _, cam := range cameras {
		if !ValidToken(cam) {
			invalid = append(invalid, cam)
			continue
		}
		want[cam] = true
	}
	changed := false
	order := s.order[:0:0]
	for _, cam := range s.order {
		if want[cam] {
			order = append(order, cam)
			continue
		}
		s.gen++
		labels := slices.Collect(maps.Keys(s.cams[cam].counts))
		if g, ok := s.gone[cam]; ok { // withdrawn before and not yet cleared: clear both
			labels = append(labels, g.labels...)
		}
		slices.Sort(labels)
		s.gone[cam] = goneCamera{labels: slices.Compact(labels), gen: s.gen}
		delete(s.cams, cam)
		changed = true
	}
	for _, cam := range cameras {
		if !want[cam] || s.cams[cam] != nil {
			continue
		}
		c := &cameraState{counts: make(map[string]int, len(s.labels))}
		for _, l := range s.labels {
			c.counts[l] = 0
		}
		s.cams[cam] = c
		order = append(order, cam)
		changed = true
	}
	s.order = order
	if changed {
		signal(s.changed)
	}
	return invalid
}

// setAvailable records whether camera streams; false when it is not in
// the set.
func (s *cameraSet) setAvailable(camera string, up bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cams[camera]
	if c == nil {
		return false
	}
	if c.up != up {
		c.up = up
		signal(s.changed)
	}
	return true
}

// setCounts records camera's counts: the labels given take their value,
// those given before and missing now go to 0. False when camera is not in
// the set.
func (s *cameraSet) setCounts(camera string, counts map[string]int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cams[camera]
	if c == nil {
		return false
	}
	changed := false
	for label, n := range c.counts {
		if v := counts[label]; v != n {
			c.counts[label] = v
			changed = true
		}
	}
	for label, n := range counts {
		if _, ok := c.counts[label]; !ok {
			c.counts[label] = n
			changed = true
		}
	}
	if changed {
		signal(s.changed)
	}
	return true
}

// cameraSnap is one camera's state at a snapshot, its counts sorted by
// label.
type cameraSnap struct {
	name   string
	up     bool
	counts []labelCount
}

type labelCount struct {
	label string
	n     int
}

// goneSnap is a withdrawn camera at a snapshot.
type goneSnap struct {
	name string
	goneCamera
}

// snapshot copies the state for the sender: the cameras in the order they
// joined, the withdrawn ones by name.
func (s *cameraSet) snapshot() ([]cameraSnap, []goneSnap) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cams := make([]cameraSnap, 0, len(s.order))
	for _, name := range s.order {
		c := s.cams[name]
		counts := make([]labelCount, 0, len(c.counts))
		for label, n := range c.counts {
			counts = append(counts, labelCount{label, n})
		}
		slices.SortFunc(counts, func(a, b labelCount) int { return cmp.Compare(a.label, b.label) })
		cams = append(cams, cameraSnap{name: name, up: c.up, counts: counts})
	}
	gone := make([]goneSnap, 0, len(s.gone))
	for name, g := range s.gone {
		gone = append(gone, goneSnap{name, g})
	}
	slices.SortFunc(gone, func(a, b goneSnap) int { return cmp.Compare(a.name, b.name) })
	return cams, gone
}

// cleared forgets a withdrawal once its topics are cleared, unless the
// camera was withdrawn again meanwhile.
func (s *cameraSet) cleared(camera string, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.gone[camera]; ok && g.gen == gen {
		delete(s.gone, camera)
	}
}
