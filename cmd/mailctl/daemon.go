package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"mailctl/lib/accounts"
	"mailctl/lib/auth"
	"mailctl/lib/config"
	"mailctl/lib/listen"
	"mailctl/lib/userdb"
)

// daemonFlags are the socket flags every daemon shares.
type daemonFlags struct {
	listen        []string
	listenTLS     []string
	listenWebmail []string // imapd and submitd: webmaild's listeners
	inetd         bool
	inetdTLS      bool
}

const daemonSocketsHelp = `Sockets are taken in this order: those systemd passes (LISTEN_FDS, picked
by FileDescriptorName); else --inetd, where the connection is stdin/stdout;
else the --listen and --listen-tls addresses; else the config's.`

func addDaemonFlags(c *cobra.Command, f *daemonFlags, withTLS bool) {
	fl := c.Flags()
	fl.StringArrayVar(&f.listen, "listen", nil, "listen on `ADDR` (host:port or unix:/path); repeatable")
	fl.BoolVar(&f.inetd, "inetd", false, "serve one connection on stdin/stdout (inetd, systemd Accept=yes)")
	if withTLS {
		fl.StringArrayVar(&f.listenTLS, "listen-tls", nil, "listen with implicit TLS on `ADDR`; repeatable")
		fl.BoolVar(&f.inetdTLS, "inetd-tls", false, "like --inetd, for a connection that starts with TLS")
	}
}

// addWebmailFlag adds --listen-webmail (imapd and submitd).
func addWebmailFlag(c *cobra.Command, f *daemonFlags) {
	c.Flags().StringArrayVar(&f.listenWebmail, "listen-webmail", nil,
		"take webmaild's connections (PROXY header first, webmail service) on `ADDR` (unix:/path or loopback/private IP:port); repeatable")
}

// daemonModule is a network service: a subcommand of its own and a module
// of serve. Each daemon's file registers one in an init function.
type daemonModule struct {
	name    string   // the config's modules.NAME and [NAME] listeners
	sockets []string // systemd FileDescriptorNames it answers to; none: a worker (queue) that serve only runs
	tls     bool     // speaks TLS (STARTTLS or implicit): needs the certificate
	// socketMode, when set, replaces listen.SocketMode on the unix sockets
	// it binds itself (pickup's is 0666: every local user may submit).
	socketMode os.FileMode
	// serve runs until ctx is done, on sockets already open.
	serve func(ctx context.Context, d *daemonEnv, lns []listen.Listener) error
}

// daemonEnv is what a running daemon needs, set up before privileges are
// dropped (the TLS key may be readable by root only).
type daemonEnv struct {
	g        *globals
	cfg      *config.Config
	accounts *accounts.Manager
	tls      *tls.Config // nil unless the module speaks TLS
	shared   *daemonShared
}

// daemonShared is what the modules of one process share: one
// Authenticator, so a login cached by imapd also helps submitd.
type daemonShared struct {
	authOnce sync.Once
	auth     *auth.Authenticator
	authErr  error
}

// authenticator returns the process's credential checker; failure counts
// live under the state directory, shared with every other process.
func (d *daemonEnv) authenticator() (*auth.Authenticator, error) {
	s := d.shared
	s.authOnce.Do(func() {
		s.auth, s.authErr = auth.New(auth.Options{
			Users:    d.accounts.Users,
			StateDir: filepath.Join(d.cfg.StateDir(), "auth"),
			Logger:   d.g.logger,
		})
		if s.authErr != nil {
			s.authErr = withCode(exitCantCreat, fmt.Errorf("auth state: %w", s.authErr))
		}
	})
	return s.auth, s.authErr
}

var daemonModules = map[string]*daemonModule{}

func registerDaemon(m *daemonModule) { daemonModules[m.name] = m }

