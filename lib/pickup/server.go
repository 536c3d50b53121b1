package pickup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"mailctl/lib/deliver"
	"mailctl/lib/spool"
)

// Deliverer delivers to local mailboxes (lib/deliver).
type Deliverer interface {
	Deliver(ctx context.Context, env deliver.Envelope, r io.Reader, maxSize int64) []deliver.Result
}

// Queue is the outbound spool (lib/spool).
type Queue interface {
	Enqueue(ctx context.Context, env spool.Envelope, msg io.Reader) (string, error)
}

// Options configure a Server.
type Options struct {
	Hostname string // in Received:, Message-ID: and warnings
	Domain   string // qualifies addresses without one; "" means Hostname
	// MaxSize bounds a message in bytes; MaxRecipients the recipients of
	// one (command line and -t together).
	MaxSize       int64
	MaxRecipients int
	// Timeout is what one request may take to arrive (0: 5 minutes); the
	// delivery that follows gets Timeout again.
	Timeout time.Duration
	// MaxConns is how many requests are served at once (0: 16): each may
	// hold a message of MaxSize in memory.
	MaxConns int
	// IsLocal says whether a domain's mail is delivered here; nil: none is.
	IsLocal   func(domain string) (bool, error)
	Deliverer Deliverer // required when IsLocal can say yes
	Queue     Queue     // required
	// LookupUser maps a uid to its login name and full name (GECOS);
	// nil uses the system's user database.
	LookupUser func(uid int) (login, fullName string, err error)
	// TrustedUIDs may set any envelope sender without a warning, besides
	// root and the daemon's own uid.
	TrustedUIDs []int
	// Maildrop is the directory RunMaildrop picks up ("" for none), every
	// MaildropInterval (0: 30 seconds).
	Maildrop         string
	MaildropInterval time.Duration
	Logger           *slog.Logger
}

// Server takes messages from local users.
type Server struct {
	opts Options
	log  *slog.Logger
	sem  chan struct{}
	euid int
	now  func() time.Time
	wg   sync.WaitGroup
}

// New returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Queue == nil {
		return nil, errors.New("pickup: no queue")
	}
	if opts.Hostname == "" {
		return nil, errors.New("pickup: no hostname")
	}
	if opts.Domain == "" {
		opts.Domain = opts.Hostname
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = 50 << 20
	}
	if opts.MaildropInterval <= 0 {
		opts.MaildropInterval = 30 * time.Second
	}
	if opts.LookupUser == nil {
		opts.LookupUser = systemUser
	}
	if opts.IsLocal == nil {
		opts.IsLocal = func(string) (bool, error) { return false, nil }
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, log: log, sem: make(chan struct{}, opts.MaxConns), euid: os.Geteuid(), now: time.Now}, nil
}

// systemUser looks a uid up in the system's user database.
func systemUser(uid int) (string, string, error) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return "", "", err
	}
	full, _, _ := strings.Cut(u.Name, ",") // GECOS: full name, room, phones
	return u.Username, full, nil
}

// Serve accepts connections on l until ctx is done, then closes l and
// waits for the requests in progress.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer s.wg.Wait()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("pickup: accept: %w", err)
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.ServeConn(ctx, c)
		}()
	}
}

// ServeConn serves one request on c and closes it.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return
	}
	c.SetDeadline(time.Now().Add(s.opts.Timeout))
	// The greeting tells the client that a daemon has its connection:
	// until then it may give up and use the maildrop.
	if _, err := io.WriteString(c, magic+"\n"); err != nil {
		return
	}
	rep := s.serveConn(ctx, c)
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := WriteReply(c, rep); err != nil {
		s.log.Warn("reply not sent", "err", err)
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) Reply {
	uid, err := peerUID(c)
	if err != nil {
		s.log.Error("cannot identify the caller", "err", err)
		return Reply{ExNoPerm, "cannot identify the calling user"}
	}
	r := bufio.NewReaderSize(c, 64<<10)
	req, err := ReadRequest(r, s.opts.MaxSize, s.opts.MaxRecipients)
	if err != nil {
		return s.readFailed(uid, err)
	}
	msg := make([]byte, req.Size)
	if _, err := io.ReadFull(r, msg); err != nil {
		return s.readFailed(uid, err)
	}
	req.UID = uid // the kernel's word, never the client's
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	return s.Submit(ctx, req, msg, false)
}

func (s *Server) readFailed(uid int, err error) Reply {
	var pe *Error
	if errors.As(err, &pe) {
		s.log.Info("request refused", "uid", uid, "err", pe.Msg)
		return Reply{pe.Code, pe.Msg}
	}
	s.log.Info("request not received", "uid", uid, "err", err)
	return Reply{ExTempFail, "the request could not be read"}
}

// peerUID returns the uid of the process at the other end of a unix
// socket (SO_PEERCRED).
func peerUID(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("pickup: %T is not a socket", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if cerr != nil {
		return -1, fmt.Errorf("pickup: SO_PEERCRED: %w", cerr)
	}
	return int(cred.Uid), nil
}

// trusted reports whether uid may set any envelope sender.
func (s *Server) trusted(uid int) bool {
	return uid == 0 || uid == s.euid || slices.Contains(s.opts.TrustedUIDs, uid)
}
