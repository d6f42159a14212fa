package bus

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"edge-agent/internal/backoff"
	"edge-agent/internal/regfile"
)

// The embedded NATS server: started by NATS.Run when NATSConfig.URL is
// empty. Its client listener serves the other processes of the box (and,
// with users and TLS, the LAN); the agent itself connects in-process. With
// a users file every client logs in, each with the permissions of its
// role, and the agent as its own user, with an nkey made at each start. A watchdog restarts JetStream when its store fails (a full disk).

// embeddedServer is a started embedded server and its JetStream watchdog.
type embeddedServer struct {
	srv      *server.Server
	log      *slog.Logger
	agentKey nkeys.KeyPair // the agent's own user's, made at start; nil without users

	jsConfig func() *server.JetStreamConfig // JetStream as started, for the watchdog
	storeDir string                         // the file store, for its free space

	stopWatch context.CancelFunc
	watching  chan struct{} // closed when the watchdog returned
}

// agentInboxPrefix is the prefix of the agent's own reply subjects
// (JetStream acknowledgements and API answers): outside _INBOX., where
// the users' inboxes are, so no user may subscribe to it.
const agentInboxPrefix = "_INBOX_edge_agent"

// jsAPI is the prefix of the JetStream API subjects.
const jsAPI = "$JS.API."

// userInbox is the reply-subject prefix a user of the embedded server must
// use (nats --inbox-prefix, nats.go's nats.CustomInboxPrefix): each user
// may subscribe only below its own, so no user reads another's answers.
func userInbox(name string) string { return "_INBOX." + name }