// runDaemon is the body of every daemon subcommand: check the config,
// take the sockets, drop privileges, serve.
func runDaemon(ctx context.Context, g *globals, name string, df *daemonFlags) error {
	m := daemonModules[name]
	cfg, err := g.config()
	if err != nil {
		return err
	}
	if err := requireModule(cfg, name); err != nil {
		return err
	}
	if err := checkDaemonFiles(cfg); err != nil {
		return err
	}
	env := &daemonEnv{g: g, cfg: cfg, shared: &daemonShared{}}
	if m.tls {
		if env.tls, err = loadTLS(g, cfg); err != nil {
			return err
		}
	}
	ls := cfg.ListenersFor(name)
	opts := listen.Options{
		Names: m.sockets, Listen: df.listen, ListenTLS: df.listenTLS,
		Inetd: df.inetd, InetdTLS: df.inetdTLS, TLS: env.tls, Logger: g.logger,
	}
	opts.Webmail = df.listenWebmail
	// Any address flag replaces all of the config's addresses.
	if len(opts.Listen)+len(opts.ListenTLS)+len(opts.Webmail) == 0 {
		opts.Listen, opts.ListenTLS, opts.Webmail = ls.Listen, ls.ListenTLS, ls.WebmailListen
	}
	if err := makeSocketDirs(append(slices.Clip(opts.Listen), opts.Webmail...)); err != nil {
		return err
	}
	lns, err := listen.Open(ctx, opts)
	if err != nil {
		return withCode(exitUnavailable, fmt.Errorf("%s: %w", name, err))
	}
	if err := chmodSockets(m, lns); err != nil {
		return err
	}
	if err := chownWebmailSockets(cfg, lns); err != nil {
		return err
	}
	if err := dropPrivileges(g, cfg); err != nil {
		return err
	}
	if env.accounts, err = g.accounts(); err != nil {
		return err
	}
	return m.serve(ctx, env, lns)
}

// loadTLS reads the certificates named in the config; they are re-read
// when the files change.
func loadTLS(g *globals, cfg *config.Config) (*tls.Config, error) {
	pairs := []listen.CertPair{{Cert: cfg.TLS.Cert, Key: cfg.TLS.Key}}
	for _, p := range cfg.TLS.Extra {
		pairs = append(pairs, listen.CertPair{Cert: p.Cert, Key: p.Key})
	}
	certs, err := listen.LoadCerts(pairs, g.logger)
	if err != nil {
		return nil, withCode(exitConfig, fmt.Errorf("tls: %w", err))
	}
	return certs.TLSConfig(), nil
}

// startModules opens the sockets of every enabled daemon module (in the
// order of config.Modules), then returns a function that serves them all
// until ctx is done or one fails.
func startModules(ctx context.Context, g *globals, cfg *config.Config) (func(context.Context) error, []string, error) {
	var (
		tlsCfg  *tls.Config
		started []string
		runs    []func(context.Context, *daemonEnv) error
	)
	for _, name := range config.Modules {
		m, ok := daemonModules[name]
		if !cfg.ModuleEnabled(name) {
			continue
		}
		if !ok {
			g.logger.Warn("module enabled but not part of this build yet", "module", name)
			continue
		}
		if m.tls && tlsCfg == nil {
			var err error
			if tlsCfg, err = loadTLS(g, cfg); err != nil {
				return nil, nil, err
			}
		}
		if len(m.sockets) == 0 { // a worker with no sockets (queue): it only runs
			started = append(started, name)
			runs = append(runs, func(ctx context.Context, env *daemonEnv) error {
				if err := m.serve(ctx, env, nil); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				return nil
			})
			continue
		}
		ls := cfg.ListenersFor(name)
		if err := makeSocketDirs(append(slices.Clip(ls.Listen), ls.WebmailListen...)); err != nil {
			return nil, nil, err
		}
		lns, err := listen.Open(ctx, listen.Options{Names: m.sockets, Listen: ls.Listen, ListenTLS: ls.ListenTLS, Webmail: ls.WebmailListen, TLS: tlsCfg, Logger: g.logger})
		if err != nil {
			return nil, nil, withCode(exitUnavailable, fmt.Errorf("%s: %w", name, err))
		}
		if err := chmodSockets(m, lns); err != nil {
			return nil, nil, err
		}
		if err := chownWebmailSockets(cfg, lns); err != nil {
			return nil, nil, err
		}
		for _, l := range lns {
			kind := l.Mode.String()
			if l.Webmail {
				kind = "webmail"
			}
			started = append(started, fmt.Sprintf("%s on %s (%s)", name, l.Addr(), kind))
		}
		runs = append(runs, func(ctx context.Context, env *daemonEnv) error {
			e := *env
			if m.tls {
				e.tls = tlsCfg
			}
			if err := m.serve(ctx, &e, lns); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return nil
		})
	}
	if len(runs) == 0 {
		return nil, nil, withCode(exitUnavailable, errors.New("no module to run: enable one in the config's [modules] table"))
	}
	run := func(ctx context.Context) error {
		m, err := g.accounts()
		if err != nil {
			return err
		}
		env := &daemonEnv{g: g, cfg: cfg, accounts: m, shared: &daemonShared{}}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		for _, r := range runs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r(ctx, env); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					cancel() // one module failing stops the rest: systemd restarts us whole
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return run, slices.Clip(started), nil
}

// makeSocketDirs creates the directories of unix: listener addresses
// (/run/mailctl is not there after a reboot).
func makeSocketDirs(addrs []string) error {
	for _, a := range addrs {
		if p, ok := strings.CutPrefix(a, "unix:"); ok {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return withCode(exitCantCreat, fmt.Errorf("socket directory: %w", err))
			}
		}
	}
	return nil
}

