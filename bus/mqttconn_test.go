package bus

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"golang.org/x/net/websocket"

	"edge-agent/internal/testenv"
)

// scriptConn is the broker's end of a connection in mqttConn's tests. Read
// returns the stream in chunks of at most the sizes given (the last one
// repeated), then io.EOF; Write records what is written, or fails with
// werr.
type scriptConn struct {
	net.Conn // nil: methods the tests do not call
	in       []byte
	chunks   []int
	werr     error
	read     int            // bytes returned so far
	before   func(read int) // called at the start of each Read

	mu  sync.Mutex
	out []byte
}

func (s *scriptConn) Read(p []byte) (int, error) {
	if s.before != nil {
		s.before(s.read)
	}
	if len(s.in) == 0 {
		return 0, io.EOF
	}
	n := len(s.in)
	if len(s.chunks) > 0 {
		n = min(n, s.chunks[0])
		if len(s.chunks) > 1 {
			s.chunks = s.chunks[1:]
		}
	}
	n = copy(p, s.in[:n])
	s.in = s.in[n:]
	s.read += n
	return n, nil
}

func (s *scriptConn) Write(p []byte) (int, error) {
	if s.werr != nil {
		return 0, s.werr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = append(s.out, p...)
	return len(p), nil
}

func (s *scriptConn) written() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.out)
}

