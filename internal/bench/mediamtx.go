package bench

import (
	"context"
	"fmt"
	"net"
	"time"
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
