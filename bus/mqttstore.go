package bus

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// orderedStore wraps paho's message store (its FileStore in the state
// directory, or a MemoryStore) and fixes two things found reading paho
// v1.5.1:
//
//   - After a (re)connect paho resends the stored QoS 1/2 messages in the
//     order the store's All returns. FileStore.All sorts the files by
//     modification time with an unstable sort, and os.ReadDir lists them
//     by name ("o.10" before "o.9"), so messages written within one file
//     system clock tick can be resent out of order; MemoryStore.All walks a
//     map. All here returns outbound keys in the order their packet ids
//     were issued (ascending, wrapping at 65535).
//
//   - FileStore panics on any file system error (disk full), from paho's
//     goroutines. Here the panic is recovered and logged: the message is
//     then only in the outbox, which resends it.
//
//   - Paho marks a new connection up before it resends the stored
//     messages (resume), so it also resends messages published on the new
//     connection in the meantime: duplicates, and a stale retained value
//     arriving after a newer one. All here hides the messages stored
//     during the current connection attempt: resume sends only what was
//     stored before it.
//
//   - Resume sets the DUP flag on the packet Get returns, and MemoryStore
//     returns the very packet the publisher handed to paho's writer. A
//     message stored during an earlier attempt whose Publish was still
//     waiting to reach the writer is encoded by the new connection's
//     writer while resume flags it: a data race (paho issue 703, seen by
//     the race detector in CI). Get here returns a copy of a publish
//     packet, as FileStore does by reading the file.
//
// It also counts the outbound messages held, which the sender uses to know
// when everything handed to paho has been acknowledged, and signals each
// deletion (an acknowledgement) on changed.
type orderedStore struct {
	inner   mqtt.Store
	log     *slog.Logger
	gen     func() uint64 // the current connection attempt
	changed chan struct{}

	mu  sync.Mutex
	put map[string]uint64 // attempt during which a key was stored; absent: loaded from disk
}

func newOrderedStore(inner mqtt.Store, gen func() uint64, log *slog.Logger) *orderedStore {
	return &orderedStore{inner: inner, log: log, gen: gen, changed: make(chan struct{}, 1), put: map[string]uint64{}}
}

func (s *orderedStore) guard(op string) {
	if r := recover(); r != nil {
		s.log.Warn("mqtt message store failed", "op", op, "err", fmt.Sprint(r))
	}
}

// Open opens the inner store.
func (s *orderedStore) Open() {
	defer s.guard("open")
	s.inner.Open()
}

// Put stores a packet, except an inbound publish over MaxCommandSize:
// paho stores a QoS 1/2 message it receives before it hands it to the
// handler, which refuses one that big (the FileStore would write it to
// disk first). Paho has by then read it into memory whole, which no client
// setting bounds: the broker's max_packet_size does.
func (s *orderedStore) Put(key string, m packets.ControlPacket) {
	defer s.guard("put")
	if p, ok := m.(*packets.PublishPacket); ok && strings.HasPrefix(key, "i.") && len(p.Payload) > MaxCommandSize {
		return // paho's Del of the missing key after the acknowledgement only logs
	}
	s.mu.Lock()
	s.put[key] = s.gen()
	s.mu.Unlock()
	s.inner.Put(key, m)
}

// Get loads a packet: a copy, for a publish packet.
func (s *orderedStore) Get(key string) (p packets.ControlPacket) {
	defer s.guard("get")
	m := s.inner.Get(key)
	if pub, ok := m.(*packets.PublishPacket); ok {
		return copyPublish(pub)
	}
	return m
}

// copyPublish copies the fields of a publish packet that PublishPacket.Write
// encodes. It does not read RemainingLength, which Write sets on the packet
// it encodes, possibly at this moment; the payload is shared, and nobody
// writes to it once published.
func copyPublish(p *packets.PublishPacket) *packets.PublishPacket {
	c := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	c.Dup, c.Qos, c.Retain = p.Dup, p.Qos, p.Retain
	c.TopicName, c.MessageID, c.Payload = p.TopicName, p.MessageID, p.Payload
	return c
}

// All lists the keys stored before the current connection attempt:
// inbound ones first, then outbound ones in the order their ids were
// issued.
func (s *orderedStore) All() (keys []string) {
	defer s.guard("all")
	cur := s.gen()
	s.mu.Lock()
	for _, k := range s.inner.All() {
		if g, ok := s.put[k]; !ok || g < cur {
			keys = append(keys, k)
		}
	}
	s.mu.Unlock()
	return orderKeys(keys)
}

// Del removes a packet (paho calls it when the broker acknowledged one).
func (s *orderedStore) Del(key string) {
	defer signal(s.changed)
	defer s.guard("del")
	s.mu.Lock()
	delete(s.put, key)
	s.mu.Unlock()
	s.inner.Del(key)
}

// Close closes the inner store.
func (s *orderedStore) Close() {
	defer s.guard("close")
	s.inner.Close()
}

// Reset empties the inner store.
func (s *orderedStore) Reset() {
	defer signal(s.changed)
	defer s.guard("reset")
	s.mu.Lock()
	clear(s.put)
	s.mu.Unlock()
	s.inner.Reset()
}

// outbound counts the outbound packets held (not yet acknowledged).
func (s *orderedStore) outbound() (n int) {
	defer s.guard("all")
	for _, k := range s.inner.All() {
		if strings.HasPrefix(k, "o.") {
			n++
		}
	}
	return n
}

// orderKeys puts inbound keys ("i.<id>") first, in their given order, then
// outbound keys ("o.<id>") in issue order. Paho issues ids counting up from
// the last one and wrapping from 65535 to 1, and never has more than a few
// thousand outstanding here, so the issue order is the ascending order
// started just after the widest gap between consecutive ids.
func orderKeys(keys []string) []string {
	var in []string
	var ids []int
	for _, k := range keys {
		if rest, ok := strings.CutPrefix(k, "o."); ok {
			if id, err := strconv.Atoi(rest); err == nil {
				ids = append(ids, id)
				continue
			}
		}
		in = append(in, k)
	}
	slices.Sort(ids)
	start := 0
	if len(ids) > 1 {
		widest := ids[0] + 65535 - ids[len(ids)-1] // the gap across the wrap
		for i := 1; i < len(ids); i++ {
			if gap := ids[i] - ids[i-1]; gap > widest {
				widest, start = gap, i
			}
		}
	}
	out := in
	for i := range ids {
		out = append(out, "o."+strconv.Itoa(ids[(start+i)%len(ids)]))
	}
	return out
}