// mqttHeader encodes a fixed header: the first byte, the remaining length
// n.
func mqttHeader(first byte, n int) []byte {
	b := []byte{first}
	for {
		d := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// mqttPacket encodes a packet: its first byte, the remaining length, body.
func mqttPacket(first byte, body []byte) []byte {
	return append(mqttHeader(first, len(body)), body...)
}

// mqttPublishPacket encodes a PUBLISH of a payload of size 'x' bytes.
func mqttPublishPacket(qos byte, id uint16, topic string, size int) []byte {
	body := binary.BigEndian.AppendUint16(nil, uint16(len(topic)))
	body = append(body, topic...)
	if qos > 0 {
		body = binary.BigEndian.AppendUint16(body, id)
	}
	body = append(body, bytes.Repeat([]byte{'x'}, size)...)
	return mqttPacket(mqttPublish<<4|qos<<1, body)
}

type droppedPub struct {
	topic string
	size  int
}

func TestMQTTConnRemainingLength(t *testing.T) {
	tests := []struct {
		in       []byte
		n        int
		complete bool
		err      bool
	}{
		{in: []byte{0x00}, n: 0, complete: true},
		{in: []byte{0x7f}, n: 127, complete: true},
		{in: []byte{0x80, 0x01}, n: 128, complete: true},
		{in: []byte{0xff, 0x7f}, n: 16383, complete: true},
		{in: []byte{0x80, 0x80, 0x01}, n: 16384, complete: true},
		{in: []byte{0xff, 0xff, 0x7f}, n: 2097151, complete: true},
		{in: []byte{0x80, 0x80, 0x80, 0x01}, n: 2097152, complete: true},
		{in: []byte{0xff, 0xff, 0xff, 0x7f}, n: 268435455, complete: true}, // the largest MQTT allows
		{in: []byte{0x80, 0x00}, n: 0, complete: true},                     // not minimal, as paho accepts it
		{in: []byte{0x80}},                              // more due
		{in: []byte{0xff, 0xff, 0xff}},                  // more due
		{in: []byte{0xff, 0xff, 0xff, 0xff}, err: true}, // a 5th byte would follow
		{in: []byte{0x80, 0x80, 0x80, 0x80}, err: true},
	}
	for _, tt := range tests {
		n, complete, err := remainingLength(tt.in)
		if n != tt.n || complete != tt.complete || (err != nil) != tt.err {
			t.Errorf("remainingLength(% x) = %d, %v, %v; want %d, %v, error %v", tt.in, n, complete, err, tt.n, tt.complete, tt.err)
		}
	}
}

// mqttConnStream is an inbound stream with packets to pass and oversize
// publishes to drop, for a limit of 300 bytes: what paho must read, the
// acknowledgements mqttConn must write, and what it must report dropped.
func mqttConnStream() (in, pass, acks []byte, dropped []droppedPub) {
	const limit = 300
	cmd := "edge-agent/d1/cmd"
	add := func(p []byte, passes bool) {
		in = append(in, p...)
		if passes {
			pass = append(pass, p...)
		}
	}
	add([]byte{0x20, 0x02, 0x00, 0x00}, true)                                        // CONNACK
	add([]byte{0x90, 0x03, 0x00, 0x01, 0x01}, true)                                  // SUBACK
	add(mqttPublishPacket(1, 7, cmd, 10), true)                                      // a command
	add([]byte{0xd0, 0x00}, true)                                                    // PINGRESP: nothing after the header
	add(mqttPublishPacket(0, 0, "t0", 1000), false)                                  // QoS 0: 1006 bytes, not acknowledged
	add([]byte{0x40, 0x02, 0x00, 0x05}, true)                                        // PUBACK
	add(mqttPublishPacket(1, 0x0102, cmd, 1000), false)                              // QoS 1: PUBACK 01 02
	add(mqttPublishPacket(1, 9, cmd, 200), true)                                     // a 2-byte remaining length, within the limit
	add(mqttPublishPacket(1, 10, cmd, limit-2-len(cmd)-2), true)                     // exactly the limit
	add(mqttPublishPacket(2, 0xbeef, "homeassistant/status", limit+1-2-20-2), false) // limit+1, QoS 2: PUBREC be ef
	add([]byte{0x62, 0x02, 0xbe, 0xef}, true)                                        // the broker's PUBREL, for paho to answer
	add(mqttPublishPacket(1, 0x0304, strings.Repeat("l", limit), 0), false)          // all topic, no payload: PUBACK 03 04
	add([]byte{0xd0, 0x00}, true)
	acks = []byte{0x40, 0x02, 0x01, 0x02, 0x50, 0x02, 0xbe, 0xef, 0x40, 0x02, 0x03, 0x04}
	dropped = []droppedPub{{"t0", 1000}, {cmd, 1000}, {"homeassistant/status", limit + 1 - 2 - 20 - 2}, {strings.Repeat("l", limit), 0}}
	return in, pass, acks, dropped
}

// Every packet within the limit reaches the reader byte for byte and the
// oversize publishes are acknowledged and reported, however the stream is
// cut into reads on either side: every split of the broker's stream into
// two reads, one byte per read, everything in one read; read as paho reads
// (packets.ReadPacket: the fixed header byte by byte, then the body in one
// read), in 64 KiB reads, one byte at a time.
func TestMQTTConnStream(t *testing.T) {
	in, pass, acks, dropped := mqttConnStream()
	readers := map[string]func(io.Reader) ([]byte, error){
		"paho": func(r io.Reader) ([]byte, error) {
			var out bytes.Buffer
			for {
				cp, err := packets.ReadPacket(r)
				if err != nil {
					return out.Bytes(), err
				}
				if err := cp.Write(&out); err != nil { // the test packets are encoded as paho encodes them
					return nil, err
				}
			}
		},
		"64KiB": func(r io.Reader) ([]byte, error) {
			var out []byte
			p := make([]byte, 64<<10)
			for {
				n, err := r.Read(p)
				out = append(out, p[:n]...)
				if err != nil {
					return out, err
				}
			}
		},
		"1 byte": func(r io.Reader) ([]byte, error) {
			var out []byte
			p := make([]byte, 1)
			for {
				n, err := r.Read(p)
				out = append(out, p[:n]...)
				if err != nil {
					return out, err
				}
			}
		},
	}
	splits := [][]int{{1}, {len(in)}}
	for i := 1; i < len(in); i++ {
		splits = append(splits, []int{i, len(in)})
	}
	for name, read := range readers {
		for _, chunks := range splits {
			sc := &scriptConn{in: in, chunks: chunks}
			var got []droppedPub
			c := newMQTTConn(sc, 300, func(topic string, size int) { got = append(got, droppedPub{topic, size}) })
			out, err := read(c)
			if !errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("%s, reads of %v: error %v, want io.EOF at the end", name, chunks, err)
			}
			if !bytes.Equal(out, pass) {
				t.Fatalf("%s, reads of %v: read\n% x\nwant\n% x", name, chunks, out, pass)
			}
			if w := sc.written(); !bytes.Equal(w, acks) {
				t.Fatalf("%s, reads of %v: wrote % x, want % x", name, chunks, w, acks)
			}
			if !slices.Equal(got, dropped) {
				t.Fatalf("%s, reads of %v: dropped %v, want %v", name, chunks, got, dropped)
			}
		}
	}
}

// A stream that cannot be framed, or an oversize packet that is not a
// PUBLISH, ends the connection: the packets before it are handed over,
// then every read returns the error.
func TestMQTTConnErrors(t *testing.T) {
	ping := []byte{0xd0, 0x00}
	tests := []struct {
		name  string
		in    []byte
		werr  error
		want  string
		acked []byte
	}{
		{name: "remaining length over 4 bytes", in: []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01},
			want: "remaining length longer than 4 bytes"},
		{name: "oversize SUBACK", in: mqttPacket(0x90, make([]byte, 301)),
			want: "packet of type 9 of 301 bytes, over the 300 accepted"},
		{name: "oversize PUBLISH with QoS 3", in: mqttPacket(0x36, make([]byte, 301)),
			want: "QoS 3"},
		{name: "topic longer than the packet", in: mqttPacket(0x30, append([]byte{0xff, 0xff}, make([]byte, 299)...)),
			want: "a 65537-byte header in 301 bytes"},
		{name: "acknowledgement not written", in: mqttPublishPacket(1, 1, "t", 400), werr: errors.New("broken pipe"),
			want: "acknowledge a dropped publish: broken pipe"},
		{name: "connection ends in a dropped publish", in: mqttPublishPacket(1, 1, "t", 400)[:200],
			want: "EOF"}, // nothing acknowledged: the broker delivers it again
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &scriptConn{in: append(slices.Clone(ping), tt.in...), werr: tt.werr}
			reported := 0
			c := newMQTTConn(sc, 300, func(string, int) { reported++ })
			if _, err := packets.ReadPacket(c); err != nil {
				t.Fatalf("the PINGRESP before: %v", err)
			}
			for range 2 {
				if _, err := packets.ReadPacket(c); err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want one with %q", err, tt.want)
				}
			}
			if reported != 0 || len(sc.written()) != 0 {
				t.Errorf("reported %d, wrote % x: want nothing", reported, sc.written())
			}
		})
	}
}

