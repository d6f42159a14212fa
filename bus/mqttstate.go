package bus

import (
	"cmp"
	"maps"
	"slices"
	"sync"
)

// cameraSet is the MQTT client's retained per-camera state: the cameras the
// agent runs now, each one's availability, label counts, zones and lines
// with their counts as the agent last gave them, and the cameras, zones and
// lines withdrawn whose retained topics are still to be cleared. The
// agent's calls (SetCameras, SetCameraAvailable, PublishCounts,
// SetCameraZones, PublishZoneCounts) update it under a mutex and never wait
// for the broker; the sender goroutine takes snapshots and publishes what
// differs from what it sent on the current connection.
type cameraSet struct {
	mu      sync.Mutex
	labels  []string // the discovery labels: each camera's counts start with them at 0
	order   []string // cameras in the set, in the order they joined
	cams    map[string]*cameraState
	gone    map[string]goneCamera // withdrawn, retained topics not yet cleared
	gen     uint64                // bumped at each withdrawal of a camera, zone or line
	changed chan struct{}
}

type cameraState struct {
	up      bool
	counts  map[string]int              // label → number in view; a label once given stays, at 0
	areas   map[area]map[areaKey]uint64 // the camera's zones and lines → their counters
	version uint64                      // 1 at first, bumped when its zones or lines change
	gone    map[area]goneArea           // zones and lines removed, retained topics not yet cleared
}

// goneCamera is a withdrawn camera: the labels whose count topics it had,
// the zones and lines with the counters whose topics they had, and the
// withdrawal it is (a camera can be removed, added and removed again
// before the sender catches up).
type goneCamera struct {
	labels []string
	areas  map[area][]areaKey
	gen    uint64
}

// area is one of a camera's zones or lines.
type area struct {
	kind string // areaZone or areaLine, the topic level
	name string
}

// The kinds of area.
const (
	areaZone = "zones"
	areaLine = "lines"
)

// areaKey is one counter of an area: a label, and on a line a direction.
type areaKey struct {
	label     string
	direction string // "" on a zone
}

// goneArea is a zone or line removed from a camera that is still in the
// set: the counters whose topics it had, and the removal it is.
type goneArea struct {
	keys []areaKey
	gen  uint64
}

