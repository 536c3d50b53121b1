package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"mailctl/lib/proxyproto"
)

// conn sits between the socket and go-smtp and sees every byte both ways.
// go-smtp cannot be hooked where we need it, so conn does what it lacks:
//
//   - it hands go-smtp input one command line at a time, so go-smtp never
//     reads ahead and conn always knows whether the next bytes are a
//     command, DATA content or a BDAT chunk;
//   - DATA and BDAT content is checked as it passes: a bare CR or bare LF
//     (RFC 5321 §2.3.8) is refused, never normalised, so no `\n.\n` trick
//     can end a message early here or at the next hop (SMTP smuggling);
//   - STARTTLS is done here, not by go-smtp, so the line discipline goes on
//     over TLS; input pipelined after STARTTLS is thrown away (the command
//     injection of CVE-2011-0411), and go-smtp's transaction is reset;
//   - "RCPT TO:<Postmaster>" without a domain (RFC 5321 §4.5.1), which
//     go-smtp's parser refuses, is rewritten to the configured postmaster;
//   - deadlines: every read waits at most the command timeout and never
//     past the end of the session time; DATA gets the command timeout per
//     read, not for the whole message;
//   - replies are watched: after too many errors the client is cut off
//     with 421, and nothing is written after a 421.
//
// go-smtp writes each reply line with one Write call and reads through a
// bufio.Reader that only asks for more when it has no full line left; conn
// relies on both.
type conn struct {
	raw  net.Conn // the accepted connection
	opts *connOptions
	end  time.Time // the session's deadline

	// Read side: only go-smtp's connection goroutine reads.
	br        *bufio.Reader
	out       []byte // input ready for go-smtp
	mode      readMode
	chunkLeft int64 // BDAT bytes still to come
	chunkLast bool  // the chunk being read is the LAST one
	scan      contentScan
	dataNext  bool  // a DATA line was handed out: 354 means content follows
	readErr   error // returned once; every later read gets io.EOF
	junk      int   // NOOP, RSET, VRFY … so far
	handshake sync.Once
	hsErr     error
	webmail   bool       // webmaild's listener: a PROXY header comes first
	client    netip.Addr // the browser's address from that header (webmail)

	mu         sync.Mutex // guards what both sides touch
	transport  net.Conn   // raw, or a *tls.Conn over it
	tlsState   *tls.ConnectionState
	greeted    bool // HELO or EHLO since the connection (or STARTTLS) began
	esmtp      bool // the last greeting was EHLO
	ehloReply  bool // the next reply line is the first of an EHLO reply
	authed     bool // a 235 went out
	dataReply  bool // the next final reply answers a message's content
	closing    bool // a 421 went out, or the content was refused: no more input or output
	closeAfter bool // close once the next final reply is written
	drain      bool // read what the client still sends before closing (it may be mid-message)
	suppress   int  // final replies to swallow (the RSET conn injects after STARTTLS)
	errs       int  // 4xx and 5xx replies since the last accepted message
	lastReply  int
	wbuf       []byte // a reply line not complete yet
	pend       []byte // replies held back (see Write)
}

type readMode int

const (
	modeCommand readMode = iota
	modeData             // DATA content up to <CRLF>.<CRLF>
	modeChunk            // a BDAT chunk of chunkLeft bytes
)

type connOptions struct {
	tls            *tls.Config // STARTTLS offered when set
	commandTimeout time.Duration
	sessionTimeout time.Duration
	maxLine        int
	postmaster     string // "RCPT TO:<Postmaster>" becomes this address; "" leaves it to go-smtp (501)
	maxErrors      int
	maxJunk        int
	log            *slog.Logger
}

// webmailHeaderTimeout bounds the wait for webmaild's PROXY header.
const webmailHeaderTimeout = 10 * time.Second

// errSmuggling is what the content reader returns for a bare CR or LF. It
// is a bare *smtp.SMTPError so that go-smtp sends it as the reply.
var errSmuggling = &smtp.SMTPError{
	Code:         554,
	EnhancedCode: smtp.EnhancedCode{5, 5, 2},
	Message:      "Bare CR or LF in message content (RFC 5321 2.3.8): message refused, closing connection",
}

