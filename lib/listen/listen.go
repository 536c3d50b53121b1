package listen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
)

// TLSMode says how a listener's connections use TLS.
type TLSMode int

const (
	// Plain connections start in clear text; the protocol may offer STARTTLS.
	Plain TLSMode = iota
	// Implicit connections are TLS from the first byte; Accept returns *tls.Conn.
	Implicit
)

func (m TLSMode) String() string {
	switch m {
	case Plain:
		return "plain"
	case Implicit:
		return "implicit-tls"
	}
	return fmt.Sprintf("TLSMode(%d)", int(m))
}

// Listener is one socket a daemon serves.
type Listener struct {
	net.Listener
	Mode TLSMode
	// Name is the systemd FileDescriptorName the socket came with
	// ("LISTEN_FD_<n>" when it had none); "" for inetd and address listeners.
	Name string
	// Webmail marks webmaild's listener (Options.Webmail, or a systemd
	// name from IsWebmailName): every connection starts with a PROXY
	// protocol header, and the daemon checks the webmail service.
	Webmail bool
}

// Options says where a daemon may take its sockets from.
type Options struct {
	// Names are the systemd FileDescriptorName values this daemon takes,
	// e.g. {"lmtp"}, {"smtp"} or {"submission", "submissions"}. Empty means
	// every socket systemd passed (a standalone daemon whose unit does not
	// name its sockets); a module of `serve` must always name its own.
	Names []string
	// Listen and ListenTLS are addresses to bind when neither systemd nor
	// inetd gave a socket: "127.0.0.1:2525", "[::1]:25", ":587",
	// "unix:/run/mailctl/lmtp.sock". Hosts must be IP literals (or empty
	// for every address): binding never resolves names.
	Listen, ListenTLS []string
	// Webmail are addresses bound like Listen for webmaild's connections
	// (Listener.Webmail), e.g. "unix:/run/mailctl/imap-webmail.sock".
	Webmail []string
	// Inetd serves the one connection on stdin/stdout; InetdTLS does the
	// same with implicit TLS.
	Inetd, InetdTLS bool
	// TLS is needed for every implicit-TLS socket.
	TLS    *tls.Config
	Logger *slog.Logger
}

// Open returns the daemon's listeners, taken from systemd, else inetd, else
// the addresses in opts. On error no socket is left open (systemd sockets
// it took stay taken).
func Open(ctx context.Context, opts Options) ([]Listener, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Inetd && opts.InetdTLS {
		return nil, errors.New("listen: inetd: choose plain or implicit TLS, not both")
	}

	if socks := takeSystemd(opts.Names); len(socks) > 0 {
		ls, err := openSystemd(socks, opts.TLS)
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			log.Info("listening on systemd socket", "name", l.Name, "addr", l.Addr().String(), "tls", l.Mode.String())
		}
		if len(opts.Listen)+len(opts.ListenTLS)+len(opts.Webmail) > 0 {
			log.Debug("systemd passed sockets: listen addresses ignored", "listen", opts.Listen, "listen_tls", opts.ListenTLS, "webmail", opts.Webmail)
		}
		return ls, nil
	}
	if n := systemdCount(); n > 0 {
		log.Info("systemd passed sockets, but none with this daemon's names", "names", opts.Names, "unclaimed", Unclaimed())
	}

	if opts.Inetd || opts.InetdTLS {
		c, err := Inetd()
		if err != nil {
			return nil, err
		}
		if opts.InetdTLS {
			if opts.TLS == nil {
				c.Close()
				return nil, errors.New("listen: inetd with implicit TLS: no TLS certificate configured")
			}
			return []Listener{{Listener: OneTLSConn(c, opts.TLS), Mode: Implicit}}, nil
		}
		return []Listener{{Listener: OneConn(c), Mode: Plain}}, nil
	}

	if len(opts.Listen)+len(opts.ListenTLS)+len(opts.Webmail) == 0 {
		return nil, fmt.Errorf("listen: no socket: systemd passed none named %q, inetd mode is off and no listen address is set", opts.Names)
	}
	if len(opts.ListenTLS) > 0 && opts.TLS == nil {
		return nil, fmt.Errorf("listen: %s: implicit TLS but no TLS certificate configured", opts.ListenTLS[0])
	}
	var out []Listener
	fail := func(err error) ([]Listener, error) {
		closeAll(out)
		return nil, err
	}
	for _, spec := range opts.Listen {
		l, err := listenAddr(ctx, spec)
		if err != nil {
			return fail(err)
		}
		out = append(out, Listener{Listener: l, Mode: Plain})
	}
	for _, spec := range opts.ListenTLS {
		l, err := listenAddr(ctx, spec)
		if err != nil {
			return fail(err)
		}
		out = append(out, Listener{Listener: tls.NewListener(l, opts.TLS), Mode: Implicit})
	}
	for _, spec := range opts.Webmail {
		l, err := listenAddr(ctx, spec)
		if err != nil {
			return fail(err)
		}
		out = append(out, Listener{Listener: l, Mode: Plain, Webmail: true})
	}
	for _, l := range out {
		log.Info("listening", "addr", l.Addr().String(), "tls", l.Mode.String(), "webmail", l.Webmail)
	}
	return out, nil
}

// IsImplicitTLSName reports whether a systemd socket name means implicit
// TLS: the IANA names submissions, smtps, imaps and pop3s, and any name
// ending in "-tls" (for extra ports, e.g. "submission-tls").
func IsImplicitTLSName(name string) bool {
	name = strings.ToLower(name)
	switch name {
	case "submissions", "smtps", "imaps", "pop3s":
		return true
	}
	return strings.HasSuffix(name, "-tls")
}

// IsWebmailName reports whether a systemd socket name is webmaild's
// listener: a name ending in "-webmail", e.g. "imap-webmail" or
// "submission-webmail".
func IsWebmailName(name string) bool {
	return strings.HasSuffix(strings.ToLower(name), "-webmail")
}

// listenAddr binds one address: "unix:PATH" or TCP "HOST:PORT".
func listenAddr(ctx context.Context, spec string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(spec, "unix:"); ok {
		if path == "" {
			return nil, fmt.Errorf("listen: %q: empty socket path", spec)
		}
		return listenUnix(ctx, path)
	}
	host, _, err := net.SplitHostPort(spec)
	if err != nil {
		return nil, fmt.Errorf("listen: %q: want HOST:PORT or unix:PATH: %w", spec, err)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return nil, fmt.Errorf("listen: %q: host must be an IP address, or empty for all", spec)
		}
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", spec)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return l, nil
}

func closeAll(ls []Listener) {
	for _, l := range ls {
		l.Close()
	}
}
