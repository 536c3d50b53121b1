package smtpd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailctl/lib/addr"
	"mailctl/lib/auth"
	"mailctl/lib/srs"
	"mailctl/lib/userdb"
)

// backend makes a session per connection. go-smtp calls NewSession at the
// first HELO/EHLO; conn does STARTTLS itself, so there is one session for
// the whole connection.
type backend struct{ s *Server }

func (b backend) NewSession(gc *smtp.Conn) (smtp.Session, error) {
	c, ok := gc.Conn().(*conn)
	if !ok {
		return nil, errors.New("smtpd: connection not set up by Serve")
	}
	remote := remoteIP(c.RemoteAddr())
	log := b.s.log.With("remote", remote.String())
	if c.webmail {
		remote = c.client // the header was read before the greeting
		log = b.s.log.With("remote", remote.String(), "peer", peerString(c.raw), "webmail", true)
	}
	sess := &session{
		srv:    b.s,
		c:      c,
		gc:     gc,
		remote: remote,
		log:    log,
	}
	if b.s.opts.Mode == Submission {
		return &authSession{sess}, nil
	}
	return sess, nil // no AUTH methods: go-smtp offers no AUTH on port 25
}

// remoteIP is the client's address; the zero Addr when it has none (a
// unix socket or a pipe).
func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// session is one SMTP connection's state.
type session struct {
	srv    *Server
	c      *conn
	gc     *smtp.Conn
	remote netip.Addr
	log    *slog.Logger
	user   *userdb.User // after AUTH (Submission)
	sent   int          // messages accepted on this connection

	// The transaction. With BDAT, go-smtp runs Data on a goroutine of its
	// own and may call Reset meanwhile (RSET, an aborted chunk): changes
	// happen under mu, and Data works on a copy (see snapshot).
	mu sync.Mutex
	tx txn
}

type txn struct {
	from  addr.Address
	mail  smtp.MailOptions
	rcpts []recipient
}

// snapshot copies the transaction for Data.
func (s *session) snapshot() txn {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tx
	t.rcpts = slices.Clone(t.rcpts)
	return t
}

func (s *session) setTx(fn func(*txn)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.tx)
}

type recipient struct {
	addr   addr.Address
	remote bool // not in a local domain: queued for SMTP delivery (Submission only)
}

func (s *session) Reset() { s.setTx(func(t *txn) { *t = txn{} }) }

func (s *session) Logout() error { return nil }

func replyErr(code int, enh smtp.EnhancedCode, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

var (
	errNeedEHLO   = replyErr(503, smtp.EnhancedCode{5, 5, 1}, "Send EHLO first")
	errNeedAuth   = replyErr(530, smtp.EnhancedCode{5, 7, 0}, "Authentication required")
	errRelay      = replyErr(554, smtp.EnhancedCode{5, 7, 1}, "Relaying denied")
	errTempLookup = replyErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary lookup failure, try again later")
	errNeedUTF8   = replyErr(553, smtp.EnhancedCode{5, 6, 7}, "Non-ASCII address needs the SMTPUTF8 parameter")
)

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if greeted, _ := s.c.Greeted(); !greeted {
		return errNeedEHLO // after STARTTLS (RFC 3207 §4.2)
	}
	if n := s.srv.opts.Limits.MessagesPerConnection; n > 0 && s.sent >= n {
		return replyErr(421, smtp.EnhancedCode{4, 7, 0}, fmt.Sprintf("Too many messages on one connection (%d), reconnect", n))
	}
	if s.srv.opts.Mode == Submission && s.user == nil {
		return errNeedAuth
	}
	if !opts.UTF8 && !isASCII(from) {
		return errNeedUTF8
	}
	var sender addr.Address
	if from != "" {
		a, err := parseMailbox(from)
		if err != nil {
			return replyErr(553, smtp.EnhancedCode{5, 1, 7}, "Bad sender address syntax")
		}
		sender = a
	}
	if s.srv.opts.Mode == Submission {
		if err := s.checkSender(sender); err != nil {
			return err
		}
	}
	s.setTx(func(t *txn) { *t = txn{from: sender, mail: *opts} })
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if !s.tx.mail.UTF8 && !isASCII(to) {
		return errNeedUTF8
	}
	a, err := parseMailbox(to)
	if err != nil {
		return replyErr(553, smtp.EnhancedCode{5, 1, 3}, "Bad recipient address syntax")
	}
	for _, r := range s.tx.rcpts {
		if r.addr == a {
			return nil // said twice: once is enough
		}
	}
	remote := false
	if rw := s.srv.opts.SRS; rw != nil && a.Domain == rw.Domain() && srs.IsSRS(a) {
		orig, err := rw.Reverse(a)
		if err != nil {
			s.log.Info("SRS address refused", "to", a.String(), "err", err)
			return replyErr(550, smtp.EnhancedCode{5, 1, 1}, "Invalid or expired SRS address")
		}
		// A bounce of mail we forwarded: back to where it came from.
		a, remote = orig, true
	}
	local, err := s.srv.opts.LocalDomain(a.Domain)
	if err != nil {
		s.log.Error("local domain lookup", "domain", a.Domain, "err", err)
		return errTempLookup
	}
	if !local {
		if s.user == nil && !remote {
			s.log.Info("relaying denied", "from", s.tx.from.String(), "to", a.String())
			return errRelay
		}
		if err := s.checkRate(0, len(s.tx.rcpts)+1); err != nil {
			return err
		}
		s.setTx(func(t *txn) { t.rcpts = append(t.rcpts, recipient{addr: a, remote: true}) })
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.opts.Limits.CommandTimeout)
	a, rerr := s.srv.checkLocal(ctx, a, s.tx.mail.Size)
	cancel()
	if rerr != nil {
		s.log.Info("recipient refused", "from", s.tx.from.String(), "to", a.String(), "reply", rerr.Code)
		return rerr
	}
	if s.user != nil {
		if err := s.checkRate(0, len(s.tx.rcpts)+1); err != nil {
			return err
		}
	}
	if err := s.greylist(a); err != nil {
		return err
	}
	s.setTx(func(t *txn) { t.rcpts = append(t.rcpts, recipient{addr: a}) })
	return nil
}

