package bench

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine describes where the benchmark ran.
type Machine struct {
	CPUs        int     `json:"cpus"` // usable by this process, as nproc counts them
	CPUModel    string  `json:"cpu_model"`
	MemoryGiB   float64 `json:"memory_gib"`
	Kernel      string  `json:"kernel"`
	OS          string  `json:"os"`
	GoVersion   string  `json:"go_version"`
	GStreamer   string  `json:"gstreamer"`
	ONNXRuntime string  `json:"onnxruntime"` // from the agent's start-up line
	Date        string  `json:"date"`        // UTC, when the run started
	LoadStart   string  `json:"load_start"`  // /proc/loadavg's 1, 5 and 15 minute averages
	LoadEnd     string  `json:"load_end"`
}

// describeMachine reads what it can; an unreadable item stays empty.
func describeMachine(ctx context.Context, now time.Time) Machine {
	m := Machine{
		CPUs:      runtime.NumCPU(),
		GoVersion: runtime.Version(),
		Date:      now.UTC().Format("2006-01-02 15:04 MST"),
		LoadStart: loadAverage(),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(b)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := parseStatusKB(b, "MemTotal"); err == nil {
			m.MemoryGiB = round(float64(kb)/(1<<20), 1)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		m.OS = osRelease(b)
	}
	if out, err := exec.CommandContext(ctx, "gst-launch-1.0", "--version").Output(); err == nil {
		m.GStreamer = gstVersion(out)
	}
	return m
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// osRelease returns PRETTY_NAME of /etc/os-release.
func osRelease(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// gstVersion returns "1.22.0" from gst-launch-1.0 --version's "GStreamer 1.22.0" line.
func gstVersion(out []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "GStreamer "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadAverage returns the 1, 5 and 15 minute load averages, e.g. "0.52 1.10 1.57".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
