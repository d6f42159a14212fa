package fleete2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"edge-agent/internal/testenv"
)

// hubNodes is the size of the hub cluster: JetStream's R3 needs three.
const hubNodes = 3

// hub is the fleet's hub: three nats-server processes started from
// deploy/hub/hub.conf, each with its settings in the environment as the
// shipped hub-node.env.example has them, on loopback ports picked now.
type hub struct {
	t         *testing.T
	nodes     []*hubNode
	passwords map[string]string // user → password in clear: operator, cloud, device, admin
}

// hubNode is one node and the proxy the devices reach its leafnode
// listener through (the address it advertises to them).
type hubNode struct {
	name                           string
	client, cluster, leaf, monitor int
	proxy                          *linkProxy
	proc                           *process
}

// hubConfig is the shipped configuration the nodes run.
func hubConfig(t *testing.T) string {
	return filepath.Join(testenv.RepoRoot(t), "deploy", "hub", "hub.conf")
}

// startHub starts the three nodes and waits until every one says JetStream
// is healthy (a meta leader elected, the node current).
func startHub(t *testing.T) *hub {
	t.Helper()
	bin := natsServerBinary(t)
	h := &hub{t: t, passwords: map[string]string{}}
	hashes := map[string]string{}
	for _, user := range []string{"operator", "cloud", "device", "admin", "route"} {
		h.passwords[user] = randomPassword(t)
		// bcrypt as in production (cost 4 to keep logins fast here).
		hash, err := bcrypt.GenerateFromPassword([]byte(h.passwords[user]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		hashes[user] = string(hash)
	}
	var routes []string
	for i := range hubNodes {
		n := &hubNode{name: fmt.Sprintf("hub-%d", i+1), client: testenv.FreePort(t), cluster: testenv.FreePort(t),
			leaf: testenv.FreePort(t), monitor: testenv.FreePort(t)}
		n.proxy = newLinkProxy(t, "127.0.0.1:"+strconv.Itoa(n.leaf))
		routes = append(routes, fmt.Sprintf("nats-route://route:%s@127.0.0.1:%d", h.passwords["route"], n.cluster))
		h.nodes = append(h.nodes, n)
	}
	for _, n := range h.nodes {
		n.proc = &process{t: t, name: n.name, path: bin, args: []string{"-c", hubConfig(t)}, env: []string{
			"HUB_NAME=" + n.name,
			"HUB_CLIENT_LISTEN=127.0.0.1:" + strconv.Itoa(n.client),
			"HUB_MONITOR_LISTEN=127.0.0.1:" + strconv.Itoa(n.monitor),
			"HUB_CLUSTER_LISTEN=127.0.0.1:" + strconv.Itoa(n.cluster),
			"HUB_LEAF_LISTEN=127.0.0.1:" + strconv.Itoa(n.leaf),
			"HUB_LEAF_ADVERTISE=" + n.proxy.addr(),
			"HUB_STORE_DIR=" + t.TempDir(),
			"HUB_ROUTES=[" + strings.Join(routes, ", ") + "]",
			"HUB_ROUTE_PASSWORD=" + hashes["route"],
			"HUB_OPERATOR_PASSWORD=" + hashes["operator"],
			"HUB_CLOUD_PASSWORD=" + hashes["cloud"],
			"HUB_DEVICE_PASSWORD=" + hashes["device"],
			"HUB_ADMIN_PASSWORD=" + hashes["admin"],
		}}
		n.proc.start()
	}
	t.Cleanup(func() {
		for _, n := range h.nodes {
			n.proc.kill()
			if t.Failed() {
				t.Logf("%s output, last 30 lines:\n%s", n.name, n.proc.log.tail(30))
			}
		}
	})
	h.waitHealthy(60 * time.Second)
	return h
}

func randomPassword(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// waitHealthy waits until every running node's /healthz answers 200: its
// JetStream has a meta leader and is current.
func (h *hub) waitHealthy(timeout time.Duration) {
	h.t.Helper()
	var procs []*process
	for _, n := range h.nodes {
		if n.proc.running() {
			procs = append(procs, n.proc)
		}
	}
	for _, n := range h.nodes {
		if !n.proc.running() {
			continue
		}
		waitFor(h.t, timeout, n.name+" /healthz 200", func() bool {
			code, _ := httpGet(fmt.Sprintf("http://127.0.0.1:%d/healthz", n.monitor))
			return code == 200
		}, procs...)
	}
}

// clientURLs are the running nodes' client URLs, comma-separated.
func (h *hub) clientURLs() string {
	var urls []string
	for _, n := range h.nodes {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", n.client))
	}
	return strings.Join(urls, ",")
}

// leafURL is the URL an agent's EDGE_NATS_LEAF_REMOTES names: the device
// user through node i's proxy. The hub tells the agent's server the other
// nodes' (advertised) addresses.
func (h *hub) leafURL(i int) string {
	return fmt.Sprintf("nats-leaf://device:%s@%s", h.passwords["device"], h.nodes[i].proxy.addr())
}

// connect connects as user (operator or cloud) to every node's client
// port, reconnecting for as long as the test runs.
func (h *hub) connect(user string, opts ...nats.Option) *nats.Conn {
	h.t.Helper()
	opts = append([]nats.Option{nats.UserInfo(user, h.passwords[user]), nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond), nats.Timeout(5 * time.Second)}, opts...)
	nc, err := nats.Connect(h.clientURLs(), opts...)
	if err != nil {
		h.t.Fatalf("connect to the hub as %s: %v", user, err)
	}
	h.t.Cleanup(nc.Close)
	return nc
}

// edgectl runs bin/edgectl (built from ./cmd/edgectl) as the operator and
// returns its standard output; a failure fails the test.
func (h *hub) edgectl(args ...string) string {
	h.t.Helper()
	out, errOut, err := h.runEdgectl(args...)
	if err != nil {
		h.t.Fatalf("edgectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// runEdgectl runs bin/edgectl as the operator and returns what it wrote
// and how it ended.
func (h *hub) runEdgectl(args ...string) (stdout, stderr string, err error) {
	h.t.Helper()
	cmd := exec.Command(program(h.t, "edgectl"), args...)
	cmd.Env = append(cmd.Environ(), "EDGECTL_NATS_URL="+h.clientURLs(), "EDGECTL_NATS_USER=operator",
		"EDGECTL_NATS_PASSWORD="+h.passwords["operator"], "EDGECTL_TIMEOUT=10s")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// initBuckets makes edge_config and edge_status with three replicas, as the
// operator does: edgectl init --replicas 3.
func (h *hub) initBuckets() {
	h.t.Helper()
	h.edgectl("init", "--replicas", "3")
}

// gather makes (or extends) the hub stream EDGE_FLEET with three replicas,
// sourcing the devices' streams: edgectl gather --replicas 3 <devices>.
func (h *hub) gather(devices ...string) {
	h.t.Helper()
	h.edgectl(append([]string{"gather", "--replicas", "3"}, devices...)...)
}

// leafCount is how many leaf connections node i has, from its /leafz; -1
// when it does not answer.
func (h *hub) leafCount(i int) int {
	code, body := httpGet(fmt.Sprintf("http://127.0.0.1:%d/leafz", h.nodes[i].monitor))
	if code != 200 {
		return -1
	}
	var lz struct {
		Leafs []json.RawMessage `json:"leafs"`
	}
	if json.Unmarshal(body, &lz) != nil {
		return -1
	}
	return len(lz.Leafs)
}

// leafOf says whether a node of the hub has the leaf connection of the
// embedded server named server (edge-<device>), and which.
func (h *hub) leafOf(server string) (int, bool) {
	for i, n := range h.nodes {
		if !n.proc.running() {
			continue
		}
		code, body := httpGet(fmt.Sprintf("http://127.0.0.1:%d/leafz", n.monitor))
		if code != 200 {
			continue
		}
		var lz struct {
			Leafs []struct {
				Name string `json:"name"`
			} `json:"leafs"`
		}
		if json.Unmarshal(body, &lz) != nil {
			continue
		}
		for _, l := range lz.Leafs {
			if l.Name == server {
				return i, true
			}
		}
	}
	return -1, false
}

// sever cuts every device's link to the hub (the proxies of all nodes).
func (h *hub) sever() {
	for _, n := range h.nodes {
		n.proxy.sever()
	}
}

// restore lets the devices reach the hub again.
func (h *hub) restore() {
	for _, n := range h.nodes {
		n.proxy.restore()
	}
}

// nodeIndex is the index of the node named name.
func (h *hub) nodeIndex(name string) int {
	h.t.Helper()
	for i, n := range h.nodes {
		if n.name == name {
			return i
		}
	}
	h.t.Fatalf("no hub node named %q", name)
	return -1
}

// streamLeader is the node that leads the stream's replicas.
func streamLeader(ctx context.Context, js jetstream.JetStream, stream string) (string, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return "", err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return "", err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "", errors.New("no leader")
	}
	return info.Cluster.Leader, nil
}

// TestHubEnvExampleSetsEveryVariable: deploy/hub/hub-node.env.example sets
// exactly the variables deploy/hub/hub.conf reads, so a node set up from it
// starts (nats-server refuses a configuration with an unset variable).
func TestHubEnvExampleSetsEveryVariable(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(t), "deploy", "hub")
	conf, err := os.ReadFile(filepath.Join(dir, "hub.conf"))
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(dir, "hub-node.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$(HUB_[A-Z_]+)`).FindAllStringSubmatch(string(conf), -1) {
		read[m[1]] = true
	}
	set := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^(HUB_[A-Z_]+)=`).FindAllStringSubmatch(string(example), -1) {
		set[m[1]] = true
	}
	if len(read) == 0 {
		t.Fatal("hub.conf reads no HUB_ variable")
	}
	testenv.SameSet(t, read, set, "hub.conf reads $%s, which hub-node.env.example does not set",
		"hub-node.env.example sets %s, which hub.conf does not read")
}