// While it drops a publish, mqttConn answers paho's PINGREQs itself (the
// broker's answers are queued behind the publish) and drops the broker's
// answers to them when they arrive; other PINGRESPs pass.
func TestMQTTConnPingDuringDrop(t *testing.T) {
	puback := []byte{0x40, 0x02, 0x00, 0x09}
	pingresp := []byte{0xd0, 0x00}
	big := mqttPublishPacket(1, 5, "edge-agent/d1/cmd", 2000) // 2023 bytes
	cat := func(ps ...[]byte) []byte { return slices.Concat(ps...) }
	tests := []struct {
		name   string
		in     []byte
		chunks []int
		pingAt []int // paho writes a PINGREQ when the broker's stream was read this far
		want   []byte
		pingBy int // paho has every PINGRESP before the broker's stream is read further (0: no check)
	}{
		{name: "no drop", in: cat(pingresp, puback), pingAt: []int{0},
			want: cat(pingresp, puback)},
		{name: "ping during a drop", in: cat(puback, big, pingresp, puback), pingAt: []int{500},
			want: cat(puback, pingresp, puback), pingBy: 600},
		{name: "ping before a drop", in: cat(puback, big, pingresp, puback), pingAt: []int{0},
			want: cat(puback, pingresp, puback), pingBy: 200},
		{name: "two pings", in: cat(puback, big, pingresp, pingresp, puback), pingAt: []int{0, 1000},
			want: cat(puback, pingresp, pingresp, puback), pingBy: 1100},
		{name: "ping after a drop", in: cat(big, puback, pingresp), chunks: []int{1}, pingAt: []int{len(big) + 4},
			want: cat(puback, pingresp)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks := tt.chunks
			if chunks == nil {
				chunks = []int{100}
			}
			sc := &scriptConn{in: tt.in, chunks: chunks}
			c := newMQTTConn(sc, 300, nil)
			pingAt := tt.pingAt
			sc.before = func(read int) {
				for len(pingAt) > 0 && read >= pingAt[0] {
					pingAt = pingAt[1:]
					if _, err := c.Write([]byte{mqttPingreq, 0}); err != nil {
						t.Error(err)
					}
				}
			}
			var out []byte
			for {
				cp, err := packets.ReadPacket(c)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				cp.Write(&b)
				out = append(out, b.Bytes()...)
				if _, ok := cp.(*packets.PingrespPacket); ok && tt.pingBy > 0 && sc.read > tt.pingBy {
					t.Errorf("a PINGRESP reached paho once the stream was read to %d, want by %d", sc.read, tt.pingBy)
				}
			}
			if !bytes.Equal(out, tt.want) {
				t.Errorf("paho read % x, want % x", out, tt.want)
			}
		})
	}
}

