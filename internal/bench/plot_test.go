package bench

import (
	"bytes"
	"image/color"
	"image/png"
	"reflect"
	"testing"
)

func TestTicks(t *testing.T) {
	tests := []struct {
		lo, hi   float64
		n        int
		want     []float64
		wantStep float64
	}{
		// 0..59 s in about 10 steps: raw step 5.9 → 10.
		{0, 59, 10, []float64{0, 10, 20, 30, 40, 50, 60}, 10},
		// 0..126 ms in about 6 steps: raw 21 → 50.
		{0, 126, 6, []float64{0, 50, 100, 150}, 50},
		// 0..0.9: raw 0.15 → 0.2.
		{0, 0.9, 6, []float64{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}, 0.2},
		// An empty range still gets an axis.
		{0, 0, 5, []float64{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}, 0.2},
	}
	for _, tc := range tests {
		got, step := ticks(tc.lo, tc.hi, tc.n)
		if !reflect.DeepEqual(got, tc.want) || step != tc.wantStep {
			t.Errorf("ticks(%v, %v, %d) = %v step %v, want %v step %v", tc.lo, tc.hi, tc.n, got, step, tc.want, tc.wantStep)
		}
	}
	if got := tickLabel(0.6000000000000001, 0.2); got != "0.6" {
		t.Errorf("tickLabel = %q", got)
	}
	if got := tickLabel(150, 50); got != "150" {
		t.Errorf("tickLabel = %q", got)
	}
}

// TestDrawPlotSmoke draws the plot of a small fake run and checks the PNG
// decodes, has one panel per model plus the latest-only panel, and shows
// both policies' colours.
func TestDrawPlotSmoke(t *testing.T) {
	pts := func(base, slope float64) []Second {
		var p []Second
		for i := range 20 {
			p = append(p, Second{T: float64(i) + 0.5, Frames: 15, P50: base + slope*float64(i)})
		}
		return p
	}
	rs := []ScenarioResult{
		{Name: "camera-direct", Model: "marker", Policy: PolicyLatest, Direct: true, Seconds: pts(40, 0)},
		{Name: "marker-latest", Model: "marker", Policy: PolicyLatest, Seconds: pts(110, 0)},
		{Name: "marker-buffered", Model: "marker", Policy: PolicyBuffered, Seconds: pts(120, 0)},
		{Name: "yolov8-latest", Model: "yolov8", Policy: PolicyLatest, Seconds: pts(190, 0)},
		{Name: "yolov8-buffered", Model: "yolov8", Policy: PolicyBuffered, Seconds: pts(400, 125)},
		{Name: "yolox-latest", Model: "yolox", Policy: PolicyLatest, Skipped: "no shared folder"},
	}
	panels := plotPanels(rs)
	var titles []string
	for _, p := range panels {
		titles = append(titles, p.Title)
	}
	wantTitles := []string{"built-in marker model: latest vs buffered", "yolov8n_int8 (~60 ms): latest vs buffered", "latest policy, every model"}
	if !reflect.DeepEqual(titles, wantTitles) {
		t.Fatalf("panels %q, want %q", titles, wantTitles)
	}
	if n := len(panels[0].Series); n != 3 {
		t.Fatalf("marker panel has %d lines, want 3 (direct, latest, buffered)", n)
	}

	var buf bytes.Buffer
	if err := drawPlot(&buf, panels); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != plotWidth || b.Dy() != 3*panelHeight {
		t.Fatalf("size %v, want %dx%d", b, plotWidth, 3*panelHeight)
	}
	count := map[color.RGBA]int{}
	for y := range img.Bounds().Dy() {
		for x := range img.Bounds().Dx() {
			r, g, b, a := img.At(x, y).RGBA()
			count[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}]++
		}
	}
	for name, c := range map[string]color.RGBA{"latest": colourLatest, "buffered": colourBuffered, "direct": colourDirect, "text": colourText} {
		if count[c] < 50 {
			t.Errorf("%s colour: %d pixels, want a line's worth", name, count[c])
		}
	}

	// No results still makes a valid image saying so.
	buf.Reset()
	if err := drawPlot(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&buf); err != nil {
		t.Fatal(err)
	}
}