// lineDirections are the directions a line is crossed in (the zones
// package's Direction names): each line starts with a counter per
// discovery label and direction, and has a Home Assistant sensor for each.
func lineDirections() []string { return []string{"in", "out"} }

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
		c := s.cams[cam]
		labels := slices.Collect(maps.Keys(c.counts))
		areas := make(map[area][]areaKey, len(c.areas)+len(c.gone))
		for a, counts := range c.areas {
			areas[a] = slices.Collect(maps.Keys(counts))
		}
		for a, g := range c.gone { // removed and not yet cleared: cleared with the camera
			areas[a] = append(areas[a], g.keys...)
		}
		if g, ok := s.gone[cam]; ok { // withdrawn before and not yet cleared: clear both
			labels = append(labels, g.labels...)
			for a, keys := range g.areas {
				areas[a] = append(areas[a], keys...)
			}
		}
		slices.Sort(labels)
		for a, keys := range areas {
			areas[a] = sortKeys(keys)
		}
		s.gone[cam] = goneCamera{labels: slices.Compact(labels), areas: areas, gen: s.gen}
		delete(s.cams, cam)
		changed = true
	}
	for _, cam := range cameras {
		if !want[cam] || s.cams[cam] != nil {
			continue
		}
		c := &cameraState{counts: make(map[string]int, len(s.labels)),
			areas: map[area]map[areaKey]uint64{}, version: 1, gone: map[area]goneArea{}}
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

// setAreas makes zones and lines camera's areas: one that appears starts
// with a counter per discovery label (and, on a line, direction) at 0; one
// that disappears is to be cleared. Names that are not tokens are left out
// and returned; ok is false when camera is not in the set.
func (s *cameraSet) setAreas(camera string, zones, lines []string) (invalid []string, ok bool) {
	want := make(map[area]bool, len(zones)+len(lines))
	for _, names := range []struct {
		kind  string
		names []string
	}{{areaZone, zones}, {areaLine, lines}} {
		for _, name := range names.names {
			if !ValidToken(name) {
				invalid = append(invalid, name)
				continue
			}
			want[area{names.kind, name}] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cams[camera]
	if c == nil {
		return invalid, false
	}
	changed := false
	for a, counts := range c.areas {
		if want[a] {
			continue
		}
		s.gen++
		keys := slices.Collect(maps.Keys(counts))
		if g, ok := c.gone[a]; ok { // removed before and not yet cleared: clear both
			keys = append(keys, g.keys...)
		}
		c.gone[a] = goneArea{keys: sortKeys(keys), gen: s.gen}
		delete(c.areas, a)
		changed = true
	}
	for a := range want {
		if c.areas[a] != nil {
			continue
		}
		counts := make(map[areaKey]uint64, 2*len(s.labels))
		for _, l := range s.labels {
			if a.kind == areaZone {
				counts[areaKey{label: l}] = 0
				continue
			}
			for _, d := range lineDirections() {
				counts[areaKey{l, d}] = 0
			}
		}
		c.areas[a] = counts
		changed = true
	}
	if changed {
		c.version++
		signal(s.changed)
	}
	return invalid, true
}

// setAreaCounts records camera's zone occupancy and line crossings. A
// zone's counters take the value given, those given before and missing
// now go to 0; a line's counters given take their value, the others keep
// theirs. Counts of a zone or line the camera does not have are ignored.
// False when camera is not in the set.
func (s *cameraSet) setAreaCounts(camera string, occupancy []ZoneCount, crossings []LineCount) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cams[camera]
	if c == nil {
		return false
	}
	changed := false
	set := func(a area, k areaKey, n uint64) bool {
		counts := c.areas[a]
		if counts == nil {
			return false
		}
		if v, ok := counts[k]; !ok || v != n {
			counts[k] = n
			changed = true
		}
		return true
	}
	given := make(map[area]map[areaKey]bool, len(occupancy))
	for _, z := range occupancy {
		a, k := area{areaZone, z.Zone}, areaKey{label: z.Label}
		if set(a, k, z.Count) {
			if given[a] == nil {
				given[a] = map[areaKey]bool{}
			}
			given[a][k] = true
		}
	}
	for a, counts := range c.areas {
		if a.kind != areaZone {
			continue
		}
		for k, n := range counts {
			if n != 0 && !given[a][k] {
				counts[k] = 0
				changed = true
			}
		}
	}
	for _, l := range crossings {
		set(area{areaLine, l.Line}, areaKey{l.Label, l.Direction}, l.Count)
	}
	if changed {
		signal(s.changed)
	}
	return true
}

// cameraSnap is one camera's state at a snapshot, its counts sorted by
// label, its areas by kind and name and their counters by label and
// direction.
type cameraSnap struct {
	name    string
	up      bool
	counts  []labelCount
	version uint64 // changes when its zones or lines do
	areas   []areaSnap
	gone    []goneAreaSnap // removed zones and lines to be cleared
}

// areaSnap is a zone or line at a snapshot.
type areaSnap struct {
	area
	counts []areaCount
}

type areaCount struct {
	areaKey
	n uint64
}

// goneAreaSnap is a removed zone or line at a snapshot.
type goneAreaSnap struct {
	area
	goneArea
}

// names returns the names of the camera's areas of kind, sorted.
func (c cameraSnap) names(kind string) []string {
	var out []string
	for _, a := range c.areas {
		if a.kind == kind {
			out = append(out, a.name)
		}
	}
	return out
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
		areas := make([]areaSnap, 0, len(c.areas))
		for a, m := range c.areas {
			ac := make([]areaCount, 0, len(m))
			for k, n := range m {
				ac = append(ac, areaCount{k, n})
			}
			slices.SortFunc(ac, func(x, y areaCount) int { return compareKeys(x.areaKey, y.areaKey) })
			areas = append(areas, areaSnap{a, ac})
		}
		slices.SortFunc(areas, func(x, y areaSnap) int { return compareAreas(x.area, y.area) })
		gone := make([]goneAreaSnap, 0, len(c.gone))
		for a, g := range c.gone {
			gone = append(gone, goneAreaSnap{a, g})
		}
		slices.SortFunc(gone, func(x, y goneAreaSnap) int { return compareAreas(x.area, y.area) })
		cams = append(cams, cameraSnap{name: name, up: c.up, counts: counts, version: c.version, areas: areas, gone: gone})
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

// areaCleared forgets the removal of camera's zone or line a once its
// topics are cleared, unless it was removed again meanwhile.
func (s *cameraSet) areaCleared(camera string, a area, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cams[camera]; c != nil {
		if g, ok := c.gone[a]; ok && g.gen == gen {
			delete(c.gone, a)
		}
	}
}

func compareAreas(a, b area) int {
	return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name))
}

func compareKeys(a, b areaKey) int {
	return cmp.Or(cmp.Compare(a.label, b.label), cmp.Compare(a.direction, b.direction))
}

// sortKeys sorts keys and drops repeats.
func sortKeys(keys []areaKey) []areaKey {
	slices.SortFunc(keys, compareKeys)
	return slices.Compact(keys)
}

// sortedAreas returns the areas of a withdrawn camera in order.
func (g goneCamera) sortedAreas() []area {
	out := slices.Collect(maps.Keys(g.areas))
	slices.SortFunc(out, compareAreas)
	return out
}
