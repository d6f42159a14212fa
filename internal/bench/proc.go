package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the tick counts in /proc/<pid>/stat and /proc/stat.
// It is part of the kernel's user-space ABI (USER_HZ), 100 on every Linux
// architecture the project targets whatever the kernel's CONFIG_HZ is; Go
// has no sysconf(_SC_CLK_TCK) without cgo.
const userHZ = 100

// ProcCPU returns the CPU time, user plus system, that process pid and all its
// threads have used so far (utime + stime of /proc/<pid>/stat).
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	ticks, err := parseStatTicks(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return ticksToDuration(ticks), nil
}

func ticksToDuration(ticks uint64) time.Duration {
	return time.Duration(ticks) * (time.Second / userHZ)
}

// parseStatTicks returns utime + stime (fields 14 and 15) of a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and may
// itself hold spaces and parentheses, so fields are counted from the last ')'.
func parseStatTicks(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name in %q", b)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state), so field n is fields[n-3].
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("%d fields after the command name, want more than %d", len(fields), stime)
	}
	u, err := strconv.ParseUint(fields[utime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	s, err := strconv.ParseUint(fields[stime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return u + s, nil
}

// PeakRSS returns the peak resident set size of process pid in bytes
// (VmHWM of /proc/<pid>/status).
func PeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	v, err := parseStatusKB(b, "VmHWM")
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return v * 1024, nil
}

// parseStatusKB returns the value of a "Key:   123 kB" line of
// /proc/<pid>/status or /proc/meminfo, in kB.
func parseStatusKB(b []byte, key string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != key {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: unexpected value %q", key, rest)
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no %s line", key)
}

// boxCPU is the whole machine's CPU time from the first line of /proc/stat.
type boxCPU struct {
	Busy, Total time.Duration // Busy excludes idle and iowait
}

// readBoxCPU reads /proc/stat.
func readBoxCPU() (boxCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return boxCPU{}, err
	}
	return parseProcStat(b)
}

// parseProcStat reads the aggregate "cpu  user nice system idle iowait irq
// softirq steal guest guest_nice" line. Guest time is already counted in user
// and nice, so it is not added again.
func parseProcStat(b []byte) (boxCPU, error) {
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return boxCPU{}, fmt.Errorf("/proc/stat: first line %q is not the cpu total", line)
	}
	var v [8]uint64
	for i := 0; i < len(v) && i+1 < len(f); i++ {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return boxCPU{}, fmt.Errorf("/proc/stat: field %d: %w", i+1, err)
		}
		v[i] = n
	}
	var total uint64
	for _, n := range v {
		total += n
	}
	idle := v[3] + v[4]
	return boxCPU{Busy: ticksToDuration(total - idle), Total: ticksToDuration(total)}, nil
}

// cpuPercent is the CPU time used over wall as a percentage of one core.
func cpuPercent(used, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return round(100*used.Seconds()/wall.Seconds(), 1)
}

// ProcMem returns the memory of process pid: its peak and current resident
// set (VmHWM, VmRSS of /proc/<pid>/status) and its proportional set size
// (Pss of /proc/<pid>/smaps_rollup), where each shared page, the ONNX
// Runtime and GStreamer libraries' say, counts 1/n in each of the n
// processes mapping it: RSS counts it whole in each.
func ProcMem(pid int) (procMem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	var m procMem
	for _, f := range []struct {
		key string
		dst *int64
	}{{"VmHWM", &m.PeakRSS}, {"VmRSS", &m.RSS}} {
		kb, err := parseStatusKB(b, f.key)
		if err != nil {
			return procMem{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
		}
		*f.dst = kb * 1024
	}
	if b, err = os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err != nil {
		return procMem{}, err
	}
	kb, err := parseStatusKB(b, "Pss")
	if err != nil {
		return procMem{}, fmt.Errorf("/proc/%d/smaps_rollup: %w", pid, err)
	}
	m.PSS = kb * 1024
	return m, nil
}
