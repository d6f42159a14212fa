package track

// The box filter is a constant-velocity Kalman filter over
// (cx, cy, w, h, vcx, vcy, vw, vh): centre, size and their rates in pixels
// and pixels per second. The transition F = [I dt·I; 0 I], the measurement
// H = [I 0] (the four box values) and the noise covariances are diagonal
// per coordinate, so a covariance that starts block-diagonal stays so and
// the eight-state filter is exactly four independent two-state filters
// (position, velocity) that share nothing but the noise scale. axis is one
// of them.

// Noise, as fractions of the coordinate's scale s: the box width for cx
// and w, the height for cy and h (so a big, near object may move and
// change more pixels than a small, far one). s is the current estimate,
// at least 1 pixel.
const (
	// measStd: the standard deviation of a detector's box edge, 5% of s.
	measStd = 0.05
	// initPosStd, initVelStd: the uncertainty of a new track's position
	// (twice the measurement's) and velocity (it starts at rest but may
	// be moving by about its own size per second).
	initPosStd = 0.1
	initVelStd = 1.0
	// posNoise: a random walk of the position, variance (posNoise·s)² per
	// second: jitter a constant velocity does not explain.
	posNoise = 0.3
	// accelNoise: white-noise acceleration, spectral density
	// (accelNoise·s)² per second: changes of velocity.
	accelNoise = 1.0
)

// axis is one coordinate's two-state Kalman filter: position p, velocity v
// and their covariance [[a, b], [b, c]].
type axis struct {
	p, v    float64
	a, b, c float64
}

// newAxis starts a filter at measurement z, at rest, with position and
// velocity variances pv and vv.
func newAxis(z, pv, vv float64) axis {
	return axis{p: z, a: pv, c: vv}
}

// predict moves the filter dt seconds ahead: x ← F x, P ← F P Fᵀ + Q with
// F = [[1, dt], [0, 1]] and the process noise of a position random walk
// (variance qp per second) plus continuous white-noise acceleration
// (spectral density qv):
//
//	Q = [[qp·dt + qv·dt³/3, qv·dt²/2], [qv·dt²/2, qv·dt]]
func (x *axis) predict(dt, qp, qv float64) {
	x.p += x.v * dt
	dt2 := dt * dt
	a := x.a + 2*x.b*dt + x.c*dt2 + qp*dt + qv*dt2*dt/3
	b := x.b + x.c*dt + qv*dt2/2
	x.a, x.b = a, b
	x.c += qv * dt
}

// correct folds in a measurement z of the position with variance r:
// innovation y = z − p, its variance S = a + r, gain K = (a/S, b/S),
// x ← x + K·y, P ← (I − K H) P.
func (x *axis) correct(z, r float64) {
	s := x.a + r
	k0, k1 := x.a/s, x.b/s
	y := z - x.p
	x.p += k0 * y
	x.v += k1 * y
	// (I − KH)P = [[(1−k0)a, (1−k0)b], [b − k1·a, c − k1·b]], and
	// b − k1·a = b − b·a/S = (1−k0)b: it stays symmetric.
	x.c -= k1 * x.b
	x.a *= 1 - k0
	x.b *= 1 - k0
}

// at returns the position dt seconds ahead, without changing the filter.
func (x *axis) at(dt float64) float64 { return x.p + x.v*dt }

// box is a track's state: the four axes.
type box struct {
	cx, cy, w, h axis
}

// scales returns the noise scales of the x axes (cx, w) and the y axes
// (cy, h): the current width and height, at least 1 pixel.
func (k *box) scales() (sx, sy float64) {
	return max(k.w.p, 1), max(k.h.p, 1)
}

// newBox starts a filter at the measured box m.
func newBox(m Box) box {
	cx, cy, w, h := m.centre()
	sx, sy := max(w, 1), max(h, 1)
	px, py := sq(initPosStd*sx), sq(initPosStd*sy)
	vx, vy := sq(initVelStd*sx), sq(initVelStd*sy)
	return box{
		cx: newAxis(cx, px, vx), cy: newAxis(cy, py, vy),
		w: newAxis(w, px, vx), h: newAxis(h, py, vy),
	}
}

// predict moves the filter dt seconds ahead.
func (k *box) predict(dt float64) {
	if dt <= 0 {
		return
	}
	sx, sy := k.scales()
	qpx, qvx := sq(posNoise*sx), sq(accelNoise*sx)
	qpy, qvy := sq(posNoise*sy), sq(accelNoise*sy)
	k.cx.predict(dt, qpx, qvx)
	k.w.predict(dt, qpx, qvx)
	k.cy.predict(dt, qpy, qvy)
	k.h.predict(dt, qpy, qvy)
}

// correct folds in the measured box m.
func (k *box) correct(m Box) {
	sx, sy := k.scales()
	rx, ry := sq(measStd*sx), sq(measStd*sy)
	cx, cy, w, h := m.centre()
	k.cx.correct(cx, rx)
	k.w.correct(w, rx)
	k.cy.correct(cy, ry)
	k.h.correct(h, ry)
}

// holdSize stops the size from changing: a track that is not seen keeps
// its last size rather than growing or shrinking towards nothing.
func (k *box) holdSize() {
	k.w.v, k.h.v = 0, 0
}

// at returns the box dt seconds ahead (dt ≥ 0), without changing the
// filter; width and height are never negative.
func (k *box) at(dt float64) Box {
	cx, cy := k.cx.at(dt), k.cy.at(dt)
	w, h := max(k.w.at(dt), 0), max(k.h.at(dt), 0)
	return Box{X: float32(cx - w/2), Y: float32(cy - h/2), W: float32(w), H: float32(h)}
}

func sq(v float64) float64 { return v * v }
