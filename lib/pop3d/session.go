package pop3d

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// state is a session's RFC 1939 state.
type state int

const (
	stateAuthorization state = iota
	stateTransaction
	stateUpdate // QUIT in TRANSACTION: apply deletions, then close
)

// session is one connection.
type session struct {
	srv    *Server
	opts   *Options
	c      *conn
	log    *slog.Logger
	remote netip.Addr
	local  bool // loopback or unix socket
	secure bool // TLS, implicit or after STLS
	end    time.Time

	state    state
	user     string // from USER, waiting for PASS
	box      *maildrop
	login    string // the logged-in address, for the logs
	bad      int
	failures int
	closing  bool
}

func newSession(s *Server, nc net.Conn) *session {
	remote, local := remoteAddr(nc)
	end := time.Now().Add(s.opts.SessionTimeout)
	ss := &session{
		srv: s, opts: &s.opts, remote: remote, local: local, end: end,
		c: newConn(nc, s.opts.MaxLineLength, s.opts.CommandTimeout, end),
	}
	ss.log = s.log.With("conn", connID(), "remote", nc.RemoteAddr().String())
	return ss
}

// deadline is when the next read or handshake must be done.
func (ss *session) deadline() time.Time {
	d := time.Now().Add(ss.opts.CommandTimeout)
	if ss.end.Before(d) {
		return ss.end
	}
	return d
}

func (ss *session) run(ctx context.Context) {
	ss.log.Debug("pop3: connected")
	defer func() {
		if ss.box != nil {
			ss.box.close() // no QUIT: nothing is deleted (RFC 1939 §6)
			ss.log.Info("pop3: session ended without QUIT; no changes applied", "user", ss.login)
		}
	}()
	if tc, ok := ss.c.nc.(*tls.Conn); ok {
		hctx, cancel := context.WithDeadline(ctx, ss.deadline())
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			ss.log.Info("pop3: TLS handshake failed", "err", err)
			return
		}
		ss.secure = true
	}
	ss.reply("+OK " + ss.opts.Hostname + " POP3 server ready")
	for !ss.closing {
		if !ss.c.pipelined() {
			if err := ss.c.flush(); err != nil {
				ss.log.Debug("pop3: write", "err", err)
				return
			}
		}
		line, err := ss.c.readLine(ss.deadline())
		switch {
		case err == nil:
		case errors.Is(err, errLineTooLong):
			ss.bad++
			ss.reply("-ERR line too long")
			if ss.tooManyBad() {
				return
			}
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			ss.log.Info("pop3: timeout", "user", ss.login, "session", time.Now().After(ss.end))
			ss.c.lastWords("-ERR [SYS/TEMP] autologout: idle for too long")
			return
		case errors.Is(err, errFlood):
			ss.log.Info("pop3: over-long line without end; closing")
			return
		default:
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				ss.log.Debug("pop3: read", "err", err)
			}
			return
		}
		cmd, err := ParseCommand(line)
		if err != nil {
			ss.bad++
			ss.log.Debug("pop3: bad command", "err", err)
			ss.reply("-ERR " + err.Error())
			if ss.tooManyBad() {
				return
			}
			continue
		}
		ss.log.Debug("pop3: command", "cmd", cmd.String())
		if ss.dispatch(ctx, cmd) {
			ss.bad++
			if ss.tooManyBad() {
				return
			}
		}
	}
	ss.c.flush()
}

// tooManyBad ends the session after MaxBadCommands errors.
func (ss *session) tooManyBad() bool {
	if ss.bad < ss.opts.MaxBadCommands {
		return false
	}
	ss.log.Info("pop3: too many bad commands; closing", "user", ss.login)
	ss.reply("-ERR too many bad commands, closing connection")
	ss.c.flush()
	return true
}

// reply buffers one reply line; it is flushed before the next read.
func (ss *session) reply(s string) { ss.c.writeLine(s) }

