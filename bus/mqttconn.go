package bus

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// maxInboundPacket is the largest inbound MQTT packet, by its remaining
// length, that mqttConn hands to paho: a PUBLISH with a payload of
// MaxCommandSize bytes, the longest topic MQTT allows and a packet id.
// Nothing the agent subscribes to (its command topic, Home Assistant's
// status) is legitimately bigger. A command a little over MaxCommandSize
// still reaches commandHandler, which refuses it with the same answer.
const maxInboundPacket = MaxCommandSize + 2 + 0xFFFF + 2

// MQTT 3.1.1 control packet types, and the first byte of the packets
// mqttConn writes or recognises.
const (
	mqttPublish  byte = 3
	mqttPuback   byte = 0x40
	mqttPubrec   byte = 0x50
	mqttPingreq  byte = 0xc0
	mqttPingresp byte = 0xd0
)

// mqttConn is the connection paho reads and writes: the broker's
// connection (TCP, TLS or WebSocket, opened as paho would open it) with the
// inbound MQTT 3.1.1 framing parsed as it streams in.
//
// Paho reads a packet's whole remaining length into memory
// (packets.ReadPacket allocates it, up to 256 MB) before the message
// handler can refuse it, and no client option bounds that. Here a packet
// within limit passes through unchanged: its fixed header from a 5-byte
// array, its body from the read buffer or read by the connection straight
// into paho's slice. An oversize PUBLISH is read only up to its packet id;
// the rest is dropped as it arrives, through the 4 KiB read buffer, and
// paho never sees any of it. mqttConn acknowledges it itself, between
// paho's writes (QoS 1: PUBACK; QoS 2: PUBREC, and paho answers the
// broker's PUBREL with PUBCOMP, as it does for any packet id), so that the
// broker does not deliver it again after a reconnection; then it calls
// dropped. Any other oversize packet, a PUBLISH with QoS 3, or a remaining
// length longer than 4 bytes ends the connection with an error.
//
// While it drops a publish, paho receives no packet: on a link where the
// drop outlasts paho's ping timeout (10 s: 200 MB at under 160 Mbit/s),
// paho would give the connection up before the acknowledgement, and the
// broker would send the publish again after every reconnection. The
// broker's PINGRESP is queued behind the publish, yet the bytes arriving
// show the connection alive: so during a drop, paho's outstanding
// PINGREQs (a 2-byte Write) are answered with a PINGRESP of mqttConn's
// own, and the broker's own answers to them are dropped when they arrive
// (the broker answers every PINGREQ, in order).
//
// Read is called by one goroutine at a time (paho's CONNACK wait, then its
// reading goroutine); Write by several (paho's writer and keepalive, and
// the acknowledgements from Read), serialised by wmu so that packets never
// interleave.
type mqttConn struct {
	net.Conn
	limit   int
	dropped func(topic string, size int) // size is the payload's; called from Read after the ack: must not block

	wmu sync.Mutex // one packet written at a time

	pmu     sync.Mutex
	pending int // PINGREQs written whose PINGRESP has not arrived
	owed    int // of those, the oldest ones answered already by mqttConn

	// Read side.
	err   error // sticky: the connection's read error, or the stream's
	state readState
	buf   [4096]byte
	r, w  int     // buf[r:w] was read from the connection and not yet consumed
	hdr   [5]byte // the current packet's fixed header
	hn    int     // bytes of hdr received
	hout  int     // bytes of hdr handed to paho
	left  int     // body bytes still to hand to paho, or to drop
	qos   byte    // of the publish being dropped
	size  int     // its remaining length
	vh    []byte  // its variable header, as received: topic length, topic, packet id
	need  int     // len(vh) once complete (2 until the topic length is known)
	ack   [4]byte
	pout  int // bytes of mqttConn's PINGRESP handed to paho
}

type readState uint8

const (
	readHeader readState = iota // receiving a fixed header
	readEmit                    // handing the fixed header to paho
	readBody                    // handing the body to paho
	readDrop                    // dropping an oversize publish
	readPing                    // handing paho a PINGRESP, in the middle of a drop
)

func newMQTTConn(conn net.Conn, limit int, dropped func(topic string, size int)) *mqttConn {
	return &mqttConn{Conn: conn, limit: limit, dropped: dropped}
}

