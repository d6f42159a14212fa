package marker

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"edge-agent/internal/scene"
)

// This file runs the model with Shades on the crossing scene of package
// internal/scene, the synthetic camera's picture for trackers: three red
// markers, each painted in its own red-class reference colour, and a green
// one, whose paths cross.

// TestCrossingSceneColors checks that the crossing scene paints its markers
// in the reference colours of the model with Shades, one colour each, and
// in the classes the model reports them as. (Package scene keeps its own
// copy of the colours, so that it does not depend on the model.)
func TestCrossingSceneColors(t *testing.T) {
	refs := References(Options{Shades: true})
	s := scene.NewCrossing(1280, 720)
	used := map[int]int{} // reference index -> marker ID
	for seq := range uint64(scene.CrossingPeriod) {
		for _, m := range s.Truth(seq, nil) {
			a := refIndex(refs, m.Color)
			if a < 0 || refs[a].Class != m.Class || Names()[m.Class] != m.Name {
				t.Fatalf("frame %d: marker %d (%s) painted %v: reference %d, want one of class %s", seq, m.ID, m.Name, m.Color, a, m.Name)
			}
			if id, ok := used[a]; ok && id != m.ID {
				t.Fatalf("frame %d: markers %d and %d share reference colour %d", seq, id, m.ID, a)
			}
			used[a] = m.ID
		}
	}
	// Red 0 in red, 1 in magenta, 2 in cyan; green 3 in green.
	if want := map[int]int{0: 0, 4: 1, 5: 2, 1: 3}; fmt.Sprint(used) != fmt.Sprint(want) {
		t.Errorf("reference colour -> marker %v, want %v", used, want)
	}
}

// refIndex returns the index of the reference colour c in refs, or -1.
func refIndex(refs []Reference, c [3]uint8) int {
	return slices.IndexFunc(refs, func(r Reference) bool { return rgb(r.Color) == c })
}

// visiblePart is what the model should see of a marker that Render may
// have drawn others over (it draws in Truth's order, so later markers cover
// earlier ones): its pixels not covered by a later marker, as the
// nearest-neighbour letterbox samples them.
type visiblePart struct {
	whole, hidden bool    // all of the box in view; none of it (in frame pixels)
	bounds        box     // the pixels in view's bounding box, in frame pixels
	n             int     // input pixels that show the part
	box           box     // the rectangle with those pixels' moments, in frame pixels
	score         float64 // the model's score for those pixels
}

// visible returns what the model should see of markers[i] in a frame
// letterboxed as lb by letterboxInto: input pixel (x, y) shows frame pixel
// (⌊(x+0.5)·sx⌋, ⌊(y+0.5)·sy⌋). It works the closed form out from the
// truth, independently of the rendered pixels.
func visible(markers []scene.Marker, i int, lb letterbox) visiblePart {
	b := markers[i].Box
	inView := func(x, y int) bool {
		if float64(x) < b.X || float64(x) >= b.X+b.W || float64(y) < b.Y || float64(y) >= b.Y+b.H {
			return false
		}
		for _, o := range markers[i+1:] {
			ob := o.Box
			if float64(x) >= ob.X && float64(x) < ob.X+ob.W && float64(y) >= ob.Y && float64(y) < ob.Y+ob.H {
				return false
			}
		}
		return true
	}
	v := visiblePart{bounds: box{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}}
	frameN := 0
	for y := int(b.Y); y < int(b.Y+b.H); y++ {
		for x := int(b.X); x < int(b.X+b.W); x++ {
			if inView(x, y) {
				frameN++
				v.bounds = box{min(v.bounds.x1, float64(x)), min(v.bounds.y1, float64(y)), max(v.bounds.x2, float64(x+1)), max(v.bounds.y2, float64(y+1))}
			}
		}
	}
	v.whole, v.hidden = frameN == int(b.W*b.H), frameN == 0

	// The input pixels that show the part, and their moments as the model
	// takes them (centre first, then the variances about it).
	var xs, ys []float64
	for y := range lb.newH {
		fy := int((float64(y) + 0.5) * lb.sy)
		if float64(fy) < b.Y || float64(fy) >= b.Y+b.H {
			continue
		}
		for x := range lb.newW {
			if inView(int((float64(x)+0.5)*lb.sx), fy) {
				xs, ys = append(xs, float64(x)+0.5), append(ys, float64(y)+0.5)
			}
		}
	}
	v.n = len(xs)
	if v.n == 0 {
		return v
	}
	n := float64(v.n)
	var cx, cy, vx, vy float64
	for j := range xs {
		cx, cy = cx+xs[j], cy+ys[j]
	}
	cx, cy = cx/n, cy/n
	for j := range xs {
		vx, vy = vx+(xs[j]-cx)*(xs[j]-cx), vy+(ys[j]-cy)*(ys[j]-cy)
	}
	w, h := math.Sqrt(12*vx/n+1), math.Sqrt(12*vy/n+1)
	v.box = lb.toFrame(box{cx - w/2, cy - h/2, cx + w/2, cy + h/2})
	v.score = min(1, n/minArea) * min(1, n/(w*h))
	return v
}

