package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"mailctl/lib/config"
	"mailctl/lib/listen"
	"mailctl/lib/userdb"
)

// daemonFlags are the socket flags every daemon shares.
type daemonFlags struct {
	listen    []string
	listenTLS []string
	inetd     bool
	inetdTLS  bool
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

// open takes the daemon's sockets. names are the systemd socket names the
// module answers to; ls are the config's addresses, used when no flag
// names any.
func (f *daemonFlags) open(ctx context.Context, g *globals, names []string, ls config.Listeners, tlsCfg *tls.Config) ([]listen.Listener, error) {
	opts := listen.Options{
		Names:     names,
		Listen:    f.listen,
		ListenTLS: f.listenTLS,
		Inetd:     f.inetd || f.inetdTLS,
		InetdTLS:  f.inetdTLS,
		TLS:       tlsCfg,
		Logger:    g.logger,
	}
	if len(opts.Listen) == 0 && len(opts.ListenTLS) == 0 {
		opts.Listen, opts.ListenTLS = ls.Listen, ls.ListenTLS
	}
	lns, err := listen.Open(ctx, opts)
	if err != nil {
		return nil, withCode(exitUnavailable, err)
	}
	return lns, nil
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
