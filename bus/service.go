package bus

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// The agent's NATS micro service: on the agent's own connection, a service
// named edge-agent whose endpoints, edge.<device>.svc.<op>, take the
// commands of edge.<device>.cmd one operation each, so that standard tools
// ($SRV.PING, $SRV.INFO, $SRV.STATS; nats micro list) find every device,
// its version, cameras and counters. The endpoints only carry: a request
// goes to Commands() like one on edge.<device>.cmd, with Request.Op set,
// and the agent's Reply comes back as the answer.

// ServiceName is the name of the agent's micro service.
const ServiceName = "edge-agent"

// ServiceSubject is the subject of the micro service endpoint of a
// device's operation op: edge.<device>.svc.<op>.
func ServiceSubject(device, op string) string { return serviceGroup(device) + "." + op }

// serviceGroup is the prefix of a device's endpoints: edge.<device>.svc.
func serviceGroup(device string) string { return "edge." + device + ".svc" }

// ServiceStats is the data of each endpoint in the service's $SRV.STATS
// answer: the device's event counters (NATS.Stats) when STATS was asked.
// They are the device's, not the endpoint's, so every endpoint carries the
// same: micro keeps per-endpoint data only.
type ServiceStats struct {
	EventsPublished uint64 `json:"events_published"` // Stats.Published
	EventsPending   int    `json:"events_pending"`   // Stats.Pending
	EventsDropped   uint64 `json:"events_dropped"`   // Stats.Dropped
	EventsInvalid   uint64 `json:"events_invalid"`   // Stats.Invalid
	RefusedReplies  uint64 `json:"refused_replies"`  // Stats.RefusedReplies
}

// The micro error codes of the endpoints' answers.
const (
	serviceRefused  = "400" // the Reply is not OK: the command was refused
	serviceStopping = "503" // the agent stopped before it answered
)

// natsService is the NATS client's micro service: what it announces and
// the instance registered on the connection.
type natsService struct {
	mu      sync.Mutex
	version string   // SetServiceVersion's
	cameras []string // SetServiceCameras', sorted
	// nc and ctx are run's connection and context while it holds them
	// (startService until its stop): ctx's end releases the endpoints
	// still waiting for the agent's answer.
	nc  *nats.Conn
	ctx context.Context
	svc micro.Service // nil when not registered
}

// SetServiceVersion sets the version the micro service announces, the
// agent's. Call it before Run. micro takes SemVer only: a leading "v" is
// dropped (v1.2.3 is announced as 1.2.3) and another version is announced
// as the pre-release of 0.0.0 (dev as 0.0.0-dev).
func (n *NATS) SetServiceVersion(version string) {
	s := &n.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	if version == s.version {
		return
	}
	s.version = version
	n.reregisterService()
}

// SetServiceCameras sets the cameras the micro service announces in its
// metadata ("cameras", comma-separated, sorted). micro fixes the metadata
// when a service is added, so while Run runs a different list stops the
// service and adds it again on the same connection: the instance gets a
// new id, its $SRV.STATS counts start again, and a request that reaches
// the server in between (a PING, a command on an endpoint) finds no
// responder. The same list again changes nothing. It is safe for
// concurrent use.
func (n *NATS) SetServiceCameras(names []string) {
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	s := &n.svc
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Equal(names, s.cameras) {
		return
	}
	s.cameras = names
	n.reregisterService()
}

// startService registers the micro service on run's connection nc, which
// it keeps across reconnections (nats.go subscribes again); stop removes
// it. Requests waiting for the agent's answer when ctx ends are answered
// 503. A service that cannot be registered is logged: the agent still
// takes its commands on edge.<device>.cmd.
func (n *NATS) startService(ctx context.Context, nc *nats.Conn) (stop func()) {
	s := &n.svc
	s.mu.Lock()
	s.nc, s.ctx = nc, ctx
	n.addService()
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		n.stopService()
		s.nc, s.ctx = nil, nil
	}
}

// reregisterService adds the service again with what it announces now,
// when run holds a connection. n.svc.mu is held.
func (n *NATS) reregisterService() {
	if n.svc.nc == nil {
		return // the next start announces it
	}
	n.stopService()
	n.addService()
}

// stopService stops the registered service, if any. Its endpoints'
// subscriptions drain: a request already received is still answered.
// n.svc.mu is held.
func (n *NATS) stopService() {
	s := &n.svc
	if s.svc == nil {
		return
	}
	if err := s.svc.Stop(); err != nil {
		n.log.Warn("micro service not stopped cleanly", "service", ServiceName, "err", err)
	}
	s.svc = nil
}