func (n *NATS) startServer() (*embeddedServer, error) {
	c := n.cfg
	host, port := splitListen(c.Listen)
	if port > 0 { // the server would only log a taken port and never become ready
		l, err := net.Listen("tcp", c.Listen)
		if err != nil {
			return nil, err
		}
		l.Close()
	}
	opts := &server.Options{
		ServerName:        "edge-" + c.Device,
		Host:              host,
		Port:              port, // -1: a free port
		JetStream:         true,
		JetStreamDomain:   c.Domain, // a leaf node's JetStream stays its own: the hub reaches it as $JS.<domain>.API
		StoreDir:          filepath.Join(c.StateDir, "jetstream"),
		JetStreamMaxStore: c.MaxStore,
		SyncAlways:        c.Sync == SyncAlways,
		SyncInterval:      c.Sync.Interval(),
		NoSigs:            true,
	}
	es := &embeddedServer{log: n.log.With("server", "embedded"), storeDir: opts.StoreDir}
	es.jsConfig = func() *server.JetStreamConfig {
		// What Server.Start gives EnableJetStream; a new one each time, as
		// EnableJetStream changes it.
		return &server.JetStreamConfig{StoreDir: opts.StoreDir, MaxStore: opts.JetStreamMaxStore, Domain: opts.JetStreamDomain,
			SyncAlways: opts.SyncAlways, SyncInterval: opts.SyncInterval, Strict: true, CompressOK: true}
	}
	auth := "none (loopback only)"
	if c.ServerUsers != "" {
		users := n.users
		var err error
		// The agent's own user: an nkey made now, whose seed never leaves
		// memory, for in-process connections only.
		if es.agentKey, err = nkeys.CreateUser(); err != nil {
			return nil, err
		}
		agentPub, _ := es.agentKey.PublicKey()
		perms := withSnapshotAccess(agentPermissions(c.Device, c.Stream), true)
		if c.FleetActive() {
			perms = withFleetAccess(perms, c.Device, c.fleetDomain())
		}
		opts.Nkeys = []*server.NkeyUser{{Nkey: agentPub, Permissions: perms,
			AllowedConnectionTypes: map[string]struct{}{"IN_PROCESS": {}}}}
		for _, u := range users {
			perms := withSnapshotAccess(u.role.permissions(u.name, c.Device, c.Stream), false)
			if u.nkey != "" {
				opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: u.nkey, Permissions: perms})
			} else {
				opts.Users = append(opts.Users, &server.User{Username: u.name, Password: u.passwordHash, Permissions: perms})
			}
		}
		auth = fmt.Sprintf("%d users", len(users))
	}
	tlsConfig, err := c.serverTLS()
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil {
		opts.TLSConfig, opts.TLSVerify, opts.TLSTimeout = tlsConfig, c.ServerTLSCA != "", 2
	}
	leafTLS, err := c.leafTLS()
	if err != nil {
		return nil, err
	}
	// One leaf link to the hub: its URLs are the nodes of one hub cluster,
	// which the server tries in turn (a link per URL would put the device
	// in the hub's account once per node, and deliver every message from
	// the hub that many times).
	var leafURLs []*url.URL
	for _, raw := range c.LeafRemotes {
		u, err := url.Parse(raw)
		if err != nil { // not err itself: it quotes raw, password included
			return nil, fmt.Errorf("EDGE_NATS_LEAF_REMOTES: %q is not a valid URL", redactURL(raw))
		}
		leafURLs = append(leafURLs, u)
	}
	if len(leafURLs) > 0 {
		r := &server.RemoteLeafOpts{URLs: leafURLs, Credentials: c.LeafCreds,
			// The device never sends commands up the link: a fleet command
			// published here (by a local operator, or delivered by a
			// consumer whose deliver subject is edge.fleet.cmd) stays here.
			DenyExports: []string{"edge.*.cmd"}}
		if leafTLS != nil {
			r.TLS, r.TLSConfig, r.TLSTimeout = true, leafTLS.Clone(), 2
		}
		opts.LeafNode.Remotes = []*server.RemoteLeafOpts{r}
	}
	if !isLoopback(host) && tlsConfig == nil {
		es.log.Warn("embedded server listens beyond loopback without TLS: events and commands cross the network in clear (nkeys send no secret); set EDGE_NATS_SERVER_TLS_CERT and EDGE_NATS_SERVER_TLS_KEY",
			"listen", c.Listen)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		es.wipe()
		return nil, err
	}
	srv.SetLoggerV2(&serverLog{log: es.log}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		es.wipe()
		return nil, fmt.Errorf("not listening on %s after 10s", c.Listen)
	}
	es.srv = srv
	es.log.Info("embedded server listening", "url", srv.ClientURL(), "auth", auth, "tls", tlsConfig != nil,
		"client_certificates", c.ServerTLSCA != "", "store", opts.StoreDir, "max_store", c.MaxStore, "sync", c.Sync.String(), "domain", c.Domain,
		"leaf_remotes", redactURL(strings.Join(c.LeafRemotes, ",")))
	return es, nil
}

// inProcessURL is the URL the agent's in-process connection names: the
// server's, always nats:// (an in-process connection needs no TLS).
func (e *embeddedServer) inProcessURL() string { return "nats://" + e.srv.Addr().String() }

// watch starts the JetStream watchdog w; close stops it.
func (e *embeddedServer) watch(ctx context.Context, w jsWatchdog) {
	ctx, e.stopWatch = context.WithCancel(context.WithoutCancel(ctx))
	e.watching = make(chan struct{})
	w.srv, w.config, w.storeDir, w.log = e.srv, e.jsConfig, e.storeDir, e.log
	go func() {
		defer close(e.watching)
		w.run(ctx)
	}()
}

// close stops the watchdog, then the server.
func (e *embeddedServer) close() {
	if e.stopWatch != nil {
		e.stopWatch()
		<-e.watching
	}
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.wipe()
	e.log.Info("embedded server stopped")
}

// wipe erases the agent's key.
func (e *embeddedServer) wipe() {
	if e.agentKey != nil {
		e.agentKey.Wipe()
	}
}

// agentLogin is the option that logs the agent's connection in as its
// user, nil without users.
func (e *embeddedServer) agentLogin() nats.Option {
	if e.agentKey == nil {
		return nil
	}
	pub, _ := e.agentKey.PublicKey()
	return nats.Nkey(pub, e.agentKey.Sign)
}

