package pop3d

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

var (
	errLineTooLong = errors.New("line too long")
	// errFlood ends a session whose over-long line doesn't end within
	// maxDiscard bytes: a client that streams garbage isn't waited for.
	errFlood = errors.New("over-long line without end")
)

const (
	readBufSize  = 4096
	writeBufSize = 32 * 1024
	maxDiscard   = 1 << 20
)

// conn is a client connection: a line reader with a length limit, a
// buffered writer whose every write refreshes the write deadline (a slow
// reader may take long for a big RETR, as long as it keeps reading), and
// the STLS upgrade.
type conn struct {
	nc      net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	dw      *deadlineWriter
	maxLine int
}

// deadlineWriter sets a write deadline before each write to the
// connection: at most timeout from now, never past end.
type deadlineWriter struct {
	nc      net.Conn
	timeout time.Duration
	end     time.Time
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	dl := time.Now().Add(d.timeout)
	if !d.end.IsZero() && d.end.Before(dl) {
		dl = d.end
	}
	d.nc.SetWriteDeadline(dl)
	return d.nc.Write(p)
}

func newConn(nc net.Conn, maxLine int, writeTimeout time.Duration, end time.Time) *conn {
	dw := &deadlineWriter{nc: nc, timeout: writeTimeout, end: end}
	return &conn{
		nc:      nc,
		br:      bufio.NewReaderSize(nc, readBufSize),
		bw:      bufio.NewWriterSize(dw, writeBufSize),
		dw:      dw,
		maxLine: maxLine,
	}
}

// readLine returns the next line without its CRLF (a bare LF is taken
// too). A line longer than maxLine is read to its end and reported as
// errLineTooLong, so the session can answer and go on.
func (c *conn) readLine(deadline time.Time) (string, error) {
	c.nc.SetReadDeadline(deadline)
	var long []byte
	for {
		frag, err := c.br.ReadSlice('\n')
		if err == nil && long == nil {
			if len(frag) > c.maxLine+2 {
				return "", errLineTooLong
			}
			return string(trimEOL(frag)), nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return "", err
		}
		if len(long)+len(frag) > c.maxLine+2 {
			return "", c.discardLine(err == nil)
		}
		long = append(long, frag...)
		if err == nil {
			return string(trimEOL(long)), nil
		}
	}
}

// discardLine skips the rest of an over-long line.
func (c *conn) discardLine(ended bool) error {
	for n := 0; !ended; {
		frag, err := c.br.ReadSlice('\n')
		n += len(frag)
		switch {
		case err == nil:
			ended = true
		case err != bufio.ErrBufferFull:
			return err
		case n > maxDiscard:
			return errFlood
		}
	}
	return errLineTooLong
}

func trimEOL(b []byte) []byte {
	b = b[:len(b)-1]
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

// flush sends what is buffered.
func (c *conn) flush() error { return c.bw.Flush() }

// pipelined reports whether the client already sent more: replies are
// then flushed together (RFC 2449 PIPELINING).
func (c *conn) pipelined() bool { return c.br.Buffered() > 0 }

// startTLS switches to TLS after "+OK" to STLS was flushed. Whatever the
// client sent after STLS and before the handshake is dropped and its size
// returned: it was sent in clear text and must not be taken as a command
// protected by TLS (command injection, CVE-2011-0411).
func (c *conn) startTLS(ctx context.Context, cfg *tls.Config, deadline time.Time) (discarded int, err error) {
	discarded = c.br.Buffered()
	tc := tls.Server(c.nc, cfg)
	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return discarded, fmt.Errorf("TLS handshake: %w", err)
	}
	c.nc = tc
	c.dw.nc = tc
	c.br.Reset(tc) // drops the clear-text bytes
	c.bw.Reset(c.dw)
	return discarded, nil
}

// lastWords sends a final line after a deadline passed: with a short
// write deadline of its own, the session's being over.
func (c *conn) lastWords(s string) {
	c.dw.end = time.Now().Add(2 * time.Second)
	c.writeLine(s)
	c.flush()
}

// writeLine buffers one reply line and its CRLF.
func (c *conn) writeLine(s string) {
	c.bw.WriteString(s)
	c.bw.WriteString("\r\n")
}

var _ io.Writer = (*deadlineWriter)(nil)