// addService registers the service on n.svc.nc: its identity, one endpoint
// per operation, the stats handler. n.svc.mu is held.
func (n *NATS) addService() {
	s := &n.svc
	if s.nc.IsClosed() {
		return
	}
	device := n.cfg.Device
	svc, err := micro.AddService(s.nc, micro.Config{
		Name:        ServiceName,
		Version:     serviceVersion(s.version),
		Description: "edge-agent of device " + device + ": one endpoint per command operation of edge." + device + ".cmd (docs/commands.md)",
		Metadata:    map[string]string{"device": device, "cameras": strings.Join(s.cameras, ",")},
		// No queue group: a device's endpoints have one subscriber, the
		// agent. With one, any client allowed to subscribe to them could
		// join the group and take requests away from the agent.
		QueueGroupDisabled: true,
		StatsHandler:       func(*micro.Endpoint) any { return n.serviceStats() },
		ErrorHandler: func(_ micro.Service, err *micro.NATSError) {
			// A subscription refused (permissions) or too slow (a flood
			// over the pending limits): reported by nats.go once per
			// occurrence, not per message.
			n.log.Warn("micro service subscription error", "service", ServiceName, "subject", err.Subject, "err", err.Description)
		},
	})
	if err != nil {
		n.log.Warn("micro service not registered; commands still work on "+CommandSubject(device), "service", ServiceName, "err", err)
		return
	}
	g := svc.AddGroup(serviceGroup(device))
	for _, op := range ops() {
		// One request waits for the agent's answer at a time per endpoint
		// (the agent handles commands one at a time anyway); the next
		// wait in the subscription, at most a queue's worth: beyond, nats.go
		// drops them (the requester times out) and micro counts an error.
		err := g.AddEndpoint(op, n.endpoint(s.ctx, op),
			micro.WithEndpointPendingLimits(commandQueueSize, (commandQueueSize+1)*MaxCommandSize))
		if err != nil {
			_ = svc.Stop()
			n.log.Warn("micro service not registered; commands still work on "+CommandSubject(device), "service", ServiceName,
				"endpoint", ServiceSubject(device, op), "err", err)
			return
		}
	}
	s.svc = svc
}

// endpoint is the handler of operation op's endpoint. It refuses what
// subscribeCommands refuses where it arrives (a reply subject that is not
// an inbox: dropped and counted; a payload over MaxCommandSize: answered
// at once), hands the rest to Commands() with Op set, and waits for the
// agent's answer, or for ctx's end, so that micro counts the request and
// its error when the answer is one.
func (n *NATS) endpoint(ctx context.Context, op string) micro.HandlerFunc {
	return func(req micro.Request) {
		reply := req.Reply()
		if reply != "" && !replyAllowed(reply, n.replyTo) {
			n.sp.refuseReply(reply)
			return
		}
		data := req.Data()
		if len(data) > MaxCommandSize {
			n.respond(req, oversizeReply(len(data)), serviceRefused)
			return
		}
		r := Request{Payload: data, Via: "nats " + req.Subject(), Op: op, log: n.log}
		if reply == "" {
			n.cmds.offer(r) // a plain publish asked for no answer
			return
		}
		answered := make(chan Reply, 1)
		r.reply = func(rep Reply) {
			select {
			case answered <- rep:
			default: // answered already: the first answer stands
			}
		}
		n.cmds.offer(r) // answers "busy" itself when the queue is full
		select {
		case rep := <-answered:
			n.respond(req, rep, serviceRefused)
		case <-ctx.Done():
			n.respond(req, Reply{ID: peekCommandID(data),
				Error: "edge-agent stopped before answering: the command may not have been applied"}, serviceStopping)
		}
	}
}

// respond sends rep as an endpoint's answer: its JSON, with micro's error
// headers (code, and rep.Error on one line as the description) when it is
// not OK, so that $SRV.STATS counts it as an error.
func (n *NATS) respond(req micro.Request, rep Reply, code string) {
	if req.Reply() == "" {
		return
	}
	b, err := json.Marshal(rep)
	if err == nil {
		if rep.OK {
			err = req.Respond(b)
		} else {
			desc := strings.Join(strings.Fields(rep.Error), " ") // errors.Join's lines on one
			if desc == "" {
				desc = "command refused"
			}
			err = req.Error(code, desc, b)
		}
	}
	if err != nil {
		n.log.Warn("command reply not sent", "via", "nats "+req.Subject(), "id", rep.ID, "err", err)
	}
}

// serviceStats is every endpoint's data in $SRV.STATS.
func (n *NATS) serviceStats() ServiceStats {
	st := n.Stats()
	return ServiceStats{EventsPublished: st.Published, EventsPending: st.Pending, EventsDropped: st.Dropped,
		EventsInvalid: st.Invalid, RefusedReplies: st.RefusedReplies}
}

// serviceSubjects are the subjects the micro service subscribes to, for
// the embedded server's agent permissions: its endpoints
// (edge.<device>.svc.*) and micro's PING, INFO and STATS of every service,
// of edge-agent and of this instance ($SRV.<verb>.edge-agent.<id>, whose
// id changes each time the service is added). It publishes only answers,
// which the response permission allows.
func serviceSubjects(device string) []string {
	subs := []string{ServiceSubject(device, "*")}
	for _, verb := range []micro.Verb{micro.PingVerb, micro.InfoVerb, micro.StatsVerb} {
		all, _ := micro.ControlSubject(verb, "", "") // cannot fail for these verbs
		subs = append(subs, all, all+"."+ServiceName, all+"."+ServiceName+".*")
	}
	return subs
}

// serviceVersion is version as micro takes it, SemVer (semver.org's
// expression, as micro checks): without a leading "v" when the rest is
// SemVer (v1.2.3, git describe's v1.2.3-4-gabcdef), else the pre-release of
// 0.0.0 with every character outside [0-9A-Za-z-] made '-' (dev becomes
// 0.0.0-dev); empty, 0.0.0.
func serviceVersion(version string) string {
	semVer := regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)
	if v := strings.TrimPrefix(version, "v"); semVer.MatchString(v) {
		return v
	}
	if version == "" {
		return "0.0.0"
	}
	pre := []byte(version)
	for i, c := range pre {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
			pre[i] = '-'
		}
	}
	if v := "0.0.0-" + string(pre); semVer.MatchString(v) {
		return v
	}
	return "0.0.0-x" + string(pre) // digits only with a leading zero (0123): not a SemVer identifier alone
}
