package bus

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"

	"edge-agent/internal/backoff"
)

// --- fixtures ---

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// bcryptHash is a bcrypt hash of pw at the least cost the users file takes.
func bcryptHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), minBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// newUserNKey makes a user nkey: its public key, and its seed in a file
// for nats.NkeyOptionFromSeed.
func newUserNKey(t testing.TB, dir string) (pub, seedFile string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ = kp.PublicKey()
	seed, _ := kp.Seed()
	return pub, writeFile(t, dir, pub+".nk", string(seed))
}

// pki is a CA, a certificate for 127.0.0.1 signed by it and a client
// certificate signed by it, as PEM files.
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func writePKI(t testing.TB, dir string) pki {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		return writeFile(t, dir, name, string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edge test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(k)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	p := pki{ca: write("ca.pem", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

// operator is a NATS operator with one account and one user of it: what a
// hub in operator mode (JWT authentication) trusts.
type operator struct {
	claims     *jwt.OperatorClaims
	accountPub string
	accountJWT string
	userJWT    string
	userSeed   []byte
	creds      string // the user's credentials file
}

func newOperator(t testing.TB, dir string) operator {
	t.Helper()
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	ojwt, err := oc.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := jwt.DecodeOperatorClaims(ojwt)
	if err != nil {
		t.Fatal(err)
	}
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ajwt, err := jwt.NewAccountClaims(apub).Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	useed, _ := ukp.Seed()
	ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := jwt.FormatUserConfig(ujwt, useed)
	if err != nil {
		t.Fatal(err)
	}
	return operator{claims: claims, accountPub: apub, accountJWT: ajwt, userJWT: ujwt, userSeed: useed,
		creds: writeFile(t, dir, "leaf.creds", string(creds))}
}

// writeCreds writes a valid credentials file.
func writeCreds(t testing.TB, dir string) string { return newOperator(t, dir).creds }

// logBuffer keeps everything logged, as text, for tests that look for a
// line or make sure a secret was never printed.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// count is how many lines hold s.
func (l *logBuffer) count(s string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

func newLogBuffer() (*logBuffer, *slog.Logger) {
	b := &logBuffer{}
	return b, slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// asyncErrors collects a connection's asynchronous errors (permission
// violations).
type asyncErrors struct {
	mu   sync.Mutex
	errs []string
}

func (a *asyncErrors) option() nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.errs = append(a.errs, err.Error())
	})
}

func (a *asyncErrors) has(s string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.ContainsFunc(a.errs, func(e string) bool { return strings.Contains(e, s) })
}

// --- users file ---

func TestLoadServerUsers(t *testing.T) {
	dir := t.TempDir()
	hash := bcryptHash(t, "right-pw")
	weak, err := bcrypt.GenerateFromPassword([]byte("x"), 5) // htpasswd -B's default cost
	if err != nil {
		t.Fatal(err)
	}
	pub, seedFile := newUserNKey(t, dir)
	seed, _ := os.ReadFile(seedFile)
	for _, tc := range []struct {
		name    string
		content string
		want    []serverUser // or
		err     string       // the error after "<path>: "
	}{
		{"yaml", "# the device's users\nusers:\n  - name: ops\n    role: operator\n    password_bcrypt: '" + hash + "'\n  - name: dash-1\n    role: reader\n    nkey: " + pub + "\n",
			[]serverUser{{name: "ops", role: roleOperator, passwordHash: hash}, {name: "dash-1", role: roleReader, nkey: pub}}, ""},
		{"json", `{"users":[{"name":"ops","role":"operator","password_bcrypt":"` + hash + `"}]}`,
			[]serverUser{{name: "ops", role: roleOperator, passwordHash: hash}}, ""},
		{"empty", "", nil, "no users"},
		{"no users", "users: []\n", nil, "no users"},
		{"unknown key", "users:\n  - {name: ops, role: operator, pasword_bcrypt: x}\n", nil, "line 2: field pasword_bcrypt not found"},
		{"unknown top-level key", "user:\n  - {name: ops}\n", nil, "line 1: field user not found"},
		{"key twice", "users:\n  - name: ops\n    name: root\n    role: operator\n    nkey: " + pub + "\n", nil, `line 3: mapping key "name" already defined at line 2`},
		{"two documents", "users: [{name: a, role: reader, nkey: " + pub + "}]\n---\nusers: []\n", nil, "more than one YAML document"},
		{"plain password", "users:\n  - {name: ops, role: operator, password: S3cretPlain}\n", nil,
			`user "ops": plain-text password refused: put a bcrypt hash in password_bcrypt (nats server passwd, or htpasswd -nbBC 11 '' PASSWORD | cut -d: -f2)`},
		{"a password that is not a hash", "users:\n  - {name: ops, role: operator, password_bcrypt: S3cretPlain}\n", nil,
			`user "ops": password_bcrypt: not a bcrypt hash ($2a$, $2b$ or $2y$ and 56 more characters)`},
		{"weak hash", "users:\n  - {name: ops, role: operator, password_bcrypt: '" + string(weak) + "'}\n", nil,
			`user "ops": password_bcrypt: cost 5 is below 10: make it again with a higher cost (htpasswd -C 11)`},
		{"unknown role", "users:\n  - {name: ops, role: admin, nkey: " + pub + "}\n", nil, `user "ops": role must be operator or reader, got "admin"`},
		{"both", "users:\n  - {name: ops, role: operator, nkey: " + pub + ", password_bcrypt: '" + hash + "'}\n", nil,
			`user "ops": give one of password_bcrypt and nkey`},
		{"neither", "users:\n  - {name: ops, role: operator}\n", nil, `user "ops": give one of password_bcrypt and nkey`},
		{"a seed for the nkey", "users:\n  - {name: ops, role: reader, nkey: " + string(seed) + "}\n", nil,
			`user "ops": nkey is not a public user nkey (56 characters starting with U; never the seed, SU...)`},
		{"duplicates and bad names", "users:\n  - {name: ops, role: reader, nkey: " + pub + "}\n  - {name: ops, role: reader, password_bcrypt: '" + hash + "'}\n  - {name: dash, role: reader, nkey: " + pub + "}\n  - {name: 'a.b', role: reader, nkey: " + pub + "}\n", nil,
			`user "ops": listed twice; user "dash": nkey of another user; users[3]: name "a.b" must be 1-64 letters, digits, '-' or '_'; users[3]: nkey of another user`},
		{"too big", "users:\n" + strings.Repeat("#"+strings.Repeat("x", 99)+"\n", 700), nil, "file too large: 70707 bytes, more than 65536"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, "users.yaml", tc.content)
			got, err := loadServerUsers(path)
			if tc.err != "" {
				if err == nil || err.Error() != path+": "+tc.err {
					t.Fatalf("error %v\nwant %s: %s", err, path, tc.err)
				}
				for _, secret := range []string{"S3cretPlain", hash, string(seed)} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("the error quotes a secret: %v", err)
					}
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if _, err := loadServerUsers(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory as users file: %v", err)
	}
}

// The roles' permissions, worked out by hand for device d1 and stream
// EDGE_d1: what each may publish and subscribe to.
func TestRolePermissions(t *testing.T) {
	read := []string{"$JS.API.STREAM.INFO.EDGE_d1", "$JS.API.STREAM.MSG.GET.EDGE_d1",
		"$JS.API.CONSUMER.CREATE.EDGE_d1", "$JS.API.CONSUMER.CREATE.EDGE_d1.>", "$JS.API.CONSUMER.INFO.EDGE_d1.*",
		"$JS.API.CONSUMER.MSG.NEXT.EDGE_d1.*", "$JS.ACK.EDGE_d1.>", "$JS.ACK.*.*.EDGE_d1.>"}
	for _, tc := range []struct {
		role     userRole
		pub, sub []string
	}{
		{roleOperator, append(slices.Clone(read), "edge.d1.cmd", "edge.fleet.cmd", "$JS.API.CONSUMER.DELETE.EDGE_d1.*",
			"edge.d1.svc.*", "$SRV.>"),
			[]string{"_INBOX.u.>", "edge.d1.>"}},
		{roleReader, append(slices.Clone(read), "$SRV.PING", "$SRV.PING.edge-agent", "$SRV.PING.edge-agent.*",
			"$SRV.INFO", "$SRV.INFO.edge-agent", "$SRV.INFO.edge-agent.*", "$SRV.STATS", "$SRV.STATS.edge-agent", "$SRV.STATS.edge-agent.*"),
			[]string{"_INBOX.u.>", "edge.d1.*.detections", "edge.d1.*.objects", "edge.d1.status"}},
	} {
		p := tc.role.permissions("u", "d1", "EDGE_d1")
		if !slices.Equal(p.Publish.Allow, tc.pub) || !slices.Equal(p.Subscribe.Allow, tc.sub) || p.Response != nil ||
			p.Publish.Deny != nil || p.Subscribe.Deny != nil {
			t.Errorf("role %d: publish %q subscribe %q response %v", tc.role, p.Publish.Allow, p.Subscribe.Allow, p.Response)
		}
	}
	a := agentPermissions("d1", "EDGE_d1")
	if want := []string{"edge.d1.*.detections", "edge.d1.*.objects", "edge.d1.status", "$JS.API.STREAM.CREATE.EDGE_d1",
		"$JS.API.STREAM.UPDATE.EDGE_d1", "$JS.API.STREAM.INFO.EDGE_d1"}; !slices.Equal(a.Publish.Allow, want) {
		t.Errorf("agent publishes %q", a.Publish.Allow)
	}
	if want := []string{"edge.d1.cmd", "edge.fleet.cmd", "_INBOX_edge_agent.>", "edge.d1.svc.*",
		"$SRV.PING", "$SRV.PING.edge-agent", "$SRV.PING.edge-agent.*", "$SRV.INFO", "$SRV.INFO.edge-agent", "$SRV.INFO.edge-agent.*",
		"$SRV.STATS", "$SRV.STATS.edge-agent", "$SRV.STATS.edge-agent.*"}; !slices.Equal(a.Subscribe.Allow, want) {
		t.Errorf("agent subscribes %q", a.Subscribe.Allow)
	}
	if a.Response == nil || a.Response.MaxMsgs != 1 {
		t.Errorf("agent answers %+v, want one answer per request", a.Response)
	}
}

// --- the secured embedded server, with real clients ---

// securedNATS runs the agent's NATS client with an embedded server on a
// free loopback port, with an operator (password over TLS) and a reader
// (nkey) and TLS; it returns the client, the log and the files.
type securedFixture struct {
	n          *NATS
	log        *logBuffer
	pki        pki
	opPassword string
	readerKey  string
	readerSeed string // file
	cfg        NATSConfig
}

func startSecuredNATS(t *testing.T, mutate func(*NATSConfig, pki)) securedFixture {
	t.Helper()
	dir := t.TempDir()
	f := securedFixture{pki: writePKI(t, dir), opPassword: "op-Secret-4711"}
	f.readerKey, f.readerSeed = newUserNKey(t, dir)
	users := writeFile(t, dir, "users.yaml", "users:\n"+
		"  - {name: ops, role: operator, password_bcrypt: '"+bcryptHash(t, f.opPassword)+"'}\n"+
		"  - {name: viewer, role: reader, nkey: "+f.readerKey+"}\n")
	f.cfg = NATSConfig{Device: "d1", StateDir: filepath.Join(dir, "state"), Listen: "127.0.0.1:-1",
		ServerUsers: users, ServerTLSCert: f.pki.serverCert, ServerTLSKey: f.pki.serverKey}
	if mutate != nil {
		mutate(&f.cfg, f.pki)
	}
	var log *slog.Logger
	f.log, log = newLogBuffer()
	n, err := NewNATS(f.cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	f.n = n
	runNATS(t, n)
	if err := n.Ready(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	return f
}

// connect connects to the embedded server over TLS with opts.
func (f securedFixture) connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.RootCAs(f.pki.ca), nats.MaxReconnects(0), nats.Timeout(5 * time.Second)}, opts...)
	return nats.Connect(f.n.ClientURL(), opts...)
}

func (f securedFixture) mustConnect(t *testing.T, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := f.connect(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func (f securedFixture) operator() []nats.Option {
	return []nats.Option{nats.UserInfo("ops", f.opPassword), nats.CustomInboxPrefix(userInbox("ops"))}
}

func (f securedFixture) reader(t *testing.T) []nats.Option {
	o, err := nats.NkeyOptionFromSeed(f.readerSeed)
	if err != nil {
		t.Fatal(err)
	}
	return []nats.Option{o, nats.CustomInboxPrefix(userInbox("viewer"))}
}

// With a users file every client logs in over TLS, and each role can do
// what it is for and nothing more: the agent's own in-process connection
// creates its stream and publishes; anonymous clients and wrong passwords
// are refused; the operator's command reaches the agent and the answer
// comes back; the reader consumes events but can neither send a command
// nor purge or delete the stream.
func TestEmbeddedServerRoles(t *testing.T) {
	if raceEnabled {
		t.Skip("race detector: each bcrypt login takes seconds in process; the run without -race checks the roles")
	}
	f := startSecuredNATS(t, nil)
	if !strings.HasPrefix(f.n.ClientURL(), "tls://127.0.0.1:") {
		t.Fatalf("client URL %s, want tls://", f.n.ClientURL())
	}
	served := serveCommands(t, f.n.Commands())
	var ids IDs
	first := testEvent(&ids, "d1", "cam1", 1, "person")
	f.n.Publish(first)
	waitFor(t, 10*time.Second, "the agent's first event acknowledged", func() bool { return f.n.Stats().Published == 1 })

	t.Run("refused", func(t *testing.T) {
		for name, opts := range map[string][]nats.Option{
			"anonymous":      nil,
			"wrong password": {nats.UserInfo("ops", "guess")},
			"unknown user":   {nats.UserInfo("root", f.opPassword)},
		} {
			nc, err := f.connect(opts...)
			if err == nil {
				nc.Close()
				t.Errorf("%s: connected", name)
			} else if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(err.Error(), "Authorization Violation") {
				t.Errorf("%s: %v, want an authorization violation", name, err)
			}
		}
		nc, err := nats.Connect(strings.Replace(f.n.ClientURL(), "tls://", "nats://", 1), nats.UserInfo("ops", f.opPassword),
			nats.MaxReconnects(0), nats.Timeout(5*time.Second))
		if err == nil {
			nc.Close()
			t.Error("connected without TLS")
		}
	})

	t.Run("operator commands", func(t *testing.T) {
		nc := f.mustConnect(t, f.operator()...)
		for _, subj := range []string{CommandSubject("d1"), FleetCommandSubject} {
			m, err := nc.Request(subj, []byte(`{"id":"op-`+subj+`","op":"get_config"}`), 10*time.Second)
			if err != nil {
				t.Fatalf("request on %s: %v", subj, err)
			}
			var rep Reply
			if err := json.Unmarshal(m.Data, &rep); err != nil || !rep.OK || rep.ID != "op-"+subj {
				t.Fatalf("answer on %s: %s (%v)", m.Subject, m.Data, err)
			}
		}
	})

	t.Run("reader", func(t *testing.T) {
		errs := &asyncErrors{}
		nc := f.mustConnect(t, append(f.reader(t), errs.option())...)
		events := make(chan *nats.Msg, 8)
		if _, err := nc.ChanSubscribe(StreamSubject("d1"), events); err != nil {
			t.Fatal(err)
		}
		if _, err := nc.SubscribeSync(CommandSubject("d1")); err != nil {
			t.Fatal(err)
		}
		if _, err := nc.SubscribeSync(userInbox("ops") + ".>"); err != nil { // another user's answers
			t.Fatal(err)
		}
		nc.Flush()
		waitFor(t, 5*time.Second, "subscription violations", func() bool {
			return errs.has(`Permissions Violation for Subscription to "edge.d1.cmd"`) &&
				errs.has(`Permissions Violation for Subscription to "_INBOX.ops.>"`)
		})

		before := len(served.seen())
		if err := nc.Publish(CommandSubject("d1"), []byte(`{"id":"reader","op":"get_config"}`)); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		waitFor(t, 5*time.Second, "publish violation", func() bool {
			return errs.has(`Permissions Violation for Publish to "edge.d1.cmd"`)
		})

		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		stream, err := js.Stream(t.Context(), StreamName("d1"))
		if err != nil {
			t.Fatalf("stream info: %v", err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		if err := stream.Purge(ctx); err == nil {
			t.Error("the reader purged the stream")
		}
		ctx2, cancel2 := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel2()
		if err := js.DeleteStream(ctx2, StreamName("d1")); err == nil {
			t.Error("the reader deleted the stream")
		}
		if !errs.has(`Permissions Violation for Publish to "$JS.API.STREAM.PURGE.EDGE_d1"`) ||
			!errs.has(`Permissions Violation for Publish to "$JS.API.STREAM.DELETE.EDGE_d1"`) {
			t.Errorf("no violations for purge and delete: %q", errs.errs)
		}

		// Events: live on core NATS, and from the stream (the first one,
		// published before the reader connected).
		second := testEvent(&ids, "d1", "cam1", 2, "car")
		f.n.Publish(second)
		select {
		case m := <-events:
			validate(t, "detection.v1.json", m.Data)
		case <-time.After(10 * time.Second):
			t.Fatal("no live event")
		}
		waitFor(t, 10*time.Second, "second event acknowledged", func() bool { return f.n.Stats().Published == 2 })
		cons, err := js.OrderedConsumer(t.Context(), StreamName("d1"), jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatalf("ordered consumer: %v", err)
		}
		batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for m := range batch.Messages() {
			got = append(got, m.Headers().Get(jetstream.MsgIDHeader))
		}
		if want := []string{first.ID, second.ID}; !slices.Equal(got, want) {
			t.Fatalf("the reader consumed %v, want %v", got, want)
		}
		info, err := stream.Info(t.Context())
		if err != nil || info.State.Msgs != 2 {
			t.Fatalf("stream after the reader: %+v, %v", info, err)
		}
		if got := served.seen()[before:]; len(got) != 0 {
			t.Fatalf("the reader's command reached the agent: %v", got)
		}
	})

	// NATS does not check a consumer's deliver subject against its
	// creator's permissions: a reader can have the server deliver stored
	// events onto edge.d1.cmd. They arrive with a $JS.ACK reply subject,
	// which the agent refuses, uncounted as commands.
	t.Run("reader's consumer delivering onto the command subject", func(t *testing.T) {
		nc := f.mustConnect(t, f.reader(t)...)
		before, refused := len(served.seen()), f.n.Stats().RefusedReplies
		req := `{"stream_name":"EDGE_d1","config":{"deliver_subject":"edge.d1.cmd","ack_policy":"none","deliver_policy":"all"}}`
		m, err := nc.Request("$JS.API.CONSUMER.CREATE.EDGE_d1", []byte(req), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(m.Data), `"error"`) {
			t.Fatalf("consumer not created: %s", m.Data)
		}
		waitFor(t, 10*time.Second, "stored events refused as commands", func() bool {
			return f.n.Stats().RefusedReplies >= refused+2
		})
		if got := served.seen()[before:]; len(got) != 0 {
			t.Fatalf("the agent was handed %v", got)
		}
	})

	for _, secret := range []string{f.opPassword} {
		if strings.Contains(f.log.String(), secret) {
			t.Errorf("the log holds a secret")
		}
	}
	if seed, _ := os.ReadFile(f.readerSeed); strings.Contains(f.log.String(), string(seed)) {
		t.Errorf("the log holds the reader's seed")
	}
	if strings.Contains(f.log.String(), "Plaintext passwords") {
		t.Error("nats-server found a plain-text password")
	}
	// Every refusal the server logged was the reader's: the agent's own
	// connection never hit its permissions, nor did the operator's.
	violations := 0
	for _, line := range strings.Split(f.log.String(), "\n") {
		if strings.Contains(line, "Violation") {
			violations++
			if !strings.Contains(line, f.readerKey) {
				t.Errorf("a refusal not the reader's: %s", line)
			}
		}
	}
	if violations == 0 {
		t.Error("no refusal logged")
	}
}

// With EDGE_NATS_SERVER_TLS_CA a client needs a certificate signed by it
// as well as its login.
func TestEmbeddedServerClientCertificates(t *testing.T) {
	f := startSecuredNATS(t, func(c *NATSConfig, p pki) { c.ServerTLSCA = p.ca })
	if _, err := f.connect(f.operator()...); err == nil {
		t.Fatal("connected without a client certificate")
	}
	nc := f.mustConnect(t, append(f.operator(), nats.ClientCert(f.pki.clientCert, f.pki.clientKey))...)
	if _, err := nc.Request(CommandSubject("d1"), []byte(`{"id":"x","op":"get_config"}`), 100*time.Millisecond); errors.Is(err, nats.ErrNoResponders) {
		t.Fatal("the agent does not listen")
	}
}

// The agent's own user is for in-process connections only: even with its
// key a client over TCP is refused.
func TestEmbeddedAgentUserInProcessOnly(t *testing.T) {
	dir := t.TempDir()
	pub, _ := newUserNKey(t, dir)
	users := writeFile(t, dir, "users.yaml", "users: [{name: viewer, role: reader, nkey: "+pub+"}]\n")
	n, err := NewNATS(NATSConfig{Device: "d1", StateDir: dir, Listen: "127.0.0.1:-1", ServerUsers: users}, nil)
	if err != nil {
		t.Fatal(err)
	}
	es, err := n.startServer()
	if err != nil {
		t.Fatal(err)
	}
	defer es.close()
	login := es.agentLogin()
	if login == nil {
		t.Fatal("no login for the agent")
	}
	nc, err := nats.Connect(es.srv.ClientURL(), login, nats.MaxReconnects(0))
	if err == nil {
		nc.Close()
		t.Fatal("the agent's user connected over TCP")
	}
	nc, err = nats.Connect(es.inProcessURL(), nats.InProcessServer(es.srv), login, nats.CustomInboxPrefix(agentInboxPrefix))
	if err != nil {
		t.Fatalf("in-process: %v", err)
	}
	nc.Close()
}

// The store limit and the sync policy reach the embedded JetStream.
func TestEmbeddedServerStoreSettings(t *testing.T) {
	for _, tc := range []struct {
		sync     SyncPolicy
		always   bool
		interval time.Duration
	}{
		{SyncAlways, true, 0},
		{SyncPolicy(time.Second), false, time.Second},
	} {
		n, err := NewNATS(NATSConfig{Device: "d1", StateDir: t.TempDir(), Listen: "127.0.0.1:-1", Sync: tc.sync, MaxStore: 300 << 20}, nil)
		if err != nil {
			t.Fatal(err)
		}
		es, err := n.startServer()
		if err != nil {
			t.Fatal(err)
		}
		js := es.srv.JetStreamConfig()
		es.close()
		if js.SyncAlways != tc.always || (!tc.always && js.SyncInterval != tc.interval) || js.MaxStore != 300<<20 {
			t.Errorf("sync %s: JetStream %+v", tc.sync, js)
		}
	}
}

// --- leaf nodes ---

// startHub starts a hub in operator mode (every client and leaf node logs
// in with a JWT of op's account) with a TLS leaf-node listener; it
// returns the hub and the leaf URL.
func startHub(t *testing.T, op operator, p pki) (*server.Server, string) {
	t.Helper()
	resolver := &server.MemAccResolver{}
	if err := resolver.Store(op.accountPub, op.accountJWT); err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: p.serverCert, KeyFile: p.serverKey})
	leafPort := freePort(t)
	if err != nil {
		t.Fatal(err)
	}
	hub, err := server.NewServer(&server.Options{ServerName: "hub", Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		TrustedOperators: []*jwt.OperatorClaims{op.claims}, AccountResolver: resolver,
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: leafPort, TLSConfig: tlsCfg, TLSTimeout: 2}})
	if err != nil {
		t.Fatal(err)
	}
	hub.Start()
	t.Cleanup(func() { hub.Shutdown(); hub.WaitForShutdown() })
	if !hub.ReadyForConnections(10 * time.Second) {
		t.Fatal("hub not ready")
	}
	return hub, "nats-leaf://127.0.0.1:" + itoa(leafPort)
}

// The embedded server links to a hub that wants a JWT login and TLS with
// EDGE_NATS_LEAF_CREDS and EDGE_NATS_LEAF_TLS_CA: the hub sees the events,
// not the device's fleet commands. Without the credentials the hub refuses
// the link, the log says so once, and a password in the leaf URL is never
// printed.
func TestNATSLeafCredentials(t *testing.T) {
	dir := t.TempDir()
	p := writePKI(t, dir)
	op := newOperator(t, dir)
	hub, leafURL := startHub(t, op, p)
	fleet, err := nats.Connect(hub.ClientURL(), nats.UserJWTAndSeed(op.userJWT, string(op.userSeed)))
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	events := make(chan *nats.Msg, 16)
	if _, err := fleet.ChanSubscribe("edge.*.*.detections", events); err != nil {
		t.Fatal(err)
	}
	fleetCmds := make(chan *nats.Msg, 16)
	if _, err := fleet.ChanSubscribe(FleetCommandSubject, fleetCmds); err != nil {
		t.Fatal(err)
	}
	fleet.Flush()

	t.Run("with credentials", func(t *testing.T) {
		buf, log := newLogBuffer()
		n, err := NewNATS(NATSConfig{Device: "d1", StateDir: t.TempDir(), Listen: "127.0.0.1:-1",
			LeafRemotes: []string{leafURL}, LeafCreds: op.creds, LeafTLSCA: p.ca}, log)
		if err != nil {
			t.Fatal(err)
		}
		stop := runNATS(t, n)
		defer stop()
		waitFor(t, 10*time.Second, "leaf connection", func() bool { return hub.NumLeafNodes() == 1 })
		// The hub learns the subscription over the link asynchronously:
		// publish until one arrives.
		var ids IDs
		deadline := time.After(10 * time.Second)
	publish:
		for i := uint64(0); ; i++ {
			n.Publish(testEvent(&ids, "d1", "cam1", i, "person"))
			select {
			case m := <-events:
				validate(t, "detection.v1.json", m.Data)
				break publish
			case <-time.After(200 * time.Millisecond):
			case <-deadline:
				t.Fatal("no event reached the hub")
			}
		}
		// A fleet command published on the device stays on the device.
		local, err := nats.Connect(n.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		defer local.Close()
		if err := local.Publish(FleetCommandSubject, []byte(`{"id":"up","op":"get_config"}`)); err != nil {
			t.Fatal(err)
		}
		local.Flush()
		// An event published after it does reach the hub, in order on the
		// same link: the command would have arrived first.
		n.Publish(testEvent(&ids, "d1", "cam1", 1000, "person"))
		select {
		case <-events:
		case <-time.After(10 * time.Second):
			t.Fatal("no second event at the hub")
		}
		select {
		case m := <-fleetCmds:
			t.Fatalf("a fleet command went up the leaf link: %s", m.Data)
		default:
		}
		if strings.Contains(buf.String(), string(op.userSeed)) {
			t.Error("the log holds the credentials' seed")
		}
	})

	t.Run("without credentials", func(t *testing.T) {
		buf, log := newLogBuffer()
		withPassword := strings.Replace(leafURL, "nats-leaf://", "nats-leaf://fleet:Leaf-P4ss-7@", 1)
		n, err := NewNATS(NATSConfig{Device: "d2", StateDir: t.TempDir(), Listen: "127.0.0.1:-1",
			LeafRemotes: []string{withPassword}, LeafTLSCA: p.ca}, log)
		if err != nil {
			t.Fatal(err)
		}
		stop := runNATS(t, n)
		waitFor(t, 15*time.Second, "the hub's refusal in the log", func() bool {
			return strings.Contains(buf.String(), "level=WARN") && strings.Contains(buf.String(), "Authorization Violation")
		})
		// The leaf reconnects every second; the refusal is logged once at
		// Warn (then Debug): wait for two more attempts.
		waitFor(t, 15*time.Second, "more attempts", func() bool { return buf.count("Authorization Violation") >= 3 })
		stop()
		if hub.NumLeafNodes() != 0 {
			t.Fatalf("%d leaf nodes at the hub, want none", hub.NumLeafNodes())
		}
		warns := 0
		for _, line := range strings.Split(buf.String(), "\n") {
			if strings.Contains(line, "level=WARN") && strings.Contains(line, "Authorization Violation") {
				warns++
			}
		}
		if warns != 1 {
			t.Errorf("the refusal was logged %d times at Warn, want once", warns)
		}
		if strings.Contains(buf.String(), "Leaf-P4ss-7") {
			t.Error("the log holds the leaf URL's password")
		}
	})
}

// --- the JetStream watchdog ---

// quickWatchdog checks every 50 ms and retries from 100 ms.
func quickWatchdog(minFree uint64) jsWatchdog {
	return jsWatchdog{Every: 50 * time.Millisecond, Retry: backoff.Backoff{Min: 100 * time.Millisecond, Max: 400 * time.Millisecond},
		MinFree: minFree}
}

// watchdogFixture is an embedded server with a quick watchdog, a
// JetStream client on it (in-process, as the agent's) and the stream.
type watchdogFixture struct {
	es  *embeddedServer
	log *logBuffer
	js  jetstream.JetStream
	ids IDs
}

func startWatchdogFixture(t *testing.T, stateDir string, minFree uint64) *watchdogFixture {
	t.Helper()
	f := &watchdogFixture{}
	var log *slog.Logger
	f.log, log = newLogBuffer()
	n, err := NewNATS(NATSConfig{Device: "d1", StateDir: stateDir, Listen: "127.0.0.1:-1", StreamMaxBytes: 4 << 20}, log)
	if err != nil {
		t.Fatal(err)
	}
	es, err := n.startServer()
	if err != nil {
		t.Fatal(err)
	}
	f.es = es
	es.watch(t.Context(), quickWatchdog(minFree))
	t.Cleanup(es.close)
	nc, err := nats.Connect(es.inProcessURL(), nats.InProcessServer(es.srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if f.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	if err := n.ensureStream(t.Context(), f.js); err != nil {
		t.Fatal(err)
	}
	return f
}

// publish stores one event and waits up to a second for its
// acknowledgement.
func (f *watchdogFixture) publish(t *testing.T) error {
	t.Helper()
	ev := testEvent(&f.ids, "d1", "cam1", 1, "person", "car", "dog")
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err = f.js.PublishMsg(ctx, &nats.Msg{Subject: EventSubject("d1", "cam1"), Data: data}, jetstream.WithMsgID(ev.ID))
	return err
}

func (f *watchdogFixture) streamMsgs(t *testing.T) uint64 {
	t.Helper()
	var msgs uint64
	waitFor(t, 10*time.Second, "stream info", func() bool {
		s, err := f.js.Stream(t.Context(), StreamName("d1"))
		if err != nil {
			return false
		}
		info, err := s.Info(t.Context())
		if err != nil {
			return false
		}
		msgs = info.State.Msgs
		return true
	})
	return msgs
}

// JetStream turned off the way nats-server turns it off on a write
// failure it does not survive (ShutdownJetStream: a permission error
// while writing, running out of space when clustered) comes back without
// a restart of the server, with the stream as it was.
func TestJetStreamWatchdogRestartsDisabledJetStream(t *testing.T) {
	f := startWatchdogFixture(t, t.TempDir(), 0)
	for range 3 {
		if err := f.publish(t); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.es.srv.ShutdownJetStream(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "recovery", func() bool { return f.log.count("JetStream recovered") == 1 })
	if err := f.publish(t); err != nil {
		t.Fatalf("after the recovery: %v", err)
	}
	if got := f.streamMsgs(t); got != 4 {
		t.Fatalf("stream holds %d events, want 4\n%s", got, f.log)
	}
	if got := f.log.count("JetStream failed; restarting it"); got != 1 {
		t.Fatalf("failure logged %d times, want once:\n%s", got, f.log)
	}
}

// A full disk, for real: the test runs itself again in a user and mount
// namespace (what unshare -rm does) with the JetStream store on a 32 MiB
// tmpfs, fills the tmpfs until a publish fails (nats-server then refuses
// every write to the stream: its sticky write error), frees the space, and
// checks that the watchdog restarted JetStream by itself, that the stream
// kept every acknowledged event, and that publishing works again.
func TestJetStreamWatchdogDiskFull(t *testing.T) {
	if dir := os.Getenv("EDGE_TEST_TMPFS"); dir != "" {
		diskFull(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestJetStreamWatchdogDiskFull$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "EDGE_TEST_TMPFS="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exit):
		t.Skipf("no user and mount namespace here (%v): the disk-full test needs one", err)
	case bytes.Contains(out, []byte("SKIP:")):
		t.Skipf("%s", out)
	case err != nil:
		t.Fatalf("in the namespace: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "natsserver_test.go") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// diskFull is TestJetStreamWatchdogDiskFull inside the namespace.
func diskFull(t *testing.T, dir string) {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		t.Skipf("SKIP: mounts private: %v", err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=32m"); err != nil {
		t.Skipf("SKIP: mount a tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	f := startWatchdogFixture(t, dir, 8<<20)
	stored := 0
	for range 20 {
		if err := f.publish(t); err != nil {
			t.Fatal(err)
		}
		stored++
	}

	// Fill the file system.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 256<<10)
	for {
		if _, err := filler.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// What fits in the pages the store already has is still stored.
	var failure error
	for range 100 {
		if failure = f.publish(t); failure != nil {
			break
		}
		stored++
	}
	if failure == nil {
		t.Fatal("100 events stored on a full disk")
	}
	waitFor(t, 10*time.Second, "the watchdog notices", func() bool { return f.log.count("JetStream failed; restarting it") == 1 })
	waitFor(t, 10*time.Second, "a restart put off for want of space", func() bool { return f.log.count("bytes free for the store") >= 2 })
	if err := f.publish(t); err == nil {
		t.Fatal("stored an event on a full disk")
	}
	full := time.Now()

	filler.Close()
	if err := os.Remove(filler.Name()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "recovery", func() bool { return f.log.count("JetStream recovered") == 1 })
	if err := f.publish(t); err != nil {
		t.Fatalf("after the recovery: %v\n%s", err, f.log)
	}
	stored++
	if got := f.streamMsgs(t); got != uint64(stored) {
		t.Fatalf("stream holds %d events, %d were acknowledged\n%s", got, stored, f.log)
	}
	// Logged once at failure, once per attempt (at least Retry.Min
	// apart), once at recovery.
	attempts := f.log.count("JetStream not restarted")
	if max := int(time.Since(full)/(100*time.Millisecond)) + 4; attempts > max {
		t.Errorf("%d failed attempts logged in %s", attempts, time.Since(full))
	}
	t.Logf("first failed publish: %v; %d events acknowledged, all in the stream after the recovery; %d restarts put off while full",
		failure, stored, attempts)
}

// --- the cost of fsync ---

// BenchmarkEmbeddedJetStreamSync measures what EDGE_NATS_SYNC costs at a
// camera's event rate: events (about 1 KB, three detections) published at
// 15 a second per camera for 4 and 16 cameras, spread evenly, through the
// embedded server into its file store in b.TempDir(), never waiting for
// an acknowledgement to publish the next. One op is one event, so ns/op is the
// pacing; the metrics are what matters: the process's CPU time per event
// and as a share of one core (user and system, getrusage: client, server,
// fsyncs and whatever the process does in the background), the
// acknowledgement latency (p50, p99) and the bytes the process had
// written to the disk per event (/proc/self/io write_bytes). Run it for a
// while to get enough events:
//
//	go test -run '^$' -bench EmbeddedJetStreamSync -benchtime 20s ./bus/
func BenchmarkEmbeddedJetStreamSync(b *testing.B) {
	for _, sync := range []struct {
		name   string
		policy SyncPolicy
	}{{"always", SyncAlways}, {"1s", SyncPolicy(time.Second)}, {"2m", SyncPolicy(2 * time.Minute)}} {
		for _, cameras := range []int{4, 16} {
			b.Run("sync="+sync.name+"/cameras="+itoa(cameras), func(b *testing.B) {
				benchmarkSync(b, sync.policy, cameras)
			})
		}
	}
}

func benchmarkSync(b *testing.B, policy SyncPolicy, cameras int) {
	n, err := NewNATS(NATSConfig{Device: "d1", StateDir: b.TempDir(), Listen: "127.0.0.1:-1", Sync: policy}, nil)
	if err != nil {
		b.Fatal(err)
	}
	es, err := n.startServer()
	if err != nil {
		b.Fatal(err)
	}
	defer es.close()
	nc, err := nats.Connect(es.inProcessURL(), nats.InProcessServer(es.srv))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	// Room for a backlog: a publish never stalls, and an acknowledgement
	// late because the store is behind shows in the latency.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1<<14))
	if err != nil {
		b.Fatal(err)
	}
	if err := n.ensureStream(b.Context(), js); err != nil {
		b.Fatal(err)
	}
	var ids IDs
	payload, _ := json.Marshal(testEvent(&ids, "d1", "cam1", 1, "person", "car", "dog"))

	type sent struct {
		at  time.Time
		fut jetstream.PubAckFuture
	}
	pending := make(chan sent, 1<<14)
	var latencies []time.Duration
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for s := range pending {
			select {
			case <-s.fut.Ok():
				latencies = append(latencies, time.Since(s.at))
			case err := <-s.fut.Err():
				b.Errorf("publish: %v", err)
			}
		}
	}()

	tick := time.NewTicker(time.Second / time.Duration(15*cameras))
	defer tick.Stop()
	cpu0, disk0, start := processCPU(), processWriteBytes(), time.Now()
	events := 0
	for b.Loop() {
		<-tick.C
		camera := "cam" + itoa(events%cameras)
		at := time.Now()
		fut, err := js.PublishMsgAsync(&nats.Msg{Subject: EventSubject("d1", camera), Data: payload},
			jetstream.WithMsgID(ids.New(at)))
		if err != nil {
			b.Fatal(err)
		}
		pending <- sent{at, fut}
		events++
	}
	close(pending)
	<-collected
	cpu, disk, wall := processCPU()-cpu0, processWriteBytes()-disk0, time.Since(start)
	b.StopTimer()
	if len(latencies) == 0 {
		b.Fatal("nothing acknowledged")
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(events), "cpu-µs/event")
	b.ReportMetric(100*float64(cpu)/float64(wall), "cpu-%")
	b.ReportMetric(pct(0.50), "ack-p50-ms")
	b.ReportMetric(pct(0.99), "ack-p99-ms")
	if disk >= 0 {
		b.ReportMetric(float64(disk)/1024/float64(events), "disk-KiB/event")
	}
	b.ReportMetric(float64(len(payload)), "B/event")
}

// processCPU is the process's user and system time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processWriteBytes is what the process has had written to storage
// (Linux's /proc/self/io write_bytes), -1 where unknown.
func processWriteBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}
