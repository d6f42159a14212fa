package marker

import (
	"image/color"
	"slices"
	"testing"
)

// distance is the largest per-channel difference, in levels, between an
// 8-bit pixel and a colour: what the model compares with the tolerance.
func distance(p [3]uint8, c color.RGBA) int {
	d := 0
	for i, v := range [3]uint8{c.R, c.G, c.B} {
		d = max(d, abs(int(p[i])-int(v)))
	}
	return d
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// nearestGrey searches the background's colours (channels 90..170, pairwise
// within 16) for the one closest to c in the model's distance.
func nearestGrey(c color.RGBA) ([3]uint8, int) {
	var best [3]uint8
	bestD := 1 << 30
	for r := 90; r <= 170; r++ {
		for g := max(90, r-16); g <= min(170, r+16); g++ {
			for b := max(90, r-16, g-16); b <= min(170, r+16, g+16); b++ {
				p := [3]uint8{uint8(r), uint8(g), uint8(b)}
				if d := distance(p, c); d < bestD {
					best, bestD = p, d
				}
			}
		}
	}
	return best, bestD
}

// TestToleranceMargins checks the arithmetic behind the tolerance (see its
// comment in graph.go) against the colours as they are.
func TestToleranceMargins(t *testing.T) {
	tol := tolerance * 255 // 50.5 levels: 50 passes, 51 does not
	const codec = 20       // H.264's worst shift of a channel, in levels
	colors, names := Colors(), Names()

	// The background's distance to each colour, worked out by hand: for green
	// (40,200,60) a grey needs G-R <= 16, so max(|R-40|, |G-200|) >= (160-16)/2
	// = 72; likewise (180-16)/2 = 82 for red and blue, (190-16)/2 = 87 for
	// yellow (R-B).
	wantGrey := []int{82, 72, 82, 87}
	for i, c := range colors {
		p, d := nearestGrey(c)
		if d != wantGrey[i] {
			t.Errorf("%s: nearest grey %v at %d levels, want %d", names[i], p, d, wantGrey[i])
		}
		if float64(d-codec) <= tol {
			t.Errorf("%s: grey %v shifted by %d levels is within the tolerance %.1f", names[i], p, codec, tol)
		}
	}

	// The padding grey.
	for i, c := range colors {
		if d := distance([3]uint8{114, 114, 114}, c); float64(d) <= tol+codec {
			t.Errorf("%s: padding grey at %d levels, within tolerance and codec shift", names[i], d)
		}
	}

	// A marker shifted by the codec on every channel still passes.
	if codec >= tol {
		t.Errorf("codec shift %d >= tolerance %.1f", codec, tol)
	}

	// Colours apart from each other: at least 160 levels on some channel, and
	// the half-and-half mix of two (a blurred shared edge) at least 80 from
	// every reference (green and blue: (40,130,140)).
	for i, a := range colors {
		for j := i + 1; j < len(colors); j++ {
			b := colors[j]
			if d := distance([3]uint8{b.R, b.G, b.B}, a); d < 160 {
				t.Errorf("%s and %s %d levels apart, want >= 160", names[i], names[j], d)
			}
			mix := [3]uint8{uint8((int(a.R) + int(b.R)) / 2), uint8((int(a.G) + int(b.G)) / 2), uint8((int(a.B) + int(b.B)) / 2)}
			for k, c := range colors {
				if d := distance(mix, c); d < 80 {
					t.Errorf("mix of %s and %s %v is %d levels from %s, want >= 80", names[i], names[j], mix, d, names[k])
				}
			}
		}
	}
}

// TestGraphWellFormed checks the graph without running it, fixed and
// batched: only standard operators, every input defined before it is used,
// unique outputs, the graph's output produced, the exact sequence of
// operators, and the input and output shapes.
func TestGraphWellFormed(t *testing.T) {
	moments := []string{"MatMul", "Div", "Sub", "Mul", "Mul", "ReduceSum", "Div", "Mul", "Add", "Sqrt"}
	masks := []string{"Sub", "Abs", "ReduceMax", "Less", "Cast", "ReduceSum", "ReduceSum", "ReduceSum", "Add"}
	score := []string{"Mul", "Div", "Clip", "Mul", "Min", "Mul", "Concat", "Mul", "Concat", "Transpose"}
	tests := []struct {
		name         string
		batched      bool
		ops          []string
		input, outpt []int64
	}{
		{"fixed", false, slices.Concat(masks, moments, moments, score, []string{"Concat", "Unsqueeze"}),
			[]int64{1, 3, 640, 640}, []int64{1, 8, 16}},
		// The images are unsqueezed to [B,1,3,S,S] first; the unused anchors
		// come from a Pad instead of a Concat and an Unsqueeze.
		{"batched", true, slices.Concat([]string{"Unsqueeze"}, masks, moments, moments, score, []string{"Pad"}),
			[]int64{-1, 3, 640, 640}, []int64{-1, 8, 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := detectorGraph(DefaultSize, defaultAnchors, tt.batched)
			defined := map[string]bool{}
			for _, in := range g.inputs {
				defined[in.name] = true
			}
			for _, it := range g.initializers {
				if defined[it.name] {
					t.Errorf("initializer %q defined twice", it.name)
				}
				defined[it.name] = true
			}
			used := map[string]bool{}
			var ops []string
			for _, n := range g.nodes {
				ops = append(ops, n.opType)
				if n.domain != "" {
					t.Errorf("node %s: domain %q, want the default", n.name, n.domain)
				}
				for _, in := range n.inputs {
					used[in] = true
					if !defined[in] {
						t.Errorf("node %s (%s): input %q not defined before it", n.name, n.opType, in)
					}
				}
				for _, out := range n.outputs {
					if defined[out] {
						t.Errorf("node %s: output %q defined twice", n.name, out)
					}
					defined[out] = true
				}
			}
			if !defined["output0"] {
				t.Error("output0 is not produced")
			}
			for _, it := range g.initializers {
				if !used[it.name] {
					t.Errorf("initializer %q is not used", it.name)
				}
			}
			if !slices.Equal(ops, tt.ops) {
				t.Errorf("operators\n%v\nwant\n%v", ops, tt.ops)
			}
			if len(g.inputs) != 1 || !slices.Equal(g.inputs[0].shape, tt.input) {
				t.Errorf("inputs %+v, want one of shape %v", g.inputs, tt.input)
			}
			if len(g.outputs) != 1 || !slices.Equal(g.outputs[0].shape, tt.outpt) {
				t.Errorf("outputs %+v, want one of shape %v", g.outputs, tt.outpt)
			}
		})
	}
}
