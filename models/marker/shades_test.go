package marker

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"
	"testing"
)

// This file tests the model with Options.Shades: its reference colours and
// the margins between them, the background, the letterbox padding and the
// time code strip that the choice of magenta and cyan rests on (see
// References), and the model on synthetic frames with several red-class
// markers. Its runs on the crossing scene are in scene_test.go.

// codecShift is H.264's worst shift of a flat colour's channel, in levels.
const codecShift = 20

func TestReferences(t *testing.T) {
	plain, shaded := References(Options{}), References(Options{Shades: true})
	colors := Colors()
	if len(plain) != numClasses || len(shaded) != numClasses+2 {
		t.Fatalf("%d and %d references, want %d and %d", len(plain), len(shaded), numClasses, numClasses+2)
	}
	for k, c := range colors {
		want := Reference{Color: c, Class: k}
		if plain[k] != want || shaded[k] != want {
			t.Errorf("reference %d: %+v and %+v, want %+v", k, plain[k], shaded[k], want)
		}
	}
	wantShades := []Reference{
		{color.RGBA{R: 220, G: 40, B: 220, A: 255}, 0},
		{color.RGBA{R: 40, G: 230, B: 230, A: 255}, 0},
	}
	if !slices.Equal(shaded[numClasses:], wantShades) {
		t.Errorf("shades %+v, want %+v", shaded[numClasses:], wantShades)
	}
	shaded[4].Class = 3
	if References(Options{Shades: true})[4].Class != 0 {
		t.Error("References returns shared storage")
	}
}

// rgb returns a colour's channels.
func rgb(c color.RGBA) [3]uint8 { return [3]uint8{c.R, c.G, c.B} }

// mix returns the half-and-half mix of two colours, rounded down: a blurred
// edge between them.
func mix(a, b color.RGBA) [3]uint8 {
	return [3]uint8{uint8((int(a.R) + int(b.R)) / 2), uint8((int(a.G) + int(b.G)) / 2), uint8((int(a.B) + int(b.B)) / 2)}
}

