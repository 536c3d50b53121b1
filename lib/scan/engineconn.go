package scan

import (
	"context"
	"net"
	"strings"
	"time"
)

// defaultEngineTimeout bounds one talk with an engine when none is set.
const defaultEngineTimeout = 60 * time.Second

// dialEngine connects to an engine at "unix:/path" or "host:port". The
// connection's deadline is the earlier of ctx's and timeout, and closing
// ctx cuts a blocked read or write short. The returned function closes
// everything.
func dialEngine(ctx context.Context, address string, timeout time.Duration) (net.Conn, func(), error) {
	network := "tcp"
	if p, ok := strings.CutPrefix(address, "unix:"); ok {
		network, address = "unix", p
	}
	if timeout <= 0 {
		timeout = defaultEngineTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return conn, func() { stop(); conn.Close(); cancel() }, nil
}
