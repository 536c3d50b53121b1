package smtpout

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

// conn is one SMTP connection, from the greeting to QUIT. Every command
// runs under a deadline: the command timeout, or sooner when ctx ends (an
// AfterFunc then expires the deadline, so a blocked read returns at once).
type conn struct {
	nc      net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	ctx     context.Context
	stop    func() bool
	host    string            // the server's name: MX host or relay, for logs and DSNs
	ext     map[string]string // EHLO keywords (upper case) → parameters
	tls     bool
	timeout time.Duration
	broken  bool // an I/O error happened: no QUIT, just close
}

// errIO marks a failure of the connection itself (reset, timeout,
// malformed reply) as opposed to a reply.
type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

func newConn(ctx context.Context, nc net.Conn, host string, timeout time.Duration) *conn {
	c := &conn{nc: nc, ctx: ctx, host: host, timeout: timeout}
	c.setConn(nc)
	c.stop = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	return c
}

func (c *conn) setConn(nc net.Conn) {
	c.nc = nc
	c.br = bufio.NewReaderSize(nc, 4096)
	c.bw = bufio.NewWriterSize(nc, 32<<10)
}

// close ends the connection without QUIT.
func (c *conn) close() {
	c.stop()
	c.nc.Close()
}

// quit says goodbye politely, briefly, and closes.
func (c *conn) quit() {
	if c.broken {
		c.close()
		return
	}
	c.timeout = min(c.timeout, 10*time.Second)
	c.cmd("QUIT")
	c.close()
}

// deadline arms the connection's deadline for one exchange.
func (c *conn) deadline(d time.Duration) error {
	if err := c.ctx.Err(); err != nil {
		c.broken = true
		return &ioError{err}
	}
	t := time.Now().Add(d)
	if dl, ok := c.ctx.Deadline(); ok && dl.Before(t) {
		t = dl
	}
	c.nc.SetDeadline(t)
	if err := c.ctx.Err(); err != nil { // AfterFunc may have run before SetDeadline
		c.nc.SetDeadline(time.Unix(1, 0))
		c.broken = true
		return &ioError{err}
	}
	return nil
}

// read reads one reply under the command timeout.
func (c *conn) read() (*Reply, error) {
	return c.readWithin(c.timeout)
}

func (c *conn) readWithin(d time.Duration) (*Reply, error) {
	if err := c.deadline(d); err != nil {
		return nil, err
	}
	r, _, err := readReply(c.br)
	if err != nil {
		return nil, c.ioErr(err)
	}
	return r, nil
}

// ioErr wraps a transport error, preferring the context's reason.
func (c *conn) ioErr(err error) error {
	c.broken = true
	if cerr := c.ctx.Err(); cerr != nil {
		return &ioError{fmt.Errorf("%w (%v)", cerr, err)}
	}
	return &ioError{err}
}

// cmd sends one command line and reads its reply.
func (c *conn) cmd(format string, a ...any) (*Reply, error) {
	r, _, err := c.cmdLines(format, a...)
	return r, err
}

func (c *conn) cmdLines(format string, a ...any) (*Reply, []string, error) {
	if err := c.deadline(c.timeout); err != nil {
		return nil, nil, err
	}
	line := fmt.Sprintf(format, a...)
	if strings.ContainsAny(line, "\r\n") {
		return nil, nil, &ioError{fmt.Errorf("smtpout: line break in command %q", clip(line))}
	}
	c.bw.WriteString(line)
	c.bw.WriteString("\r\n")
	if err := c.bw.Flush(); err != nil {
		return nil, nil, c.ioErr(err)
	}
	r, lines, err := readReply(c.br)
	if err != nil {
		return nil, nil, c.ioErr(err)
	}
	return r, lines, nil
}

// greet reads the server's greeting.
func (c *conn) greet() (*Reply, error) { return c.read() }

// hello says EHLO, falling back to HELO for a server that doesn't know
// EHLO. It returns the failing reply, if any.
func (c *conn) hello(name string) (*Reply, error) {
	r, lines, err := c.cmdLines("EHLO %s", name)
	if err != nil {
		return nil, err
	}
	if r.Code == 250 {
		c.ext = parseEHLO(lines)
		return r, nil
	}
	if r.Code != 500 && r.Code != 502 && r.Code != 504 {
		return r, nil
	}
	c.ext = map[string]string{}
	return c.cmd("HELO %s", name)
}

