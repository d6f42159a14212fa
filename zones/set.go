package zones

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"edge-agent/internal/names"
)

// Limits of a Set, checked by Validate.
const (
	MaxZones         = 32             // zones per camera
	MaxLines         = 32             // lines per camera
	MinPolygonPoints = 3              // points of a polygon, at least
	MaxPolygonPoints = 64             // points of a polygon, at most
	DefaultMinFrames = 3              // Zone.MinFrames when left at 0
	MaxMinFrames     = 1000           // Zone.MinFrames, at most
	maxNameLen       = names.MaxToken // bytes of a zone or line name
	maxLabels        = 1000           // labels of one zone or line, as agent's maxClasses
	maxLabelLen      = 128            // bytes of a label, as the agent's classes
)

// Point is a position in the frame in normalised coordinates: X from 0 (left
// edge) to 1 (right edge), Y from 0 (top edge) to 1 (bottom edge). It is
// written as a two-number array, [x, y], in YAML and JSON.
type Point struct{ X, Y float64 }

// MarshalJSON writes p as [x, y].
func (p Point) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]float64{p.X, p.Y})
}

// UnmarshalJSON reads [x, y] and refuses any other number of elements.
func (p *Point) UnmarshalJSON(b []byte) error {
	var v []float64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("a point is [x, y]: %w", err)
	}
	return p.set(v)
}

// MarshalYAML writes p as [x, y] (gopkg.in/yaml.v3 calls it).
func (p Point) MarshalYAML() (any, error) { return []float64{p.X, p.Y}, nil }

// UnmarshalYAML reads [x, y] and refuses any other number of elements
// (gopkg.in/yaml.v2 and v3 call this form; it needs no import of either).
func (p *Point) UnmarshalYAML(unmarshal func(any) error) error {
	var v []float64
	if err := unmarshal(&v); err != nil {
		return fmt.Errorf("a point is [x, y]: %w", err)
	}
	return p.set(v)
}

func (p *Point) set(v []float64) error {
	if len(v) != 2 {
		return fmt.Errorf("a point is [x, y], got %d numbers", len(v))
	}
	p.X, p.Y = v[0], v[1]
	return nil
}

// Zone is an area of the frame. A track is in it when its box's bottom
// centre is inside Polygon or on its edge (see Polygon.Contains).
type Zone struct {
	// Name identifies the zone in events and counts: 1-64 letters, digits,
	// '-' or '_', unique among the camera's zones.
	Name string `yaml:"name" json:"name"`
	// Polygon is the outline, 3 to 64 points, in order (either way round),
	// without repeating the first point at the end: the last point joins the
	// first. It must not cross or touch itself.
	Polygon Polygon `yaml:"polygon" json:"polygon"`
	// Labels limits the zone to tracks with these labels, matched ignoring
	// case; empty means every label.
	Labels []string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// MinFrames is how many consecutive frames a track must be seen inside
	// before it enters, and outside before it exits: 1 to 1000, 0 meaning
	// DefaultMinFrames.
	MinFrames int `yaml:"min_frames,omitempty" json:"min_frames,omitempty"`
}

