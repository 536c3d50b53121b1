package listen

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Inetd returns the connection inetd (or systemd with StandardInput=socket,
// or `systemd-socket-activate --inetd`) left on stdin.
//
// It then puts /dev/null on stdin, and on stdout and stderr where they are
// the same socket: stray output can no longer corrupt the protocol, and the
// client sees the connection end as soon as the server closes it.
func Inetd() (net.Conn, error) {
	var st unix.Stat_t
	if err := unix.Fstat(0, &st); err != nil {
		return nil, fmt.Errorf("listen: inetd: stdin: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return nil, fmt.Errorf("listen: inetd: stdin is not a socket (%s); --inetd is for running under inetd, xinetd or systemd-socket-activate --inetd", fileKind(st.Mode))
	}
	c, err := net.FileConn(os.Stdin)
	if err != nil {
		return nil, fmt.Errorf("listen: inetd: stdin: %w", err)
	}
	detachStdio(st)
	return c, nil
}

// detachStdio replaces fds 0–2 that refer to the socket sock with /dev/null.
// Best effort: if /dev/null can't be opened the descriptors stay.
func detachStdio(sock unix.Stat_t) {
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(null)
	for fd := 0; fd <= 2; fd++ {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Dev == sock.Dev && st.Ino == sock.Ino {
			unix.Dup3(null, fd, 0)
		}
	}
}

func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFIFO:
		return "a pipe"
	case unix.S_IFCHR:
		return "a terminal or device"
	case unix.S_IFDIR:
		return "a directory"
	}
	return fmt.Sprintf("file type %#o", mode&unix.S_IFMT)
}

// OneConn returns a listener whose Accept returns c once, then blocks until
// the listener is closed or c is closed by the server, and then returns
// net.ErrClosed. go-smtp's and go-imap's Serve thus return once the single
// connection (inetd, systemd Accept=yes) is done.
//
// Closing is noticed through a thin wrapper on c. A *tls.Conn can't be
// wrapped (servers detect TLS with conn.(*tls.Conn)), so for TLS use
// OneTLSConn, which puts the wrapper under the TLS layer; a *tls.Conn built
// elsewhere is returned as is and the listener only ends on Close.
func OneConn(c net.Conn) net.Listener {
	l := &oneConn{addr: c.LocalAddr(), closed: make(chan struct{})}
	switch tc := c.(type) {
	case *tls.Conn:
		l.conn = tc
		if nc, ok := tc.NetConn().(*notifyConn); ok {
			l.connDone = nc.done
		}
	case *notifyConn:
		l.conn, l.connDone = tc, tc.done
	default:
		nc := newNotifyConn(c)
		l.conn, l.connDone = nc, nc.done
	}
	return l
}

// OneTLSConn is OneConn for an implicit-TLS connection: Accept returns
// tls.Server over c (a *tls.Conn, nothing above it).
func OneTLSConn(c net.Conn, cfg *tls.Config) net.Listener {
	return OneConn(tls.Server(newNotifyConn(c), cfg))
}

type oneConn struct {
	addr      net.Addr
	mu        sync.Mutex
	conn      net.Conn // nil once accepted or closed
	connDone  <-chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

func (l *oneConn) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	l.mu.Lock()
	c := l.conn
	l.conn = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	select {
	case <-l.closed:
	case <-l.connDone: // a nil channel (foreign *tls.Conn) never fires
	}
	return nil, net.ErrClosed
}

// Close ends Accept. A connection never accepted is closed too; an accepted
// one belongs to the server.
func (l *oneConn) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	l.mu.Lock()
	c := l.conn
	l.conn = nil
	l.mu.Unlock()
	if c != nil {
		return c.Close()
	}
	return nil
}

func (l *oneConn) Addr() net.Addr { return l.addr }

// notifyConn closes done when the connection is closed.
type notifyConn struct {
	net.Conn
	once sync.Once
	done chan struct{}
}

func newNotifyConn(c net.Conn) *notifyConn {
	return &notifyConn{Conn: c, done: make(chan struct{})}
}

func (c *notifyConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.done) })
	return err
}

// CloseWrite passes a half-close through to a TCP or Unix connection.
func (c *notifyConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