// userRole is what a user of the embedded server may do.
type userRole uint8

const (
	// roleOperator may send the device's and the fleet's commands, read
	// everything under edge.<device>. and consume the stream.
	roleOperator userRole = iota + 1
	// roleReader may read the events and the heartbeat and consume the
	// stream; no commands, and nothing that changes the stream.
	roleReader
)

// permissions are the role's for the device's subjects and stream, with
// the user's own inbox for answers (UserInbox).
func (r userRole) permissions(name, device, stream string) *server.Permissions {
	// Reading the one stream through the JetStream API: its info, a
	// message by sequence, consumers (create, info, next batch) and their
	// acknowledgements ($JS.ACK.<stream>... and, since nats-server 2.10,
	// $JS.ACK.<domain>.<account>.<stream>...). Not: purge, delete, update,
	// other streams, or the account's info.
	pub := []string{
		jsAPI + "STREAM.INFO." + stream,
		jsAPI + "STREAM.MSG.GET." + stream,
		jsAPI + "CONSUMER.CREATE." + stream,
		jsAPI + "CONSUMER.CREATE." + stream + ".>",
		jsAPI + "CONSUMER.INFO." + stream + ".*",
		jsAPI + "CONSUMER.MSG.NEXT." + stream + ".*",
		"$JS.ACK." + stream + ".>",
		"$JS.ACK.*.*." + stream + ".>",
	}
	sub := []string{userInbox(name) + ".>"}
	switch r {
	case roleOperator:
		pub = append(pub, CommandSubject(device), FleetCommandSubject, jsAPI+"CONSUMER.DELETE."+stream+".*",
			ServiceSubject(device, "*"), "$SRV.>")
		sub = append(sub, "edge."+device+".>")
	case roleReader:
		// Discovery, read only: the service's PING, INFO and STATS.
		for _, verb := range []string{"PING", "INFO", "STATS"} {
			pub = append(pub, "$SRV."+verb, "$SRV."+verb+"."+ServiceName, "$SRV."+verb+"."+ServiceName+".*")
		}
		sub = append(append(sub, StreamSubjects(device)...), StatusSubject(device))
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: sub},
	}
}

// agentPermissions are the agent's own: publish its events (detection and
// object events) and heartbeat, keep its stream (create, update, info),
// take its commands (and its micro service's requests: serviceSubjects)
// and answer each once, on the reply subject it came
// with (the response permission: no grant to publish on inboxes in
// general).
func agentPermissions(device, stream string) *server.Permissions {
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: append(StreamSubjects(device),
			StatusSubject(device),
			jsAPI+"STREAM.CREATE."+stream, jsAPI+"STREAM.UPDATE."+stream, jsAPI+"STREAM.INFO."+stream,
		)},
		Subscribe: &server.SubjectPermission{Allow: append([]string{
			CommandSubject(device), FleetCommandSubject, agentInboxPrefix + ".>",
		}, serviceSubjects(device)...)},
		// A command may take a while (loading a model): its one answer
		// is allowed for 10 minutes.
		Response: &server.ResponsePermission{MaxMsgs: 1, Expires: 10 * time.Minute},
	}
}

// serverUser is one user of the embedded server, from the users file.
type serverUser struct {
	name         string
	role         userRole
	passwordHash string // bcrypt; or
	nkey         string // a user's public nkey (U...)
}

// maxUsersFile is the most a users file may hold.
const maxUsersFile = 64 << 10

// minBcryptCost is the least bcrypt cost accepted (bcrypt.DefaultCost;
// nats server passwd makes 11, htpasswd -B makes 5 unless given -C).
const minBcryptCost = 10

// usersFile is the users file's layout (YAML, or JSON, which YAML reads).
type usersFile struct {
	Users []usersFileEntry `yaml:"users"`
}

