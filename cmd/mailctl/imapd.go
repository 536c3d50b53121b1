package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/spf13/cobra"

	"mailctl/lib/auth"
	"mailctl/lib/imapd"
	"mailctl/lib/listen"
	"mailctl/lib/scan"
)

func init() {
	register("imapd", newIMAPDCmd)
	registerDaemon(&daemonModule{name: "imapd", sockets: []string{"imap", "imaps", "imap-webmail"}, tls: true, serve: serveIMAPD})
}

func newIMAPDCmd(g *globals) *cobra.Command {
	var df daemonFlags
	c := &cobra.Command{
		Use:   "imapd [--listen ADDR]... [--listen-tls ADDR]... [--listen-webmail ADDR]... [--inetd | --inetd-tls]",
		Short: "Serve IMAP (ports 143 with STARTTLS, and 993 with implicit TLS)",
		Long: helpText(`Serve IMAP (IMAP4rev1 and IMAP4rev2, with IDLE, MOVE, UIDPLUS, SPECIAL-USE,
NAMESPACE, ENABLE, LIST-EXTENDED, LIST-STATUS, ESEARCH, SEARCHRES, BINARY,
UNSELECT, CHILDREN and STATUS=SIZE) on the shared Maildir store: INBOX and
the Maildir++ folders below it, with "/" as the hierarchy separator.

Users log in with their address and password (LOGIN, or AUTHENTICATE
PLAIN or LOGIN), and only if their services include imap: a user without
it is told so after giving the right password.

UIDs and UIDVALIDITY are kept beside each folder and shared by every
process, so they are the same for every session and survive restarts.
Mail delivered meanwhile and changes made by other sessions or processes
reach a client in IDLE or at its next command, through one inotify watch
per folder in the process (with polling where inotify is unavailable).
What FETCH and SEARCH learn by parsing a message (envelope, structure,
common header fields) is kept in the folder's mailctl-msgcache file for
every process.

A client may wait up to 30 minutes between commands, IDLE included
(RFC 9051's minimum); each command's disk and lock work is bounded by
limits.command_timeout; APPEND takes messages up to limits.message_size.

When [scan] is enabled, a user's MOVE into Junk trains the spam
classifier with the message as spam, and a MOVE out of Junk to anywhere
but Trash as ham (see "mailctl scan train"). For clients without MOVE, a
COPY followed by the expunge of the source in the same session (STORE
\Deleted, then EXPUNGE or CLOSE) trains the same way; APPEND, and a COPY
whose source stays, never train.

webmaild reads mail through its own listener, imapd.webmail_listen
(--listen-webmail; by default the unix socket
/run/mailctl/imap-webmail.sock): each connection starts with a PROXY
protocol v1 header naming the browser's address, LOGIN works without TLS,
and the user needs the webmail service instead of imap.

The systemd socket names are "imap" (plain, with STARTTLS), "imaps"
(implicit TLS) and "imap-webmail" (webmaild's listener; any name ending
in "-webmail").

`+daemonSocketsHelp, `0   stopped by SIGTERM or SIGINT, or (--inetd) the connection ended
69  the module is disabled, or a socket could not be opened (EX_UNAVAILABLE)
73  the log file or the login state cannot be created (EX_CANTCREAT)
77  the users file is readable by others, or privileges can't be dropped (EX_NOPERM)
78  configuration error, e.g. a missing TLS certificate (EX_CONFIG)`, filesCore+`
/var/lib/mailctl/mail/DOMAIN/LOCAL/.FOLDER/mailctl-uidlist    UIDs (also in the user directory for INBOX)
/var/lib/mailctl/mail/DOMAIN/LOCAL/.FOLDER/mailctl-msgcache   parsed messages, shared by every process
/var/lib/mailctl/mail/DOMAIN/LOCAL/mailctl-subscriptions      subscribed folders
/var/lib/mailctl/scan/bayes/                                  the spam classifier's databases
/var/lib/mailctl/state/auth/   failed-login counters shared by every daemon`, `Passwords are taken only over TLS (STARTTLS, or port 993): until then the
server announces LOGINDISABLED, except to loopback clients when
auth.plaintext_loopback is set. Anything a client sends after STARTTLS and
before the TLS handshake is taken as handshake data, never as commands.
Failed logins are counted per client address (lockout) and per user
(growing delay), in state shared with the other daemons. Mailbox names
are checked before they touch a path: no "..", no empty or "." component,
no control characters. Started as root, imapd switches to the mail
account after binding its sockets. Logs name each connection by a random
id and never contain passwords.

The webmail listener trusts the PROXY header: failed logins there count
against the browser's address it names (so one attacker cannot lock out
every webmail user), and it allows LOGIN in clear. Whoever can connect to
it can claim any address, so only webmaild may: the unix socket is mode
0660, owned by the mail account (the config's user) when imapd binds it as
root; a systemd socket unit needs SocketUser=/SocketMode= to match. An
IP:port there must be on loopback or a private network webmaild alone
reaches, never a public address. A connection without a valid header
within 10 seconds is closed.`),
		Example: `  mailctl imapd --listen 127.0.0.1:143 --listen-tls :993
  mailctl imapd --listen :143 --listen-webmail unix:/run/mailctl/imap-webmail.sock
  mailctl imapd --inetd          # from inetd or a systemd Accept=yes socket`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDaemon(cmd.Context(), g, "imapd", &df)
		},
	}
	addDaemonFlags(c, &df, true)
	addWebmailFlag(c, &df)
	return c
}

// serveIMAPD serves IMAP on every listener until ctx is done.
func serveIMAPD(ctx context.Context, d *daemonEnv, lns []listen.Listener) error {
	cfg := d.cfg
	au, err := auth.New(auth.Options{
		Users:    d.accounts.Users,
		StateDir: filepath.Join(cfg.StateDir(), "auth"),
		Logger:   d.g.logger,
	})
	if err != nil {
		return withCode(exitCantCreat, fmt.Errorf("imapd: %w", err))
	}
	opts := imapd.Options{
		Store:             d.accounts.Store,
		Auth:              au,
		Mechanisms:        auth.Mechanisms,
		TLS:               d.tls,
		LoopbackPlaintext: cfg.Auth.PlaintextLoopback,
		AppendLimit:       int64(cfg.Limits.MessageSize),
		CommandTimeout:    cfg.Limits.CommandTimeout,
		Logger:            d.g.logger,
	}
	if cfg.Scan.Enabled {
		// The users' own sorting into and out of Junk trains the classifier.
		opts.Trainer = scan.NewBayes(scan.BayesOptions{Dir: bayesDir(cfg), LockTimeout: cfg.Limits.LockTimeout})
	}
	srv, err := imapd.New(opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	// One listener failing stops the others: systemd restarts us whole.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(lns))
	for i, l := range lns {
		d.g.logger.Info("imapd listening", "addr", l.Addr().String(), "tls", l.Mode.String(), "webmail", l.Webmail)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.Webmail {
				errs[i] = srv.ServeWebmail(ctx, l)
			} else {
				errs[i] = srv.Serve(ctx, l, l.Mode == listen.Implicit)
			}
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
