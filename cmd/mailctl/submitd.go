package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"mailctl/lib/listen"
	"mailctl/lib/smtpd"
)

func init() {
	register("submitd", newSubmitdCmd)
	registerDaemon(&daemonModule{name: "submitd", sockets: []string{"submission", "submissions", "submission-tls", "submission-webmail"}, tls: true, serve: serveSubmitd})
}

func newSubmitdCmd(g *globals) *cobra.Command {
	var df daemonFlags
	c := &cobra.Command{
		Use:   "submitd [--listen ADDR]... [--listen-tls ADDR]... [--listen-webmail ADDR]... [--inetd | --inetd-tls]",
		Short: "Accept mail from our users: authenticated submission (587, 465)",
		Long: helpText(`Accept mail from the server's own users (RFC 6409): on port 587 with
STARTTLS, on 465 with implicit TLS (RFC 8314), and on any extra port in
the config (say 2525, for roaming users whose network blocks the usual
ones). Mail clients log in with AUTH PLAIN or LOGIN, the full address as
user name; only users whose services include submit may send.

The envelope sender must be the user's own address, that address with a
+tag, or an alias that reaches the user (else 553 5.7.1 at MAIL), and so
must every address in the From: header (else 550 5.7.1 after the data).
Date: and Message-ID: are added when missing. Local recipients get the
message at once, synced to disk before the 250; remote ones are queued in
the outbound spool for the queue runner.

Each user may send limits.send_messages_per_hour messages to
limits.send_recipients_per_hour recipients an hour (counted across every
process), so a stolen password cannot get the server blocklisted in an
afternoon. The other limits, and the refusal of bare CR or LF in content,
are those of smtpd.

webmaild sends through its own listener, submitd.webmail_listen
(--listen-webmail; by default the unix socket
/run/mailctl/submission-webmail.sock): each connection starts with a
PROXY protocol v1 header naming the browser's address, AUTH works without
TLS, and the user needs the webmail service instead of submit. Every
other rule above applies; the Received: header names the browser's
address "via webmail".

The systemd socket names are "submission" (plain, with STARTTLS),
"submissions" (implicit TLS; also any name ending in "-tls") and
"submission-webmail" (webmaild's listener; any name ending in
"-webmail").

`+daemonSocketsHelp, `0   stopped by SIGTERM or SIGINT, or (--inetd) the connection ended
69  the module is disabled, or a socket could not be opened (EX_UNAVAILABLE)
73  the queue, the state directory or a log file cannot be created (EX_CANTCREAT)
77  the users file is readable by others, or privileges can't be dropped (EX_NOPERM)
78  configuration error, e.g. a missing TLS certificate (EX_CONFIG)`, filesCore+`
/var/lib/mailctl/queue/             the outbound spool
/var/lib/mailctl/state/auth/        failed-login counters shared by every daemon
/var/lib/mailctl/state/sendlimits/  messages and recipients sent per user and hour`, `AUTH is offered only over TLS (after STARTTLS, or on the implicit-TLS
port), except to loopback clients when auth.plaintext_loopback is set.
Anything a client sends after STARTTLS and before the handshake is
discarded. Failed logins are counted per client address (lockout) and
per user (growing delay), in state shared with the other daemons, so one
process per connection (inetd) changes nothing. Started as root, submitd
switches to the mail account after binding its sockets. Logs never
contain passwords or message bodies.

The webmail listener trusts the PROXY header: failed logins there count
against the browser's address it names (so one attacker cannot lock out
every webmail user), and it allows AUTH in clear. Whoever can connect to
it can claim any address, so only webmaild may: the unix socket is mode
0660, owned by the mail account (the config's user) when submitd binds it
as root; a systemd socket unit needs SocketUser=/SocketMode= to match. An
IP:port there must be on loopback or a private network webmaild alone
reaches, never a public address. A connection without a valid header
within 10 seconds is closed.`),
		Example: `  mailctl submitd --listen :587 --listen :2525 --listen-tls :465
  mailctl submitd --inetd        # from inetd or a systemd Accept=yes socket`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDaemon(cmd.Context(), g, "submitd", &df)
		},
	}
	addDaemonFlags(c, &df, true)
	addWebmailFlag(c, &df)
	return c
}

// serveSubmitd serves submission on every listener until ctx is done.
func serveSubmitd(ctx context.Context, d *daemonEnv, lns []listen.Listener) error {
	cfg := d.cfg
	q, err := openSMTPQueue(d)
	if err != nil {
		return err
	}
	// Submitted mail forwarded by an alias keeps the user's own sender:
	// no SRS.
	opts, err := smtpOptions(d, smtpd.Submission, q, nil)
	if err != nil {
		return err
	}
	if opts.Auth, err = d.authenticator(); err != nil {
		return err
	}
	opts.InsecureAuthLoopback = cfg.Auth.PlaintextLoopback
	if opts.Scanner, err = smtpScanner(d, true); err != nil { // viruses only
		return err
	}
	if cfg.Limits.SendMessagesPerHour > 0 || cfg.Limits.SendRecipientsPerHour > 0 {
		dir := filepath.Join(cfg.StateDir(), "sendlimits")
		if opts.SendLimits, err = smtpd.NewSendLimits(dir, cfg.Limits.SendMessagesPerHour, cfg.Limits.SendRecipientsPerHour); err != nil {
			return withCode(exitCantCreat, fmt.Errorf("submitd: %w", err))
		}
	}
	return serveSMTPListeners(ctx, d, opts, lns)
}
