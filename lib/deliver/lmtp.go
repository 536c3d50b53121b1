package deliver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"mailctl/lib/addr"
)

// LMTPOptions configure the LMTP server (RFC 2033).
type LMTPOptions struct {
	Hostname        string
	MaxMessageBytes int64
	MaxRecipients   int
	MaxLineLength   int
	Timeout         time.Duration // per read and per write
	// Filter, when set, judges each message before delivery (the spam
	// and virus scan): it returns the message to deliver and may set the
	// envelope's PerUser and LocalOnly, or a reply for every recipient.
	Filter func(ctx context.Context, env *Envelope, msg []byte) ([]byte, *smtp.SMTPError)
	Logger *slog.Logger
}

// NewLMTPServer returns a go-smtp server in LMTP mode that delivers through
// d, with a reply per recipient. LMTP has no authentication: listen on a
// unix socket or loopback only.
func NewLMTPServer(d *Deliverer, opts LMTPOptions) *smtp.Server {
	s := smtp.NewServer(&lmtpBackend{d: d, maxSize: opts.MaxMessageBytes, filter: opts.Filter})
	s.LMTP = true
	s.Domain = opts.Hostname
	s.MaxMessageBytes = opts.MaxMessageBytes
	s.MaxRecipients = opts.MaxRecipients
	s.MaxLineLength = opts.MaxLineLength
	s.ReadTimeout = opts.Timeout
	s.WriteTimeout = opts.Timeout
	s.EnableSMTPUTF8 = true
	if opts.Logger != nil {
		s.ErrorLog = slogAdapter{opts.Logger}
	}
	return s
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) { a.l.Warn("lmtp", "msg", format, "args", v) }
func (a slogAdapter) Println(v ...any)               { a.l.Warn("lmtp", "msg", v) }

type lmtpBackend struct {
	d       *Deliverer
	maxSize int64
	filter  func(ctx context.Context, env *Envelope, msg []byte) ([]byte, *smtp.SMTPError)
}

func (b *lmtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	var remote string
	if c.Conn() != nil && c.Conn().RemoteAddr() != nil {
		remote = c.Conn().RemoteAddr().String()
	}
	return &lmtpSession{b: b, log: b.d.log.With("proto", "lmtp", "remote", remote)}, nil
}

type lmtpSession struct {
	b      *lmtpBackend
	log    *slog.Logger
	sender addr.Address
	raw    []string // recipients as the client wrote them (SetStatus keys)
	rcpts  []addr.Address
}

func (s *lmtpSession) Reset() {
	s.sender = addr.Address{}
	s.raw, s.rcpts = nil, nil
}

func (s *lmtpSession) Logout() error { return nil }

func (s *lmtpSession) Mail(from string, _ *smtp.MailOptions) error {
	a, err := addr.ParsePath(from)
	if err != nil {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address"}
	}
	s.sender = a
	return nil
}

func (s *lmtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	a, err := addr.Parse(to)
	if err != nil {
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address"}
	}
	if _, e := s.b.d.Expand(a); e != nil {
		return smtpError(e)
	}
	s.raw = append(s.raw, to)
	s.rcpts = append(s.rcpts, a)
	return nil
}

// Data is only reached over plain SMTP, which this server never speaks.
func (s *lmtpSession) Data(r io.Reader) error {
	return s.LMTPData(r, discardStatus{})
}

func (s *lmtpSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	env, max := Envelope{Sender: s.sender, Recipients: s.rcpts}, s.b.maxSize
	if s.b.filter != nil {
		msg, rerr := readMessage(r, s.b.maxSize)
		if rerr != nil {
			return s.all(status, smtpError(rerr))
		}
		var ferr *smtp.SMTPError
		if msg, ferr = s.b.filter(context.Background(), &env, msg); ferr != nil {
			s.log.Info("lmtp message refused by the filter", "from", s.sender.String(), "reply", ferr.Error())
			return s.all(status, ferr)
		}
		r, max = bytes.NewReader(msg), 0 // checked above; the filter's fields may add to it
	}
	results := s.b.d.Deliver(context.Background(), env, r, max)
	for i, res := range results {
		if res.Err != nil {
			s.log.Warn("lmtp delivery failed", "to", res.Recipient.String(), "err", res.Err)
			status.SetStatus(s.raw[i], smtpError(res.Err))
		} else {
			status.SetStatus(s.raw[i], nil)
		}
	}
	return nil
}

// all gives every recipient the same reply.
func (s *lmtpSession) all(status smtp.StatusCollector, e *smtp.SMTPError) error {
	for _, raw := range s.raw {
		status.SetStatus(raw, e)
	}
	return nil
}

type discardStatus struct{}

func (discardStatus) SetStatus(string, error) {}

// smtpError converts a delivery error into the bare *smtp.SMTPError go-smtp
// needs (it does not unwrap).
func smtpError(e *Error) *smtp.SMTPError {
	code, enh, text := e.SMTP()
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode(enh), Message: text}
}

// ServeLMTP serves LMTP on l until ctx is done, then lets open sessions
// finish (up to 10 seconds).
func ServeLMTP(ctx context.Context, s *smtp.Server, l net.Listener) error {
	stopped := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(stopped)
		// Close the listener ourselves: Shutdown only closes listeners
		// Serve has registered, and a signal may come before that.
		l.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(sctx)
	})
	err := s.Serve(l)
	if !stop() {
		<-stopped
	}
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