type usersFileEntry struct {
	Name           string  `yaml:"name"`
	Role           string  `yaml:"role"`
	PasswordBcrypt string  `yaml:"password_bcrypt"`
	NKey           string  `yaml:"nkey"`
	Password       *string `yaml:"password"` // read only to refuse it
}

// loadServerUsers reads a users file strictly: known keys only, none
// twice, at most maxUsersFile bytes, at least one user; each user a name
// (1-64 letters, digits, '-', '_'), a role (operator or reader) and either
// a bcrypt hash (cost 10 or more) or a public user nkey; no name or nkey
// twice; plain-text passwords refused. Its errors quote no password and no
// hash.
func loadServerUsers(path string) ([]serverUser, error) {
	b, err := regfile.Read(path, maxUsersFile, regfile.FollowLinks)
	if err != nil {
		return nil, err
	}
	var f usersFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: no users", path)
		}
		return nil, fmt.Errorf("%s: %s", path, yamlError(err))
	}
	if dec.Decode(new(any)) != io.EOF {
		return nil, fmt.Errorf("%s: more than one YAML document", path)
	}
	if len(f.Users) == 0 {
		return nil, fmt.Errorf("%s: no users", path)
	}
	var (
		bad   []string
		users []serverUser
		names = map[string]bool{}
		keys  = map[string]bool{}
	)
	for i, e := range f.Users {
		what := fmt.Sprintf("users[%d]", i)
		if ValidToken(e.Name) {
			what = fmt.Sprintf("user %q", e.Name)
		}
		problem := func(format string, args ...any) { bad = append(bad, what+": "+fmt.Sprintf(format, args...)) }
		u := serverUser{name: e.Name, passwordHash: e.PasswordBcrypt, nkey: e.NKey}
		switch {
		case !ValidToken(e.Name):
			problem("name %q must be 1-64 letters, digits, '-' or '_'", e.Name)
		case names[e.Name]:
			problem("listed twice")
		}
		names[e.Name] = true
		switch e.Role {
		case "operator":
			u.role = roleOperator
		case "reader":
			u.role = roleReader
		default:
			problem("role must be operator or reader, got %q", e.Role)
		}
		switch {
		case e.Password != nil:
			problem("plain-text password refused: put a bcrypt hash in password_bcrypt (nats server passwd, or htpasswd -nbBC 11 '' PASSWORD | cut -d: -f2)")
		case (e.PasswordBcrypt == "") == (e.NKey == ""):
			problem("give one of password_bcrypt and nkey")
		case e.PasswordBcrypt != "":
			if err := checkBcrypt(e.PasswordBcrypt); err != nil {
				problem("password_bcrypt: %v", err)
			}
		case !nkeys.IsValidPublicUserKey(e.NKey):
			problem("nkey is not a public user nkey (56 characters starting with U; never the seed, SU...)")
		case keys[e.NKey]:
			problem("nkey of another user")
		}
		keys[e.NKey] = e.NKey != ""
		users = append(users, u)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: %s", path, strings.Join(bad, "; "))
	}
	return users, nil
}

// checkBcrypt accepts a bcrypt hash nats-server takes for one ($2a$, $2b$
// or $2y$; another string would be compared as a plain-text password) of
// cost minBcryptCost or more.
func checkBcrypt(h string) error {
	if len(h) != 60 || !(strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$")) {
		return errors.New("not a bcrypt hash ($2a$, $2b$ or $2y$ and 56 more characters)")
	}
	cost, err := bcrypt.Cost([]byte(h))
	if err != nil {
		return errors.New("not a bcrypt hash")
	}
	if cost < minBcryptCost {
		return fmt.Errorf("cost %d is below %d: make it again with a higher cost (htpasswd -C %d)", cost, minBcryptCost, minBcryptCost+1)
	}
	return nil
}

// yamlError is a YAML decoding error on one line, without the Go types.
func yamlError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.ReplaceAll(msg, " in type bus.usersFileEntry", "")
	msg = strings.ReplaceAll(msg, " in type bus.usersFile", "")
	return strings.Join(strings.Fields(msg), " ")
}

