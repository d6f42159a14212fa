package marker

import (
	"encoding/binary"
	"image/color"
	"math"
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
	fixed := slices.Concat(masks, moments, moments, score, []string{"Concat", "Unsqueeze"})
	// The images are unsqueezed to [B,1,3,S,S] first; the unused anchors
	// come from a Pad instead of a Concat and an Unsqueeze.
	batched := slices.Concat([]string{"Unsqueeze"}, masks, moments, moments, score, []string{"Pad"})
	tests := []struct {
		name         string
		batched      bool
		shades       bool
		ops          []string
		input, outpt []int64
	}{
		{"fixed", false, false, fixed, []int64{1, 3, 640, 640}, []int64{1, 8, 16}},
		{"batched", true, false, batched, []int64{-1, 3, 640, 640}, []int64{-1, 8, 16}},
		// Shades change the constants' shapes, not the operators or the
		// output's shape.
		{"fixed shades", false, true, fixed, []int64{1, 3, 640, 640}, []int64{1, 8, 16}},
		{"batched shades", true, true, batched, []int64{-1, 3, 640, 640}, []int64{-1, 8, 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refs := References(Options{Shades: tt.shades})
			g := detectorGraph(DefaultSize, defaultAnchors, tt.batched, refs)
			checkConstants(t, g, refs, tt.batched)
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

// checkConstants checks the graph's reference colours ref [R,3,1,1], its
// class map eye [R,K] (the identity for the four-colour model; magenta's
// and cyan's rows in red's column with Shades) and the unused anchors
// [4+K,N-R] (a pad of N-R batched).
func checkConstants(t *testing.T, g graph, refs []Reference, batched bool) {
	t.Helper()
	const k = numClasses
	r := int64(len(refs))
	var ref, eye []float32
	for _, c := range refs {
		ref = append(ref, float32(c.Color.R)/255, float32(c.Color.G)/255, float32(c.Color.B)/255)
		row := make([]float32, k)
		row[c.Class] = 1
		eye = append(eye, row...)
	}
	type values struct {
		dims []int64
		v    []float32
	}
	want := map[string]values{
		"ref": {[]int64{r, 3, 1, 1}, ref},
		"eye": {[]int64{r, k}, eye},
	}
	if !batched {
		want["unused_anchors"] = values{[]int64{4 + k, defaultAnchors - r}, make([]float32, (4+k)*(defaultAnchors-r))}
	}
	for _, it := range g.initializers {
		if it.name == "unused_pads" {
			var pads []int64
			for i := 0; i < len(it.raw); i += 8 {
				pads = append(pads, int64(binary.LittleEndian.Uint64(it.raw[i:])))
			}
			if wantPads := []int64{0, 0, 0, 0, 0, defaultAnchors - r}; !slices.Equal(pads, wantPads) {
				t.Errorf("unused_pads %v, want %v", pads, wantPads)
			}
		}
		w, ok := want[it.name]
		if !ok {
			continue
		}
		delete(want, it.name)
		var v []float32
		for i := 0; i < len(it.raw); i += 4 {
			v = append(v, math.Float32frombits(binary.LittleEndian.Uint32(it.raw[i:])))
		}
		if !slices.Equal(it.dims, w.dims) || !slices.Equal(v, w.v) {
			t.Errorf("%s: %v %v, want %v %v", it.name, it.dims, v, w.dims, w.v)
		}
	}
	for name := range want {
		t.Errorf("no initializer %s", name)
	}
}