// Line is a segment of the frame that tracks cross, From to To. Looking
// along it from From to To, as the picture is seen, a crossing from its left
// to its right is In and the other way is Out (see Line.Side).
type Line struct {
	// Name identifies the line in events and counts: 1-64 letters, digits,
	// '-' or '_', unique among the camera's lines.
	Name string `yaml:"name" json:"name"`
	From Point  `yaml:"from" json:"from"`
	To   Point  `yaml:"to" json:"to"`
	// Labels limits the line to tracks with these labels, matched ignoring
	// case; empty means every label.
	Labels []string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// Set is one camera's zones and lines.
type Set struct {
	Zones []Zone `yaml:"zones,omitempty" json:"zones,omitempty"`
	Lines []Line `yaml:"lines,omitempty" json:"lines,omitempty"`
}

// Validate returns every problem of s, joined with errors.Join, each
// prefixed with where it is as the user wrote it, for example
// `zones[1] (driveway).polygon: edges polygon[0]-polygon[1] and
// polygon[2]-polygon[3] cross or touch`. It returns nil for a valid set.
func (s Set) Validate() error { return errors.Join(s.Problems()...) }

// Problems returns every problem of s, as Validate, one error each (nil
// for a valid set), for a caller that names where the set was written.
func (s Set) Problems() []error {
	var errs []error
	bad := func(where, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
	}
	if len(s.Zones) > MaxZones {
		bad("zones", "%d zones, at most %d", len(s.Zones), MaxZones)
	}
	if len(s.Lines) > MaxLines {
		bad("lines", "%d lines, at most %d", len(s.Lines), MaxLines)
	}
	seen := make(map[string]int)
	for i, z := range s.Zones {
		where := placeName("zones", i, z.Name)
		checkName(where, z.Name, seen, i, "zones", bad)
		for _, p := range z.Polygon.problems() {
			bad(where+".polygon"+p.at, "%s", p.msg)
		}
		checkLabels(where, z.Labels, bad)
		if z.MinFrames < 0 || z.MinFrames > MaxMinFrames {
			bad(where+".min_frames", "must be 1 to %d (0 or left out: %d), got %d", MaxMinFrames, DefaultMinFrames, z.MinFrames)
		}
	}
	clear(seen)
	for i, l := range s.Lines {
		where := placeName("lines", i, l.Name)
		checkName(where, l.Name, seen, i, "lines", bad)
		okFrom := checkPoint(where+".from", l.From, bad)
		okTo := checkPoint(where+".to", l.To, bad)
		if okFrom && okTo && near(l.From, l.To) {
			bad(where, "from and to are the same point")
		}
		checkLabels(where, l.Labels, bad)
	}
	return errs
}

// Normalize returns a copy of s as the Evaluator uses it: every label
// trimmed of spaces, repeats dropped (ignoring case, the first spelling
// kept, as the agent normalises its classes), an empty list made nil, and
// MinFrames 0 made DefaultMinFrames. It does not validate.
func (s Set) Normalize() Set {
	out := Set{}
	if s.Zones != nil {
		out.Zones = make([]Zone, len(s.Zones))
	}
	for i, z := range s.Zones {
		z.Polygon = append(Polygon(nil), z.Polygon...)
		z.Labels = normalizeLabels(z.Labels)
		if z.MinFrames == 0 {
			z.MinFrames = DefaultMinFrames
		}
		out.Zones[i] = z
	}
	if s.Lines != nil {
		out.Lines = make([]Line, len(s.Lines))
	}
	for i, l := range s.Lines {
		l.Labels = normalizeLabels(l.Labels)
		out.Lines[i] = l
	}
	return out
}

// normalizeLabels trims the labels and drops repeats, ignoring case and
// keeping the first spelling: the rule for a camera's classes too
// (names.NormalizeLabels).
func normalizeLabels(in []string) []string { return names.NormalizeLabels(in) }

// placeName is where a zone or line is, for errors: `zones[1] (driveway)`,
// or `zones[1]` when the name is not a valid one.
func placeName(list string, i int, name string) string {
	if validName(name) {
		return fmt.Sprintf("%s[%d] (%s)", list, i, name)
	}
	return fmt.Sprintf("%s[%d]", list, i)
}

func checkName(where, name string, seen map[string]int, i int, list string, bad func(string, string, ...any)) {
	if !validName(name) {
		bad(where+".name", "%q must be 1-%d letters, digits, '-' or '_'", name, maxNameLen)
		return
	}
	if j, ok := seen[name]; ok {
		bad(where+".name", "%q is already the name of %s[%d]", name, list, j)
		return
	}
	seen[name] = i
}

// validName says whether s is 1-64 of [A-Za-z0-9_-]: the agent's one rule
// for names (names.ValidToken).
func validName(s string) bool { return names.ValidToken(s) }

func checkLabels(where string, labels []string, bad func(string, string, ...any)) {
	if len(labels) > maxLabels {
		bad(where+".labels", "%d labels, at most %d", len(labels), maxLabels)
	}
	for i, l := range labels {
		if t := strings.TrimSpace(l); t == "" || len(t) > maxLabelLen {
			bad(fmt.Sprintf("%s.labels[%d]", where, i), "%q is not a label (1-%d characters)", l, maxLabelLen)
		}
	}
}

// checkPoint reports a coordinate that is not a finite number within 0..1
// and says whether p is good.
func checkPoint(where string, p Point, bad func(string, string, ...any)) bool {
	ok := true
	for _, c := range [2]struct {
		axis string
		v    float64
	}{{"x", p.X}, {"y", p.Y}} {
		switch {
		case math.IsNaN(c.v) || math.IsInf(c.v, 0):
			bad(where, "%s is %v, not a number within 0..1", c.axis, c.v)
			ok = false
		case c.v < 0 || c.v > 1:
			bad(where, "%s is %g, outside 0..1", c.axis, c.v)
			ok = false
		}
	}
	return ok
}

// problem is one problem of a polygon: at is the index suffix (`[2]`) or "".
type problem struct{ at, msg string }

// problems lists what is wrong with pg: the number of points, each bad
// coordinate, repeated consecutive points, and then (only when those are
// fine, as they make the rest meaningless) the first place where the outline
// crosses or touches itself, or else a zero area.
func (pg Polygon) problems() []problem {
	var out []problem
	n := len(pg)
	if n < MinPolygonPoints || n > MaxPolygonPoints {
		out = append(out, problem{"", fmt.Sprintf("%d points, want %d to %d", n, MinPolygonPoints, MaxPolygonPoints)})
	}
	for i, p := range pg {
		checkPoint("", p, func(_, format string, args ...any) {
			out = append(out, problem{fmt.Sprintf("[%d]", i), fmt.Sprintf(format, args...)})
		})
	}
	if len(out) > 0 {
		return out
	}
	for i := range n {
		switch j := (i + 1) % n; {
		case !near(pg[i], pg[j]):
		case j == 0:
			out = append(out, problem{fmt.Sprintf("[%d]", i), "repeats polygon[0]: leave the closing point out, the last point joins the first"})
		default:
			out = append(out, problem{fmt.Sprintf("[%d]", j), fmt.Sprintf("repeats polygon[%d]", i)})
		}
	}
	if len(out) > 0 {
		return out
	}
	if msg := pg.selfContact(); msg != "" {
		return append(out, problem{"", msg})
	}
	if math.Abs(pg.area()) <= eps*eps {
		out = append(out, problem{"", "has zero area"})
	}
	return out
}

// selfContact describes the first place where the outline of pg meets
// itself other than where consecutive edges join: an edge folding back along
// the one before it, or two edges that are not consecutive crossing,
// touching or overlapping. It returns "" for a simple polygon.
func (pg Polygon) selfContact() string {
	n := len(pg)
	for i := range n {
		u, v, w := pg[(i+n-1)%n], pg[i], pg[(i+1)%n]
		if orient(u, v, w) == 0 && (u.X-v.X)*(w.X-v.X)+(u.Y-v.Y)*(w.Y-v.Y) > 0 {
			return fmt.Sprintf("folds back on itself at polygon[%d]", i)
		}
	}
	for i := range n {
		for j := i + 2; j < n; j++ {
			if i == 0 && j == n-1 {
				continue // consecutive through the closing edge
			}
			if segmentsMeet(pg[i], pg[(i+1)%n], pg[j], pg[(j+1)%n]) {
				return fmt.Sprintf("edges polygon[%d]-polygon[%d] and polygon[%d]-polygon[%d] cross or touch",
					i, (i+1)%n, j, (j+1)%n)
			}
		}
	}
	return ""
}
