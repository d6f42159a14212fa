package scene

// FrameRate is the frame rate, in frames a second, that the scene's motion
// and its hiding schedule are timed for.
const FrameRate = 15

// Markers are hidden for hideLength frames in every hideCycle: class i from
// frame hideFirst + i*hideStagger of the cycle (1 s + 3 s·i) on, so frame 0
// shows all four and the hidden stretches of different markers never meet.
const (
	hideCycle   = 12 * FrameRate
	hideLength  = 2 * FrameRate
	hideFirst   = 1 * FrameRate
	hideStagger = 3 * FrameRate
)

// The sine table that drives every trajectory: sineSteps steps a turn, values
// in -sineAmp..sineAmp. Trajectories use only integer arithmetic on it, so
// the truth is the same on every platform.
const (
	sineSteps = 4096
	sineAmp   = 1 << 14
	waveOne   = 2 * sineAmp // a wave runs from 0 to waveOne
)

// path is how one marker moves: a Lissajous curve over its region, and a
// width and height that swell and shrink, all with periods of 5 to 20 s.
type path struct {
	x0, y0, w, h int // the region the marker's box keeps to

	periodX, periodY, periodW, periodH int // in frames
	phaseX, phaseY, phaseW, phaseH     int // in sine steps
	hideStart                          int // frame of the hide cycle it vanishes at
}

// newPath returns the path of a marker class in a frame whose area below the
// strip starts at row top.
func newPath(class, width, height, top int) path {
	// Periods in seconds, each class its own, so the motion never repeats
	// in step.
	periods := [NumClasses][4]int{
		ClassRed:    {7, 11, 17, 13},
		ClassGreen:  {13, 8, 19, 15},
		ClassBlue:   {9, 17, 14, 20},
		ClassYellow: {19, 6, 16, 18},
	}[class]
	// One quarter of the area below the strip each: red top left, green top
	// right, blue bottom left, yellow bottom right.
	left, right := width/2, width-width/2
	upper := (height - top) / 2
	lower := height - top - upper
	p := path{
		periodX: periods[0] * FrameRate, periodY: periods[1] * FrameRate,
		periodW: periods[2] * FrameRate, periodH: periods[3] * FrameRate,
		phaseX: class * 1000, phaseY: class*700 + 300,
		phaseW: class * 1500, phaseH: class*1100 + 2000,
		hideStart: hideFirst + class*hideStagger,
	}
	switch class {
	case ClassRed:
		p.x0, p.y0, p.w, p.h = 0, top, left, upper
	case ClassGreen:
		p.x0, p.y0, p.w, p.h = left, top, right, upper
	case ClassBlue:
		p.x0, p.y0, p.w, p.h = 0, top+upper, left, lower
	case ClassYellow:
		p.x0, p.y0, p.w, p.h = left, top+upper, right, lower
	}
	return p
}

// Truth returns the markers in view in frame seq, in class order, in dst's
// storage (dst[:0] extended; pass nil to allocate). It is a pure function of
// seq and the frame size: any frame's truth can be recomputed from its number.
//
// Every box is whole pixels, lies inside the frame below the time code strip,
// keeps to its marker's quarter of that area (so boxes never overlap), and is
// between 6% and 20% of the frame height on each side (less if a quarter is
// smaller than that). Each marker is hidden for 2 s in every 12 s, never two
// at once.
//
// In the crossing scene (NewCrossing) the markers are listed by ID instead,
// boxes may overlap, and the box of a marker leaving or entering the frame
// at the side is clipped to the frame: the marker is in view while that
// leaves it at least 6% of the height wide.
func (s *Scene) Truth(seq uint64, dst []Marker) []Marker {
	dst = dst[:0]
	if s.cross != nil {
		return s.crossingTruth(seq, dst)
	}
	for class := range NumClasses {
		p := &s.paths[class]
		if (int(seq%hideCycle)+hideCycle-p.hideStart)%hideCycle < hideLength {
			continue
		}
		w := lerp(s.minSize, s.maxSize, s.wave(seq, p.periodW, p.phaseW))
		h := lerp(s.minSize, s.maxSize, s.wave(seq, p.periodH, p.phaseH))
		x := p.x0 + lerp(0, p.w-w, s.wave(seq, p.periodX, p.phaseX))
		y := p.y0 + lerp(0, p.h-h, s.wave(seq, p.periodY, p.phaseY))
		dst = append(dst, Marker{
			Class: class,
			Name:  ClassName(class),
			Color: ClassColor(class),
			Box:   Rect{X: float64(x), Y: float64(y), W: float64(w), H: float64(h)},
			ID:    class,
		})
	}
	return dst
}

// wave returns a sine wave of the given period (in frames) and phase (in sine
// steps) at frame seq, from 0 to waveOne.
func (s *Scene) wave(seq uint64, period, phase int) int {
	step := int(seq%uint64(period))*sineSteps/period + phase
	return int(s.sine[step%sineSteps]) + sineAmp
}

// lerp returns the point u/waveOne of the way from a to b, rounded towards a.
func lerp(a, b, u int) int {
	return a + (b-a)*u/waveOne
}
