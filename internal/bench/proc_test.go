package bench

import (
	"os"
	"testing"
	"time"
)

func TestParseStatTicks(t *testing.T) {
	tests := []struct {
		name string
		line string
		want uint64
		err  bool
	}{
		// Fields 14 and 15 (utime 150, stime 25): 175 ticks.
		{"plain", "4242 (edge-agent) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 25 0 0 20 0 9 0 123 456 789", 175, false},
		// A command name with spaces and a ')' must not shift the fields.
		{"odd name", "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 2 3", 7, false},
		{"no name", "7 a R 1", 0, true},
		{"short", "7 (a) R 1 2 3", 0, true},
		{"not a number", "7 (a) R 1 7 7 0 -1 0 0 0 0 0 x 4 0", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatTicks([]byte(tc.line))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("ticks = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestProcCPUSelf reads the test's own process: it burns some CPU and checks
// the reading went up by a plausible amount.
func TestProcCPUSelf(t *testing.T) {
	pid := os.Getpid()
	before, err := ProcCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(150 * time.Millisecond)
	x := 1.0
	for time.Now().Before(deadline) {
		x = x*1.0000001 + 1e-9
	}
	after, err := ProcCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	// 150 ms of spinning is 15 ticks of 10 ms; allow for a busy machine taking
	// the core away, but it must have counted something.
	if used := after - before; used < 20*time.Millisecond || used > 10*time.Second {
		t.Fatalf("spinning 150 ms used %v of CPU (x=%v)", used, x)
	}
}

func TestPeakRSSSelf(t *testing.T) {
	rss, err := PeakRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A Go test binary peaks somewhere between a megabyte and a gigabyte.
	if rss < 1<<20 || rss > 1<<30 {
		t.Fatalf("VmHWM = %d bytes, implausible", rss)
	}
	if _, err := PeakRSS(-1); err == nil {
		t.Fatal("PeakRSS(-1) succeeded")
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tedge-agent\nVmPeak:\t  900 kB\nVmHWM:\t  123456 kB\nVmRSS:\t 100 kB\n"
	got, err := parseStatusKB([]byte(status), "VmHWM")
	if err != nil || got != 123456 {
		t.Fatalf("VmHWM = %d, %v; want 123456", got, err)
	}
	if _, err := parseStatusKB([]byte(status), "VmSwap"); err == nil {
		t.Fatal("a missing key parsed")
	}
}

func TestParseProcStat(t *testing.T) {
	// user 100 nice 0 system 50 idle 800 iowait 50 irq 0 softirq 0 steal 0:
	// total 1000 ticks = 10 s, busy 150 ticks = 1.5 s.
	got, err := parseProcStat([]byte("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Busy != 1500*time.Millisecond || got.Total != 10*time.Second {
		t.Fatalf("got %+v, want busy 1.5s total 10s", got)
	}
	if _, err := parseProcStat([]byte("intr 1 2 3\n")); err == nil {
		t.Fatal("a file without the cpu line parsed")
	}
	if _, err := readBoxCPU(); err != nil {
		t.Fatalf("this machine's /proc/stat: %v", err)
	}
}

func TestCPUPercent(t *testing.T) {
	// 1.5 s of CPU over 2 s of wall time is 75% of one core; two busy cores 200%.
	if got := cpuPercent(1500*time.Millisecond, 2*time.Second); got != 75 {
		t.Fatalf("got %v, want 75", got)
	}
	if got := cpuPercent(4*time.Second, 2*time.Second); got != 200 {
		t.Fatalf("got %v, want 200", got)
	}
	if got := cpuPercent(time.Second, 0); got != 0 {
		t.Fatalf("zero wall: got %v", got)
	}
}
