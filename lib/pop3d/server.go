package pop3d

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/emersion/go-sasl"

	"mailctl/lib/maildir"
	"mailctl/lib/userdb"
)

// Authenticator checks credentials; *auth.Authenticator is one. Its errors
// are those of lib/auth (auth.ErrInvalid, auth.ErrServiceDenied, …).
type Authenticator interface {
	Check(ctx context.Context, remote netip.Addr, username, password string, service userdb.Service) (userdb.User, error)
	SASLServer(ctx context.Context, mech string, remote netip.Addr, service userdb.Service, done func(userdb.User)) (sasl.Server, error)
}

// Options configure a Server. Zero values take the defaults named.
type Options struct {
	// Hostname goes into the greeting.
	Hostname string
	Store    *maildir.Store
	Auth     Authenticator
	// TLS enables STLS on plain connections; nil leaves it out. Implicit
	// TLS (port 995) comes from the listener: a connection that is a
	// *tls.Conn is secure from the start.
	TLS *tls.Config
	// InsecureAuthLoopback allows USER/PASS and AUTH without TLS from a
	// loopback address or a unix socket. Elsewhere a password is only
	// taken over TLS.
	InsecureAuthLoopback bool
	// MaxLineLength bounds a command line (default 4096; RFC 2449 asks
	// for 255 at least).
	MaxLineLength int
	// CommandTimeout is how long the server waits for the next command,
	// or for the client to take a reply (default 10 minutes, the minimum
	// of RFC 1939 §3).
	CommandTimeout time.Duration
	// SessionTimeout bounds a whole session (default 1 hour).
	SessionTimeout time.Duration
	// MaxBadCommands ends a session after that many unknown, malformed or
	// misplaced commands (default 10).
	MaxBadCommands int
	// MaxAuthFailures ends a session after that many refused logins
	// (default 3).
	MaxAuthFailures int
	// LockWait is how long a login waits for another session on the same
	// maildrop to end before answering [IN-USE] (default 1 s).
	LockWait time.Duration
	// StoreTimeout bounds each mailbox operation: the sync at login, the
	// updates at QUIT (default 30 s).
	StoreTimeout time.Duration
	// KeepUnseen leaves the \Seen flag alone. By default a message sent
	// whole by RETR is marked \Seen at QUIT, as Dovecot does unless
	// pop3_no_flag_updates is set, so an IMAP client of the same user
	// sees what was downloaded. TOP never marks.
	KeepUnseen bool
	Logger     *slog.Logger
}

// Server serves POP3 on any number of listeners. It is safe for
// concurrent use.
type Server struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New checks opts and returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Auth == nil {
		return nil, errors.New("pop3d: Store and Auth are required")
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.MaxLineLength <= 0 {
		opts.MaxLineLength = 4096
	}
	opts.MaxLineLength = max(opts.MaxLineLength, 255)
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 10 * time.Minute
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = time.Hour
	}
	if opts.MaxBadCommands <= 0 {
		opts.MaxBadCommands = 10
	}
	if opts.MaxAuthFailures <= 0 {
		opts.MaxAuthFailures = 3
	}
	if opts.LockWait <= 0 {
		opts.LockWait = time.Second
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, log: log, conns: map[net.Conn]struct{}{}}, nil
}

// Serve accepts connections on l until ctx is done, then closes l and
// every open connection and waits for their sessions to end (a session
// cut short applies no deletions). It returns nil after ctx is done or
// when l is closed (the one-connection listener of inetd closes itself
// once its connection ends).
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	stop := context.AfterFunc(ctx, func() {
		l.Close()
		s.closeAll()
	})
	defer stop()
	defer s.wg.Wait()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporaryAccept(err) {
				// Out of descriptors or the like: back off, don't spin.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("pop3: accept", "err", err, "retry_in", delay)
				select {
				case <-time.After(delay):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("pop3: accept: %w", err)
		}
		delay = 0
		if !s.track(nc) {
			nc.Close()
			return nil
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(nc)
			s.ServeConn(ctx, nc)
		}()
	}
}

func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[nc] = struct{}{}
	return true
}

func (s *Server) untrack(nc net.Conn) {
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for nc := range s.conns {
		nc.Close()
	}
}

// ServeConn runs one POP3 session on nc and closes it. A *tls.Conn is
// taken as implicit TLS (port 995).
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	ss := newSession(s, nc)
	defer nc.Close()
	defer func() {
		// A bug in one session must not take down the others (or, under
		// serve, the other daemons). The maildrop lock goes with the
		// descriptor, and nothing was deleted.
		if p := recover(); p != nil {
			ss.log.Error("pop3: session panicked", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	ss.run(ctx)
}

// connID names a connection in the logs: random, because under inetd
// every process has a connection number 1.
func connID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// remoteAddr returns the client's IP address, and whether the client is on
// this host (loopback or a unix socket).
func remoteAddr(nc net.Conn) (netip.Addr, bool) {
	switch a := nc.RemoteAddr().(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		ip = ip.Unmap()
		return ip, ip.IsLoopback()
	case *net.UnixAddr:
		return netip.IPv6Loopback(), true
	case nil:
		return netip.Addr{}, false
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}, false
		}
		ip := ap.Addr().Unmap()
		return ip, ip.IsLoopback()
	}
}
