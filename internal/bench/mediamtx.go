package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"edge-agent/internal/freeport"
	"edge-agent/internal/mtxconf"
)

// waitTCP waits until addr accepts connections, the child exits or the
// timeout passes.
func waitTCP(ctx context.Context, addr string, c *child, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not accepting connections after %v: %w", c.name, addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return c.died()
		case <-tick.C:
		}
	}
}

// mtxAPI is MediaMTX's control API as the harness enables it: on a loopback
// port picked at run time, open only to one user with a password made for
// the run, as a deployment would have it (the agent must send the login).
type mtxAPI struct {
	Port       int
	User, Pass string
}

// apiUser is the user the harness's MediaMTX lets use its control API.
const apiUser = "bench"

// newMTXAPI picks the API's port and password.
func newMTXAPI(ports *freeport.Ports) (mtxAPI, error) {
	port, err := ports.TCP()
	if err != nil {
		return mtxAPI{}, err
	}
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return mtxAPI{}, fmt.Errorf("API password: %w", err)
	}
	return mtxAPI{Port: port, User: apiUser, Pass: hex.EncodeToString(b)}, nil
}

// URL is the API's address with its login, as EDGE_MEDIAMTX_API takes it.
func (a mtxAPI) URL() string {
	return (&url.URL{Scheme: "http", User: url.UserPassword(a.User, a.Pass), Host: a.addr()}).String()
}

// Redacted is URL with the password masked, for logs and the document.
func (a mtxAPI) Redacted() string {
	return (&url.URL{Scheme: "http", User: url.UserPassword(a.User, "xxxxx"), Host: a.addr()}).String()
}

func (a mtxAPI) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port)) }

// withAPI turns on the control API in a configuration mtxconf.Config wrote
// (which has it off) and replaces MediaMTX's default users with two: anyone
// may publish and read any path, as before, and only the API user, from
// loopback, may use the API.
func withAPI(conf string, a mtxAPI) (string, error) {
	const off = "\napi: no\n"
	if strings.Count(conf, off) != 1 {
		return "", errors.New("MediaMTX config: no single `api: no` line to replace")
	}
	if strings.Contains(conf, "authInternalUsers:") {
		return "", errors.New("MediaMTX config: already has users")
	}
	on := fmt.Sprintf(`
api: yes
apiAddress: %s
authMethod: internal
authInternalUsers:
- user: any
  pass:
  ips: []
  permissions:
  - action: publish
    path:
  - action: read
    path:
- user: %s
  pass: %s
  ips: ['127.0.0.1', '::1']
  permissions:
  - action: api
`, a.addr(), a.User, a.Pass)
	return strings.Replace(conf, off, on, 1), nil
}

// startMediaMTXAPI is startMediaMTX with the control API on (withAPI); it
// also waits for the API's port.
func (r *Runner) startMediaMTXAPI(st *stage, rtspPort, rtpPort int, api mtxAPI) (*child, error) {
	text, err := withAPI(mtxconf.Config(mtxconf.Options{RTSPPort: rtspPort, RTPPort: rtpPort}), api)
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(st.dir, "mediamtx.yml")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, err
	}
	mtx, err := st.start("mediamtx", r.cfg.bin("mediamtx"), []string{conf}, baseEnv(), nil, nil)
	if err != nil {
		return nil, err
	}
	for _, port := range []int{rtspPort, api.Port} {
		if err := waitTCP(st.ctx, fmt.Sprintf("127.0.0.1:%d", port), mtx, readyTimeout); err != nil {
			return nil, err
		}
	}
	return mtx, nil
}

// pathStats is what the API says of a path.
type pathStats struct {
	BytesReceived uint64 // from its publisher, since it appeared
	Readers       int
}

// apiTimeout bounds one request to the API. MediaMTX answers a failed login
// after a 2 s pause.
const apiTimeout = 5 * time.Second

// path reads a path's statistics (GET /v3/paths/get/<name>); ok is false
// when the path does not exist (nothing publishes it).
func (a mtxAPI) path(ctx context.Context, name string) (s pathStats, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.addr()+"/v3/paths/get/"+url.PathEscape(name), nil)
	if err != nil {
		return pathStats{}, false, err
	}
	req.SetBasicAuth(a.User, a.Pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return pathStats{}, false, fmt.Errorf("MediaMTX API: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return pathStats{}, false, fmt.Errorf("MediaMTX API: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return pathStats{}, false, nil
	default:
		return pathStats{}, false, fmt.Errorf("MediaMTX API: GET %s: %s: %s", req.URL.Path, resp.Status, strings.TrimSpace(string(body)))
	}
	var p struct {
		BytesReceived uint64            `json:"bytesReceived"`
		Readers       []json.RawMessage `json:"readers"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return pathStats{}, false, fmt.Errorf("MediaMTX API: path %s: %w", name, err)
	}
	return pathStats{BytesReceived: p.BytesReceived, Readers: len(p.Readers)}, true, nil
}