// Write writes one packet (paho writes each packet with one call).
func (c *mqttConn) Write(p []byte) (int, error) {
	if len(p) == 2 && p[0] == mqttPingreq && p[1] == 0 {
		c.pmu.Lock()
		c.pending++
		c.pmu.Unlock()
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.Conn.Write(p)
}

// Read hands paho the inbound stream without the oversize publishes.
func (c *mqttConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		var err error
		switch c.state {
		case readHeader:
			err = c.header()
		case readEmit:
			n := copy(p, c.hdr[c.hout:c.hn])
			c.hout += n
			if c.hout == c.hn {
				c.state = readBody
				if c.left == 0 {
					c.state, c.hn = readHeader, 0
				}
			}
			return n, nil
		case readBody:
			return c.body(p)
		case readDrop:
			err = c.drop()
		case readPing:
			p[0] = [2]byte{mqttPingresp, 0}[c.pout]
			c.pout++
			if c.pout == 2 {
				c.state = readDrop
			}
			return 1, nil
		}
		if err != nil {
			c.err = err
			c.r, c.w = 0, 0 // nothing after a broken packet is handed over
			return 0, err
		}
	}
}

// fill reads from the connection into the buffer, once it is consumed. A
// read error is kept, and returned once the bytes read with it are
// consumed.
func (c *mqttConn) fill() error {
	if c.err != nil {
		return c.err
	}
	n, err := c.Conn.Read(c.buf[:])
	c.r, c.w = 0, n
	c.err = err
	if n == 0 {
		return err
	}
	return nil
}

// header receives a fixed header and decides what becomes of the packet.
func (c *mqttConn) header() error {
	for {
		if c.r == c.w {
			if err := c.fill(); err != nil {
				return err
			}
			continue
		}
		c.hdr[c.hn] = c.buf[c.r]
		c.r++
		c.hn++
		if c.hn == 1 {
			continue
		}
		size, complete, err := remainingLength(c.hdr[1:c.hn])
		if err != nil {
			return err
		}
		if complete {
			return c.route(size)
		}
	}
}

// remainingLength decodes an MQTT remaining length (a varint of 1 to 4
// bytes, least significant group first) from the bytes received so far;
// complete is false while more are due.
func remainingLength(b []byte) (n int, complete bool, err error) {
	for i, d := range b {
		n |= int(d&0x7f) << (7 * i)
		if d&0x80 == 0 {
			return n, true, nil
		}
		if i == 3 {
			return 0, false, errors.New("mqtt: malformed packet from the broker: remaining length longer than 4 bytes")
		}
	}
	return 0, false, nil
}

// route passes a packet of size bytes (its remaining length) to paho, or
// starts dropping it.
func (c *mqttConn) route(size int) error {
	typ := c.hdr[0] >> 4
	if c.hdr[0] == mqttPingresp && size == 0 && c.answered() {
		c.state, c.hn = readHeader, 0 // answered already: dropped
		return nil
	}
	switch {
	case size <= c.limit:
		c.state, c.hout, c.left = readEmit, 0, size
		return nil
	case typ != mqttPublish:
		return fmt.Errorf("mqtt: broker sent a packet of type %d of %d bytes, over the %d accepted: only a PUBLISH can be that big", typ, size, c.limit)
	}
	c.qos = c.hdr[0] >> 1 & 3
	if c.qos == 3 {
		return errors.New("mqtt: malformed PUBLISH from the broker: QoS 3")
	}
	if size < 2 {
		return errors.New("mqtt: malformed PUBLISH from the broker: no topic length")
	}
	c.state, c.size, c.left = readDrop, size, size
	c.vh, c.need = c.vh[:0], 2
	return nil
}

// answered counts a PINGRESP from the broker and says whether mqttConn
// answered its PINGREQ already.
func (c *mqttConn) answered() bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	c.pending = max(c.pending-1, 0)
	if c.owed == 0 {
		return false
	}
	c.owed--
	return true
}

// owePing says whether a PINGREQ is waiting for an answer that only comes
// after the publish being dropped; they count as answered from then on.
func (c *mqttConn) owePing() bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.pending == c.owed {
		return false
	}
	c.owed = c.pending
	return true
}

// body hands paho the next bytes of a packet's body.
func (c *mqttConn) body(p []byte) (int, error) {
	n := min(len(p), c.left)
	var err error
	switch {
	case c.r < c.w:
		n = copy(p[:n], c.buf[c.r:c.w])
		c.r += n
	case c.err != nil:
		return 0, c.err
	default:
		n, err = c.Conn.Read(p[:n])
		c.err = err
	}
	c.left -= n
	if c.left == 0 {
		c.state, c.hn = readHeader, 0
	}
	return n, err
}