func newConn(c net.Conn, opts *connOptions) *conn {
	bufSize := max(4096, opts.maxLine+2)
	cc := &conn{raw: c, transport: c, opts: opts, br: bufio.NewReaderSize(c, bufSize)}
	cc.end = time.Now().Add(opts.sessionTimeout)
	return cc
}

// tlsHandshake completes the handshake of an implicit-TLS connection
// before the greeting, under the command timeout. On webmaild's listener
// it reads the PROXY header instead, in the connection's goroutine (go-smtp
// writes the greeting there), so a slow client never holds up Accept.
func (c *conn) tlsHandshake() error {
	c.handshake.Do(func() {
		if c.webmail {
			c.hsErr = c.readProxyHeader()
			return
		}
		tc, ok := c.raw.(*tls.Conn)
		if !ok {
			return
		}
		ctx, cancel := context.WithDeadline(context.Background(), c.deadline())
		defer cancel()
		if c.hsErr = tc.HandshakeContext(ctx); c.hsErr != nil {
			return
		}
		st := tc.ConnectionState()
		c.mu.Lock()
		c.tlsState = &st
		c.mu.Unlock()
	})
	return c.hsErr
}

// readProxyHeader reads webmaild's header from the raw connection: nothing
// is buffered yet, and ReadHeader reads not a byte past it. PROXY UNKNOWN
// leaves the socket's peer as the client.
func (c *conn) readProxyHeader() error {
	client, _, err := proxyproto.ReadHeader(c.raw, min(webmailHeaderTimeout, time.Until(c.end)))
	if err != nil {
		if c.opts.log != nil {
			c.opts.log.Info("webmail connection without a valid PROXY header, closing", "peer", peerString(c.raw), "err", err)
		}
		return err
	}
	if !client.IsValid() {
		client = remoteIP(c.raw.RemoteAddr())
	}
	c.client = client
	return nil
}

// offersTLS: STARTTLS when configured, but not to webmaild, whose
// socket is local.
func (c *conn) offersTLS() bool { return c.opts.tls != nil && !c.webmail }

// peerString names the socket peer of a webmail connection for the logs:
// its address, or the socket it came through when it has none (unix).
func peerString(c net.Conn) string {
	if a := c.RemoteAddr(); a != nil && a.String() != "" && a.String() != "@" {
		return a.String()
	}
	return c.LocalAddr().Network() + ":" + c.LocalAddr().String()
}

// deadline is the command timeout from now, capped by the session's end.
func (c *conn) deadline() time.Time {
	d := time.Now().Add(c.opts.commandTimeout)
	if d.After(c.end) {
		return c.end
	}
	return d
}

// TLS returns the TLS state, or nil on a plain connection.
func (c *conn) TLS() *tls.ConnectionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tlsState
}

// Greeted reports whether the client said HELO or EHLO since the
// connection (or TLS) began, and whether it was EHLO.
func (c *conn) Greeted() (greeted, esmtp bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.greeted, c.esmtp
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// fail makes the read side return err, and io.EOF from then on.
func (c *conn) fail(err error) (int, error) {
	c.readErr = err
	return 0, err
}

func (c *conn) Read(p []byte) (int, error) {
	if len(c.out) > 0 {
		n := copy(p, c.out)
		c.out = c.out[n:]
		return n, nil
	}
	if c.readErr != nil {
		return 0, io.EOF
	}
	if err := c.tlsHandshake(); err != nil {
		return c.fail(io.EOF)
	}
	for {
		if c.isClosing() {
			return c.fail(io.EOF)
		}
		switch c.mode {
		case modeCommand:
			if c.dataNext {
				c.dataNext = false
				c.mu.Lock()
				ok := c.lastReply == 354
				c.mu.Unlock()
				if ok {
					c.mode, c.scan = modeData, contentScan{dotted: true, lineStart: true}
					continue
				}
			}
			line, err := c.readLine()
			if err != nil {
				return c.fail(err)
			}
			if line = c.command(line); line == nil {
				if len(c.out) == 0 {
					continue // answered here
				}
			} else {
				c.out = line
			}
		case modeData, modeChunk:
			n, err := c.readContent(p)
			if err != nil {
				return c.fail(err)
			}
			return n, nil
		}
		n := copy(p, c.out)
		c.out = c.out[n:]
		return n, nil
	}
}

// fill makes sure some input is buffered, waiting at most the command
// timeout (and never past the session's end).
func (c *conn) fill() error {
	if c.br.Buffered() > 0 {
		return nil
	}
	if err := c.flush(); err != nil {
		return err
	}
	c.mu.Lock()
	t := c.transport
	c.mu.Unlock()
	t.SetReadDeadline(c.deadline())
	_, err := c.br.Peek(1)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			msg := "421 4.4.2 Idle timeout, closing connection\r\n"
			if !time.Now().Before(c.end) {
				msg = "421 4.4.2 Session time limit reached, closing connection\r\n"
			}
			c.Write([]byte(msg))
			c.flush()
			return io.EOF
		}
	}
	return err
}