// dispatch runs one command. It reports whether the command was a bad one
// (unknown, misplaced, malformed), which counts towards MaxBadCommands.
func (ss *session) dispatch(ctx context.Context, cmd Command) (bad bool) {
	if cmd.Name != "PASS" && cmd.Name != "USER" {
		ss.user = "" // PASS must follow USER directly
	}
	switch cmd.Name {
	case "CAPA":
		return ss.cmdCapa(cmd)
	case "QUIT":
		return ss.cmdQuit(ctx, cmd)
	}
	if ss.state == stateAuthorization {
		switch cmd.Name {
		case "STLS":
			return ss.cmdSTLS(ctx, cmd)
		case "USER":
			return ss.cmdUser(cmd)
		case "PASS":
			return ss.cmdPass(ctx, cmd)
		case "AUTH":
			return ss.cmdAuth(ctx, cmd)
		case "APOP":
			ss.reply("-ERR APOP is not supported; use USER/PASS or AUTH over TLS")
			return false
		case "STAT", "LIST", "RETR", "TOP", "UIDL", "DELE", "RSET", "NOOP":
			ss.reply("-ERR not logged in")
			return true
		}
	} else {
		switch cmd.Name {
		case "STAT":
			return ss.cmdStat(cmd)
		case "LIST":
			return ss.cmdList(cmd)
		case "UIDL":
			return ss.cmdUIDL(cmd)
		case "RETR":
			return ss.cmdRetr(cmd)
		case "TOP":
			return ss.cmdTop(cmd)
		case "DELE":
			return ss.cmdDele(cmd)
		case "RSET":
			return ss.cmdRset(cmd)
		case "NOOP":
			return ss.cmdNoop(cmd)
		case "STLS", "USER", "PASS", "AUTH", "APOP":
			ss.reply("-ERR already logged in")
			return true
		}
	}
	ss.reply("-ERR unknown command")
	return true
}

// argCount checks the number of arguments; on a mismatch it answers.
func (ss *session) argCount(cmd Command, lo, hi int) bool {
	if len(cmd.Args) < lo || len(cmd.Args) > hi {
		ss.reply("-ERR wrong number of arguments for " + cmd.Name)
		return false
	}
	return true
}

// parseNumber reads a message number or a line count: decimal digits
// only, no sign, below 2^31.
func parseNumber(s string) (int, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 32)
	return int(n), err == nil
}

func (ss *session) cmdCapa(cmd Command) bool {
	if !ss.argCount(cmd, 0, 0) {
		return true
	}
	ss.reply("+OK capability list follows")
	if ss.state == stateAuthorization {
		if ss.opts.TLS != nil && !ss.secure {
			ss.reply("STLS")
		}
		if ss.authAllowed() {
			ss.reply("USER")
			ss.reply("SASL " + saslMechanisms)
		}
	}
	for _, l := range []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER", "IMPLEMENTATION mailctl", "."} {
		ss.reply(l)
	}
	return false
}

func (ss *session) cmdQuit(ctx context.Context, cmd Command) bool {
	ss.closing = true
	if ss.state != stateTransaction {
		ss.reply("+OK " + ss.opts.Hostname + " POP3 server signing off")
		return false
	}
	ss.state = stateUpdate
	box := ss.box
	ss.box = nil
	uctx, cancel := context.WithTimeout(ctx, ss.opts.StoreTimeout)
	n, err := box.update(uctx, !ss.opts.KeepUnseen)
	cancel()
	box.close() // before the reply: a client that reconnects at once finds the maildrop free
	if err != nil {
		ss.log.Error("pop3: update at QUIT", "user", ss.login, "deleted", n, "err", err)
		ss.reply("-ERR [SYS/TEMP] some deleted messages not removed")
		return false
	}
	ss.log.Info("pop3: logout", "user", ss.login, "deleted", n)
	ss.reply("+OK " + ss.opts.Hostname + " POP3 server signing off")
	return false
}
