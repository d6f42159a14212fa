package bench

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The multi-camera section measures what running many cameras in one agent
// saves against running one agent per camera: N cameras publishing the
// pedestrians footage, read either by one agent with a config file of N
// cameras (one ONNX Runtime session, the cameras taking turns) or by N agents
// of one camera each. Only the first camera, the one the probe reads, has an
// annotated output.

// The multi-camera section's fixed parts.
const (
	// multicamModel and multicamFootage are relative to the shared folder.
	multicamModel   = "models/yolox_nano.onnx"
	multicamFootage = vtest
	// DefaultMulticamORTThreads is EDGE_ORT_THREADS in every agent of the
	// section: on a 2-core machine several agents with 2 threads each would
	// only fight over the cores.
	DefaultMulticamORTThreads = 1
)

// DefaultMulticamCameras are the camera counts compared.
var DefaultMulticamCameras = []int{1, 2, 4}

// How the cameras of a multi-camera run are simulated.
const (
	// SourcesRelay runs one camera simulator publishing cam1; MediaMTX relays
	// that stream to cam2..camN. The real cameras encode on their own
	// hardware, not on the edge box: N software encoders (about a quarter of
	// a core each at 720p) would take from the agents a machine's worth of
	// CPU no deployment spends there. Every camera then carries the same
	// frames at the same moments, the worst case for cameras taking turns on
	// one model session.
	SourcesRelay = "relay"
	// SourcesCamsim runs one camera simulator per camera.
	SourcesCamsim = "camsim"
)

// MulticamRun is one configuration of the multi-camera section.
type MulticamRun struct {
	Cameras  int
	Separate bool // one agent per camera instead of one agent for all
}

// Name names the run in logs and the document.
func (m MulticamRun) Name() string {
	if m.Separate {
		return fmt.Sprintf("%s, %d agent%s (environment)", cameras(m.Cameras), m.Cameras, plural1(m.Cameras))
	}
	return cameras(m.Cameras) + ", one agent (config file)"
}

// Agents is how many agent processes the run starts.
func (m MulticamRun) Agents() int {
	if m.Separate {
		return m.Cameras
	}
	return 1
}

// MulticamCatalog is the runs for the camera counts given, in that order:
// for each count, one agent then separate agents, back to back so that drift
// in the machine's load affects the pair alike. One camera in one agent with
// a config file and one agent configured by the environment are both run:
// they should agree, and if they do not, that is worth seeing.
func MulticamCatalog(counts []int) []MulticamRun {
	var out []MulticamRun
	for _, n := range counts {
		out = append(out, MulticamRun{Cameras: n}, MulticamRun{Cameras: n, Separate: true})
	}
	return out
}

