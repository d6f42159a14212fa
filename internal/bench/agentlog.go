package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// agentLog is what the harness reads from the agent's JSON log
// (EDGE_LOG_FORMAT=json): the start-up line, the per-camera "camera" lines
// and the periodic "frames" summaries of each camera, whose fps_in counts
// every frame that left the decoder (the events cannot show frames still
// queued under the buffered policy).
type agentLog struct {
	Version    string // the agent's version
	ORTVersion string // ONNX Runtime, from "onnxruntime=" of the start-up line
	Model      string
	Input      string // the model's input size, e.g. "640x640" (the first camera's)
	Policy     string
	frames     []framesLine
	issues     []issueLine // WARN and ERROR lines
}

type issueLine struct {
	at   time.Time
	text string
}

// framesLine is one "frames" summary: the rates over the interval since the
// camera's previous summary and the frames dropped in it.
type framesLine struct {
	at           time.Time
	camera       string // the logger's camera attribute; "" from an agent that did not log it
	fpsIn        float64
	fpsProcessed float64
	dropped      float64
}

// maxIssues bounds the warnings quoted in the document.
const maxIssues = 3

// parseAgentLog reads the agent's output; lines that are not JSON (a crash
// trace, GStreamer's own messages) are skipped.
func parseAgentLog(b []byte) agentLog {
	var l agentLog
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var rec struct {
			Time       time.Time `json:"time"`
			Level      string    `json:"level"`
			Msg        string    `json:"msg"`
			Version    string    `json:"version"`
			ORT        string    `json:"onnxruntime"`
			Model      string    `json:"model"`
			Input      string    `json:"input"`
			Policy     string    `json:"ingest_policy"`
			Camera     string    `json:"camera"`
			FPSIn      *float64  `json:"fps_in"`
			FPSProc    float64   `json:"fps_processed"`
			Dropped    float64   `json:"dropped"`
			Err        string    `json:"err"`
			Element    string    `json:"element"`
			WarningMsg string    `json:"warning"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		switch {
		case rec.Msg == "edge-agent starting":
			l.Version, l.ORTVersion, l.Model, l.Input, l.Policy = rec.Version, rec.ORT, rec.Model, rec.Input, rec.Policy
		case rec.Msg == "camera" && l.Input == "":
			// A multi-camera agent names the model and its input per camera.
			l.Model, l.Input = rec.Model, rec.Input
		case rec.Msg == "frames" && rec.FPSIn != nil:
			l.frames = append(l.frames, framesLine{at: rec.Time, camera: rec.Camera,
				fpsIn: *rec.FPSIn, fpsProcessed: rec.FPSProc, dropped: rec.Dropped})
		}
		if rec.Level == "WARN" || rec.Level == "ERROR" {
			issue := rec.Level + " " + rec.Msg
			for _, detail := range []string{rec.Element, rec.WarningMsg, rec.Err} {
				if detail != "" {
					issue += ": " + detail
				}
			}
			l.issues = append(l.issues, issueLine{at: rec.Time, text: issue})
		}
	}
	return l
}

// issuesIn returns how many warnings and errors were logged in [from, to]
// and the first few of them. Those before the window (the agent connecting
// before the camera publishes, say) are not the measurement's business.
func (l agentLog) issuesIn(from, to time.Time) (int, []string) {
	n := 0
	var first []string
	for _, i := range l.issues {
		if i.at.Before(from) || i.at.After(to) {
			continue
		}
		n++
		if len(first) < maxIssues {
			first = append(first, i.text)
		}
	}
	return n, first
}

// fpsIn is the rate of decoded frames over [from, to] of an agent that runs
// one camera; false when no summary fell in the window.
func (l agentLog) fpsIn(from, to time.Time) (float64, bool) {
	for _, r := range l.rates(from, to) {
		return r.FPSIn, true
	}
	return 0, false
}

// CameraRates is one camera's frame rates over a window, from the agent's
// "frames" summaries.
type CameraRates struct {
	Camera       string  `json:"camera"`
	FPSIn        float64 `json:"fps_in"`        // frames decoded per second
	FPSProcessed float64 `json:"fps_processed"` // frames through the model per second
	Dropped      float64 `json:"dropped"`       // frames replaced by newer ones before processing
	Summaries    int     `json:"summaries"`     // summaries that fell in the window
}

// rates are the frame rates of each camera over [from, to], in camera-name
// order: each rate is the mean of the camera's summaries logged in the window,
// each weighted by the time since that camera's summary before it, and
// Dropped is the sum of their counts. A camera's first summary has nothing to
// span from and counts only as the start of the next one's span; a camera
// with no summary in the window after its first is left out.
func (l agentLog) rates(from, to time.Time) []CameraRates {
	type acc struct {
		prev           time.Time
		in, proc, secs float64
		dropped        float64
		n              int
	}
	by := map[string]*acc{}
	var order []string
	for _, f := range l.frames {
		a := by[f.camera]
		if a == nil {
			a = &acc{}
			by[f.camera] = a
			order = append(order, f.camera)
		}
		prev := a.prev
		a.prev = f.at
		if prev.IsZero() || f.at.Before(from) || f.at.After(to) {
			continue
		}
		span := f.at.Sub(prev).Seconds()
		a.in += f.fpsIn * span
		a.proc += f.fpsProcessed * span
		a.secs += span
		a.dropped += f.dropped
		a.n++
	}
	slices.Sort(order)
	var out []CameraRates
	for _, name := range order {
		a := by[name]
		if a.secs == 0 {
			continue
		}
		out = append(out, CameraRates{Camera: name, FPSIn: a.in / a.secs, FPSProcessed: a.proc / a.secs,
			Dropped: a.dropped, Summaries: a.n})
	}
	return out
}

// String is a one-line description for debugging.
func (l agentLog) String() string {
	return fmt.Sprintf("agent %s, onnxruntime %s, model %s (%s), policy %s, %d summaries, %d warnings",
		l.Version, l.ORTVersion, l.Model, l.Input, l.Policy, len(l.frames), len(l.issues))
}