// readLine returns the next input line with its line end. A line longer
// than the buffer is returned in pieces; go-smtp refuses it.
func (c *conn) readLine() ([]byte, error) {
	if err := c.fill(); err != nil {
		return nil, err
	}
	if b, _ := c.br.Peek(c.br.Buffered()); bytes.IndexByte(b, '\n') < 0 {
		// Only part of a line is here: answer what came before it
		// before waiting for the rest.
		if err := c.flush(); err != nil {
			return nil, err
		}
	}
	line, err := c.br.ReadSlice('\n')
	if len(line) > 0 {
		// A full line; or part of one too long for the buffer (go-smtp
		// refuses it); or the unterminated last bytes before EOF.
		return bytes.Clone(line), nil
	}
	return nil, err
}

// readContent reads checked DATA or BDAT content into p, never beyond the
// end of the message or chunk.
func (c *conn) readContent(p []byte) (int, error) {
	if err := c.fill(); err != nil {
		return 0, err
	}
	avail, _ := c.br.Peek(c.br.Buffered())
	if len(avail) > len(p) {
		avail = avail[:len(p)]
	}
	if c.mode == modeChunk && int64(len(avail)) > c.chunkLeft {
		avail = avail[:c.chunkLeft]
	}
	n, end, err := c.scan.check(avail)
	if err == nil && c.mode == modeChunk && c.chunkLast && int64(n) == c.chunkLeft && c.scan.cr {
		err = errSmuggling // the message would end in a bare CR
	}
	if err != nil {
		c.mu.Lock()
		c.closeAfter, c.drain = true, true
		c.mu.Unlock()
		return 0, err
	}
	copy(p, avail[:n])
	c.br.Discard(n)
	switch c.mode {
	case modeData:
		if end {
			c.mode = modeCommand
			c.setDataReply()
		}
	case modeChunk:
		c.chunkLeft -= int64(n)
		if c.chunkLeft == 0 {
			c.mode = modeCommand
			if c.chunkLast {
				c.scan = contentScan{}
				c.setDataReply()
			}
		}
	}
	return n, nil
}

func (c *conn) setDataReply() {
	c.mu.Lock()
	c.dataReply = true
	c.mu.Unlock()
}

// command looks at one command line before go-smtp does, and returns what
// go-smtp should see (nil when conn answered it itself).
func (c *conn) command(line []byte) []byte {
	text := strings.TrimRight(string(line), "\r\n")
	verb := ""
	if len(text) >= 4 {
		verb = strings.ToUpper(text[:4])
	}
	switch {
	case len(text) >= 8 && strings.EqualFold(text[:8], "STARTTLS") && c.offersTLS():
		c.startTLS(text)
		return nil
	case verb == "HELO" || verb == "EHLO":
		c.mu.Lock()
		c.greeted, c.esmtp, c.ehloReply = true, verb == "EHLO", verb == "EHLO"
		c.mu.Unlock()
		c.countJunk()
	case verb == "RCPT":
		return c.rewritePostmaster(text, line)
	case verb == "MAIL", verb == "RSET":
		c.scan = contentScan{} // a new transaction: no CR is pending from an old chunk
		if verb == "RSET" {
			c.countJunk()
		}
	case strings.EqualFold(text, "DATA"):
		c.dataNext = true
	case verb == "BDAT":
		if size, last, ok := parseBDAT(text); ok {
			c.mode, c.chunkLeft, c.chunkLast = modeChunk, size, last
			if size == 0 {
				c.mode = modeCommand
				if last {
					c.setDataReply()
				}
			}
		}
	case verb == "AUTH", verb == "QUIT":
	default:
		c.countJunk() // NOOP, VRFY, EXPN, HELP and unknown commands
	}
	return line
}

