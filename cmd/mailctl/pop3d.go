package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"mailctl/lib/listen"
	"mailctl/lib/pop3d"
)

func init() {
	register("pop3d", newPOP3DCmd)
	registerDaemon(&daemonModule{name: "pop3d", sockets: []string{"pop3", "pop3s"}, tls: true, serve: servePOP3D})
}

func newPOP3DCmd(g *globals) *cobra.Command {
	var df daemonFlags
	c := &cobra.Command{
		Use:   "pop3d [--listen ADDR]... [--listen-tls ADDR]... [--inetd | --inetd-tls]",
		Short: "Serve POP3 (ports 110 with STLS, and 995 with implicit TLS)",
		Long: helpText(`Serve POP3 (RFC 1939, with CAPA, STLS, SASL AUTH PLAIN and LOGIN, and
response codes) on each user's INBOX in the shared Maildir store.

Users log in with their address and password, and only if their services
include pop3 (a user without it is told so after giving the right
password). Only one POP3 session per mailbox at a time: a second one gets
"-ERR [IN-USE]", in this or any other process.

DELE only marks a message; marked messages are removed at QUIT, by their
Maildir key, after looking at the folder again: a message whose flags an
IMAP client changed meanwhile is still removed, one already removed or
moved is skipped, and mail delivered during the session is never touched.
A session that ends without QUIT (timeout, dropped connection) changes
nothing. Messages downloaded whole with RETR are marked \Seen at QUIT, so
IMAP clients of the same user see them as read; POP3 never takes IMAP's
\Recent. UIDL is derived from the Maildir file name, so it never changes:
clients that leave mail on the server don't download it twice.

A client waits up to 10 minutes (RFC 1939's minimum autologout time, or
limits.command_timeout if longer) between commands; a session lasts at
most limits.session_timeout; lines are limited to limits.line_length.

The systemd socket names are "pop3" (plain, with STLS) and "pop3s"
(implicit TLS).

`+daemonSocketsHelp, `0   stopped by SIGTERM or SIGINT, or (--inetd) the connection ended
69  the module is disabled, or a socket could not be opened (EX_UNAVAILABLE)
73  the log file cannot be created (EX_CANTCREAT)
77  the users file is readable by others, or privileges can't be dropped (EX_NOPERM)
78  configuration error, e.g. a missing TLS certificate (EX_CONFIG)`, filesCore+`
/var/lib/mailctl/mail/DOMAIN/LOCAL/mailctl-pop3.lock   the POP3 session lock
/var/lib/mailctl/state/auth/   failed-login counters shared by every daemon`, `Passwords are taken only over TLS (STLS, or port 995), except from
loopback when auth.plaintext_loopback is set. Anything a client sends
after STLS and before the TLS handshake is discarded. Failed logins are
counted per client address (lockout) and per user (growing delay), in
state shared with the other daemons. Started as root, pop3d switches to
the mail account after binding its sockets. Logs name each connection by a
random id and never contain passwords.`),
		Example: `  mailctl pop3d --listen 127.0.0.1:110 --listen-tls :995
  mailctl pop3d --inetd          # from inetd or a systemd Accept=yes socket`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDaemon(cmd.Context(), g, "pop3d", &df)
		},
	}
	addDaemonFlags(c, &df, true)
	return c
}

// pop3CommandTimeout is the least time a POP3 client is given between
// commands: RFC 1939 §3 says an autologout timer must be at least 10
// minutes.
const pop3CommandTimeout = 10 * time.Minute

// servePOP3D serves POP3 on every listener until ctx is done.
func servePOP3D(ctx context.Context, d *daemonEnv, lns []listen.Listener) error {
	cfg := d.cfg
	au, err := d.authenticator()
	if err != nil {
		return err
	}
	srv, err := pop3d.New(pop3d.Options{
		Hostname:             cfg.Hostname,
		Store:                d.accounts.Store,
		Auth:                 au,
		TLS:                  d.tls,
		InsecureAuthLoopback: cfg.Auth.PlaintextLoopback,
		MaxLineLength:        cfg.Limits.LineLength,
		CommandTimeout:       max(cfg.Limits.CommandTimeout, pop3CommandTimeout),
		SessionTimeout:       cfg.Limits.SessionTimeout,
		StoreTimeout:         cfg.Limits.LockTimeout,
		Logger:               d.g.logger,
	})
	if err != nil {
		return err
	}
	// One listener failing stops the others: systemd restarts us whole.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(lns))
	for i, l := range lns {
		d.g.logger.Info("pop3d listening", "addr", l.Addr().String(), "tls", l.Mode.String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = srv.Serve(ctx, l); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
