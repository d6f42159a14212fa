package bus

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// The embedded NATS server: started by NATS.Run when NATSConfig.URL is
// empty.

func (n *NATS) startServer() (*server.Server, error) {
	host, port := splitListen(n.cfg.Listen)
	if port > 0 { // the server would only log a taken port and never become ready
		l, err := net.Listen("tcp", n.cfg.Listen)
		if err != nil {
			return nil, err
		}
		l.Close()
	}
	opts := &server.Options{
		ServerName: "edge-" + n.cfg.Device,
		Host:       host,
		Port:       port, // -1: a free port
		JetStream:  true,
		StoreDir:   filepath.Join(n.cfg.StateDir, "jetstream"),
		NoSigs:     true,
	}
	for _, raw := range n.cfg.LeafRemotes {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, err
		}
		opts.LeafNode.Remotes = append(opts.LeafNode.Remotes, &server.RemoteLeafOpts{URLs: []*url.URL{u}})
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	srv.SetLoggerV2(serverLog{n.log.With("server", "embedded")}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("not listening on %s after 10s", n.cfg.Listen)
	}
	n.log.Info("embedded server listening", "url", srv.ClientURL(), "store", opts.StoreDir)
	return srv, nil
}

// serverLog passes the embedded server's log to slog. Its notices (the
// start-up banner, client connections) are Debug.
type serverLog struct{ log *slog.Logger }

func (l serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l serverLog) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l serverLog) Errorf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.Contains(msg, "connection") { // a client went away: not the server's failure
		l.log.Debug(msg)
		return
	}
	l.log.Warn(msg)
}
func (l serverLog) Debugf(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l serverLog) Tracef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
