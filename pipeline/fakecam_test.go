package pipeline

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeCamera is a hostile RTSP camera on 127.0.0.1: it answers OPTIONS, DESCRIBE (a
// valid H.264 SDP), SETUP (TCP interleaved only) and PLAY like a camera, and then sends
// whatever its media function writes instead of a stream. It keeps answering later
// requests (keep-alives, TEARDOWN) between two writes of media.
type fakeCamera struct {
	URL    string
	ln     net.Listener
	media  func(rng *rand.Rand) mediaWriter
	seed   uint64
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	plays  atomic.Int32 // PLAY requests answered: the hostile part began
	sent   atomic.Int64 // media bytes written
}

// mediaWriter returns the next chunk of media to write on a connection; it is called
// every mediaTick.
type mediaWriter func() []byte

// mediaTick paces the media: about 100 chunks a second, a camera's packet rate.
const mediaTick = 10 * time.Millisecond

// The SDP's H.264 parameter sets: x264's constrained baseline at 640x360
// (profile-level-id 42c016), from rtph264pay.
const (
	fakeSPS = "Z0LAFtoCgL/lwFqDAwNSgAAAAwCAAAAPR4sXUA=="
	fakePPS = "aM48gA=="
)

// startFakeCamera listens on a free loopback port until the test ends. media makes a
// connection's writer after PLAY; each gets its own generator seeded from seed.
func startFakeCamera(t *testing.T, seed uint64, media func(rng *rand.Rand) mediaWriter) *fakeCamera {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeCamera{
		URL:   "rtsp://" + ln.Addr().String() + "/stream",
		ln:    ln,
		media: media,
		seed:  seed,
		conns: map[net.Conn]struct{}{},
	}
	c.wg.Add(1)
	go c.accept()
	t.Cleanup(c.Close)
	return c
}

// Close stops listening, drops every connection and waits for the camera's goroutines.
func (c *fakeCamera) Close() {
	c.mu.Lock()
	c.closed = true
	c.ln.Close()
	for conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *fakeCamera) accept() {
	defer c.wg.Done()
	for n := uint64(0); ; n++ {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			conn.Close()
			return
		}
		c.conns[conn] = struct{}{}
		c.wg.Add(1)
		c.mu.Unlock()
		go c.serve(conn, rand.New(rand.NewPCG(c.seed, n)))
	}
}

