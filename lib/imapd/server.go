package imapd

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
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"mailctl/lib/maildir"
	"mailctl/lib/proxyproto"
	"mailctl/lib/userdb"
)

// Authenticator checks credentials; *auth.Authenticator is one.
type Authenticator interface {
	Check(ctx context.Context, remote netip.Addr, username, password string, service userdb.Service) (userdb.User, error)
	SASLServer(ctx context.Context, mech string, remote netip.Addr, service userdb.Service, done func(userdb.User)) (sasl.Server, error)
}

// Options configure a Server.
type Options struct {
	Store *maildir.Store
	Auth  Authenticator
	// Mechanisms are the SASL mechanisms offered (auth.Mechanisms).
	Mechanisms []string
	// TLS enables STARTTLS on plain listeners and is required for
	// implicit-TLS ones; nil offers no TLS.
	TLS *tls.Config
	// LoopbackPlaintext allows LOGIN and AUTHENTICATE without TLS for
	// clients on a loopback address (and Unix sockets). Everyone else
	// sees LOGINDISABLED until STARTTLS.
	LoopbackPlaintext bool
	// AppendLimit is the largest message APPEND accepts; 0 means 50 MiB.
	AppendLimit int64
	// IdleTimeout is the longest wait for a command, IDLE included;
	// 0 means 30 minutes (RFC 9051 §5.4's minimum).
	IdleTimeout time.Duration
	// CommandTimeout bounds the work of one command (locks, disk);
	// 0 means 5 minutes.
	CommandTimeout time.Duration
	// Linger keeps folders synced in memory after their last session, so
	// the next login finds them ready; 0 means 2 minutes, negative none
	// (one connection per process, as under inetd).
	Linger time.Duration
	// Watcher tells IDLE sessions about changes; nil makes one.
	Watcher *maildir.Watcher
	// Trainer, when set, learns spam from MOVEs into Junk and ham from
	// MOVEs out of Junk to anywhere but Trash.
	Trainer Trainer
	Logger  *slog.Logger
}

// Server serves IMAP on any number of listeners.
type Server struct {
	opts    Options
	log     *slog.Logger
	reg     *registry
	watchMu sync.Mutex
	watcher *maildir.Watcher // made at the first IDLE: an inotify instance is scarce (128 per user)
	ownsW   bool
	caps    imap.CapSet

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[*conn]*imapserver.Conn
	closed bool
	wg     sync.WaitGroup
}

// New returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Auth == nil {
		return nil, errors.New("imapd: a store and an authenticator are required")
	}
	if opts.AppendLimit <= 0 {
		opts.AppendLimit = 50 << 20
	}
	if opts.AppendLimit > 1<<32-1 {
		opts.AppendLimit = 1<<32 - 1
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 5 * time.Minute
	}
	switch {
	case opts.Linger == 0:
		opts.Linger = 2 * time.Minute
	case opts.Linger < 0:
		opts.Linger = 0
	}
	if len(opts.Mechanisms) == 0 {
		opts.Mechanisms = []string{sasl.Plain}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:  opts,
		log:   log,
		reg:   newRegistry(opts.Store, opts.Linger),
		conns: map[*conn]*imapserver.Conn{},
		caps: imap.CapSet{
			imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {},
			imap.CapNamespace: {}, imap.CapUIDPlus: {}, imap.CapMove: {},
			imap.CapESearch: {}, imap.CapSearchRes: {},
			imap.CapListExtended: {}, imap.CapListStatus: {}, imap.CapChildren: {},
			imap.CapSpecialUse: {}, imap.CapStatusSize: {}, imap.CapBinary: {},
		},
	}
	s.watcher = opts.Watcher
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Serve accepts connections on ln until ln is closed or ctx is done, then
// waits for its sessions to end. With implicitTLS every connection starts
// with a TLS handshake; a listener that already returns *tls.Conn (as
// lib/listen's do) is unwrapped, so that the write batching sits under
// TLS. A one-connection listener (inetd) makes Serve return when the
// connection is done.
func (s *Server) Serve(ctx context.Context, ln net.Listener, implicitTLS bool) error {
	return s.serve(ctx, ln, implicitTLS, false)
}

// ServeWebmail accepts webmaild's connections on ln: each starts with a
// PROXY protocol header (lib/proxyproto) naming the browser's address,
// which then counts login failures and appears in the logs. The service
// checked is userdb.Webmail, and LOGIN is allowed without TLS (ln must be
// a local socket or on a network only webmaild reaches).
func (s *Server) ServeWebmail(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, false, true)
}