// countJunk counts commands that carry no mail; past maxJunk each one
// counts as an error too, so a client that only chatters is cut off.
func (c *conn) countJunk() {
	c.junk++
	if c.junk > c.opts.maxJunk {
		c.mu.Lock()
		c.errs++
		c.mu.Unlock()
	}
}

// parseBDAT reads "BDAT size [LAST]" exactly as go-smtp does: when it
// fails, go-smtp does not read a chunk either.
func parseBDAT(text string) (size int64, last, ok bool) {
	if len(text) < 5 || text[4] != ' ' {
		return 0, false, false
	}
	args := strings.Fields(text[5:])
	if len(args) == 0 || len(args) > 2 {
		return 0, false, false
	}
	if len(args) == 2 {
		if !strings.EqualFold(args[1], "LAST") {
			return 0, false, false
		}
		last = true
	}
	n, err := strconv.ParseUint(args[0], 10, 32)
	if err != nil {
		return 0, false, false
	}
	return int64(n), last, true
}

// rewritePostmaster turns "RCPT TO:<Postmaster>" (any case, RFC 5321
// §4.5.1) into the configured postmaster's address.
func (c *conn) rewritePostmaster(text string, line []byte) []byte {
	if c.opts.postmaster == "" || len(text) < 8 || !strings.EqualFold(text[5:8], "TO:") || text[4] != ' ' {
		return line
	}
	rest := strings.TrimLeft(text[8:], " \t")
	const pm = "<postmaster>"
	if len(rest) < len(pm) || !strings.EqualFold(rest[:len(pm)], pm) {
		return line
	}
	return []byte("RCPT TO:<" + c.opts.postmaster + ">" + rest[len(pm):] + "\r\n")
}

// startTLS answers STARTTLS (RFC 3207) and switches the connection to TLS.
func (c *conn) startTLS(text string) {
	c.mu.Lock()
	isTLS, greeted, authed := c.tlsState != nil, c.greeted, c.authed
	c.mu.Unlock()
	switch {
	case strings.TrimSpace(text[8:]) != "":
		c.Write([]byte("501 5.5.4 Syntax: STARTTLS takes no parameters\r\n"))
		return
	case isTLS:
		c.Write([]byte("503 5.5.1 TLS is already active\r\n"))
		return
	case !greeted:
		c.Write([]byte("503 5.5.1 Send EHLO first\r\n"))
		return
	case authed:
		c.Write([]byte("503 5.5.1 Already authenticated\r\n"))
		return
	}
	c.Write([]byte("220 2.0.0 Ready to start TLS\r\n"))
	if err := c.flush(); err != nil {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		return
	}
	// Whatever the client pipelined after STARTTLS was sent in clear text
	// and must not be taken as if it came over TLS.
	c.br.Discard(c.br.Buffered())
	tc := tls.Server(c.raw, c.opts.tls)
	ctx, cancel := context.WithDeadline(context.Background(), c.deadline())
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		return
	}
	st := tc.ConnectionState()
	c.mu.Lock()
	c.transport, c.tlsState = tc, &st
	c.greeted, c.esmtp = false, false
	// go-smtp must forget the transaction too: feed it an RSET and swallow
	// its reply.
	c.suppress++
	c.mu.Unlock()
	c.br.Reset(tc)
	c.out = []byte("RSET\r\n")
}

