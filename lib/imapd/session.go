package imapd

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"mailctl/lib/auth"
	"mailctl/lib/userdb"
)

// session is one IMAP connection's state. go-imap calls its methods one
// command at a time; only Idle runs beside the reader of "DONE", and that
// reader touches nothing here.
type session struct {
	srv    *Server
	ic     *imapserver.Conn
	conn   *conn
	log    *slog.Logger
	remote netip.Addr
	// service is what a login must have: imap, or webmail on webmaild's
	// listener.
	service userdb.Service
	start   time.Time

	user *userRef // nil until logged in
	sel  *selected
	// idle is held while Idle runs: go-imap may close the session while
	// an IDLE goroutine is still starting or finishing (a dropped
	// connection). closed, under mu, keeps a late one from starting.
	idle   sync.WaitGroup
	mu     sync.Mutex
	closed bool

	loginTimer *time.Timer // closes a connection that doesn't log in in time
}

var (
	_ imapserver.SessionIMAP4rev2   = (*session)(nil)
	_ imapserver.SessionSASL        = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
	_ imapserver.SessionNamespace   = (*session)(nil)
	_ imapserver.SessionMove        = (*session)(nil)
)

func newSession(s *Server, ic *imapserver.Conn, bc *conn, log *slog.Logger, remote netip.Addr, service userdb.Service) *session {
	sess := &session{srv: s, ic: ic, conn: bc, log: log, remote: remote, service: service, start: time.Now()}
	// go-imap bounds each command line, not the time before LOGIN: a
	// client that never logs in (but keeps talking) is cut off.
	sess.loginTimer = time.AfterFunc(s.opts.CommandTimeout, func() {
		log.Info("imapd: no login in time, closing")
		bc.Close()
	})
	return sess
}

// ctx bounds the work of one command.
func (s *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.srv.ctx, s.srv.opts.CommandTimeout)
}

func (s *session) Close() error {
	s.loginTimer.Stop()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.idle.Wait()
	s.unselect()
	if s.user != nil {
		s.log.Info("imapd: logout", "user", s.user.key, "duration", time.Since(s.start).Round(time.Millisecond))
		s.srv.reg.releaseUser(s.user)
		s.user = nil
	} else {
		s.log.Debug("imapd: closed before login", "duration", time.Since(s.start).Round(time.Millisecond))
	}
	return nil
}

// Login checks a LOGIN command's credentials. The password never reaches
// a log.
func (s *session) Login(username, password string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	u, err := s.srv.opts.Auth.Check(ctx, s.remote, username, password, s.service)
	if err != nil {
		return s.authError(username, err)
	}
	return s.loggedIn(u, "LOGIN")
}

func (s *session) AuthenticateMechanisms() []string { return s.srv.opts.Mechanisms }

// Authenticate runs a SASL exchange through the authenticator.
func (s *session) Authenticate(mech string) (sasl.Server, error) {
	ctx, cancel := s.ctx()
	var user *userdb.User
	srv, err := s.srv.opts.Auth.SASLServer(ctx, mech, s.remote, s.service, func(u userdb.User) { user = &u })
	if err != nil {
		cancel()
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported authentication mechanism"}
	}
	return &saslSession{Server: srv, s: s, mech: mech, user: &user, cancel: cancel}, nil
}

// saslSession maps the authenticator's errors to IMAP replies and
// finishes the login when the exchange succeeds.
type saslSession struct {
	sasl.Server
	s      *session
	mech   string
	user   **userdb.User
	cancel context.CancelFunc
}

func (a *saslSession) Next(resp []byte) ([]byte, bool, error) {
	challenge, done, err := a.Server.Next(resp)
	if err != nil {
		a.cancel()
		return nil, done, a.s.authError("", err)
	}
	if done {
		a.cancel()
		if *a.user == nil {
			return nil, true, imapserver.ErrAuthFailed
		}
		if err := a.s.loggedIn(**a.user, "AUTHENTICATE "+a.mech); err != nil {
			return nil, true, err
		}
	}
	return challenge, done, nil
}

func (s *session) loggedIn(u userdb.User, how string) error {
	ur, err := s.srv.reg.user(u.Address, u.Quota)
	if err != nil {
		s.log.Error("imapd: open mailbox", "user", u.Address.String(), "err", err)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable, Text: "Mailbox unavailable, try again later"}
	}
	if !s.loginTimer.Stop() {
		// Too late: the connection is being closed.
		s.srv.reg.releaseUser(ur)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Login took too long"}
	}
	s.user = ur
	s.log.Info("imapd: login", "user", ur.key, "method", how)
	return nil
}

// authError turns an authentication failure into the reply the client
// sees. Only a right password learns that the account is disabled or may
// not use IMAP.
func (s *session) authError(username string, err error) error {
	switch {
	case errors.Is(err, auth.ErrServiceDenied):
		what := "IMAP"
		if s.service == userdb.Webmail {
			what = "webmail"
		}
		s.log.Info("imapd: login refused: no "+what+" service", "user", username)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthorizationFailed,
			Text: "This account may not use " + what + " (ask the administrator)"}
	case errors.Is(err, auth.ErrDisabled):
		s.log.Info("imapd: login refused: account disabled", "user", username)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthorizationFailed,
			Text: "This account is disabled"}
	case errors.Is(err, auth.ErrLockedOut):
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
			Text: "Too many failed logins, try again later"}
	case auth.IsTemporary(err):
		s.log.Warn("imapd: login: temporary failure", "user", username, "err", err)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
			Text: "Temporary failure, try again later"}
	default:
		return imapserver.ErrAuthFailed
	}
}

// AppendLimit is announced as APPENDLIMIT.
func (s *session) AppendLimit() uint32 { return uint32(s.srv.opts.AppendLimit) }

func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
}

// delim is the hierarchy separator clients see.
const delim = '/'
