package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"mailctl/lib/addr"
	"mailctl/lib/aliases"
	"mailctl/lib/auth"
	"mailctl/lib/deliver"
	"mailctl/lib/maildir"
	"mailctl/lib/srs"
)

// Mode says which of the two services a Server is.
type Mode int

const (
	// MX is the inbound server of port 25: mail for local domains only,
	// from anyone, without AUTH.
	MX Mode = iota
	// Submission is authenticated submission (RFC 6409): ports 587 and
	// 465; AUTH is required before MAIL.
	Submission
)

func (m Mode) String() string {
	if m == Submission {
		return "submitd"
	}
	return "smtpd"
}

// Flood limits; see Limits.
const (
	DefaultMaxErrors = 20  // 4xx/5xx replies until a message is accepted
	DefaultMaxJunk   = 100 // NOOP, RSET, VRFY, HELP … before each counts as an error
)

// Limits bound what one client may do.
type Limits struct {
	MessageSize           int64 // SIZE (RFC 1870), checked at MAIL and during DATA/BDAT
	Recipients            int   // per message
	LineLength            int   // longest command or content line
	MessagesPerConnection int
	CommandTimeout        time.Duration // waiting for one command, or for progress in DATA
	SessionTimeout        time.Duration // the whole connection
	// MaxErrors and MaxJunk cut a client off with 421 (0: the defaults).
	MaxErrors, MaxJunk int
}

// Options configure a Server.
type Options struct {
	Mode     Mode
	Hostname string // in the greeting and the Received: header
	// Deliverer resolves recipients (at RCPT) and delivers to Maildirs.
	Deliverer *deliver.Deliverer
	// Users gives quota and state of local users, checked at RCPT.
	Users deliver.UserLookup
	// Store tells how full a Maildir is (QuotaUsage), checked at RCPT.
	Store       *maildir.Store
	LocalDomain func(domain string) (bool, error)
	// Aliases and TagSeparator say which addresses a user may send as
	// (Submission).
	Aliases      *aliases.Table
	TagSeparator string
	// Postmaster receives mail for the bare "<Postmaster>" (RFC 5321
	// §4.5.1), and for postmaster@ of a local domain that has no such
	// user or alias. Zero: bare <Postmaster> is refused.
	Postmaster addr.Address
	// SRS, when set, takes bounces back: RCPT to an SRS address of its
	// domain that it made (hash and age check) goes to the address it
	// stands for (MX).
	SRS *srs.SRS
	// Queue takes what is not delivered at once: remote recipients
	// (Submission) and local ones whose delivery failed temporarily. Nil:
	// such recipients fail temporarily (4xx).
	Queue Queue
	// Scanner, when set, judges every message after DATA.
	Scanner Scanner
	// Greylist, when set, delays new senders at RCPT (MX only).
	Greylist Greylister
	// greylistLoopback greylists loopback clients too: tests have no others.
	greylistLoopback bool
	// TLS enables STARTTLS on plain connections. Implicit TLS comes from
	// the listener (its connections are *tls.Conn).
	TLS *tls.Config
	// Auth checks credentials (Submission; required there).
	Auth *auth.Authenticator
	// InsecureAuthLoopback allows AUTH without TLS from loopback clients.
	InsecureAuthLoopback bool
	// SendLimits caps what each user sends per hour (Submission); nil:
	// no limit.
	SendLimits *SendLimits
	// RejectOverQuota answers a full mailbox with 552 5.2.2 instead of
	// 452 4.2.2.
	RejectOverQuota bool
	Limits          Limits
	Logger          *slog.Logger
}

// Server serves SMTP on any number of listeners.
type Server struct {
	opts  Options
	log   *slog.Logger
	copts *connOptions
}

