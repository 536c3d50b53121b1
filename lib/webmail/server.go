package webmail

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"
)

// Options configure a Server.
type Options struct {
	Hostname       string        // autoconfig server name, Message-ID domain, EHLO name
	IMAP           string        // imapd's webmail listener: "unix:/path" or "IP:port"
	Submission     string        // submitd's webmail listener
	SessionIdle    time.Duration // idle sessions are logged out (0: 30 min)
	MaxSessions    int           // 0: 1000
	PageSize       int           // messages per list page (0: 50)
	MaxMessageSize int64         // compose uploads and reading (0: 50 MiB)
	TrustedProxies []netip.Prefix
	Domain         string // autoconfig's emailProvider id (0: Hostname)
	Logger         *slog.Logger
	// Dial connects to spec for the browser at client; nil uses proxyproto.Dial.
	Dial func(ctx context.Context, spec string, client netip.Addr) (netConn, error)
	Now  func() time.Time
}

// Server is the webmail HTTP handler.
type Server struct {
	opts     Options
	log      *slog.Logger
	sessions *sessionStore
	mux      *http.ServeMux
	stop     chan struct{}
}

// New returns a Server; Close logs its sessions out.
func New(opts Options) (*Server, error) {
	if opts.IMAP == "" || opts.Submission == "" {
		return nil, errors.New("webmail: IMAP and submission addresses are required")
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = 30 * time.Minute
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 1000
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 50
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = 50 << 20
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Dial == nil {
		opts.Dial = defaultDial
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, log: opts.Logger, stop: make(chan struct{})}
	s.sessions = newSessionStore(opts.MaxSessions, opts.SessionIdle, opts.Now)
	s.routes()
	go s.janitor()
	return s, nil
}

// Close stops the janitor and logs every session out.
func (s *Server) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	for _, sess := range s.sessions.drain() {
		sess.close()
	}
	return nil
}

// janitor expires idle sessions every few seconds.
func (s *Server) janitor() {
	t := time.NewTicker(min(s.opts.SessionIdle/4, 30*time.Second))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			for _, sess := range s.sessions.expire() {
				s.log.Info("webmail session expired", "user", sess.user)
				sess.close()
			}
		}
	}
}

// ServeHTTP serves every route with the security headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", appCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	if r.Method == http.MethodPost && crossSite(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(staticFS)))
	m.HandleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", s.autoconfig)
	m.HandleFunc("GET /mail/config-v1.1.xml", s.autoconfig)
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.authed(s.logout))
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/mail?f=INBOX", http.StatusSeeOther)
	})
	m.HandleFunc("GET /mail", s.authed(s.list))
	m.HandleFunc("GET /msg", s.authed(s.read))
	m.HandleFunc("GET /msg/frame", s.authed(s.frame))
	m.HandleFunc("GET /msg/part", s.authed(s.part))
	m.HandleFunc("GET /msg/raw", s.authed(s.raw))
	m.HandleFunc("GET /compose", s.authed(s.composePage))
	m.HandleFunc("POST /compose", s.authed(s.composePost))
	m.HandleFunc("POST /action", s.authed(s.action))
	m.HandleFunc("GET /folders", s.authed(s.foldersPage))
	m.HandleFunc("POST /folders", s.authed(s.foldersPost))
	s.mux = m
}