// parseEHLO reads the keywords of an EHLO reply (the first line is the
// server's name). Keywords are upper-cased; parameters are kept as sent.
func parseEHLO(lines []string) map[string]string {
	ext := map[string]string{}
	for i, l := range lines {
		if i == 0 {
			continue
		}
		kw, param, _ := strings.Cut(strings.TrimSpace(l), " ")
		kw = strings.ToUpper(kw)
		if old, ok := strings.CutPrefix(kw, "AUTH="); ok { // pre-RFC 4954 servers
			if _, seen := ext["AUTH"]; !seen {
				ext["AUTH"] = strings.TrimSpace(old + " " + param)
			}
			continue
		}
		if kw != "" {
			ext[kw] = strings.TrimSpace(param)
		}
	}
	return ext
}

func (c *conn) has(ext string) bool {
	_, ok := c.ext[ext]
	return ok
}

// errTLS is a failed TLS handshake after STARTTLS was accepted: the
// connection is unusable, and on port 25 the caller tries again in plain
// text.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// startTLS sends STARTTLS and, on 220, wraps the connection in TLS. A
// non-220 reply is returned as is (the session may go on in plain text).
func (c *conn) startTLS(cfg *tls.Config) (*Reply, error) {
	r, err := c.cmd("STARTTLS")
	if err != nil || r.Code != 220 {
		return r, err
	}
	if err := c.handshake(cfg); err != nil {
		return nil, err
	}
	c.ext = nil // RFC 3207 §4.2: forget what was said before TLS
	return r, nil
}

// handshake runs the TLS client handshake on the connection.
func (c *conn) handshake(cfg *tls.Config) error {
	if err := c.deadline(c.timeout); err != nil {
		return err
	}
	tc := tls.Client(c.nc, cfg)
	if err := tc.HandshakeContext(c.ctx); err != nil {
		return &tlsError{err}
	}
	c.setConn(tc)
	c.tls = true
	return nil
}

// errAuth is a refused AUTH exchange (a wrong password in the config).
type authError struct{ reply *Reply }

func (e *authError) Error() string { return "AUTH refused: " + e.reply.String() }

// auth authenticates with PLAIN, or LOGIN when the server offers only that.
// The caller makes sure the connection is encrypted.
func (c *conn) auth(user, pass string) error {
	mechs := strings.Fields(strings.ToUpper(c.ext["AUTH"]))
	var cl sasl.Client
	switch {
	case slices.Contains(mechs, "PLAIN"):
		cl = sasl.NewPlainClient("", user, pass)
	case slices.Contains(mechs, "LOGIN"):
		cl = sasl.NewLoginClient(user, pass)
	default:
		return &authError{localReply(454, [3]int{4, 7, 0}, "%s offers no AUTH PLAIN or LOGIN (offers %q)", c.host, c.ext["AUTH"])}
	}
	mech, ir, err := cl.Start()
	if err != nil {
		return err
	}
	line := "AUTH " + mech
	if ir != nil {
		line += " " + encode64(ir)
	}
	r, err := c.cmd("%s", line)
	for i := 0; err == nil && r.Code == 334 && i < 5; i++ {
		var chal []byte
		if chal, err = base64.StdEncoding.DecodeString(r.Text); err != nil {
			c.cmd("*") // cancel the exchange (RFC 4954 §4)
			return &ioError{fmt.Errorf("smtpout: bad AUTH challenge from %s: %w", c.host, err)}
		}
		var resp []byte
		if resp, err = cl.Next(chal); err != nil {
			c.cmd("*")
			return err
		}
		r, err = c.cmd("%s", base64.StdEncoding.EncodeToString(resp))
	}
	if err != nil {
		return err
	}
	if r.Code != 235 {
		return &authError{r}
	}
	return nil
}

// encode64 encodes an initial response; an empty one is "=" (RFC 4954).
func encode64(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

// isIOError reports a transport failure rather than a reply.
func isIOError(err error) bool {
	var ie *ioError
	return errors.As(err, &ie)
}
