package track

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(b)) }

// TestAxisByHand runs one coordinate's filter through a predict, a correct
// and a second predict, with every number worked out by hand.
func TestAxisByHand(t *testing.T) {
	// Start at z = 10, at rest, position variance 4, velocity variance 1:
	// p = 10, v = 0, P = [[4, 0], [0, 1]].
	x := newAxis(10, 4, 1)
	check := func(step string, p, v, a, b, c float64) {
		t.Helper()
		if !near(x.p, p) || !near(x.v, v) || !near(x.a, a) || !near(x.b, b) || !near(x.c, c) {
			t.Fatalf("%s: got p=%v v=%v P=[[%v %v] [%v %v]], want p=%v v=%v P=[[%v %v] [%v %v]]",
				step, x.p, x.v, x.a, x.b, x.b, x.c, p, v, a, b, b, c)
		}
	}
	check("new", 10, 0, 4, 0, 1)

	// Predict dt = 2 s with qp = 0.5, qv = 3:
	//   p = 10 + 0·2 = 10
	//   a = 4 + 2·0·2 + 1·2² + 0.5·2 + 3·2³/3 = 4 + 0 + 4 + 1 + 8 = 17
	//   b = 0 + 1·2 + 3·2²/2 = 2 + 6 = 8
	//   c = 1 + 3·2 = 7
	x.predict(2, 0.5, 3)
	check("predict 2 s", 10, 0, 17, 8, 7)

	// Measure z = 14 with variance r = 3:
	//   S = 17 + 3 = 20, K = (17/20, 8/20) = (0.85, 0.4), y = 14 − 10 = 4
	//   p = 10 + 0.85·4 = 13.4, v = 0 + 0.4·4 = 1.6
	//   a = (1 − 0.85)·17 = 2.55, b = (1 − 0.85)·8 = 1.2,
	//   c = 7 − 0.4·8 = 3.8
	x.correct(14, 3)
	check("correct", 13.4, 1.6, 2.55, 1.2, 3.8)

	// Predict dt = 0.5 s without noise: the velocity carries the position
	// and the covariance is just F P Fᵀ:
	//   p = 13.4 + 1.6·0.5 = 14.2
	//   a = 2.55 + 2·1.2·0.5 + 3.8·0.25 = 2.55 + 1.2 + 0.95 = 4.7
	//   b = 1.2 + 3.8·0.5 = 3.1, c = 3.8
	x.predict(0.5, 0, 0)
	check("predict 0.5 s", 14.2, 1.6, 4.7, 3.1, 3.8)

	// at looks ahead without moving: 14.2 + 1.6·2 = 17.4.
	if got := x.at(2); !near(got, 17.4) {
		t.Errorf("at(2) = %v, want 17.4", got)
	}
	check("after at", 14.2, 1.6, 4.7, 3.1, 3.8)
}

// TestBoxNoiseScales checks a new box filter's state and that the x axes
// scale with the width and the y axes with the height.
func TestBoxNoiseScales(t *testing.T) {
	// A 20×40 box at (90, 80): centre (100, 100).
	k := newBox(Box{X: 90, Y: 80, W: 20, H: 40})
	// Position variances (0.1·20)² = 4 and (0.1·40)² = 16; velocity
	// variances (1·20)² = 400 and (1·40)² = 1600.
	for _, c := range []struct {
		name    string
		ax      axis
		p, a, c float64
	}{
		{"cx", k.cx, 100, 4, 400},
		{"w", k.w, 20, 4, 400},
		{"cy", k.cy, 100, 16, 1600},
		{"h", k.h, 40, 16, 1600},
	} {
		if !near(c.ax.p, c.p) || c.ax.v != 0 || !near(c.ax.a, c.a) || c.ax.b != 0 || !near(c.ax.c, c.c) {
			t.Errorf("%s = %+v, want p=%v v=0 a=%v b=0 c=%v", c.name, c.ax, c.p, c.a, c.c)
		}
	}
	// Predict 1 s: cx's a = 4 + 400 + (0.3·20)² + (1·20)²/3 = 4 + 400 + 36 + 133.33…
	k.predict(1)
	if want := 4 + 400 + 36 + 400.0/3; !near(k.cx.a, want) {
		t.Errorf("cx.a after 1 s = %v, want %v", k.cx.a, want)
	}
	// and cy's a = 16 + 1600 + (0.3·40)² + (1·40)²/3 = 16 + 1600 + 144 + 533.33…
	if want := 16 + 1600 + 144 + 1600.0/3; !near(k.cy.a, want) {
		t.Errorf("cy.a after 1 s = %v, want %v", k.cy.a, want)
	}
	// A step of no time changes nothing.
	before := k
	k.predict(0)
	if k != before {
		t.Errorf("predict(0) changed the filter: %+v → %+v", before, k)
	}
}

// TestBoxLearnsVelocity feeds a box moving at (60, −30) px/s, measured at
// uneven intervals, and expects the filter to find that velocity.
func TestBoxLearnsVelocity(t *testing.T) {
	at := func(s float64) Box {
		return Box{X: float32(100 + 60*s), Y: float32(400 - 30*s), W: 50, H: 100}
	}
	k := newBox(at(0))
	now := 0.0
	for i := range 40 {
		dt := []float64{0.04, 0.1, 0.2, 0.07}[i%4]
		now += dt
		k.predict(dt)
		k.correct(at(now))
	}
	if math.Abs(k.cx.v-60) > 0.5 || math.Abs(k.cy.v+30) > 0.5 || math.Abs(k.w.v) > 0.5 || math.Abs(k.h.v) > 0.5 {
		t.Errorf("velocities (cx, cy, w, h) = (%.2f, %.2f, %.2f, %.2f), want (60, -30, 0, 0)", k.cx.v, k.cy.v, k.w.v, k.h.v)
	}
	// Half a second ahead the box is where the object will be.
	want := at(now + 0.5)
	got := k.at(0.5)
	if math.Abs(float64(got.X-want.X)) > 0.5 || math.Abs(float64(got.Y-want.Y)) > 0.5 {
		t.Errorf("box 0.5 s ahead = %+v, want %+v", got, want)
	}
}

func TestIoU(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b Box
		want float32
	}{
		{"same", Box{0, 0, 10, 10}, Box{0, 0, 10, 10}, 1},
		// Overlap 5×10 = 50, union 100 + 100 − 50 = 150.
		{"half shifted", Box{0, 0, 10, 10}, Box{5, 0, 10, 10}, 50.0 / 150},
		// Inside: 25 / 100.
		{"inside", Box{0, 0, 10, 10}, Box{2, 2, 5, 5}, 0.25},
		{"touching", Box{0, 0, 10, 10}, Box{10, 0, 10, 10}, 0},
		{"apart", Box{0, 0, 10, 10}, Box{50, 50, 10, 10}, 0},
		{"empty", Box{0, 0, 0, 0}, Box{0, 0, 0, 0}, 0},
	} {
		if got := iou(c.a, c.b); math.Abs(float64(got-c.want)) > 1e-6 {
			t.Errorf("%s: iou = %v, want %v", c.name, got, c.want)
		}
	}
}
