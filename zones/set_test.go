package zones

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// sampleYAML is the configuration of issue 11, as a user writes it.
const sampleYAML = `
zones:
  - name: driveway
    polygon: [[0.1, 0.5], [0.6, 0.5], [0.6, 1.0], [0.1, 1.0]]
    labels: [person, car]
    min_frames: 3
lines:
  - name: gate
    from: [0.5, 0.0]
    to: [0.5, 1.0]
    labels: [person]
`

func driveway() Polygon {
	return Polygon{{0.1, 0.5}, {0.6, 0.5}, {0.6, 1.0}, {0.1, 1.0}}
}

func TestSetYAML(t *testing.T) {
	d := yaml.NewDecoder(strings.NewReader(sampleYAML))
	d.KnownFields(true)
	var s Set
	if err := d.Decode(&s); err != nil {
		t.Fatal(err)
	}
	want := Set{
		Zones: []Zone{{Name: "driveway", Polygon: driveway(), Labels: []string{"person", "car"}, MinFrames: 3}},
		Lines: []Line{{Name: "gate", From: Point{0.5, 0}, To: Point{0.5, 1}, Labels: []string{"person"}}},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("decoded %+v, want %+v", s, want)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("the sample is invalid: %v", err)
	}
	out, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Set
	if err := yaml.Unmarshal(out, &back); err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("round trip through\n%s gave %+v, %v", out, back, err)
	}
}