// serve answers one client's requests; after PLAY a second goroutine writes media.
func (c *fakeCamera) serve(conn net.Conn, rng *rand.Rand) {
	defer c.wg.Done()
	var wmu sync.Mutex // a response never lands inside a media chunk
	stop := make(chan struct{})
	var media sync.WaitGroup
	defer func() {
		close(stop)
		conn.Close()
		media.Wait()
		c.mu.Lock()
		delete(c.conns, conn)
		c.mu.Unlock()
	}()
	r := bufio.NewReader(conn)
	playing := false
	for {
		req, err := readRequest(r)
		if err != nil {
			return
		}
		code, headers, body := c.answer(req, playing)
		var b strings.Builder
		fmt.Fprintf(&b, "RTSP/1.0 %s\r\nCSeq: %s\r\n", code, req.header("cseq"))
		for _, h := range headers {
			b.WriteString(h + "\r\n")
		}
		if body != "" {
			fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
		}
		b.WriteString("\r\n" + body)
		wmu.Lock()
		_, err = io.WriteString(conn, b.String())
		wmu.Unlock()
		if err != nil || req.method == "TEARDOWN" {
			return
		}
		if req.method == "PLAY" && !playing {
			playing = true
			c.plays.Add(1)
			next := c.media(rng)
			media.Add(1)
			go func() {
				defer media.Done()
				tick := time.NewTicker(mediaTick)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					chunk := next()
					wmu.Lock()
					n, err := conn.Write(chunk)
					wmu.Unlock()
					c.sent.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
		}
	}
}

// answer is the camera's response to req: status, headers and body.
func (c *fakeCamera) answer(req *rtspRequest, playing bool) (code string, headers []string, body string) {
	const session = "Session: 5EC0DE;timeout=60"
	switch req.method {
	case "OPTIONS":
		return "200 OK", []string{"Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"}, ""
	case "DESCRIBE":
		sdp := strings.Join([]string{
			"v=0",
			"o=- 1 1 IN IP4 127.0.0.1",
			"s=hostile camera",
			"c=IN IP4 127.0.0.1",
			"t=0 0",
			"m=video 0 RTP/AVP 96",
			"a=rtpmap:96 H264/90000",
			"a=fmtp:96 packetization-mode=1;profile-level-id=42c016;sprop-parameter-sets=" + fakeSPS + "," + fakePPS,
			"a=control:trackID=0",
			"",
		}, "\r\n")
		return "200 OK", []string{"Content-Type: application/sdp", "Content-Base: " + c.URL + "/"}, sdp
	case "SETUP":
		if !strings.Contains(req.header("transport"), "RTP/AVP/TCP") {
			return "461 Unsupported Transport", nil, ""
		}
		return "200 OK", []string{"Transport: RTP/AVP/TCP;unicast;interleaved=0-1", session}, ""
	case "PLAY":
		return "200 OK", []string{session, "Range: npt=0.000-", "RTP-Info: url=" + c.URL + "/trackID=0;seq=1;rtptime=0"}, ""
	case "GET_PARAMETER", "SET_PARAMETER", "TEARDOWN":
		return "200 OK", []string{session}, ""
	}
	return "501 Not Implemented", nil, ""
}

// rtspRequest is a parsed request line and its headers (keys in lower case).
type rtspRequest struct {
	method  string
	headers map[string]string
}

func (r *rtspRequest) header(key string) string { return r.headers[key] }

// readRequest reads the next request, skipping the interleaved packets (the client's
// RTCP receiver reports) between requests, and discards its body.
func readRequest(r *bufio.Reader) (*rtspRequest, error) {
	for {
		b, err := r.Peek(1)
		if err != nil {
			return nil, err
		}
		if b[0] != '$' {
			break
		}
		var hdr [4]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		if _, err := r.Discard(int(binary.BigEndian.Uint16(hdr[2:]))); err != nil {
			return nil, err
		}
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(line)
	if len(fields) != 3 || !strings.HasPrefix(fields[2], "RTSP/") {
		return nil, fmt.Errorf("bad request line %q", line)
	}
	req := &rtspRequest{method: fields[0], headers: map[string]string{}}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("bad header %q", line)
		}
		req.headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	if n, _ := strconv.Atoi(req.headers["content-length"]); n > 0 {
		if n > 1<<16 {
			return nil, errors.New("request body too big")
		}
		if _, err := r.Discard(n); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// Hostile media, one chunk per call.

// randomBytes: not RTSP framing at all.
func randomBytes(rng *rand.Rand) mediaWriter {
	buf := make([]byte, 1024)
	return func() []byte {
		fillRandom(rng, buf)
		return buf
	}
}

// framedGarbage: well-framed interleaved packets on the RTP channel, garbage inside.
func framedGarbage(rng *rand.Rand) mediaWriter {
	buf := make([]byte, 4+1400)
	return func() []byte {
		n := 1 + rng.IntN(1400)
		buf[0], buf[1] = '$', 0
		binary.BigEndian.PutUint16(buf[2:], uint16(n))
		fillRandom(rng, buf[4:4+n])
		return buf[:4+n]
	}
}

// garbageH264: interleaved RTP packets with a correct header (version 2, payload type
// 96, consecutive sequence numbers, a frame of 4 packets every 1/15 s with the marker
// on its last) whose H.264 payload is garbage: single NAL units of types 1 (slice),
// 5 (IDR slice), 7 (SPS) and 8 (PPS), and FU-A fragments, each with a random body.
func garbageH264(rng *rand.Rand) mediaWriter {
	buf := make([]byte, 4+12+1400)
	var seq uint16
	var ts uint32
	nalTypes := []byte{1, 5, 7, 8, 28, 28}
	return func() []byte {
		n := 12 + 2 + rng.IntN(1400-2)
		pkt := buf[4 : 4+n]
		buf[0], buf[1] = '$', 0
		binary.BigEndian.PutUint16(buf[2:], uint16(n))
		seq++
		marker := byte(0)
		if seq%4 == 0 {
			marker = 0x80
		}
		pkt[0], pkt[1] = 0x80, marker|96
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], ts)
		binary.BigEndian.PutUint32(pkt[8:], 0x5EC0DE)
		if marker != 0 {
			ts += 90000 / 15
		}
		fillRandom(rng, pkt[12:])
		typ := nalTypes[rng.IntN(len(nalTypes))]
		pkt[12] = 3<<5 | typ // forbidden bit 0, NRI 3
		if typ == 28 {
			pkt[13] = pkt[13]&0xC0 | 5 // FU header: random start/end bits, an IDR slice
		}
		return buf[:4+n]
	}
}

// silence: nothing, the connection left open.
func silence(*rand.Rand) mediaWriter {
	return func() []byte { return nil }
}

func fillRandom(rng *rand.Rand, b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := rng.Uint64()
		for j := i; j < i+8 && j < len(b); j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
}