func (s *Server) serve(ctx context.Context, ln net.Listener, implicitTLS, webmail bool) error {
	if implicitTLS && s.opts.TLS == nil {
		return errors.New("imapd: implicit TLS without a TLS configuration")
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("imapd: accept failed, retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			s.wg.Wait()
			return fmt.Errorf("imapd: accept: %w", err)
		}
		delay = 0
		s.handleConn(c, implicitTLS, webmail)
	}
	if ctx.Err() != nil {
		s.shutdown()
	}
	s.wg.Wait()
	return nil
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// webmailHeaderTimeout bounds the wait for webmaild's PROXY header.
const webmailHeaderTimeout = 10 * time.Second

// handle starts a session on c from an ordinary listener.
func (s *Server) handle(c net.Conn, implicitTLS bool) { s.handleConn(c, implicitTLS, false) }

// handleConn starts a session on c. The connection's raw side is wrapped (for
// batching and deadlines) below TLS. On a webmail listener the PROXY
// header is read first, on a goroutine of its own: a slow client never
// holds up Accept.
func (s *Server) handleConn(c net.Conn, implicitTLS, webmail bool) {
	raw := c
	if tc, ok := c.(*tls.Conn); ok {
		raw = tc.NetConn() // not handshaken yet: redo it over our wrapper
		implicitTLS = true
	}
	var idb [4]byte
	rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	remote := remoteAddr(raw.RemoteAddr())
	log := s.log.With("conn", id, "remote", remote.String())
	if webmail {
		log = s.log.With("conn", id, "peer", peerString(raw))
	}

	s.wg.Add(1)
	var bc *conn
	bc = newConn(raw, s.opts.IdleTimeout, func() {
		s.mu.Lock()
		delete(s.conns, bc)
		s.mu.Unlock()
		s.wg.Done()
	})
	var nc net.Conn = bc
	if implicitTLS {
		nc = tls.Server(bc, s.opts.TLS)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[bc] = nil // registered now, so shutdown closes it even while the header is awaited
	s.mu.Unlock()

	if !webmail {
		log.Debug("imapd: connection", "tls", implicitTLS)
		plaintextOK := s.opts.LoopbackPlaintext && (remote.IsLoopback() || !remote.IsValid())
		s.start(bc, nc, log, remote, userdb.IMAP, plaintextOK, s.opts.TLS)
		return
	}
	go func() {
		client, _, err := proxyproto.ReadHeader(bc, webmailHeaderTimeout)
		if err != nil {
			log.Info("imapd: webmail connection without a valid PROXY header, closing", "err", err)
			bc.Close()
			return
		}
		if !client.IsValid() { // PROXY UNKNOWN: the socket's peer it is
			client = remote
		}
		log := log.With("remote", client.String(), "webmail", true)
		log.Debug("imapd: connection")
		// Plain text is fine on webmaild's local socket; no STARTTLS.
		s.start(bc, bc, log, client, userdb.Webmail, true, nil)
	}()
}

// start runs go-imap on nc (bc, or TLS over it) for a client at remote
// that logs in to service.
func (s *Server) start(bc *conn, nc net.Conn, log *slog.Logger, remote netip.Addr, service userdb.Service, plaintextOK bool, tlsCfg *tls.Config) {
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(ic *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			s.mu.Lock()
			if _, ok := s.conns[bc]; ok {
				s.conns[bc] = ic
			}
			s.mu.Unlock()
			return newSession(s, ic, bc, log, remote, service), nil, nil
		},
		Caps:         s.caps,
		Logger:       logAdapter{log},
		TLSConfig:    tlsCfg,
		InsecureAuth: plaintextOK,
	})
	// Serve takes the connection and returns at the second Accept; the
	// session runs on in go-imap's goroutine.
	srv.Serve(&handOff{c: nc})
}

// getWatcher returns the process's Watcher, starting it on first use.
func (s *Server) getWatcher() *maildir.Watcher {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.watcher == nil {
		s.watcher = maildir.NewWatcher(maildir.WatcherOptions{Logger: s.log})
		s.ownsW = true
	}
	return s.watcher
}

// remoteAddr is the client's IP; a Unix socket (local by definition) gives
// the zero Addr.
func remoteAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// peerString names the socket peer of a webmail connection for the logs:
// its address, or the socket it came through when it has none (unix).
func peerString(c net.Conn) string {
	if a := c.RemoteAddr(); a != nil && a.String() != "" && a.String() != "@" {
		return a.String()
	}
	return c.LocalAddr().Network() + ":" + c.LocalAddr().String()
}

// shutdown tells every session goodbye and closes its connection.
func (s *Server) shutdown() {
	s.mu.Lock()
	conns := make(map[*conn]*imapserver.Conn, len(s.conns))
	for bc, ic := range s.conns {
		conns[bc] = ic
	}
	s.mu.Unlock()
	for bc, ic := range conns {
		bc.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		if ic != nil {
			go func() {
				ic.Bye("Server shutting down")
				bc.Close()
			}()
		} else {
			bc.Close()
		}
	}
}

// Close ends every session and releases the folders. Serve calls on other
// listeners return.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.shutdown()
	s.wg.Wait()
	s.reg.close()
	s.watchMu.Lock()
	if s.ownsW {
		s.watcher.Close()
	}
	s.watchMu.Unlock()
	return nil
}

// handOff is a listener that hands one connection to go-imap's Serve and
// then reports itself closed, so Serve returns at once.
type handOff struct {
	c    net.Conn
	done bool
}

func (h *handOff) Accept() (net.Conn, error) {
	if h.done {
		return nil, net.ErrClosed
	}
	h.done = true
	return h.c, nil
}

func (h *handOff) Close() error   { return nil }
func (h *handOff) Addr() net.Addr { return h.c.LocalAddr() }

// logAdapter sends go-imap's own messages (read errors, panics) to slog.
type logAdapter struct{ log *slog.Logger }

func (l logAdapter) Printf(format string, args ...any) {
	msg := "imapd: " + strings.TrimSpace(fmt.Sprintf(format, args...))
	if strings.Contains(msg, "panic") {
		l.log.Error(msg)
		return
	}
	l.log.Debug(msg)
}