// serverTLS is the embedded server's TLS configuration, nil without
// EDGE_NATS_SERVER_TLS_CERT; with EDGE_NATS_SERVER_TLS_CA clients must
// present a certificate it signed. Its error names the variable.
func (c NATSConfig) serverTLS() (*tls.Config, error) {
	if c.ServerTLSCert == "" {
		return nil, nil
	}
	certs, pool, err := loadTLSFiles("EDGE_NATS_SERVER_", c.ServerTLSCert, c.ServerTLSKey, c.ServerTLSCA)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: certs}
	if pool != nil {
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// leafTLS is the TLS configuration of the leaf-node connections, nil when
// no EDGE_NATS_LEAF_TLS_* is set (a tls:// hub is then verified against
// the system's CAs). Its error names the variable.
func (c NATSConfig) leafTLS() (*tls.Config, error) {
	if c.LeafTLSCA == "" && c.LeafTLSCert == "" {
		return nil, nil
	}
	certs, pool, err := loadTLSFiles("EDGE_NATS_LEAF_", c.LeafTLSCert, c.LeafTLSKey, c.LeafTLSCA)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: certs, RootCAs: pool}, nil
}

// loadTLSFiles reads a certificate and its key (both or neither) and a CA
// file (optional); errors name the variable (pre + TLS_CERT, TLS_CA).
func loadTLSFiles(pre, certFile, keyFile, caFile string) ([]tls.Certificate, *x509.CertPool, error) {
	var certs []tls.Certificate
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("%sTLS_CERT: %v", pre, err)
		}
		certs = []tls.Certificate{cert}
	}
	if caFile == "" {
		return certs, nil, nil
	}
	b, err := regfile.Read(caFile, 1<<20, regfile.FollowLinks)
	if err != nil {
		return nil, nil, fmt.Errorf("%sTLS_CA: %v", pre, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, nil, fmt.Errorf("%sTLS_CA: %s holds no PEM certificate", pre, caFile)
	}
	return certs, pool, nil
}

// checkCreds checks that a credentials file holds a user JWT and a user
// nkey seed, as nats-server reads it for a leaf-node connection; its
// errors quote neither.
func checkCreds(path string) error {
	b, err := regfile.Read(path, 64<<10, regfile.FollowLinks)
	if err != nil {
		return err
	}
	defer clear(b)
	kp, err := nkeys.ParseDecoratedUserNKey(b)
	if err != nil {
		return fmt.Errorf("%s: no user nkey seed: %v", path, err)
	}
	kp.Wipe()
	if jwt, err := nkeys.ParseDecoratedJWT(b); err != nil || strings.Count(jwt, ".") != 2 || strings.ContainsAny(jwt, " \n") {
		return fmt.Errorf("%s: no user JWT (want the -----BEGIN NATS USER JWT----- block of a .creds file)", path)
	}
	return nil
}

// jsWatchdog restarts the embedded server's JetStream when it stops
// working, without restarting the agent. nats-server 2.15 on a single
// server leaves a stream whose write failed (ENOSPC: a full disk) refusing
// every later write until JetStream reloads it, and turns JetStream off
// for good on some failures (a permission error while writing; out of
// space when clustered). The watchdog asks the server every Every; when
// two checks in a row find JetStream off or a stream's write error it
// restarts JetStream with the configuration it started with (once the store's file system has MinFree bytes free),
// retrying with Retry's backoff. It logs the failure once, each failed
// attempt once (attempts are at least Retry.Min apart), and the recovery
// once.
type jsWatchdog struct {
	Every   time.Duration
	Retry   backoff.Backoff
	MinFree uint64

	srv      *server.Server
	config   func() *server.JetStreamConfig
	storeDir string
	log      *slog.Logger
}

