package bus

import (
	"slices"
	"sync"
	"testing"
)

// commandLog is a hand-written agent for the transport tests: it answers
// every request it is handed OK with the command's id, and remembers the
// ids, so a test can tell what reached the agent from what the bus
// refused on arrival.
type commandLog struct {
	mu  sync.Mutex
	ids []string
}

// serveCommands answers the requests of cmds until the test ends.
func serveCommands(t *testing.T, cmds <-chan Request) *commandLog {
	t.Helper()
	l := &commandLog{}
	done := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case r := <-cmds:
				id := peekCommandID(r.Payload)
				l.mu.Lock()
				l.ids = append(l.ids, id)
				l.mu.Unlock()
				r.Answer(Reply{ID: id, OK: true})
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return l
}

func (l *commandLog) seen() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ids)
}

func TestPeekCommandID(t *testing.T) {
	for _, tc := range []struct{ payload, want string }{
		{`{"id":"a","op":"x"}`, "a"},
		{`{"op":"x","args":{"id":"inner"},"id":"a"}`, "a"},         // only the top level counts
		{`{"args":{"id":"inner"},"op":"x"}`, ""},                   // an id in args is not the command's
		{`{"ID":"a"}`, ""},                                         // exact key only
		{`{"id":"a","id":"b"}`, ""},                                // two ids: neither is trusted
		{`{"id":"a","\u0069d":"b"}`, ""},                           // the same key, escaped
		{`{"id":["a"]}`, ""},                                       // not a string
		{`{"id":"a b"}`, ""},                                       // not a valid id
		{`{"id":"a","op":`, ""},                                    // truncated
		{`{"pad":[[{"id":"x"}]],"id":"a","op":"get_config"}`, "a"}, // nested values skipped
		{`[{"id":"a"}]`, ""},
		{``, ""},
	} {
		if got := peekCommandID([]byte(tc.payload)); got != tc.want {
			t.Errorf("peekCommandID(%s) = %q, want %q", tc.payload, got, tc.want)
		}
	}
}