// Passing packets through allocates nothing: the header is handed from an
// array, the body from the read buffer or straight into the reader's slice.
func TestMQTTConnPassesWithoutAllocating(t *testing.T) {
	var stream []byte
	for i := range 20 {
		stream = append(stream, 0x40, 0x02, 0x00, byte(i)) // PUBACKs
	}
	stream = append(stream, mqttPublishPacket(1, 1, "edge-agent/d1/cmd", 10000)...)
	sc := &scriptConn{chunks: []int{1500}}
	c := newMQTTConn(sc, maxInboundPacket, nil)
	p := make([]byte, 16<<10)
	allocs := testing.AllocsPerRun(50, func() {
		sc.in = stream
		for got := 0; got < len(stream); {
			n, err := c.Read(p[:min(len(p), 1+got%7000)]) // reads of varied sizes
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per pass, want 0", allocs)
	}
}

// dialBroker opens a TCP connection for tcp:// and mqtt://, and refuses a
// scheme MQTTConfig does not accept.
func TestMQTTConnDialBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	o := *mqtt.NewClientOptions()
	for _, scheme := range []string{"tcp", "mqtt"} {
		c, err := dialBroker(&url.URL{Scheme: scheme, Host: ln.Addr().String()}, o)
		if err != nil {
			t.Fatalf("%s: %v", scheme, err)
		}
		c.Close()
	}
	if _, err := dialBroker(&url.URL{Scheme: "http", Host: ln.Addr().String()}, o); err == nil || !strings.Contains(err.Error(), `unknown protocol "http"`) {
		t.Errorf("http: error %v", err)
	}
}

// procStatus reads a field of this process's /proc status, in bytes.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", field, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// rawPublisher is an MQTT 3.1.1 publisher written by hand on a TCP socket,
// so that a payload of any size streams from a small buffer: paho needs
// the whole payload in memory, which would count in this process's RSS.
type rawPublisher struct {
	conn net.Conn
}

func dialRawPublisher(t *testing.T, addr, clientID string) *rawPublisher {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// CONNECT: "MQTT", level 4, clean session, no keepalive, the client id.
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0}
	body = binary.BigEndian.AppendUint16(body, uint16(len(clientID)))
	p := &rawPublisher{conn: conn}
	p.exchange(t, mqttPacket(0x10, append(body, clientID...)), 0, []byte{0x20, 0x02, 0x00, 0x00})
	return p
}

// exchange writes head, then size 'x' bytes, and reads want back.
func (p *rawPublisher) exchange(t *testing.T, head []byte, size int, want []byte) {
	t.Helper()
	p.conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := p.conn.Write(head); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{'x'}, 64<<10)
	for size > 0 {
		n, err := p.conn.Write(chunk[:min(size, len(chunk))])
		if err != nil {
			t.Fatal(err)
		}
		size -= n
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(p.conn, got); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read % x, %v; want % x", got, err, want)
	}
}