// TestShadedModelCrossingScene renders frames of the crossing scene at
// 1280x720 (letterboxed to 640 at scale 0.5) and runs the model with Shades
// on them. The frames are every 10th of the 600-frame period and every
// frame of the stretches where boxes overlap: green 3 over red 1 (frames
// 82..112), red 1 over red 0 (112..128), green 3 over red 2 (312..335) and
// red 2 over red 0 (330..368); 155 frames, 104 times a marker partly
// covered, 7 times one covered whole.
//
// Render paints the markers in ID order, so a marker is covered by those
// with higher IDs. For each marker in view (Truth), the test reads the
// anchor of the reference colour it is painted in, and works out from the
// truth alone (visible) the pixels of it left in view, as the letterbox
// samples them, and the box and score the closed form gives for those.
//
// Clean frames, nearest-neighbour letterbox:
//
//   - Whole (no later marker overlaps it): score >= 0.95, every edge of its
//     box within 2 frame pixels of the truth.
//   - Partly covered: the box is the rectangle with the moments of its
//     visible pixels (their centre, and sqrt(12·variance+1) on each side,
//     which is the visible part itself when that is a rectangle), every
//     edge within 0.05 pixels, and the score that closed form's
//     min(1, area/100)·fill within 0.005: it is reported (above 0.5)
//     exactly when its visible part is big and compact enough. Where the
//     part is an L, the box is smaller than the part's bounding box: the
//     model sees moments, not shapes.
//   - Covered whole, or showing no sampled pixel: score under 0.05.
//
// Degraded frames, those whose number is a multiple of 3, as a codec might leave them (3×3 blur, ±20
// of noise on every channel, bilinear letterbox as the agent's), against
// the same expectations: a whole marker's edges within 3 pixels of the
// truth and score >= 0.95; a partly covered one's score within 0.1 of the
// clean expectation and, where that expects a detection (above 0.5), its
// edges within 3 pixels; except that a visible part under 4 pixels across
// may be lost to the blur, so its score may only be lower. Covered whole:
// under 0.05.
//
// On every frame: the anchors of colours not in view score under 0.05,
// anchors 6..15 are zero, and no anchor scores in a class other than its
// colour's. So the three red markers come out as separate boxes of class
// red, one per colour, told apart by nothing but their anchors.
func TestShadedModelCrossingScene(t *testing.T) {
	opts := Options{Shades: true}
	r := newBatchRunner(t, opts, 1)
	refs := References(opts)
	const k, n = numClasses, defaultAnchors
	s := scene.NewCrossing(1280, 720)
	f := frame{w: s.Width, h: s.Height, pix: make([]uint8, 3*s.Width*s.Height)}
	var seqs []uint64
	for seq := uint64(0); seq < scene.CrossingPeriod; seq += 10 {
		seqs = append(seqs, seq)
	}
	for _, overlap := range [][2]uint64{{82, 128}, {312, 368}} {
		for seq := overlap[0]; seq <= overlap[1]; seq++ {
			if seq%10 != 0 {
				seqs = append(seqs, seq)
			}
		}
	}
	slices.Sort(seqs)
	ts := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	for _, degraded := range []bool{false, true} {
		t.Run(map[bool]string{false: "clean", true: "degraded"}[degraded], func(t *testing.T) {
			var frames, whole, partial, hidden, lost, threeReds, nmsPairs int
			var worstTruth, worstPart, worstScore float64
			for _, seq := range seqs {
				if degraded && seq%3 != 0 {
					continue
				}
				frames++
				s.Render(seq, ts, f.pix, 3*f.w)
				var lb letterbox
				if degraded {
					lb = bilinearInto(r.in.GetData(), r.size, f.degradeBy(seq, codecShift))
				} else {
					lb = letterboxInto(r.in.GetData(), r.size, f)
				}
				if err := r.sess.Run(); err != nil {
					t.Fatal(err)
				}
				out := r.out.GetData()
				at := func(row, a int) float64 { return float64(out[row*n+a]) }
				markers := s.Truth(seq, nil)
				inView := make([]bool, len(refs))
				var reds []box
				for i, m := range markers {
					a := refIndex(refs, m.Color)
					if a < 0 || refs[a].Class != m.Class {
						t.Fatalf("frame %d: marker %d (%s) painted %v, not a reference colour of its class", seq, m.ID, m.Name, m.Color)
					}
					inView[a] = true
					score := at(4+m.Class, a)
					cx, cy, w, h := at(0, a), at(1, a), at(2, a), at(3, a)
					got := lb.toFrame(box{cx - w/2, cy - h/2, cx + w/2, cy + h/2})
					edges := func(want box) float64 {
						return max(math.Abs(got.x1-want.x1), math.Abs(got.y1-want.y1), math.Abs(got.x2-want.x2), math.Abs(got.y2-want.y2))
					}
					v := visible(markers, i, lb)
					where := fmt.Sprintf("frame %d: marker %d (%v, anchor %d) at %+v", seq, m.ID, m.Color, a, m.Box)
					report := fmt.Sprintf("box %.2f,%.2f-%.2f,%.2f score %.3f; visible part: %d input pixels, bounds %.0f,%.0f-%.0f,%.0f, moments' box %.2f,%.2f-%.2f,%.2f score %.3f",
						got.x1, got.y1, got.x2, got.y2, score, v.n, v.bounds.x1, v.bounds.y1, v.bounds.x2, v.bounds.y2, v.box.x1, v.box.y1, v.box.x2, v.box.y2, v.score)
					switch {
					case v.hidden || v.n == 0:
						hidden++
						if score >= 0.05 {
							t.Errorf("%s: nothing of it in view, but %s", where, report)
						}
					case v.whole:
						whole++
						truth := box{m.Box.X, m.Box.Y, m.Box.X + m.Box.W, m.Box.Y + m.Box.H}
						e := edges(truth)
						worstTruth = max(worstTruth, e)
						if e > map[bool]float64{false: 2, true: 3}[degraded] || score < 0.95 {
							t.Errorf("%s: in view whole, edges %.2f px from the truth, %s", where, e, report)
						}
					case !degraded:
						partial++
						e, ds := edges(v.box), math.Abs(score-v.score)
						worstPart, worstScore = max(worstPart, e), max(worstScore, ds)
						if e > 0.05 || ds > 0.005 {
							t.Errorf("%s: partly covered, %s", where, report)
						}
					case v.bounds.x2-v.bounds.x1 < 4 || v.bounds.y2-v.bounds.y1 < 4:
						partial++
						lost++
						if score > v.score+0.1 {
							t.Errorf("%s: a sliver in view, %s", where, report)
						}
					default:
						partial++
						ds := math.Abs(score - v.score)
						worstScore = max(worstScore, ds)
						e := 0.0
						if v.score > 0.5 {
							e = edges(v.box)
							worstPart = max(worstPart, e)
						}
						if ds > 0.1 || e > 3 {
							t.Errorf("%s: partly covered, %s", where, report)
						}
					}
					if m.Class == 0 && score > 0.5 {
						reds = append(reds, got)
					}
				}
				for a := range n {
					for row := range 4 + k {
						if v := out[row*n+a]; v != 0 && (a >= len(refs) || row >= 4 && row-4 != refs[a].Class) {
							t.Errorf("frame %d: anchor %d row %d = %g, want 0", seq, a, row, v)
						}
					}
					if a < len(refs) && !inView[a] {
						if v := at(4+refs[a].Class, a); v >= 0.05 {
							t.Errorf("frame %d: anchor %d, a colour not in view, scores %.3f", seq, a, v)
						}
					}
				}
				if len(reds) == 3 {
					threeReds++
				}
				for i, a := range reds {
					for _, b := range reds[i+1:] {
						if iou(a, b) > 0.45 {
							nmsPairs++
						}
					}
				}
			}
			t.Logf("%d frames: markers in view whole %d times (edges at most %.2f px from the truth), partly covered %d (%d slivers; edges at most %.2f px, scores %.3f from the expected), hidden %d",
				frames, whole, worstTruth, partial, lost, worstPart, worstScore, hidden)
			t.Logf("three red boxes (score > 0.5) in %d frames; %d pairs of red boxes overlap with IoU > 0.45 (which class-aware NMS at 0.45 would merge)", threeReds, nmsPairs)
		})
	}
}