// newJSWatchdog is the agent's watchdog: a check every 2 seconds,
// attempts from 2 seconds to a minute apart, 16 MiB free to restart.
func newJSWatchdog() jsWatchdog {
	return jsWatchdog{Every: 2 * time.Second, Retry: backoff.Backoff{Min: 2 * time.Second, Max: time.Minute, Jitter: 0.2},
		MinFree: 16 << 20}
}

func (w *jsWatchdog) run(ctx context.Context) {
	t := time.NewTimer(w.Every)
	defer t.Stop()
	var (
		suspect  bool      // the last check found a problem
		since    time.Time // when the failure was confirmed; zero while working
		attempts int
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		problem := w.problem()
		switch {
		case problem == "" && since.IsZero():
			suspect = false
			t.Reset(w.Every)
			continue
		case since.IsZero() && !suspect:
			// Acted on only if the next check finds it too: the health
			// check can catch a stream half made.
			suspect = true
			t.Reset(w.Every)
			continue
		case problem == "":
			w.log.Info("JetStream recovered", "down_for", time.Since(since).Round(time.Millisecond), "attempts", attempts)
			suspect, since, attempts = false, time.Time{}, 0
			w.Retry.Reset()
			t.Reset(w.Every)
			continue
		case since.IsZero():
			since = time.Now()
			w.log.Warn("JetStream failed; restarting it", "reason", problem)
		}
		attempts++
		err := w.restart()
		next := w.Retry.Next()
		if err != nil {
			w.log.Warn("JetStream not restarted", "err", err, "attempt", attempts, "next_in", next.Round(time.Millisecond))
		}
		t.Reset(next)
	}
}

// problem is what is wrong with JetStream that a restart mends, "" when
// nothing is: JetStream off, or a stream that failed a write (the health
// check's "write error", from the stream's sticky write error).
func (w *jsWatchdog) problem() string {
	if !w.srv.JetStreamEnabled() {
		return "JetStream disabled"
	}
	for _, e := range w.srv.Healthz(&server.HealthzOptions{Details: true}).Errors {
		if e.Type == server.HealthzErrorStream && strings.Contains(e.Error, " write error: ") {
			return e.Error
		}
	}
	return ""
}

// restart stops JetStream if it runs and starts it again, which reloads
// every stream from the store.
func (w *jsWatchdog) restart() error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(w.storeDir, &st); err == nil {
		if free := uint64(st.Bavail) * uint64(st.Bsize); free < w.MinFree {
			return fmt.Errorf("%d bytes free for the store %s, waiting for %d", free, w.storeDir, w.MinFree)
		}
	}
	if w.srv.JetStreamEnabled() {
		if err := w.srv.ShutdownJetStream(); err != nil {
			return fmt.Errorf("stop: %w", err)
		}
	}
	if err := w.srv.EnableJetStream(w.config()); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	return nil
}

// serverLog passes the embedded server's log to slog. Its notices (the
// start-up banner, client connections) are Debug, and so is a warning or
// error already logged in the last serverLogRepeat, numbers aside (a leaf
// node refused by its hub at each reconnection, every second, each time on
// a new connection id).
type serverLog struct {
	log *slog.Logger

	mu   sync.Mutex
	last map[string]time.Time // message without its digits -> when last logged above Debug
}

const serverLogRepeat = 30 * time.Second

func (l *serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Warnf(format string, v ...any)   { l.warn(format, v...) }
func (l *serverLog) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLog) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, "connection") { // a client went away: not the server's failure
		l.log.Debug(msg)
		return
	}
	l.warn(format, v...)
}
func (l *serverLog) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Tracef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }

func (l *serverLog) warn(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	key := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, msg)
	now := time.Now()
	l.mu.Lock()
	repeat := now.Sub(l.last[key]) < serverLogRepeat
	if !repeat {
		if l.last == nil || len(l.last) > 1000 {
			l.last = map[string]time.Time{}
		}
		l.last[key] = now
	}
	l.mu.Unlock()
	if repeat {
		l.log.Debug(msg)
		return
	}
	l.log.Warn(msg)
}
