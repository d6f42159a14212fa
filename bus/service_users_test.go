package bus

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"
)

// With a users file the agent's own user may serve its micro service
// (serviceSubjects in agentPermissions) and an operator may discover it
// and send a command to an endpoint; the server logs no refusal of the
// agent's or the operator's.
func TestServiceUsers(t *testing.T) {
	f := startSecuredNATS(t, nil)
	serveParsed(t, f.n.Commands())
	nc := f.mustConnect(t, f.operator()...)
	waitForService(t, nc)
	var info micro.Info
	srv(t, nc, "$SRV.INFO."+ServiceName, &info)
	if info.Metadata["device"] != "d1" || len(info.Endpoints) != len(ops()) {
		t.Fatalf("INFO %+v", info)
	}
	m, err := nc.Request(ServiceSubject("d1", OpGetConfig), []byte(`{}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rep Reply
	if err := json.Unmarshal(m.Data, &rep); err != nil || !rep.OK {
		t.Fatalf("answer %s (%v)", m.Data, err)
	}
	if _, err := nc.Request("$SRV.STATS."+ServiceName, nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(f.log.String(), "\n") {
		if strings.Contains(line, "Violation") {
			t.Errorf("refused: %s", line)
		}
	}
}
