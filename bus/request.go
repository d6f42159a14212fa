package bus

import (
	"bytes"
	"encoding/json"
	"log/slog"
)

// FleetCommandSubject is the NATS subject every agent of a fleet obeys, each
// answering on the request's reply subject.
const FleetCommandSubject = "edge.fleet.cmd"

// CommandSubject is the subject of a device's commands (request/reply).
func CommandSubject(device string) string { return "edge." + device + ".cmd" }

// Request is a command as received on a bus, with the means to answer it.
// The bus only hands it over: parsing, checking and applying it is the
// agent's (ParseCommandAs(Payload, Op), then its own rules).
type Request struct {
	Payload []byte
	Via     string // the transport and subject or topic, for logs
	// Op is the operation the subject implies: the endpoint's on the micro
	// service's edge.<device>.svc.<op>, empty where the envelope names it
	// (edge.<device>.cmd, edge.fleet.cmd, MQTT).
	Op     string
	answer func(payload []byte) error
	// reply, when set, takes the Reply itself instead of answer taking its
	// JSON: a micro service endpoint sends it with the headers of a micro
	// error when it is not OK.
	reply func(rep Reply)
	log   *slog.Logger
}

// Answer sends the reply where the request asked (the NATS reply subject,
// the MQTT result topic). It does not wait for the broker.
func (r Request) Answer(rep Reply) {
	if r.reply != nil {
		r.reply(rep)
		return
	}
	if r.answer == nil {
		return
	}
	b, err := json.Marshal(rep)
	if err == nil {
		err = r.answer(b)
	}
	if err != nil && r.log != nil {
		r.log.Warn("command reply not sent", "via", r.Via, "id", rep.ID, "err", err)
	}
}

// commandQueue hands requests from a client's subscription callbacks to the
// agent. It is small: commands are rare, and a flood is answered "busy" at
// once rather than queued.
type commandQueue chan Request

const commandQueueSize = 16

func newCommandQueue() commandQueue { return make(commandQueue, commandQueueSize) }

// offer hands a request over without blocking the client's dispatcher.
func (q commandQueue) offer(r Request) {
	select {
	case q <- r:
	default:
		r.Answer(Reply{ID: peekCommandID(r.Payload), Error: "busy: too many commands waiting, try again"})
	}
}

// oversizeReply answers a payload of size bytes, over MaxCommandSize, where
// it arrives: it is neither queued nor parsed (its id is not read).
func oversizeReply(size int) Reply {
	return Reply{Error: oversizeError(size).Error()}
}

// peekCommandID reads a command's id, if it has a readable one, to answer a
// request that will not be parsed or was refused: the string value of the
// one top-level key spelled exactly "id", in a well-formed JSON object of
// at most MaxCommandSize bytes, when it is a valid id. Two ids give none.
func peekCommandID(payload []byte) string {
	if t := bytes.TrimSpace(payload); len(payload) > MaxCommandSize || len(t) == 0 || t[0] != '{' {
		return ""
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var id string
	ids, depth, key := 0, 0, true // key: the next token at depth 1 is a key
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		if depth == 1 && key {
			if tok == json.Delim('}') {
				break
			}
			key = false
			if tok != "id" {
				continue
			}
			ids++
			if tok, err = d.Token(); err != nil {
				return ""
			}
			id, _ = tok.(string)
			if _, ok := tok.(json.Delim); !ok {
				key = true // a scalar: the id's value is read
				continue
			}
			id = "" // an object or array: not an id
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 1 {
			key = true // a value at depth 1 is complete
		}
	}
	if ids != 1 || !validCommandID(id) {
		return ""
	}
	return id
}