// TestReferenceDistances checks the margins of all six reference colours of
// the model with Shades, the numbers References' doc gives (distances in
// levels, the largest difference over the channels):
//
//	         red green  blue yellow magenta cyan | grey  pad  black white
//	red        0   180   180   170   180   190   |   82  106   220   215
//	green    180     0   160   190   180   170   |   72   86   200   215
//	blue     180   160     0   190   180   170   |   82  106   220   215
//	yellow   170   190   190     0   180   190   |   87  116   230   215
//	magenta  180   180   180   180     0   190   |   82  106   220   215
//	cyan     190   170   170   190   190     0   |   87  116   230   215
//
// "grey" is the nearest background grey (channels 90..170, pairwise within
// 16), "pad" the letterbox grey 114, black and white the time code strip's
// blocks.
func TestReferenceDistances(t *testing.T) {
	tol := tolerance * 255
	refs := References(Options{Shades: true})
	names := []string{"red", "green", "blue", "yellow", "magenta", "cyan"}
	want := [][]int{
		{0, 180, 180, 170, 180, 190, 82, 106, 220, 215},
		{180, 0, 160, 190, 180, 170, 72, 86, 200, 215},
		{180, 160, 0, 190, 180, 170, 82, 106, 220, 215},
		{170, 190, 190, 0, 180, 190, 87, 116, 230, 215},
		{180, 180, 180, 180, 0, 190, 82, 106, 220, 215},
		{190, 170, 170, 190, 190, 0, 87, 116, 230, 215},
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-8s", "")
	for _, n := range append(slices.Clone(names), "grey", "pad", "black", "white") {
		fmt.Fprintf(&table, "%8s", n)
	}
	for i, a := range refs {
		got := make([]int, 0, len(refs)+4)
		for _, b := range refs {
			got = append(got, distance(rgb(b.Color), a.Color))
		}
		_, grey := nearestGrey(a.Color)
		got = append(got, grey,
			distance([3]uint8{114, 114, 114}, a.Color),
			distance([3]uint8{0, 0, 0}, a.Color),
			distance([3]uint8{255, 255, 255}, a.Color))
		fmt.Fprintf(&table, "\n%-8s", names[i])
		for _, d := range got {
			fmt.Fprintf(&table, "%8d", d)
		}
		if !slices.Equal(got, want[i]) {
			t.Errorf("%s: distances %v, want %v", names[i], got, want[i])
		}
		// The rules the numbers must keep.
		for j, d := range got[:len(refs)] {
			if j != i && d < 160 {
				t.Errorf("%s and %s %d levels apart, want >= 160", names[i], names[j], d)
			}
		}
		if float64(grey-codecShift) <= tol {
			t.Errorf("%s: nearest grey %d levels away, within the tolerance %.1f after a codec shift of %d", names[i], grey, tol, codecShift)
		}
		for k, d := range got[len(refs)+1:] {
			if float64(d) <= tol+codecShift {
				t.Errorf("%s: %s %d levels away, within tolerance and codec shift", names[i], []string{"padding", "black", "white"}[k], d)
			}
		}
		// A blurred edge between two markers matches none.
		for j := i + 1; j < len(refs); j++ {
			m := mix(a.Color, refs[j].Color)
			for k, c := range refs {
				if d := distance(m, c.Color); d < 80 {
					t.Errorf("mix of %s and %s %v is %d levels from %s, want >= 80", names[i], names[j], m, d, names[k])
				}
			}
		}
	}
	t.Logf("distances in levels:\n%s", table.String())
}

// TestReferenceBlends checks the two places where mixtures come closer to a
// reference colour than the background does, as References' doc says.
//
// A marker's edge blends its colour with the background: a fraction a of
// reference c and 1-a of a grey, rounded to 8 bits. Over every grey and a
// in steps of 1/32, such a blend comes no nearer to another reference than
// 72 levels for red, blue, yellow and magenta (the background's own
// distance to green, at a = 0) and 82 for green (to blue), but 63 for cyan,
// towards green: an edge pixel of a cyan marker would need a codec shift of
// 13 levels the wrong way on two channels at once to pass as green.
//
// 4:2:0 chroma subsampling gives a pixel at an edge its own luma and the
// chroma of a 2×2 block shared with the other side, a share f of 1/4, 1/2
// or 3/4 of it from there (BT.601; the RGB result does not depend on full or
// limited range). Such a pixel between references a and b (or a and a
// background grey) stays more than the tolerance from every third
// reference, except magenta beside yellow, which can come 49 levels from
// red: magenta's own class.
func TestReferenceBlends(t *testing.T) {
	tol := tolerance * 255
	refs := References(Options{Shades: true})
	names := []string{"red", "green", "blue", "yellow", "magenta", "cyan"}
	var greys [][3]uint8
	for r := 90; r <= 170; r++ {
		for g := max(90, r-16); g <= min(170, r+16); g++ {
			for b := max(90, r-16, g-16); b <= min(170, r+16, g+16); b++ {
				greys = append(greys, [3]uint8{uint8(r), uint8(g), uint8(b)})
			}
		}
	}
	wantBlend := []int{72, 82, 72, 72, 72, 63}
	for i, ref := range refs {
		c := rgb(ref.Color)
		worst, towards := 255, -1
		for _, g := range greys {
			for a := range 33 { // a/32 of c, rounded half up
				var p [3]int
				for ch := range 3 {
					p[ch] = (a*int(c[ch]) + (32-a)*int(g[ch]) + 16) / 32
				}
				for j, o := range refs {
					d := max(abs(p[0]-int(o.Color.R)), abs(p[1]-int(o.Color.G)), abs(p[2]-int(o.Color.B)))
					if j != i && d < worst {
						worst, towards = d, j
					}
				}
			}
		}
		t.Logf("%-7s blended with grey: %d levels from %s", names[i], worst, names[towards])
		if worst != wantBlend[i] || float64(worst) <= tol {
			t.Errorf("%s blended with grey comes %d levels from %s, want %d", names[i], worst, names[towards], wantBlend[i])
		}
	}

	// Chroma: the neighbours are every reference and the extreme greys.
	type neighbour struct {
		name string
		c    [3]uint8
		ref  int // index in refs, -1 for a grey
	}
	var others []neighbour
	for j, o := range refs {
		others = append(others, neighbour{names[j], rgb(o.Color), j})
	}
	for _, g := range [][3]uint8{{90, 90, 90}, {170, 170, 170}, {114, 114, 114}, {90, 106, 90}, {106, 90, 106}, {154, 170, 170}, {170, 154, 154}} {
		others = append(others, neighbour{fmt.Sprint(g), g, -1})
	}
	var near []string
	closest := 255
	for i, ref := range refs {
		y, _, _ := ycbcr(rgb(ref.Color))
		_, cb, cr := ycbcr(rgb(ref.Color))
		for _, o := range others {
			if o.ref == i {
				continue
			}
			_, ocb, ocr := ycbcr(o.c)
			for _, f := range []float64{0.25, 0.5, 0.75} {
				p := fromYCbCr(y, (1-f)*cb+f*ocb, (1-f)*cr+f*ocr)
				for k, third := range refs {
					if k == i || k == o.ref {
						continue
					}
					d := distance(p, third.Color)
					if float64(d) <= tol {
						near = append(near, fmt.Sprintf("%s beside %s (%.2f) %v: %d from %s", names[i], o.name, f, p, d, names[k]))
					} else {
						closest = min(closest, d)
					}
				}
			}
		}
	}
	want := []string{"magenta beside yellow (0.50) [184 84 89]: 49 from red"}
	if !slices.Equal(near, want) {
		t.Errorf("chroma-mixed edge pixels within the tolerance of a third reference:\n%q\nwant\n%q", near, want)
	}
	t.Logf("chroma-mixed edge pixels: %q; all others at least %d levels from every third reference", near, closest)
}

// ycbcr converts 8-bit RGB to BT.601 full-range Y'CbCr.
func ycbcr(c [3]uint8) (y, cb, cr float64) {
	r, g, b := float64(c[0]), float64(c[1]), float64(c[2])
	y = 0.299*r + 0.587*g + 0.114*b
	cb = 128 - 0.168736*r - 0.331264*g + 0.5*b
	cr = 128 + 0.5*r - 0.418688*g - 0.081312*b
	return y, cb, cr
}

// fromYCbCr converts BT.601 full-range Y'CbCr back to 8-bit RGB, clamped.
func fromYCbCr(y, cb, cr float64) [3]uint8 {
	c := func(v float64) uint8 { return uint8(math.Max(0, math.Min(255, math.Round(v)))) }
	return [3]uint8{c(y + 1.402*(cr-128)), c(y - 0.344136*(cb-128) - 0.714136*(cr-128)), c(y + 1.772*(cb-128))}
}

// TestShadeCandidates evaluates the candidates for the two extra red-class
// colours against the four class colours, by the rules the tolerance needs
// (see References): at least 160 levels from each class colour on some
// channel ("apart"); the half mix with each at least 80 from both and from
// every other class colour ("mix"); the nearest background grey still more
// than the tolerance away after a codec shift ("grey"); the letterbox grey
// and the strip's black and white more than tolerance and codec shift away
// ("padding", "strip"). Magenta and cyan at 220 and 230 keep every rule
// with room; at 200 magenta still keeps them with 160 and 72 levels, cyan
// does not; orange sits between red and yellow; white-ish and black-ish
// are the strip's colours and too near the background's extremes.
func TestShadeCandidates(t *testing.T) {
	tol := tolerance * 255
	colors, names := Colors(), Names()
	problems := func(c color.RGBA) []string {
		var p []string
		add := func(s string) {
			if !slices.Contains(p, s) {
				p = append(p, s)
			}
		}
		for k, o := range colors {
			if distance(rgb(o), c) < 160 {
				add("apart:" + names[k])
			}
			m := mix(c, o)
			if distance(m, c) < 80 {
				add("mix:" + names[k])
			}
			for _, third := range colors {
				if distance(m, third) < 80 {
					add("mix:" + names[k])
				}
			}
		}
		if _, d := nearestGrey(c); float64(d-codecShift) <= tol {
			add("grey")
		}
		if float64(distance([3]uint8{114, 114, 114}, c)) <= tol+codecShift {
			add("padding")
		}
		for _, s := range [][3]uint8{{0, 0, 0}, {255, 255, 255}} {
			if float64(distance(s, c)) <= tol+codecShift {
				add("strip")
			}
		}
		return p
	}
	tests := []struct {
		name string
		c    color.RGBA
		want []string
	}{
		{"magenta (chosen)", color.RGBA{220, 40, 220, 255}, nil},
		{"cyan (chosen)", color.RGBA{40, 230, 230, 255}, nil},
		{"magenta-ish 200", color.RGBA{200, 40, 200, 255}, nil},
		{"cyan-ish 200", color.RGBA{40, 200, 200, 255}, []string{"apart:green", "mix:green", "apart:blue", "mix:blue"}},
		{"orange", color.RGBA{240, 130, 20, 255}, []string{"apart:red", "mix:red", "apart:yellow", "mix:yellow"}},
		{"white-ish", color.RGBA{235, 235, 235, 255}, []string{"grey", "strip"}},
		{"black-ish", color.RGBA{20, 20, 20, 255}, []string{"grey", "strip"}},
	}
	for _, tt := range tests {
		got := problems(tt.c)
		_, grey := nearestGrey(tt.c)
		least := 255
		for _, o := range colors {
			least = min(least, distance(rgb(o), tt.c))
		}
		t.Logf("%-17s %3d,%3d,%3d: %3d levels from the nearest class colour, %2d from grey; problems %v",
			tt.name, tt.c.R, tt.c.G, tt.c.B, least, grey, got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s %v: problems %v, want %v", tt.name, tt.c, got, tt.want)
		}
	}
}

// TestShadedModelDetectsMarkers runs the model with Shades on synthetic
// frames with markers of all six reference colours, three of them (red,
// magenta, cyan) of class red, apart and touching, clean and degraded (blur
// and ±20 of noise, letterboxed bilinearly as the agent does), and checks
// every box against the painted truth with checkOutput: each marker found
// once, on its colour's anchor, as its colour's class, IoU >= 0.9.
func TestShadedModelDetectsMarkers(t *testing.T) {
	r := newBatchRunner(t, Options{Shades: true}, 1)
	refs := References(Options{Shades: true})
	// Refs: 0 red, 1 green, 2 blue, 3 yellow, 4 magenta (red), 5 cyan (red).
	six := []rect{
		{0, 100, 100, 120, 90}, {4, 400, 100, 100, 100}, {5, 800, 150, 150, 120},
		{1, 100, 450, 90, 90}, {2, 500, 400, 200, 200}, {3, 1000, 500, 100, 150},
	}
	reds := []rect{ // three red-class markers and green, as in the crossing scene
		{0, 200, 300, 79, 79}, {4, 600, 350, 64, 64}, {5, 900, 200, 86, 86}, {1, 400, 500, 100, 100},
	}
	touching := []rect{ // shared edges: red|magenta side by side, cyan under magenta, green beside cyan
		{0, 300, 200, 100, 100}, {4, 400, 200, 100, 100}, {5, 400, 300, 100, 100}, {1, 500, 300, 100, 100},
	}
	odd := []rect{ // 1000x750: scale 0.64, edges between input pixels
		{0, 37, 41, 53, 67}, {4, 301, 93, 77, 61}, {5, 655, 600, 101, 99}, {3, 877, 120, 97, 131},
	}
	tests := []struct {
		name     string
		w, h     int
		markers  []rect
		degrade  bool // blur, ±20 noise and a bilinear letterbox
		minIoU   float64
		seedBase uint64
	}{
		{"six colours", 1280, 720, six, false, 0.9, 60},
		{"three reds and green", 1280, 720, reds, false, 0.9, 61},
		{"touching", 1280, 720, touching, false, 0.9, 62},
		{"1000x750", 1000, 750, odd, false, 0.9, 63},
		{"six colours degraded", 1280, 720, six, true, 0.9, 64},
		{"three reds and green degraded", 1280, 720, reds, true, 0.9, 65},
		{"touching degraded", 1280, 720, touching, true, 0.9, 66},
		{"1000x750 degraded", 1000, 750, odd, true, 0.9, 67},
		{"background only degraded", 1280, 720, nil, true, 0.9, 68},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := background(tt.w, tt.h, tt.seedBase)
			f.paint(tt.markers)
			var out []float32
			var lb letterbox
			if tt.degrade {
				lb = bilinearInto(r.in.GetData(), r.size, f.degradeBy(tt.seedBase, codecShift))
				if err := r.sess.Run(); err != nil {
					t.Fatal(err)
				}
				out = r.out.GetData()
			} else {
				out, lb = r.detect(t, f)
			}
			ious := checkOutput(t, out, lb, refs, tt.markers, tt.minIoU)
			for j, m := range tt.markers {
				c := refs[m.ref].Color
				t.Logf("%3d,%3d,%3d as %-6s %3dx%-3d at %4d,%-4d IoU %.3f", c.R, c.G, c.B, Names()[refs[m.ref].Class], m.w, m.h, m.x, m.y, ious[j])
			}
		})
	}
}
