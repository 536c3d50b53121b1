package proxyproto

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Dial connects to spec — "unix:/path/to/socket" or "IP:port" (an IP
// literal such as "127.0.0.1:10143" or "[::1]:10143"; a name is refused,
// never resolved) — and writes the header naming client. ctx bounds the
// dial and the write; the returned connection has no deadline set.
func Dial(ctx context.Context, spec string, client netip.Addr) (net.Conn, error) {
	network, address, err := splitSpec(spec)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("proxyproto: %w", err)
	}
	if err := writeUnder(ctx, c, client); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func splitSpec(spec string) (network, address string, err error) {
	if path, ok := strings.CutPrefix(spec, "unix:"); ok {
		if path == "" {
			return "", "", fmt.Errorf("proxyproto: %q: empty socket path", spec)
		}
		return "unix", path, nil
	}
	ap, err := netip.ParseAddrPort(spec)
	if err != nil {
		return "", "", fmt.Errorf("proxyproto: %q is neither unix:PATH nor IP:PORT: %w", spec, err)
	}
	return "tcp", ap.String(), nil
}

// writeUnder writes the header with ctx's deadline, and aborts the write
// when ctx is cancelled first.
func writeUnder(ctx context.Context, c net.Conn, client netip.Addr) error {
	if dl, ok := ctx.Deadline(); ok {
		if err := c.SetWriteDeadline(dl); err != nil {
			return fmt.Errorf("proxyproto: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
	err := WriteHeader(c, client)
	if !stop() {
		// ctx ended: the deadline may have been moved under the write.
		return errors.Join(err, fmt.Errorf("proxyproto: %w", ctx.Err()))
	}
	if err != nil {
		return err
	}
	if err := c.SetWriteDeadline(time.Time{}); err != nil {
		return fmt.Errorf("proxyproto: %w", err)
	}
	return nil
}