// ParseCameraCounts reads a comma-separated list of camera counts ("1,2,4");
// "" and "none" give none.
func ParseCameraCounts(list string) ([]int, error) {
	list = strings.TrimSpace(list)
	if list == "" || list == "none" {
		return nil, nil
	}
	var out []int
	for f := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > maxCameras {
			return nil, fmt.Errorf("%q is not a camera count from 1 to %d", strings.TrimSpace(f), maxCameras)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("%d is listed twice", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// maxCameras bounds a run so that its processes fit in one group (MediaMTX,
// a simulator and an agent per camera, the probe).
const maxCameras = (maxChildren - 2) / 2

// cameraName is the k-th camera's name (from 1) and its MediaMTX path.
func cameraName(k int) string { return "cam" + strconv.Itoa(k) }

// relayPaths is the MediaMTX paths (entries of paths:) that republish
// cam1's stream as cam2..camN, read over TCP from the same server. Each
// relay starts when its agent connects (the agent is held until it is
// ready), by which time the simulator publishes cam1: an always-on relay
// started with MediaMTX would fail first and retry only after a pause.
func relayPaths(rtspPort, cameras int) string {
	var b strings.Builder
	for k := 2; k <= cameras; k++ {
		fmt.Fprintf(&b, "  %s:\n    source: rtsp://127.0.0.1:%d/%s\n    sourceOnDemand: yes\n    rtspTransport: tcp\n",
			cameraName(k), rtspPort, benchCamera)
	}
	return b.String()
}

// multicamConfigFile is the one agent's EDGE_CONFIG_FILE: the model and no
// annotated output for every camera, then the cameras, the first with the
// output the probe reads. Strings are written as JSON strings, which YAML
// reads as double-quoted scalars.
func multicamConfigFile(model string, urls []string, outURL string) string {
	q := func(s string) string {
		b, _ := json.Marshal(s)
		return string(b)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  model: %s\n  ingest_policy: latest\n  output_url: none\ncameras:\n", q(model))
	for i, u := range urls {
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n", cameraName(i+1), q(u))
		if i == 0 {
			fmt.Fprintf(&b, "    output_url: %s\n", q(outURL))
		}
	}
	return b.String()
}

// processingCamera is the camera of an agent's "frames" log line that says
// the camera is processing frames (fps_processed above 0); false for any
// other line.
func processingCamera(line string) (string, bool) {
	var rec struct {
		Msg          string  `json:"msg"`
		Camera       string  `json:"camera"`
		FPSProcessed float64 `json:"fps_processed"`
	}
	if !strings.Contains(line, `"frames"`) || json.Unmarshal([]byte(line), &rec) != nil {
		return "", false
	}
	return rec.Camera, rec.Msg == "frames" && rec.FPSProcessed > 0
}

// MulticamResults is what the multi-camera section measured. It carries its
// own command and date: `--only multicam` reruns it alone and keeps the rest
// of the document.
type MulticamResults struct {
	Command    string   `json:"command"`
	Date       string   `json:"date"`
	LoadStart  string   `json:"load_start"`
	LoadEnd    string   `json:"load_end"`
	DurationS  float64  `json:"duration_s"`
	WarmupS    float64  `json:"warmup_s"`
	ORTThreads int      `json:"ort_threads"`
	Model      string   `json:"model"`
	Sources    string   `json:"sources"` // SourcesRelay or SourcesCamsim
	AgentEnv   []string `json:"agent_env"`
	// ONNXRuntime is the version the agents reported.
	ONNXRuntime string `json:"onnxruntime,omitempty"`

	Runs []MulticamResult `json:"runs"`
	// Batch is the batched-inference micro-benchmarks' comparison; nil when
	// they did not run or did not both report, BatchProblems then says why.
	Batch         *BatchCompare `json:"batch,omitempty"`
	BatchProblems []string      `json:"batch_problems,omitempty"`
}

// MulticamResult is one multi-camera run.
type MulticamResult struct {
	Name     string  `json:"name"`
	Cameras  int     `json:"cameras"`
	Agents   int     `json:"agents"`
	Separate bool    `json:"separate"`
	Skipped  string  `json:"skipped,omitempty"`
	Error    string  `json:"error,omitempty"`
	WindowS  float64 `json:"window_s"`
	LoadAvg  string  `json:"load_avg"`

	// PerCamera is each camera's rates over the window, from the agents'
	// "frames" summaries, in camera order.
	PerCamera []CameraRates `json:"per_camera"`
	// GlassToGlass and Events are the probed camera's (cam1).
	GlassToGlass GlassToGlass `json:"glass_to_glass"`
	Events       Events       `json:"events"`

	// Agent is the agent processes together; PerAgent each of them.
	Agent    ProcUse   `json:"agent"`
	PerAgent []ProcUse `json:"per_agent"`
	Camsim   ProcUse   `json:"camsim"` // the camera simulators together (CPU only)
	MediaMTX float64   `json:"mediamtx_cpu_percent"`
	Probe    float64   `json:"probe_cpu_percent"`
	Box      float64   `json:"box_cpu_percent"`
	Others   float64   `json:"others_cpu_percent"`

	AgentWarnings int      `json:"agent_warnings"`
	AgentIssues   []string `json:"agent_issues,omitempty"`
}

func (m *MulticamResult) ok() bool { return m.Skipped == "" && m.Error == "" }

// minFPSProcessed is the slowest camera's processed rate; 0 when a camera
// reported nothing.
func (m *MulticamResult) minFPSProcessed() float64 {
	if len(m.PerCamera) < m.Cameras {
		return 0
	}
	lo := m.PerCamera[0].FPSProcessed
	for _, c := range m.PerCamera[1:] {
		lo = min(lo, c.FPSProcessed)
	}
	return lo
}

// ProcUse is the use of one process or of several together over a window:
// CPU as % of one core, memory at the window's end in MiB.
type ProcUse struct {
	Name      string  `json:"name,omitempty"`
	Processes int     `json:"processes"`
	CPU       float64 `json:"cpu_percent"`
	PeakRSS   float64 `json:"peak_rss_mib,omitempty"` // sum of each process's VmHWM
	RSS       float64 `json:"rss_mib,omitempty"`
	PSS       float64 `json:"pss_mib,omitempty"`
}

// sumUse adds up the processes named over the window between two samples:
// the CPU each used between them, and the memory of the last sample (of
// those it holds). Summing peaks is an upper bound of the peak of the sum:
// the processes need not peak together.
func sumUse(first, last sample, names []string) ProcUse {
	u := ProcUse{Processes: len(names)}
	var cpu time.Duration
	var peak, rss, pss int64
	for _, n := range names {
		cpu += last.cpu[n] - first.cpu[n]
		m := last.mem[n]
		peak, rss, pss = peak+m.PeakRSS, rss+m.RSS, pss+m.PSS
	}
	u.CPU = cpuPercent(cpu, last.at.Sub(first.at))
	u.PeakRSS, u.RSS, u.PSS = mib(peak), mib(rss), mib(pss)
	return u
}

// BatchCompare is the batched-inference micro-benchmarks of models: four
// frames through the dynamic-batch marker model as four Detect calls or one
// DetectBatch of four.
type BatchCompare struct {
	Command      string  `json:"command"`
	SequentialNs float64 `json:"sequential_ns_per_4"`
	BatchNs      float64 `json:"batch_ns_per_4"`
	// Speedup is SequentialNs / BatchNs: above 1 batching is faster.
	Speedup float64 `json:"speedup"`
	// The iterations each ran: with a short -benchtime a slow op runs once,
	// and its time is mostly the model's first runs at that batch size.
	SequentialN int64 `json:"sequential_iterations,omitempty"`
	BatchN      int64 `json:"batch_iterations,omitempty"`
}

// The micro-benchmarks BatchCompare reads.
const (
	benchSequential4 = "DetectSequential4"
	benchBatch4      = "DetectBatch4"
)

// batchMicroPattern is the go test -bench pattern of the two alone.
const batchMicroPattern = "^Benchmark(" + benchSequential4 + "|" + benchBatch4 + ")$"

// batchCompare finds the two benchmarks in a micro-benchmark run; nil when
// either is missing (not written yet, skipped, or failed).
func batchCompare(m Micro) *BatchCompare {
	var seq, bat MicroBench
	for _, b := range m.Benchmarks {
		if b.Package != "edge-agent/models" {
			continue
		}
		switch b.Name {
		case benchSequential4:
			seq = b
		case benchBatch4:
			bat = b
		}
	}
	if seq.NsPerOp == 0 || bat.NsPerOp == 0 {
		return nil
	}
	return &BatchCompare{Command: m.Command, SequentialNs: seq.NsPerOp, BatchNs: bat.NsPerOp,
		Speedup: round(seq.NsPerOp/bat.NsPerOp, 2), SequentialN: seq.Iterations, BatchN: bat.Iterations}
}

// merge keeps what this run did not measure from the results of an earlier
// run (the raw file), so that one section can be rerun alone: the latency
// scenarios with their command, machine, settings and micro-benchmarks, the
// multi-camera section, or the CPU section (kept whenever this run has none:
// it carries its own command and machine). Without earlier scenarios, the
// machine and command stay this run's.
func merge(prev, cur Results, ranLatency, ranMulticam bool) Results {
	out := cur
	if !ranLatency && len(prev.Scenarios) > 0 {
		out.Command, out.Machine, out.Settings, out.Scenarios, out.Micro = prev.Command, prev.Machine, prev.Settings, prev.Scenarios, prev.Micro
	}
	if !ranMulticam {
		out.Multicam = prev.Multicam
	}
	if cur.CPUPerCamera == nil {
		out.CPUPerCamera = prev.CPUPerCamera
	}
	return out
}

// cameras is "1 camera", "4 cameras".
func cameras(n int) string { return fmt.Sprintf("%d camera%s", n, plural1(n)) }

func plural1(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