// greylist asks the Greylister about a local recipient: MX only, never
// for authenticated or loopback clients. A broken greylist lets mail in.
func (s *session) greylist(rcpt addr.Address) error {
	g := s.srv.opts.Greylist
	if g == nil || s.srv.opts.Mode != MX || s.user != nil || s.remote.IsLoopback() && !s.srv.opts.greylistLoopback {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.opts.Limits.CommandTimeout)
	defer cancel()
	d, err := g.Check(ctx, s.remote, s.gc.Hostname(), s.tx.from, rcpt)
	if err != nil {
		s.log.Error("greylist failed: recipient let through", "to", rcpt.String(), "err", err)
		return nil
	}
	if d.Pass {
		if d.Why != "passed" {
			s.log.Info("greylist passed", "from", s.tx.from.String(), "to", rcpt.String(), "why", d.Why)
		}
		return nil
	}
	s.log.Info("greylisted", "from", s.tx.from.String(), "to", rcpt.String(), "why", d.Why, "retry_in", d.RetryIn.String())
	return replyErr(451, smtp.EnhancedCode{4, 7, 1}, fmt.Sprintf("Greylisted: first mail from you to this recipient, please try again in %d seconds", int(d.RetryIn.Seconds()+0.999)))
}

// authSession adds AUTH (RFC 4954) for Submission.
type authSession struct{ *session }

// authAllowed: only over TLS, on webmaild's listener, or from loopback
// when the config says so.
func (s *session) authAllowed() bool {
	if s.c.TLS() != nil || s.c.webmail {
		return true
	}
	return s.srv.opts.InsecureAuthLoopback && s.remote.IsLoopback()
}

func (s *authSession) AuthMechanisms() []string {
	if !s.authAllowed() || s.user != nil {
		return nil
	}
	return auth.Mechanisms
}

func (s *authSession) Auth(mech string) (sasl.Server, error) {
	if greeted, _ := s.c.Greeted(); !greeted {
		return nil, errNeedEHLO
	}
	if !s.authAllowed() {
		return nil, replyErr(538, smtp.EnhancedCode{5, 7, 11}, "Encryption required: use STARTTLS first")
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.opts.Limits.CommandTimeout)
	service := userdb.Submit
	if s.c.webmail {
		service = userdb.Webmail
	}
	srv, err := s.srv.opts.Auth.SASLServer(ctx, mech, s.remote, service, func(u userdb.User) {
		s.user = &u
		s.log = s.log.With("user", u.Address.String())
		s.log.Info("authenticated", "mech", mech)
	})
	if err != nil {
		cancel()
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return &saslReplies{Server: srv, s: s.session, cancel: cancel}, nil
}

// saslReplies turns lib/auth's errors into the bare *smtp.SMTPError go-smtp
// needs; clients see no internal text.
type saslReplies struct {
	sasl.Server
	s      *session
	cancel context.CancelFunc
}

func (r *saslReplies) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := r.Server.Next(resp)
	if done || err != nil {
		r.cancel()
	}
	if err == nil {
		return ch, done, nil
	}
	r.s.log.Info("authentication failed", "err", err)
	switch {
	case auth.IsTemporary(err):
		return nil, true, replyErr(454, smtp.EnhancedCode{4, 7, 0}, "Temporary authentication failure, try again later")
	case errors.Is(err, auth.ErrServiceDenied) && r.s.c.webmail:
		return nil, true, replyErr(535, smtp.EnhancedCode{5, 7, 8}, "This account may not use webmail")
	case errors.Is(err, auth.ErrServiceDenied):
		return nil, true, replyErr(535, smtp.EnhancedCode{5, 7, 8}, "This account may not send mail")
	case errors.Is(err, auth.ErrDisabled):
		return nil, true, replyErr(535, smtp.EnhancedCode{5, 7, 8}, "This account is disabled")
	}
	return nil, true, replyErr(535, smtp.EnhancedCode{5, 7, 8}, "Authentication credentials invalid")
}