// chmodSockets gives the unix sockets a module bound itself its own mode,
// before privileges are dropped (the socket file belongs to whoever bound
// it). Sockets from systemd keep their unit's SocketMode.
func chmodSockets(m *daemonModule, lns []listen.Listener) error {
	if m.socketMode == 0 {
		return nil
	}
	for _, l := range lns {
		a, ok := l.Addr().(*net.UnixAddr)
		if !ok || l.Name != "" || a.Name == "" || a.Name[0] == '@' {
			continue
		}
		if err := os.Chmod(a.Name, m.socketMode); err != nil {
			return withCode(exitCantCreat, fmt.Errorf("%s: socket mode: %w", m.name, err))
		}
	}
	return nil
}

// chownWebmailSockets hands the webmail unix sockets a root process bound
// itself to the mail account: mode 0660 (listen.SocketMode) then lets
// webmaild, running as that account, connect, and nobody else. Sockets
// from systemd keep their unit's SocketUser/SocketMode.
func chownWebmailSockets(cfg *config.Config, lns []listen.Listener) error {
	if os.Geteuid() != 0 || cfg.User == "" {
		return nil
	}
	for _, l := range lns {
		a, ok := l.Addr().(*net.UnixAddr)
		if !l.Webmail || !ok || l.Name != "" || a.Name == "" || a.Name[0] == '@' {
			continue
		}
		uid, gid, err := listen.LookupAccount(cfg.User)
		if err != nil {
			return withCode(exitNoPerm, fmt.Errorf("webmail socket: %w", err))
		}
		if err := os.Chown(a.Name, uid, gid); err != nil {
			return withCode(exitCantCreat, fmt.Errorf("webmail socket: %w", err))
		}
	}
	return nil
}

// dropPrivileges switches to the configured mail account when started as
// root: after the sockets are bound, before anything is read.
func dropPrivileges(g *globals, cfg *config.Config) error {
	if os.Geteuid() != 0 {
		return nil
	}
	if err := listen.DropPrivileges(cfg.User, g.logger); err != nil {
		return withCode(exitNoPerm, fmt.Errorf("drop privileges to %q: %w", cfg.User, err))
	}
	return nil
}

// checkDaemonFiles refuses to serve with a users file others can read: it
// holds password hashes.
func checkDaemonFiles(cfg *config.Config) error {
	if err := userdb.CheckPermissions(cfg.UsersFile); err != nil {
		return withCode(exitNoPerm, err)
	}
	return nil
}

// requireModule refuses to start a module the config switched off.
func requireModule(cfg *config.Config, name string) error {
	if !cfg.ModuleEnabled(name) {
		return withCode(exitUnavailable, fmt.Errorf("module %s is disabled in the configuration (modules.%s = false)", name, name))
	}
	return nil
}
