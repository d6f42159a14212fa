// Package freeport hands out the loopback ports of the servers the tests and
// the benchmark harness start themselves.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Ports hands out loopback ports for servers the caller starts itself
// (MediaMTX, nats-server, mosquitto, an agent's listeners) between the pick
// and the server's bind. Two things can take a port in that window, and
// Ports rules out both:
//
//   - a second pick: the kernel's bind(0) may return a port it returned a
//     moment ago, once that listener is closed, so Ports never hands out a
//     port twice;
//   - an outgoing connection: the kernel takes its source port from the
//     ephemeral range (net.ipv4.ip_local_port_range), so Ports picks below
//     that range, where only explicit binds land.
//
// A port is handed out only if it could be bound a moment ago (TCP, or UDP
// for a pair). The zero value is ready to use; it is safe for concurrent use.
type Ports struct {
	mu    sync.Mutex
	given map[int]bool
}

// Ports are picked at random from [portsLow, the ephemeral range's start).
const (
	portsLow     = 10000
	portsMinSpan = 2000 // below this many candidates, fall back to bind(0)
	portsTries   = 200
)

// TCP returns a TCP port on 127.0.0.1.
func (p *Ports) TCP() (int, error) {
	return p.pick(portsLow, ephemeralStart(), 1, tcpFree)
}

// UDPPair returns an even UDP port n on 127.0.0.1 with n+1 free as well
// (MediaMTX's RTP and RTCP ports).
func (p *Ports) UDPPair() (int, error) {
	return p.pick(portsLow, ephemeralStart(), 2, func(port int) bool { return udpFree(port) && udpFree(port+1) })
}

// pick returns a port in [lo, hi) that is a multiple of step (1 or 2), that
// it has not handed out before (nor, for step 2, the one after it) and that
// free accepts. Below portsMinSpan candidates it asks the kernel instead.
func (p *Ports) pick(lo, hi, step int, free func(int) bool) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.given == nil {
		p.given = make(map[int]bool)
	}
	for range portsTries {
		var port int
		if hi-lo >= portsMinSpan {
			port = (lo + rand.IntN(hi-lo-1)) / step * step
		} else {
			var err error
			if port, err = kernelPort(step); err != nil {
				return 0, err
			}
			if port%step != 0 {
				continue
			}
		}
		if p.given[port] || (step == 2 && p.given[port+1]) || !free(port) {
			continue
		}
		p.given[port] = true
		if step == 2 {
			p.given[port+1] = true
		}
		return port, nil
	}
	return 0, fmt.Errorf("pick a free loopback port: none free in %d tries", portsTries)
}

// ephemeralStart is the first port of the kernel's ephemeral range, or 0
// when it cannot be read (then Ports uses bind(0)).
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 || n > 65535 {
		return 0
	}
	return n
}

// kernelPort asks the kernel for a free port (bind(0)): TCP for step 1,
// UDP for step 2.
func kernelPort(step int) (int, error) {
	if step == 2 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pick a free UDP port: %w", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tcpFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func udpFree(port int) bool {
	if port > 65535 {
		return false
	}
	c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}