func TestSetJSON(t *testing.T) {
	s := Set{
		Zones: []Zone{{Name: "driveway", Polygon: driveway(), MinFrames: 2}},
		Lines: []Line{{Name: "gate", From: Point{0.5, 0}, To: Point{0.5, 1}, Labels: []string{"person"}}},
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"zones":[{"name":"driveway","polygon":[[0.1,0.5],[0.6,0.5],[0.6,1],[0.1,1]],"min_frames":2}],` +
		`"lines":[{"name":"gate","from":[0.5,0],"to":[0.5,1],"labels":["person"]}]}`
	if string(b) != want {
		t.Fatalf("json %s\nwant %s", b, want)
	}
	var back Set
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("round trip gave %+v, %v", back, err)
	}
}

func TestPointDecodeRefusesOtherLengths(t *testing.T) {
	for _, in := range []string{`[0.5]`, `[0.1, 0.2, 0.3]`, `[]`} {
		var p Point
		err := json.Unmarshal([]byte(in), &p)
		if err == nil || !strings.Contains(err.Error(), "a point is [x, y], got") {
			t.Errorf("json %s: err %v, want a point is [x, y], got ...", in, err)
		}
		err = yaml.Unmarshal([]byte(in), &p)
		if err == nil || !strings.Contains(err.Error(), "a point is [x, y], got") {
			t.Errorf("yaml %s: err %v, want a point is [x, y], got ...", in, err)
		}
	}
	var p Point
	if err := yaml.Unmarshal([]byte(`[.nan, .inf]`), &p); err != nil || !math.IsNaN(p.X) || !math.IsInf(p.Y, 1) {
		t.Errorf("yaml [.nan, .inf]: %v, %v; want NaN, +Inf for Validate to refuse", p, err)
	}
}

// circle returns n points on a circle round the centre of the frame.
func circle(n int) Polygon {
	pg := make(Polygon, n)
	for i := range pg {
		a := 2 * math.Pi * float64(i) / float64(n)
		pg[i] = Point{0.5 + 0.4*math.Cos(a), 0.5 + 0.4*math.Sin(a)}
	}
	return pg
}

func TestValidate(t *testing.T) {
	zone := func(name string, pg Polygon) Zone { return Zone{Name: name, Polygon: pg} }
	square := Polygon{{0.2, 0.2}, {0.8, 0.2}, {0.8, 0.8}, {0.2, 0.8}}
	gate := Line{Name: "gate", From: Point{0.5, 0}, To: Point{0.5, 1}}
	many := func(n int) Set {
		var s Set
		for i := range n {
			s.Zones = append(s.Zones, zone(fmt.Sprintf("z%d", i), square))
			s.Lines = append(s.Lines, Line{Name: fmt.Sprintf("l%d", i), From: Point{0, 0}, To: Point{1, 1}})
		}
		return s
	}
	for _, tc := range []struct {
		name string
		set  Set
		want []string // the problems, in order; none for a valid set
	}{
		{name: "empty", set: Set{}},
		{name: "sample", set: Set{Zones: []Zone{zone("driveway", driveway())}, Lines: []Line{gate}}},
		{name: "points on 0 and 1", set: Set{
			Zones: []Zone{zone("all", Polygon{{0, 0}, {1, 0}, {1, 1}, {0, 1}})},
			Lines: []Line{{Name: "diag", From: Point{0, 1}, To: Point{1, 0}}},
		}},
		{name: "concave, clockwise", set: Set{Zones: []Zone{zone("c", Polygon{
			{0.1, 0.1}, {0.1, 0.9}, {0.9, 0.9}, {0.9, 0.7}, {0.3, 0.7}, {0.3, 0.3}, {0.9, 0.3}, {0.9, 0.1}})}}},
		{name: "64 points", set: Set{Zones: []Zone{zone("round", circle(64))}}},
		{name: "a zone and a line may share a name", set: Set{Zones: []Zone{zone("gate", square)}, Lines: []Line{gate}}},
		{name: "32 zones and 32 lines", set: many(32)},
		{name: "33 zones and 33 lines", set: many(33), want: []string{
			"zones: 33 zones, at most 32",
			"lines: 33 lines, at most 32",
		}},
		{name: "bow-tie", set: Set{Zones: []Zone{zone("bow", Polygon{{0.1, 0.1}, {0.9, 0.9}, {0.9, 0.1}, {0.1, 0.9}})}},
			// Edge 0 (0.1,0.1)-(0.9,0.9) and edge 2 (0.9,0.1)-(0.1,0.9)
			// cross at (0.5,0.5).
			want: []string{"zones[0] (bow).polygon: edges polygon[0]-polygon[1] and polygon[2]-polygon[3] cross or touch"}},
		{name: "touches itself at a vertex", set: Set{Zones: []Zone{zone("pinch", Polygon{
			{0.1, 0.1}, {0.5, 0.5}, {0.9, 0.1}, {0.9, 0.9}, {0.5, 0.5}, {0.1, 0.9}})}},
			// (0.5,0.5) is point 1 and point 4: edge 0 ends there and
			// edge 3 ends there too.
			want: []string{"zones[0] (pinch).polygon: edges polygon[0]-polygon[1] and polygon[3]-polygon[4] cross or touch"}},
		{name: "vertex on another edge", set: Set{Zones: []Zone{zone("notch", Polygon{
			{0.1, 0.1}, {0.9, 0.1}, {0.9, 0.9}, {0.5, 0.1}, {0.1, 0.9}})}},
			// Point 3 (0.5,0.1) lies on edge 0, y = 0.1.
			want: []string{"zones[0] (notch).polygon: edges polygon[0]-polygon[1] and polygon[2]-polygon[3] cross or touch"}},
		{name: "collinear overlap", set: Set{Zones: []Zone{zone("overlap", Polygon{
			{0.1, 0.1}, {0.5, 0.1}, {0.5, 0.05}, {0.8, 0.05}, {0.7, 0.1}, {0.3, 0.1}, {0.3, 0.9}, {0.1, 0.9}})}},
			// Edge 4 runs back along y = 0.1 from x 0.7 to 0.3, over edge 0
			// (x 0.1 to 0.5).
			want: []string{"zones[0] (overlap).polygon: edges polygon[0]-polygon[1] and polygon[4]-polygon[5] cross or touch"}},
		{name: "all on one line", set: Set{Zones: []Zone{zone("flat", Polygon{{0.1, 0.1}, {0.9, 0.1}, {0.5, 0.1}})}},
			// At point 0, the edges to point 2 and to point 1 both go
			// right along y = 0.1.
			want: []string{"zones[0] (flat).polygon: folds back on itself at polygon[0]"}},
		{name: "closing point repeated", set: Set{Zones: []Zone{zone("closed", Polygon{{0.1, 0.1}, {0.9, 0.1}, {0.9, 0.9}, {0.1, 0.1}})}},
			want: []string{"zones[0] (closed).polygon[3]: repeats polygon[0]: leave the closing point out, the last point joins the first"}},
		{name: "consecutive repeat", set: Set{Zones: []Zone{zone("rep", Polygon{{0.1, 0.1}, {0.9, 0.1}, {0.9, 0.1}, {0.9, 0.9}})}},
			want: []string{"zones[0] (rep).polygon[2]: repeats polygon[1]"}},
		{name: "too few and too many points", set: Set{Zones: []Zone{
			zone("two", Polygon{{0.1, 0.1}, {0.9, 0.9}}), zone("round", circle(65))}},
			want: []string{
				"zones[0] (two).polygon: 2 points, want 3 to 64",
				"zones[1] (round).polygon: 65 points, want 3 to 64",
			}},
		{name: "NaN, Inf, outside", set: Set{Zones: []Zone{zone("bad", Polygon{
			{math.NaN(), 0.1}, {0.9, math.Inf(1)}, {1.5, -0.25}, {0, 1}})}},
			want: []string{
				"zones[0] (bad).polygon[0]: x is NaN, not a number within 0..1",
				"zones[0] (bad).polygon[1]: y is +Inf, not a number within 0..1",
				"zones[0] (bad).polygon[2]: x is 1.5, outside 0..1",
				"zones[0] (bad).polygon[2]: y is -0.25, outside 0..1",
			}},
		{name: "names", set: Set{
			Zones: []Zone{zone("a", square), zone("", square), zone("drive way", square), zone("a", square),
				zone(strings.Repeat("x", 65), square)},
			Lines: []Line{gate, gate},
		}, want: []string{
			`zones[1].name: "" must be 1-64 letters, digits, '-' or '_'`,
			`zones[2].name: "drive way" must be 1-64 letters, digits, '-' or '_'`,
			`zones[3] (a).name: "a" is already the name of zones[0]`,
			`zones[4].name: "` + strings.Repeat("x", 65) + `" must be 1-64 letters, digits, '-' or '_'`,
			`lines[1] (gate).name: "gate" is already the name of lines[0]`,
		}},
		{name: "labels and min_frames", set: Set{
			Zones: []Zone{
				{Name: "a", Polygon: square, Labels: []string{"person", "  "}, MinFrames: -1},
				{Name: "b", Polygon: square, Labels: []string{strings.Repeat("l", 129)}, MinFrames: 1001},
				{Name: "c", Polygon: square, Labels: []string{" Person ", "person"}, MinFrames: 1000},
			},
			Lines: []Line{{Name: "gate", From: Point{0.5, 0}, To: Point{0.5, 1}, Labels: []string{""}}},
		}, want: []string{
			`zones[0] (a).labels[1]: "  " is not a label (1-128 characters)`,
			`zones[0] (a).min_frames: must be 1 to 1000 (0 or left out: 3), got -1`,
			`zones[1] (b).labels[0]: "` + strings.Repeat("l", 129) + `" is not a label (1-128 characters)`,
			`zones[1] (b).min_frames: must be 1 to 1000 (0 or left out: 3), got 1001`,
			`lines[0] (gate).labels[0]: "" is not a label (1-128 characters)`,
		}},
		{name: "lines", set: Set{Lines: []Line{
			{Name: "dot", From: Point{0.3, 0.3}, To: Point{0.3, 0.3}},
			{Name: "out", From: Point{1.2, 0}, To: Point{0.5, math.NaN()}},
		}}, want: []string{
			"lines[0] (dot): from and to are the same point",
			"lines[1] (out).from: x is 1.2, outside 0..1",
			"lines[1] (out).to: y is NaN, not a number within 0..1",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.set.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want\n%s", strings.Join(tc.want, "\n"))
			}
			if got, want := err.Error(), strings.Join(tc.want, "\n"); got != want {
				t.Fatalf("Validate:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	in := Set{
		Zones: []Zone{
			{Name: "a", Polygon: driveway(), Labels: []string{" Person", "person", "CAR", "car ", "Person"}},
			{Name: "b", Polygon: driveway(), Labels: []string{}, MinFrames: 7},
		},
		Lines: []Line{{Name: "gate", From: Point{0.5, 0}, To: Point{0.5, 1}, Labels: []string{"dog", " DOG "}}},
	}
	got := in.Normalize()
	want := Set{
		Zones: []Zone{
			// Trimmed, repeats dropped ignoring case, first spelling kept;
			// MinFrames 0 becomes 3.
			{Name: "a", Polygon: driveway(), Labels: []string{"Person", "CAR"}, MinFrames: 3},
			{Name: "b", Polygon: driveway(), MinFrames: 7},
		},
		Lines: []Line{{Name: "gate", From: Point{0.5, 0}, To: Point{0.5, 1}, Labels: []string{"dog"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Normalize:\n%+v\nwant\n%+v", got, want)
	}
	// A copy: changing it leaves the input alone.
	got.Zones[0].Polygon[0].X = 0.9
	if in.Zones[0].Polygon[0].X != 0.1 {
		t.Fatal("Normalize shares the polygon with its input")
	}
	if in.Zones[0].Labels[0] != " Person" {
		t.Fatal("Normalize changed its input's labels")
	}
}

func TestPointJSONNaN(t *testing.T) {
	// JSON has no NaN: marshalling one fails rather than writing a
	// point that reads back differently.
	if _, err := json.Marshal(Point{math.NaN(), 0}); err == nil {
		t.Fatal("marshalled NaN")
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(Point{0.25, 1}); err != nil || buf.String() != "[0.25,1]\n" {
		t.Fatalf("got %q, %v", buf.String(), err)
	}
}