// New checks opts and returns a Server.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Hostname == "":
		return nil, errors.New("smtpd: no hostname")
	case opts.Deliverer == nil || opts.Users == nil || opts.LocalDomain == nil:
		return nil, errors.New("smtpd: Deliverer, Users and LocalDomain are required")
	case opts.Mode == Submission && (opts.Auth == nil || opts.Aliases == nil):
		return nil, errors.New("smtpd: submission needs Auth and Aliases")
	}
	l := &opts.Limits
	if l.LineLength < 1000 {
		l.LineLength = 1000
	}
	if l.CommandTimeout <= 0 {
		l.CommandTimeout = 5 * time.Minute
	}
	if l.SessionTimeout <= 0 {
		l.SessionTimeout = 30 * time.Minute
	}
	if l.MaxErrors <= 0 {
		l.MaxErrors = DefaultMaxErrors
	}
	if l.MaxJunk <= 0 {
		l.MaxJunk = DefaultMaxJunk
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log.With("proto", opts.Mode.String())}
	s.copts = &connOptions{
		tls:            opts.TLS,
		commandTimeout: l.CommandTimeout,
		sessionTimeout: l.SessionTimeout,
		maxLine:        l.LineLength,
		maxErrors:      l.MaxErrors,
		maxJunk:        l.MaxJunk,
		log:            s.log,
	}
	if !opts.Postmaster.IsZero() {
		s.copts.postmaster = opts.Postmaster.String()
	}
	return s, nil
}

// smtpServer returns a go-smtp server for one listener. STARTTLS and
// timeouts are done by conn, so go-smtp itself has no TLS config and no
// timeouts; AUTH is allowed by go-smtp everywhere and restricted by the
// session (see AuthMechanisms).
func (s *Server) smtpServer() *smtp.Server {
	gs := smtp.NewServer(backend{s})
	gs.Domain = s.opts.Hostname
	gs.MaxMessageBytes = s.opts.Limits.MessageSize
	gs.MaxRecipients = s.opts.Limits.Recipients
	gs.MaxLineLength = s.opts.Limits.LineLength
	gs.EnableSMTPUTF8 = true
	gs.AllowInsecureAuth = true
	gs.ErrorLog = errorLog{s.log}
	return gs
}

// Serve serves connections from l until ctx is done; then it waits up to
// ten seconds for sessions to finish. A one-connection listener (inetd)
// ends Serve when its connection is done; that is success.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return s.serve(ctx, &listener{Listener: l, opts: s.copts})
}

// ServeWebmail serves webmaild's connections (Submission only): each
// starts with a PROXY protocol header (lib/proxyproto) naming the browser,
// whose address then counts AUTH failures and goes into the Received:
// header; AUTH is allowed without TLS and checks the webmail service.
// Every other submission rule applies. l must be a local socket or on a
// network only webmaild reaches: the header is trusted.
func (s *Server) ServeWebmail(ctx context.Context, l net.Listener) error {
	if s.opts.Mode != Submission {
		return errors.New("smtpd: webmail listeners are for submission only")
	}
	return s.serve(ctx, &listener{Listener: l, opts: s.copts, webmail: true})
}

func (s *Server) serve(ctx context.Context, l *listener) error {
	gs := s.smtpServer()
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			// Close the listener ourselves: go-smtp's Shutdown only closes
			// listeners its Serve has registered, and a signal may come
			// before that.
			l.Close()
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if gs.Shutdown(sctx) != nil {
				gs.Close()
			}
		case <-done:
		}
	}()
	err := gs.Serve(l)
	close(done)
	if err == nil || errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return fmt.Errorf("%s: %w", s.opts.Mode, err)
}

// ServeConn serves one connection that is already open, e.g. one end of a
// net.Pipe in tests, and returns when it is closed.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) error {
	return s.Serve(ctx, &oneListener{c: c, done: make(chan struct{})})
}

// oneListener yields one connection, then waits for it to close.
type oneListener struct {
	c    net.Conn
	done chan struct{}
	used bool
}

func (l *oneListener) Accept() (net.Conn, error) {
	if l.used {
		<-l.done
		return nil, net.ErrClosed
	}
	l.used = true
	return &closeNotify{Conn: l.c, done: l.done}, nil
}

func (l *oneListener) Close() error   { return nil }
func (l *oneListener) Addr() net.Addr { return l.c.LocalAddr() }

type closeNotify struct {
	net.Conn
	done chan struct{}
	once sync.Once
}

func (c *closeNotify) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.done) })
	return err
}

// errorLog sends go-smtp's internal messages to slog: panics as errors,
// the rest (connections reset, failed handshakes) at debug level.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.log(fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.log(fmt.Sprint(v...)) }

func (e errorLog) log(msg string) {
	if strings.Contains(msg, "panic") {
		e.l.Error("smtp server", "msg", msg)
		return
	}
	e.l.Debug("smtp server", "msg", msg)
}
