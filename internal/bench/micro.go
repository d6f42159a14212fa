package bench

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// microPackages are the packages whose benchmarks cover the hot path:
// pre-processing, decoding and NMS, drawing, batched against sequential
// inference (models), event hand-off (bus), the time-code strip and the
// synthetic scene (the camera simulator's cost).
var microPackages = []string{"./models/", "./bus/", "./internal/timecode/", "./internal/scene/"}

// batchMicroPackages hold the batched-inference benchmarks the multi-camera
// section runs alone (see batchMicroPattern).
var batchMicroPackages = []string{"./models/"}

// Micro is the outcome of the Go micro-benchmarks.
type Micro struct {
	Command    string       `json:"command"`
	CPU        string       `json:"cpu"` // as go test reports it
	Benchmarks []MicroBench `json:"benchmarks"`
	// Problems are skipped benchmarks and failed packages, as go test said them.
	Problems []string `json:"problems,omitempty"`
}

// MicroBench is one benchmark line.
type MicroBench struct {
	Package     string   `json:"package"`
	Name        string   `json:"name"` // without "Benchmark" and the -GOMAXPROCS suffix
	Iterations  int64    `json:"iterations"`
	NsPerOp     float64  `json:"ns_per_op"`
	BytesPerOp  float64  `json:"bytes_per_op"`
	AllocsPerOp float64  `json:"allocs_per_op"`
	Extra       []Metric `json:"extra,omitempty"` // custom metrics (b.ReportMetric)
}

// Metric is a value with its unit, e.g. 0.5 "dropped/op".
type Metric struct {
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// runMicro runs the micro-benchmarks matching pattern (go test -bench) in
// pkgs of repo. A package that fails to build or a benchmark that fails is
// recorded, not fatal: the rest still count.
func runMicro(ctx context.Context, repo, benchtime, pattern string, pkgs []string) Micro {
	args := []string{"test", "-run", "^$", "-bench", pattern, "-benchmem", "-count", "1", "-benchtime", benchtime}
	args = append(args, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	m := parseBenchOutput(out)
	m.Command = "go " + strings.Join(args, " ")
	if err != nil && len(m.Problems) == 0 {
		m.Problems = append(m.Problems, "go test: "+err.Error())
	}
	return m
}

// benchLine matches "BenchmarkName-2   123   456.7 ns/op   0 B/op   0 allocs/op   1.5 x/op".
var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// parseBenchOutput reads go test -bench output: "pkg:" lines say which
// package the benchmarks that follow belong to.
func parseBenchOutput(out []byte) Micro {
	var m Micro
	pkg := ""
	inProblem := false // the lines after a skip or failure that say why
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if inProblem && strings.HasPrefix(line, "    ") {
			m.Problems[len(m.Problems)-1] += " " + strings.TrimSpace(line)
			continue
		}
		inProblem = false
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
		case strings.HasPrefix(line, "cpu: "):
			m.CPU = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
		case strings.HasPrefix(line, "--- SKIP: "), strings.HasPrefix(line, "--- FAIL: "),
			strings.HasPrefix(line, "FAIL\t"), strings.HasPrefix(line, "# "):
			m.Problems = append(m.Problems, strings.TrimSpace(line))
			inProblem = true
		default:
			if b, ok := parseBenchLine(line); ok {
				b.Package = pkg
				m.Benchmarks = append(m.Benchmarks, b)
			}
		}
	}
	return m
}

func parseBenchLine(line string) (MicroBench, bool) {
	sm := benchLine.FindStringSubmatch(line)
	if sm == nil {
		return MicroBench{}, false
	}
	n, err := strconv.ParseInt(sm[2], 10, 64)
	if err != nil {
		return MicroBench{}, false
	}
	b := MicroBench{Name: sm[1], Iterations: n}
	f := strings.Fields(sm[3])
	if len(f)%2 != 0 {
		return MicroBench{}, false
	}
	seenNs := false
	for i := 0; i < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return MicroBench{}, false
		}
		switch unit := f[i+1]; unit {
		case "ns/op":
			b.NsPerOp, seenNs = v, true
		case "B/op":
			b.BytesPerOp = v
		case "allocs/op":
			b.AllocsPerOp = v
		default:
			b.Extra = append(b.Extra, Metric{Value: v, Unit: unit})
		}
	}
	return b, seenNs
}
