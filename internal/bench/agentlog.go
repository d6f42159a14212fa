package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// agentLog is what the harness reads from the agent's JSON log
// (EDGE_LOG_FORMAT=json): the start-up line and the periodic "frames"
// summaries, whose fps_in counts every frame that left the decoder (the
// events cannot show frames still queued under the buffered policy).
type agentLog struct {
	Version    string // the agent's version
	ORTVersion string // ONNX Runtime, from "onnxruntime=" of the start-up line
	Model      string
	Input      string // the model's input size, e.g. "640x640"
	Policy     string
	frames     []framesLine
	issues     []issueLine // WARN and ERROR lines
}

type issueLine struct {
	at   time.Time
	text string
}

type framesLine struct {
	at    time.Time
	fpsIn float64
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
			FPSIn      *float64  `json:"fps_in"`
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
		case rec.Msg == "frames" && rec.FPSIn != nil:
			l.frames = append(l.frames, framesLine{at: rec.Time, fpsIn: *rec.FPSIn})
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

// fpsIn is the rate of decoded frames over [from, to]: the mean of the
// "frames" summaries logged in the window, each weighted by the time since
// the summary before it. False when no summary fell in the window.
func (l agentLog) fpsIn(from, to time.Time) (float64, bool) {
	var frames, secs float64
	for i, f := range l.frames {
		if f.at.Before(from) || f.at.After(to) || i == 0 {
			continue
		}
		span := f.at.Sub(l.frames[i-1].at).Seconds()
		frames += f.fpsIn * span
		secs += span
	}
	if secs == 0 {
		return 0, false
	}
	return frames / secs, true
}

// String is a one-line description for debugging.
func (l agentLog) String() string {
	return fmt.Sprintf("agent %s, onnxruntime %s, model %s (%s), policy %s, %d summaries, %d warnings",
		l.Version, l.ORTVersion, l.Model, l.Input, l.Policy, len(l.frames), len(l.issues))
}
