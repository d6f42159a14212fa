package freeport

import (
	"net"
	"strconv"
	"testing"
)

// The ports are bindable, of the right parity, and below the ephemeral range
// outgoing connections take their source ports from.
func TestPortsAreFreeAndBelowEphemeralRange(t *testing.T) {
	var ports Ports
	eph := ephemeralStart()
	if eph == 0 {
		t.Skip("no /proc/sys/net/ipv4/ip_local_port_range here")
	}
	tp, err := ports.TCP()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(tp)))
	if err != nil {
		t.Fatalf("port %d from TCP is not free: %v", tp, err)
	}
	l.Close()
	up, err := ports.UDPPair()
	if err != nil || up%2 != 0 {
		t.Fatalf("UDPPair = %d, %v; want an even port", up, err)
	}
	for _, p := range []int{up, up + 1} {
		c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("UDP port %d of the pair is not free: %v", p, err)
		}
		c.Close()
	}
	if eph-portsLow >= portsMinSpan {
		for _, p := range []int{tp, up, up + 1} {
			if p < portsLow || p >= eph {
				t.Errorf("port %d is outside [%d, %d)", p, portsLow, eph)
			}
		}
	}
}

// A port in use is skipped, and no port is handed out twice, even when the
// earlier one was never bound (the case that made a hub node of the fleet
// tests fail: two of its twelve ports were the same).
func TestPortsNeverTwice(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	cases := []struct {
		name    string
		lo, hi  int
		step    int
		picks   int
		wantErr bool
	}{
		// 2,000 candidates, 1,000 TCP picks: repeats are certain if not ruled out.
		{name: "tcp, random range", lo: 20000, hi: 22000, step: 1, picks: 1000},
		// 1,000 even candidates, 400 pairs.
		{name: "udp pairs, random range", lo: 20000, hi: 22000, step: 2, picks: 400},
		// A range too small: bind(0).
		{name: "tcp, kernel", lo: 20000, hi: 20010, step: 1, picks: 50},
		{name: "udp pairs, kernel", lo: 20000, hi: 20010, step: 2, picks: 20},
		// Nothing free: an error, not a loop.
		{name: "none free", lo: 20000, hi: 22000, step: 1, picks: 1, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ports Ports
			free := func(p int) bool { return p != busy }
			if c.wantErr {
				free = func(int) bool { return false }
			}
			seen := map[int]bool{}
			for range c.picks {
				p, err := ports.pick(c.lo, c.hi, c.step, free)
				if c.wantErr {
					if err == nil {
						t.Fatalf("pick = %d with nothing free; want an error", p)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if p%c.step != 0 {
					t.Fatalf("port %d is not a multiple of %d", p, c.step)
				}
				if p == busy {
					t.Fatalf("the busy port %d was handed out", p)
				}
				for q := p; q < p+c.step; q++ {
					if seen[q] {
						t.Fatalf("port %d handed out twice", q)
					}
					seen[q] = true
				}
				if c.hi-c.lo >= portsMinSpan && (p < c.lo || p+c.step > c.hi) {
					t.Fatalf("port %d (step %d) is outside [%d, %d)", p, c.step, c.lo, c.hi)
				}
			}
		})
	}
}