// Write passes go-smtp's replies on, line by line, watching them. Replies
// are held back while more pipelined commands are already buffered
// (RFC 2920: one write for a group), and the lines of a multi-line reply
// go out together; everything held is flushed before conn waits for
// input.
func (c *conn) Write(p []byte) (int, error) {
	if err := c.tlsHandshake(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	c.wbuf = append(c.wbuf, p...)
	final := true
	for {
		i := bytes.Index(c.wbuf, []byte("\r\n"))
		if i < 0 {
			break
		}
		_, final = replyCode(c.wbuf[:i+2])
		c.pend = c.reply(c.pend, c.wbuf[:i+2])
		c.wbuf = c.wbuf[i+2:]
	}
	if len(c.wbuf) == 0 {
		c.wbuf = nil
	}
	hold := !final || (c.mode == modeCommand && !c.closing && c.br.Buffered() > 0)
	c.mu.Unlock()
	if !hold {
		if err := c.flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush sends the replies held back.
func (c *conn) flush() error {
	c.mu.Lock()
	out, t := c.pend, c.transport
	c.pend = nil
	c.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	// A fresh deadline for every write: one that passed while waiting
	// for input would cut a TLS record short (and break the session).
	t.SetWriteDeadline(time.Now().Add(c.opts.commandTimeout))
	_, err := t.Write(out)
	return err
}

// reply handles one reply line (c.mu held) and appends what is to be sent.
func (c *conn) reply(out, line []byte) []byte {
	code, final := replyCode(line)
	if c.suppress > 0 {
		if final {
			c.suppress--
		}
		return out
	}
	if c.closing {
		return out
	}
	out = append(out, line...)
	if c.ehloReply {
		c.ehloReply = false
		if code == 250 && !final && c.offersTLS() && c.tlsState == nil {
			out = append(out, "250-STARTTLS\r\n"...)
		}
	}
	if !final {
		return out
	}
	c.lastReply = code
	switch {
	case code == 421:
		c.closing = true
	case code == 235:
		c.authed = true
	case code == 250 && c.dataReply:
		c.errs = 0 // like Postfix's hard error limit: errors count until mail is accepted
	case code >= 400:
		c.errs++
	}
	c.dataReply = false
	if c.closeAfter {
		c.closing = true
	} else if c.errs > c.opts.maxErrors && !c.closing {
		out = append(out, "421 4.7.0 Too many errors, closing connection\r\n"...)
		c.closing = true
	}
	return out
}

// replyCode reads "NNN-" or "NNN " from a reply line.
func replyCode(line []byte) (code int, final bool) {
	if len(line) < 3 {
		return 0, true
	}
	n, err := strconv.Atoi(string(line[:3]))
	if err != nil {
		return 0, true
	}
	return n, len(line) < 4 || line[3] != '-'
}

// Close closes the connection. After refusing a message midway, it first
// reads (for a moment) what the client is still sending, so that the
// client sees the refusal instead of a reset connection.
func (c *conn) Close() error {
	c.flush()
	c.mu.Lock()
	t, drain := c.transport, c.drain
	c.drain = false
	c.mu.Unlock()
	if drain {
		if cw, ok := t.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		t.SetReadDeadline(time.Now().Add(time.Second))
		io.CopyN(io.Discard, t, 1<<20)
	}
	return t.Close()
}

func (c *conn) LocalAddr() net.Addr  { return c.raw.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// Deadlines are conn's business: reads in fill, writes in flush.
func (c *conn) SetDeadline(time.Time) error      { return nil }
func (c *conn) SetReadDeadline(time.Time) error  { return nil }
func (c *conn) SetWriteDeadline(time.Time) error { return nil }

// contentScan checks message content for bare CR and bare LF, and finds
// the end of DATA (a line holding a single dot).
type contentScan struct {
	dotted    bool // DATA (dot-terminated), not BDAT
	lineStart bool
	cr        bool // the last byte was a CR
	dotLine   bool // the line so far is "."
}

// check returns how many bytes of b may be passed on and whether the end
// of data is among them, or errSmuggling.
func (s *contentScan) check(b []byte) (n int, end bool, err error) {
	for i, ch := range b {
		if s.cr {
			if ch != '\n' {
				return i, false, errSmuggling
			}
			s.cr = false
			if s.dotted && s.dotLine {
				return i + 1, true, nil
			}
			s.lineStart, s.dotLine = true, false
			continue
		}
		switch ch {
		case '\r':
			s.cr = true
		case '\n':
			return i, false, errSmuggling
		case '.':
			s.dotLine = s.lineStart
		default:
			s.dotLine = false
		}
		s.lineStart = false
	}
	return len(b), false, nil
}

// listener wraps every accepted connection in a conn.
type listener struct {
	net.Listener
	opts    *connOptions
	webmail bool // webmaild's listener (Server.ServeWebmail)
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := newConn(c, l.opts)
	cc.webmail = l.webmail
	return cc, nil
}
