package bench

import (
	"testing"
	"time"
)

func TestMachineParsers(t *testing.T) {
	cpuinfo := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: other\n"
	if got := cpuModel([]byte(cpuinfo)); got != "Intel(R) Xeon(R) CPU @ 2.20GHz" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := osRelease([]byte("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")); got != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("osRelease = %q", got)
	}
	if got := gstVersion([]byte("gst-launch-1.0 version 1.22.0\nGStreamer 1.22.0\nhttps://tracker.debian.org/pkg/gstreamer1.0\n")); got != "1.22.0" {
		t.Errorf("gstVersion = %q", got)
	}
}

func TestDescribeMachine(t *testing.T) {
	m := describeMachine(t.Context(), time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC))
	if m.CPUs < 1 || m.Kernel == "" || m.GoVersion == "" || m.MemoryGiB <= 0 || m.LoadStart == "" {
		t.Fatalf("incomplete: %+v", m)
	}
	if m.Date != "2026-03-01 12:30 UTC" {
		t.Fatalf("date = %q", m.Date)
	}
}
