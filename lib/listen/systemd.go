package listen

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"
)

// sdSocket is one descriptor systemd passed, until an Open call takes it.
type sdSocket struct {
	name  string
	file  *os.File
	taken bool
}

// sd caches the sockets systemd passed. activation.Files unsets LISTEN_* as
// it reads them, so it runs once per process; the Open calls of several
// modules then take their sockets from this cache by name.
var sd struct {
	once  sync.Once
	mu    sync.Mutex
	socks []*sdSocket
}

func systemdSockets() []*sdSocket {
	sd.once.Do(func() {
		for _, f := range activation.Files(true) {
			sd.socks = append(sd.socks, &sdSocket{name: f.Name(), file: f})
		}
	})
	return sd.socks
}

// takeSystemd marks as taken, and returns, the untaken sockets whose name is
// in names (all untaken sockets when names is empty).
func takeSystemd(names []string) []*sdSocket {
	socks := systemdSockets()
	sd.mu.Lock()
	defer sd.mu.Unlock()
	var out []*sdSocket
	for _, s := range socks {
		if s.taken || (len(names) > 0 && !slices.Contains(names, s.name)) {
			continue
		}
		s.taken = true
		out = append(out, s)
	}
	return out
}

func systemdCount() int { return len(systemdSockets()) }

// Unclaimed returns the names of the sockets systemd passed that no Open
// call has taken, so that a daemon can warn about a unit naming a socket
// nobody serves once all its modules have opened theirs.
func Unclaimed() []string {
	socks := systemdSockets()
	sd.mu.Lock()
	defer sd.mu.Unlock()
	var names []string
	for _, s := range socks {
		if !s.taken {
			names = append(names, s.name)
		}
	}
	return names
}

// openSystemd turns taken descriptors into listeners. The descriptors are
// closed either way (net.FileListener works on a duplicate).
func openSystemd(socks []*sdSocket, cfg *tls.Config) ([]Listener, error) {
	var out []Listener
	var firstErr error
	for _, s := range socks {
		if firstErr != nil {
			s.file.Close()
			continue
		}
		l, err := systemdListener(s, cfg)
		s.file.Close()
		if err != nil {
			firstErr = err
			continue
		}
		out = append(out, l)
	}
	if firstErr != nil {
		closeAll(out)
		return nil, firstErr
	}
	return out, nil
}

func systemdListener(s *sdSocket, cfg *tls.Config) (Listener, error) {
	mode := Plain
	if IsImplicitTLSName(s.name) {
		mode = Implicit
		if cfg == nil {
			return Listener{}, fmt.Errorf("listen: systemd socket %q: implicit TLS but no TLS certificate configured", s.name)
		}
	}
	stype, accepting, err := socketKind(s.file)
	if err != nil {
		return Listener{}, fmt.Errorf("listen: systemd socket %q: %w", s.name, err)
	}
	if stype != unix.SOCK_STREAM {
		return Listener{}, fmt.Errorf("listen: systemd socket %q: not a stream socket (ListenStream= is needed)", s.name)
	}
	if !accepting {
		// Accept=yes: systemd passes one connection, not a listener.
		c, err := net.FileConn(s.file)
		if err != nil {
			return Listener{}, fmt.Errorf("listen: systemd socket %q: %w", s.name, err)
		}
		if mode == Implicit {
			return Listener{Listener: OneTLSConn(c, cfg), Mode: mode, Name: s.name}, nil
		}
		return Listener{Listener: OneConn(c), Mode: mode, Name: s.name, Webmail: IsWebmailName(s.name)}, nil
	}
	l, err := net.FileListener(s.file)
	if err != nil {
		return Listener{}, fmt.Errorf("listen: systemd socket %q: %w", s.name, err)
	}
	if mode == Implicit {
		l = tls.NewListener(l, cfg)
	}
	return Listener{Listener: l, Mode: mode, Name: s.name, Webmail: mode == Plain && IsWebmailName(s.name)}, nil
}

// socketKind reports the socket type of f and whether it is listening.
func socketKind(f *os.File) (stype int, accepting bool, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false, err
	}
	var acc int
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		stype, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
		if serr == nil {
			acc, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		}
	})
	if cerr != nil {
		return 0, false, cerr
	}
	if serr != nil {
		return 0, false, fmt.Errorf("not a socket: %w", serr)
	}
	return stype, acc != 0, nil
}
