package smtptest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

var errBroken = errors.New("smtptest: broken on purpose")

// Options shape a Server.
type Options struct {
	// Addr to listen on; "" is 127.0.0.1 on a free port. Remote MXes
	// usually take 127.0.0.2, 127.0.0.3 … on the port the queue uses.
	Addr string
	// TLS offers STARTTLS (or, with Implicit, speaks TLS from the first
	// byte). BrokenTLS() makes every handshake fail.
	TLS      *tls.Config
	Implicit bool
	// No8BitMIME hides the 8BITMIME extension and refuses BODY=8BITMIME.
	// It rewrites the plain-text stream, so it needs TLS to be nil.
	No8BitMIME bool
	// SMTPUTF8 offers SMTPUTF8.
	SMTPUTF8 bool
	// MaxRecipients answers "452 4.5.3" beyond this many per transaction.
	MaxRecipients int
	// Users, when set, offers AUTH PLAIN (over TLS only) and requires it
	// before MAIL.
	Users map[string]string
	// Hooks that may refuse (return a *smtp.SMTPError) or delay.
	Mail func(from string, opts *smtp.MailOptions) error
	Rcpt func(to string) error
	Data func(m *Message) error
}

// Message is one transaction a Server took.
type Message struct {
	From     string
	To       []string
	Data     []byte
	Helo     string
	TLS      bool
	AuthUser string
	Opts     smtp.MailOptions
}

// Server is a go-smtp server that records what it is sent.
type Server struct {
	Addr string
	opts Options
	srv  *smtp.Server
	ln   net.Listener

	mu       sync.Mutex
	msgs     []Message
	conns    int
	changed  chan struct{}
	authFail int
}

// NewServer starts a server; it stops when the test ends.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		t.Fatalf("smtptest: listen %s: %v", opts.Addr, err)
	}
	s := &Server{Addr: ln.Addr().String(), opts: opts, changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "mx.smtptest"
	srv.ErrorLog = log.New(io.Discard, "", 0) // clients that hang up are the point of some tests
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxRecipients = opts.MaxRecipients
	srv.EnableSMTPUTF8 = opts.SMTPUTF8
	if !opts.Implicit {
		srv.TLSConfig = opts.TLS
	}
	s.srv = srv
	var l net.Listener = &countingListener{Listener: ln, s: s}
	if opts.Implicit {
		l = tls.NewListener(l, opts.TLS)
	}
	s.ln = l
	go srv.Serve(l)
	t.Cleanup(s.Close)
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Messages returns what the server took so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Connections counts the connections accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// WaitMessages waits until the server took at least n messages.
func (s *Server) WaitMessages(t testing.TB, n int) []Message {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		s.mu.Lock()
		msgs, ch := append([]Message(nil), s.msgs...), s.changed
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("smtptest %s: %d messages, want %d", s.Addr, len(msgs), n)
		}
	}
}

func (s *Server) record(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	l.s.conns++
	l.s.mu.Unlock()
	if l.s.opts.No8BitMIME {
		return &hide8bit{Conn: c}, nil
	}
	return c, nil
}

// hide8bit removes 8BITMIME from EHLO replies.
type hide8bit struct{ net.Conn }

func (c *hide8bit) Write(b []byte) (int, error) {
	out := bytes.ReplaceAll(b, []byte("250-8BITMIME\r\n"), []byte("250-X-NO-EIGHT\r\n"))
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

type session struct {
	s    *Server
	c    *smtp.Conn
	cur  Message
	auth string
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, c: c}, nil
}

func (se *session) AuthMechanisms() []string {
	if se.s.opts.Users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if want, ok := se.s.opts.Users[user]; ok && want == pass {
			se.auth = user
			return nil
		}
		se.s.mu.Lock()
		se.s.authFail++
		se.s.mu.Unlock()
		return smtp.ErrAuthFailed
	}), nil
}

func (se *session) Mail(from string, opts *smtp.MailOptions) error {
	if se.s.opts.Users != nil && se.auth == "" {
		return smtp.ErrAuthRequired
	}
	if se.s.opts.No8BitMIME && opts != nil && opts.Body == smtp.Body8BitMIME {
		return &smtp.SMTPError{Code: 555, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "BODY=8BITMIME not supported"}
	}
	if h := se.s.opts.Mail; h != nil {
		if err := h(from, opts); err != nil {
			return err
		}
	}
	_, isTLS := se.c.TLSConnectionState()
	se.cur = Message{From: from, Helo: se.c.Hostname(), TLS: isTLS, AuthUser: se.auth}
	if opts != nil {
		se.cur.Opts = *opts
	}
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if h := se.s.opts.Rcpt; h != nil {
		if err := h(to); err != nil {
			return err
		}
	}
	se.cur.To = append(se.cur.To, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := se.cur
	m.Data = b
	if h := se.s.opts.Data; h != nil {
		if err := h(&m); err != nil {
			return err
		}
	}
	se.s.record(m)
	return nil
}

func (se *session) Reset()        { se.cur = Message{} }
func (se *session) Logout() error { return nil }

// AuthFailures counts refused AUTH attempts.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFail
}

// Port returns a TCP port that is free on 127.0.0.2 to 127.0.0.9, for
// remote MXes that must all listen on the one port the queue connects to.
func Port(t testing.TB) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		free := true
		for i := 3; i <= 9 && free; i++ {
			l, err := net.Listen("tcp", net.JoinHostPort(fmt.Sprintf("127.0.0.%d", i), strconv.Itoa(port)))
			if err != nil {
				free = false
				continue
			}
			l.Close()
		}
		if free {
			return port
		}
	}
	t.Fatal("smtptest: no port free on 127.0.0.2-9")
	return 0
}
