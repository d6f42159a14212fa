package bench

import (
	"reflect"
	"testing"
)

const sampleBenchOutput = `goos: linux
goarch: amd64
pkg: edge-agent/models
cpu: Intel(R) Xeon(R) CPU @ 2.20GHz
BenchmarkLetterbox1280x720To416-2   	     254	   4690123 ns/op	       0 B/op	       0 allocs/op
BenchmarkDecodeYOLOv8_8400-2        	     100	  10345678.5 ns/op	    2048 B/op	       3 allocs/op
--- SKIP: BenchmarkDetectYOLOX
    bench_test.go:150: ../shared/models/yolox_nano.onnx: missing
PASS
ok  	edge-agent/models	5.1s
pkg: edge-agent/bus
BenchmarkPublishEnqueue-2   	 5000000	        21.5 ns/op	       0 B/op	       0 allocs/op	         0.9 dropped/op
PASS
# edge-agent/internal/scene [edge-agent/internal/scene.test]
FAIL	edge-agent/internal/scene [build failed]
`

func TestParseBenchOutput(t *testing.T) {
	m := parseBenchOutput([]byte(sampleBenchOutput))
	want := []MicroBench{
		{Package: "edge-agent/models", Name: "Letterbox1280x720To416", Iterations: 254, NsPerOp: 4690123},
		{Package: "edge-agent/models", Name: "DecodeYOLOv8_8400", Iterations: 100, NsPerOp: 10345678.5, BytesPerOp: 2048, AllocsPerOp: 3},
		{Package: "edge-agent/bus", Name: "PublishEnqueue", Iterations: 5000000, NsPerOp: 21.5,
			Extra: []Metric{{Value: 0.9, Unit: "dropped/op"}}},
	}
	if !reflect.DeepEqual(m.Benchmarks, want) {
		t.Fatalf("benchmarks:\n got %+v\nwant %+v", m.Benchmarks, want)
	}
	if m.CPU != "Intel(R) Xeon(R) CPU @ 2.20GHz" {
		t.Errorf("cpu = %q", m.CPU)
	}
	wantProblems := []string{
		"--- SKIP: BenchmarkDetectYOLOX bench_test.go:150: ../shared/models/yolox_nano.onnx: missing",
		"# edge-agent/internal/scene [edge-agent/internal/scene.test]",
		"FAIL	edge-agent/internal/scene [build failed]",
	}
	if !reflect.DeepEqual(m.Problems, wantProblems) {
		t.Fatalf("problems:\n got %q\nwant %q", m.Problems, wantProblems)
	}
}

func TestParseBenchLineRejects(t *testing.T) {
	for _, line := range []string{
		"BenchmarkX-2",                 // no figures
		"BenchmarkX-2  10  5 B/op",     // no ns/op
		"BenchmarkX-2  10  5 ns/op  7", // odd number of fields
		"Benchmark results follow",     // prose
		"BenchmarkX-2  10  fast ns/op", // not a number
	} {
		if b, ok := parseBenchLine(line); ok {
			t.Errorf("parsed %q as %+v", line, b)
		}
	}
}
