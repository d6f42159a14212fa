package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// plotSeries is one line of a panel.
type plotSeries struct {
	Name   string
	Color  color.RGBA
	Dashed bool
	X, Y   []float64
}

// plotPanel is one chart: a title and its lines on shared axes.
type plotPanel struct {
	Title  string
	Series []plotSeries
}

// Colours of the lines.
var (
	colourLatest   = color.RGBA{0x1f, 0x77, 0xb4, 0xff} // blue
	colourBuffered = color.RGBA{0xd6, 0x27, 0x28, 0xff} // red
	colourDirect   = color.RGBA{0x7f, 0x7f, 0x7f, 0xff} // grey
	colourModel    = map[string]color.RGBA{
		"marker": {0x2c, 0xa0, 0x2c, 0xff}, "yolox": {0x94, 0x67, 0xbd, 0xff}, "yolov8": {0xff, 0x7f, 0x0e, 0xff},
	}
	colourText = color.RGBA{0x20, 0x20, 0x20, 0xff}
	colourGrid = color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	colourAxis = color.RGBA{0x60, 0x60, 0x60, 0xff}
)

// plotModels are the panels' models, in order, with their titles.
var plotModels = []struct{ model, title string }{
	{"marker", "built-in marker model"},
	{"yolox", "yolox_nano (~10 ms)"},
	{"yolov8", "yolov8n_int8 (~60 ms)"},
}

// plotPanels builds the plot from the results: one panel per model with both
// policies (and the camera-direct reference with the marker model), then one
// panel with the latest policy of every model on its own scale, which the
// buffered lines would otherwise flatten.
func plotPanels(rs []ScenarioResult) []plotPanel {
	series := func(s ScenarioResult, name string, c color.RGBA, dashed bool) plotSeries {
		ps := plotSeries{Name: name, Color: c, Dashed: dashed}
		for _, p := range s.Seconds {
			ps.X = append(ps.X, p.T)
			ps.Y = append(ps.Y, p.P50)
		}
		return ps
	}
	var panels []plotPanel
	latest := plotPanel{Title: "latest policy, every model"}
	for _, m := range plotModels {
		p := plotPanel{Title: m.title + ": latest vs buffered"}
		for _, s := range rs {
			if s.Model != m.model || !s.ok() {
				continue
			}
			switch {
			case s.Direct:
				p.Series = append(p.Series, series(s, "camera direct (reference)", colourDirect, true))
			case s.Policy == PolicyLatest:
				p.Series = append(p.Series, series(s, "latest", colourLatest, false))
				latest.Series = append(latest.Series, series(s, m.model+" latest", colourModel[m.model], false))
			default:
				p.Series = append(p.Series, series(s, "buffered", colourBuffered, false))
			}
		}
		if len(p.Series) > 0 {
			panels = append(panels, p)
		}
	}
	if len(latest.Series) > 0 {
		panels = append(panels, latest)
	}
	return panels
}

// Geometry of the plot, in pixels.
const (
	plotWidth   = 960
	panelHeight = 300
	marginLeft  = 64
	marginRight = 20
	marginTop   = 56
	marginBot   = 44
)

// drawPlot writes the panels, stacked, as a PNG: glass-to-glass latency (the
// median of each second, ms) against time since the start of the measured
// window (s), with ticks, grid and a legend.
func drawPlot(w io.Writer, panels []plotPanel) error {
	if len(panels) == 0 {
		panels = []plotPanel{{Title: "no scenario measured"}}
	}
	img := image.NewRGBA(image.Rect(0, 0, plotWidth, panelHeight*len(panels)))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for i, p := range panels {
		drawPanel(img, image.Rect(0, i*panelHeight, plotWidth, (i+1)*panelHeight), p)
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("encode png: %w", err)
	}
	return nil
}