// drop reads an oversize publish's variable header, drops the rest, then
// acknowledges it and reports it.
func (c *mqttConn) drop() error {
	for c.left > 0 {
		if c.r == c.w {
			if err := c.fill(); err != nil {
				return err
			}
			if c.owePing() { // bytes arrived: the connection is alive
				c.state, c.pout = readPing, 0
				return nil
			}
			continue
		}
		k := min(c.w-c.r, c.left)
		if len(c.vh) < c.need {
			k = min(k, c.need-len(c.vh))
			c.vh = append(c.vh, c.buf[c.r:c.r+k]...)
			if len(c.vh) == 2 && c.need == 2 {
				c.need += int(binary.BigEndian.Uint16(c.vh))
				if c.qos > 0 {
					c.need += 2 // the packet id
				}
				if c.need > c.size {
					return fmt.Errorf("mqtt: malformed PUBLISH from the broker: a %d-byte header in %d bytes", c.need, c.size)
				}
			}
		}
		c.r += k
		c.left -= k
	}
	topicEnd := 2 + int(binary.BigEndian.Uint16(c.vh))
	if c.qos > 0 {
		c.ack = [4]byte{mqttPuback, 2, c.vh[topicEnd], c.vh[topicEnd+1]}
		if c.qos == 2 {
			c.ack[0] = mqttPubrec
		}
		if _, err := c.Write(c.ack[:]); err != nil {
			return fmt.Errorf("mqtt: acknowledge a dropped publish: %w", err)
		}
	}
	c.state, c.hn = readHeader, 0
	if c.dropped != nil {
		c.dropped(string(c.vh[2:topicEnd]), c.size-c.need)
	}
	return nil
}

// dialBroker opens the network connection to the broker for the schemes
// MQTTConfig accepts (paho does not export its own dialer): TCP (tcp,
// mqtt), TLS (ssl, tls, mqtts) and WebSocket (ws, wss). The TLS
// configuration is the options' own: paho passes the one the connection
// attempt handler returns only to its own dialer, and the agent's handler
// returns it unchanged. No proxy is taken from the environment: the agent
// connects to the broker it is given.
func dialBroker(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	dialer := o.Dialer
	if dialer == nil {
		dialer = &net.Dialer{Timeout: 30 * time.Second}
	}
	switch uri.Scheme {
	case "tcp", "mqtt":
		return dialer.Dial("tcp", uri.Host)
	case "ssl", "tls", "mqtts":
		return tls.DialWithDialer(dialer, "tcp", uri.Host, o.TLSConfig)
	case "ws", "wss":
		u := *uri
		u.User = nil // the WebSocket dialer refuses a URL with credentials; they go in CONNECT
		var tc *tls.Config
		if uri.Scheme == "wss" {
			tc = o.TLSConfig
		}
		return mqtt.NewWebsocket(u.String(), tc, o.ConnectTimeout, o.HTTPHeaders, o.WebsocketOptions)
	}
	return nil, fmt.Errorf("unknown protocol %q", uri.Scheme)
}

// openConnection returns paho's OpenConnectionFunc: the connection paho
// would open, in an mqttConn whose dropped publishes refuseDropped answers.
func (m *MQTT) openConnection() mqtt.OpenConnectionFunc {
	answering := make(chan struct{}, commandQueueSize)
	return func(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
		conn, err := dialBroker(uri, o)
		if err != nil {
			return nil, err
		}
		return newMQTTConn(conn, maxInboundPacket, func(topic string, size int) {
			m.refuseDropped(answering, topic, size)
		}), nil
	}
}

// refuseDropped answers a command that mqttConn dropped for its size as
// commandHandler answers one a little over MaxCommandSize: `payload is N
// bytes, more than the 65536 allowed`, without an id (it was not read). A
// dropped message on another topic is only logged at debug level.
//
// It is called from paho's reading goroutine, where publishing could wait
// for paho's writer (up to its write timeout) while the broker waits for
// the agent to read. So the answer is published from a goroutine of its
// own, which ends once paho took it (or refused it: not connected, the
// write timeout); at most cap(answering) of them at a time, and a command
// dropped while they are all busy (a flood) goes unanswered.
func (m *MQTT) refuseDropped(answering chan struct{}, topic string, size int) {
	c := m.client.Load()
	if topic != m.topics.Command() || c == nil {
		m.log.Debug("oversize message dropped", "topic", topic, "bytes", size)
		return
	}
	select {
	case answering <- struct{}{}:
	default:
		m.log.Debug("oversize command dropped unanswered: answers busy", "bytes", size)
		return
	}
	result := m.topics.CommandResult()
	r := Request{Via: "mqtt " + topic, log: m.log,
		answer: func(b []byte) error {
			(*c).Publish(result, 1, false, b) // paho sends it; the token is not waited for
			return nil
		}}
	go func() {
		defer func() { <-answering }()
		r.Answer(oversizeReply(size))
	}()
}