// publish sends a QoS 1 PUBLISH of size bytes and waits for its PUBACK.
func (p *rawPublisher) publish(t *testing.T, topic string, id uint16, size int) {
	t.Helper()
	head := mqttHeader(0x32, 2+len(topic)+2+size)
	head = binary.BigEndian.AppendUint16(head, uint16(len(topic)))
	head = append(head, topic...)
	head = binary.BigEndian.AppendUint16(head, id)
	p.exchange(t, head, size, []byte{0x40, 0x02, byte(id >> 8), byte(id)})
}

// Issue 10: 16 commands of 200 MiB each, through a broker without a packet
// size limit, leave the agent's memory where it was. It takes minutes
// (mosquitto takes seconds to receive each one): make test-long runs it.
func TestLongMQTTOversizeCommands(t *testing.T) {
	testenv.Long(t, "streams 3.2 GB through mosquitto, for minutes")
	oversizeCommands(t, 16, 200<<20)
}

// The same with 2 commands of 64 MiB: without mqttConn paho would hold
// each whole, over the 50 MiB allowed.
func TestMQTTConnOversizeCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 128 MiB through mosquitto")
	}
	oversizeCommands(t, 2, 64<<20)
}

// oversizeCommands publishes n commands of size bytes, QoS 1, through a
// broker without a packet size limit (mosquitto's default): each is
// dropped as it streams in, acknowledged, answered once on cmd/result,
// and not delivered again after a reconnection; the process's RSS peaks
// within 50 MiB of where it was; the agent stays connected and takes the
// next command.
func oversizeCommands(t *testing.T, n, size int) {
	broker := startMosquitto(t) // its configuration sets no max_packet_size: no limit
	// The broker stops for a moment at each save of its persistence (every
	// second, with the commands in flight): a keepalive of 2 s would have it
	// drop the agent at times, which then gets a command again.
	cfg := testMQTTConfig(broker.URL())
	cfg.KeepAlive = time.Minute
	m, err := NewMQTT(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cmdTopic, resultTopic := m.topics.Command(), m.topics.CommandResult()
	sub := newMQTTSub(t, broker.URL(), "operator", false, resultTopic)
	sub.subscribed(t, resultTopic)
	want := oversizeReply(size)
	refused := countAnswers(t, broker.URL(), resultTopic, want)
	served := serveCommands(t, m.Commands())
	runMQTT(t, m)
	waitFor(t, 10*time.Second, "agent subscribed", func() bool { // and warmed up: it answered
		if len(served.seen()) > 0 {
			return true
		}
		sub.c.Publish(cmdTopic, 1, false, `{"id":"hello","op":"get_config"}`).WaitTimeout(time.Second)
		return false
	})

	// This process runs the agent's client and the operator's; the
	// publisher streams from a 64 KiB buffer; the broker's memory is its
	// own process's.
	runtime.GC()
	debug.FreeOSMemory()
	before := procStatus(t, "VmRSS")
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil { // VmHWM from here on
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
	gen := m.attempts.Load()
	start := time.Now()
	pub := dialRawPublisher(t, strings.TrimPrefix(broker.URL(), "tcp://"), "flood")
	for i := range n {
		pub.publish(t, cmdTopic, uint16(i+1), size)
	}
	waitFor(t, 60*time.Second, "an answer to each oversize command", func() bool { return refused() >= n })
	peak, after := procStatus(t, "VmHWM"), procStatus(t, "VmRSS")
	t.Logf("%d commands of %d bytes in %s; RSS before %.1f MiB, peak %.1f MiB, after %.1f MiB",
		n, size, time.Since(start).Round(time.Millisecond), mib(before), mib(peak), mib(after))
	if peak-before > 50<<20 {
		t.Errorf("RSS rose by %.1f MiB, more than 50", mib(peak-before))
	}
	if m.attempts.Load() != gen || !m.Stats().Connected {
		t.Errorf("the agent reconnected (%d connection attempts, was %d) or is not connected", m.attempts.Load(), gen)
	}

	// Acknowledged: after a reconnection (the broker restarts from its
	// persistence with the agent's session) none comes back. The command
	// published afterwards queues behind anything the broker would resend.
	broker.Stop()
	broker.Start()
	waitFor(t, 30*time.Second, "the agent reconnected", func() bool { return m.attempts.Load() > gen && m.Stats().Connected })
	waitFor(t, 30*time.Second, "the operator reconnected", sub.c.IsConnectionOpen)
	if tok := sub.c.Publish(cmdTopic, 1, false, `{"id":"after","op":"get_config"}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	if rep := sub.answered(t, resultTopic, "after"); !rep.OK {
		t.Fatalf("answer %+v", rep)
	}
	if k := refused(); k != n {
		t.Errorf("%d answers %q, want %d (one per command)", k, want.Error, n)
	}
	if got := slices.DeleteFunc(served.seen(), func(id string) bool { return id == "hello" }); !slices.Equal(got, []string{"after"}) {
		t.Errorf("the agent was handed %v besides hello, want [after]", got)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// countAnswers subscribes to topic and returns how many times want has
// arrived there. The broker stops for seconds at a time during the flood,
// so the subscriber has a keepalive long enough not to be dropped, and a
// persistent session; a message the broker delivers again (DUP set) is not
// counted: the agent sent it once.
func countAnswers(t *testing.T, url, topic string, want Reply) (count func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	handler := func(_ mqtt.Client, msg mqtt.Message) {
		var r Reply
		if json.Unmarshal(msg.Payload(), &r) == nil && !msg.Duplicate() && r.ID == want.ID && r.OK == want.OK && r.Error == want.Error {
			mu.Lock()
			n++
			mu.Unlock()
		}
	}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID("answers").SetCleanSession(false).
		SetKeepAlive(time.Minute).SetAutoReconnect(true).SetMaxReconnectInterval(500 * time.Millisecond).
		SetDefaultPublishHandler(handler))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	if tok := c.Subscribe(topic, 1, handler); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// The agent reaches its broker through TLS and WebSocket as through TCP:
// dialBroker opens them as paho's own function would, and mqttConn frames
// what they carry. A proxy in the test terminates TLS or WebSocket in
// front of mosquitto (Debian's is built without WebSocket support).
func TestMQTTConnSchemes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mosquitto")
	}
	broker := startMosquitto(t)
	backend := strings.TrimPrefix(broker.URL(), "tcp://")
	for _, scheme := range []string{"ssl", "ws"} {
		t.Run(scheme, func(t *testing.T) {
			var cfg MQTTConfig
			switch scheme {
			case "ssl":
				addr, ca := tlsFront(t, backend)
				cfg = testMQTTConfig("ssl://" + addr)
				cfg.TLSCA = ca
			case "ws":
				cfg = testMQTTConfig("ws://" + wsFront(t, backend) + "/mqtt")
			}
			m, err := NewMQTT(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			served := serveCommands(t, m.Commands())
			runMQTT(t, m)
			op := newMQTTSub(t, broker.URL(), "operator-"+scheme, true)
			waitFor(t, 10*time.Second, "a command through "+scheme, func() bool {
				if slices.Contains(served.seen(), scheme) {
					return true
				}
				op.c.Publish(m.topics.Command(), 1, false, `{"id":"`+scheme+`","op":"get_config"}`).WaitTimeout(time.Second)
				return false
			})
		})
	}
}

// tlsFront listens with TLS on loopback, with a certificate for 127.0.0.1
// that it writes to a PEM file, and forwards to backend.
func tlsFront(t *testing.T, backend string) (addr, caFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edge-agent test broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go forward(c, backend)
		}
	}()
	return ln.Addr().String(), caFile
}

// wsFront serves WebSocket (binary frames, subprotocol mqtt) on loopback
// and forwards to backend.
func wsFront(t *testing.T, backend string) (addr string) {
	t.Helper()
	srv := httptest.NewServer(websocket.Server{
		Handshake: func(*websocket.Config, *http.Request) error { return nil }, // any origin
		Handler: func(ws *websocket.Conn) {
			ws.PayloadType = websocket.BinaryFrame
			forward(ws, backend)
		},
	})
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// forward copies between front and a new connection to backend until
// either ends.
func forward(front net.Conn, backend string) {
	defer front.Close()
	back, err := net.Dial("tcp", backend)
	if err != nil {
		return
	}
	defer back.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(back, front); done <- struct{}{} }()
	go func() { io.Copy(front, back); done <- struct{}{} }()
	<-done
}