func drawPanel(img *image.RGBA, r image.Rectangle, p plotPanel) {
	area := image.Rect(r.Min.X+marginLeft, r.Min.Y+marginTop, r.Max.X-marginRight, r.Max.Y-marginBot)
	text(img, r.Min.X+marginLeft, r.Min.Y+16, p.Title, colourText)
	text(img, r.Min.X+4, r.Min.Y+marginTop-8, "ms", colourText)

	var xmax, ymax float64
	for _, s := range p.Series {
		for i := range s.X {
			xmax = max(xmax, s.X[i])
			ymax = max(ymax, s.Y[i])
		}
	}
	if xmax <= 0 {
		xmax = 1
	}
	if ymax <= 0 {
		ymax = 1
	}
	xt, xstep := ticks(0, xmax, 10)
	yt, ystep := ticks(0, ymax*1.05, 6)
	xhi, yhi := xt[len(xt)-1], yt[len(yt)-1]
	px := func(x float64) int { return area.Min.X + int(math.Round(x/xhi*float64(area.Dx()))) }
	py := func(y float64) int { return area.Max.Y - int(math.Round(y/yhi*float64(area.Dy()))) }

	for _, v := range yt {
		y := py(v)
		hline(img, area.Min.X, area.Max.X, y, colourGrid)
		hline(img, area.Min.X-4, area.Min.X, y, colourAxis)
		label := tickLabel(v, ystep)
		text(img, area.Min.X-8-7*len(label), y+4, label, colourText)
	}
	for _, v := range xt {
		x := px(v)
		vline(img, x, area.Min.Y, area.Max.Y, colourGrid)
		vline(img, x, area.Max.Y, area.Max.Y+4, colourAxis)
		label := tickLabel(v, xstep)
		text(img, x-7*len(label)/2, area.Max.Y+18, label, colourText)
	}
	hline(img, area.Min.X, area.Max.X, area.Max.Y, colourAxis)
	vline(img, area.Min.X, area.Min.Y, area.Max.Y, colourAxis)
	xlabel := "time since the start of the measurement, s"
	text(img, area.Min.X+(area.Dx()-7*len(xlabel))/2, area.Max.Y+36, xlabel, colourText)

	if len(p.Series) == 0 {
		text(img, area.Min.X+20, area.Min.Y+20, "no data", colourText)
		return
	}
	for _, s := range p.Series {
		dash := 0.0
		for i := 1; i < len(s.X); i++ {
			line(img, px(s.X[i-1]), py(s.Y[i-1]), px(s.X[i]), py(s.Y[i]), s.Color, s.Dashed, &dash)
		}
		if len(s.X) == 1 {
			fill(img, image.Rect(px(s.X[0])-2, py(s.Y[0])-2, px(s.X[0])+3, py(s.Y[0])+3), s.Color)
		}
	}
	// Legend: one row under the title, clear of the data.
	x, y := area.Min.X, r.Min.Y+34
	for _, s := range p.Series {
		dash := 0.0
		line(img, x, y-4, x+24, y-4, s.Color, s.Dashed, &dash)
		text(img, x+30, y, s.Name, colourText)
		x += 30 + 7*len(s.Name) + 24
	}
}

// ticks returns round tick values from lo to at least hi (about n of them,
// steps of 1, 2 or 5 times a power of ten) and the step.
func ticks(lo, hi float64, n int) ([]float64, float64) {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for i := 0; ; i++ {
		v := math.Floor(lo/step)*step + float64(i)*step
		out = append(out, v)
		if v >= hi-step*1e-9 {
			break
		}
	}
	return out, step
}

// tickLabel prints v with as many decimals as the step needs.
func tickLabel(v, step float64) string {
	decimals := 0
	if step < 1 {
		decimals = int(math.Ceil(-math.Log10(step)))
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) { fill(img, image.Rect(x0, y, x1+1, y+1), c) }
func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) { fill(img, image.Rect(x, y0, x+1, y1+1), c) }

// line draws a 2-pixel line from (x0,y0) to (x1,y1) (Bresenham). Dashed lines
// alternate 6 pixels on and 4 off; *dash carries the pattern's phase from one
// segment to the next.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, dashed bool, dash *float64) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		if !dashed || math.Mod(*dash, 10) < 6 {
			img.SetRGBA(x0, y0, c)
			img.SetRGBA(x0+1, y0, c)
			img.SetRGBA(x0, y0+1, c)
			img.SetRGBA(x0+1, y0+1, c)
		}
		*dash++
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
