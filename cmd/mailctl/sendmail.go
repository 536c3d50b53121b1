package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"mailctl/lib/config"
	"mailctl/lib/pickup"
)

func init() { register("sendmail", newSendmailCmd) }

func newSendmailCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "sendmail [-t] [-i] [-f SENDER] [-F NAME] [RECIPIENT...] < MESSAGE",
		Short: "Send a message from this host, as cron, scripts and mail programs expect of sendmail",
		Long: helpText(`Read a message from stdin and send it to each RECIPIENT, the way cron,
scripts and mail programs expect of /usr/sbin/sendmail. Install a link to
mailctl named "sendmail" there, or run "mailctl sendmail".

The message goes over a local unix socket ([pickup] listen) to the pickup
daemon ("mailctl pickup", or "mailctl serve"), which learns the calling
user from the socket itself: nothing here is setuid or setgid. The daemon
delivers local recipients at once and queues the others for the queue
runner. It adds Received:, and Date:, Message-ID: and From: when they are
missing (From: is the user's address, with -F's name or the user's full
name). Addresses without a domain ("root", and the user's own login) get
[pickup] domain, by default the hostname; Bcc: is always removed.

Options (parsed as sendmail does, so they may be combined as in -ti):

  -t              also take recipients from To:, Cc: and Bcc: (Resent-* when present)
  -i, -oi         a line holding a single "." does not end the message
  -f SENDER       envelope sender (Return-Path); "" or "<>" for none
  -r SENDER       the same as -f
  -F NAME         full name for the From: the daemon adds
  -v              print the daemon's answer
  -bm             read a message and send it (the default)
  -bi             do nothing and exit 0 (newaliases: aliases need no rebuild)
  --config FILE   the configuration
  --help          this text

Accepted and ignored, as other sendmails take them: -B TYPE, -C FILE,
-dX, -h N, -L TAG, -N DSN, -O OPT=VALUE, -oX (-oem, -odi, -odq, ...),
-p PROTO, -R RET, -V ENVID, -X FILE, -AX, -G, -m, -n, -U. Other modes
(-bd, -bs, -bp, -bv, -q) are refused with status 64.

Without -i, input ends at a line holding a single "."; in any case at the
end of input. If the daemon cannot be reached, the message is left in the
maildrop directory (data_dir/queue/maildrop), where the daemon picks it
up when it runs again, and sendmail warns and exits 0 - if the caller may
write there (root and the mail account may). Otherwise the status is 75
and nothing is kept.`, `0   the message was delivered or queued (or left in the maildrop)
64  usage error: unknown option, a mode that is not supported, no recipients (EX_USAGE)
65  bad message or address, larger than limits.message_size, more than
    limits.recipients recipients, a mail loop (EX_DATAERR)
67  no such local recipient, and no other recipient took the message (EX_NOUSER)
69  the recipient's mailbox is disabled (EX_UNAVAILABLE)
73  the mailbox cannot be created, or is over quota for good (EX_CANTCREAT)
74  stdin could not be read (EX_IOERR)
75  temporary failure: the daemon is unreachable and the maildrop is not
    writable, or the message could not be queued; try again later (EX_TEMPFAIL)
77  the daemon could not identify the calling user (EX_NOPERM)
78  configuration error (EX_CONFIG)`, `/etc/mailctl/mailctl.toml        the configuration: [pickup] listen and domain, limits
/run/mailctl/sendmail.sock       the pickup daemon's socket (the default [pickup] listen)
/var/lib/mailctl/queue/maildrop/ messages waiting for the daemon`, `sendmail runs with the caller's privileges only; it is never setuid or
setgid. The daemon takes the caller's identity from the socket's peer
credentials (SO_PEERCRED), never from anything sendmail says, so the
envelope sender is the caller's own address unless -f names another;
root and the mail account may name any, and for anyone else the message
carries an X-Authentication-Warning: header saying who set it. As with
any sendmail, the message's own header (From: included) is the caller's
to write. Option values travel as quoted strings: a line break in -F or -f
cannot add header lines. If the configuration file is not readable, the
built-in defaults are used (the socket path above); the daemon enforces
every limit itself.`),
		Example: `  printf 'Subject: backup done\n\nAll good.\n' | sendmail -i root
  sendmail -t < message.eml
  /usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem root   # what Debian's cron runs`,
		// sendmail's grammar (-oem, -FName, options after recipients) is
		// not cobra's: pickup.ParseArgs reads the raw arguments.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := pickup.ParseArgs(args)
			if err != nil {
				return pickupError(err)
			}
			if a.Help {
				return cmd.Help()
			}
			if a.NoOp {
				return nil
			}
			if a.Config != "" {
				g.configPath = a.Config
			}
			return runSendmail(cmd.Context(), g, a)
		},
	}
	return c
}

// pickupError carries a pickup refusal's status as the exit code.
func pickupError(err error) error {
	var pe *pickup.Error
	if errors.As(err, &pe) {
		return withCode(pe.Code, err)
	}
	return err
}

func runSendmail(ctx context.Context, g *globals, a pickup.Args) error {
	cfg, err := sendmailConfig(g)
	if err != nil {
		return err
	}
	msg, err := pickup.ReadInput(g.stdin, a.IgnoreDots, int64(cfg.Limits.MessageSize))
	if errors.Is(err, pickup.ErrTooLarge) {
		return errorf(exitDataErr, "the message is larger than %s bytes (limits.message_size)", cfg.Limits.MessageSize)
	}
	if err != nil {
		return withCode(exitIOErr, err)
	}
	// The daemon may take a whole command timeout to read and another to
	// deliver (with lock waits).
	ctx, cancel := context.WithTimeout(ctx, 2*cfg.Limits.CommandTimeout+cfg.Limits.LockTimeout)
	defer cancel()

	var rep pickup.Reply
	sock := pickupSocket(cfg)
	if sock == "" {
		err = fmt.Errorf("%w: [pickup] listen names no unix: socket", pickup.ErrUnreachable)
	} else {
		rep, err = pickup.Send(ctx, sock, a.Request, msg)
	}
	if errors.Is(err, pickup.ErrUnreachable) {
		return toMaildrop(g, cfg, a.Request, msg, err)
	}
	if err != nil {
		return withCode(exitTempFail, err)
	}
	if rep.Code != exitOK {
		return withCode(rep.Code, errors.New(rep.Text))
	}
	if a.Verbose {
		fmt.Fprintln(g.stdout, rep.Text)
	}
	return nil
}

// toMaildrop leaves the message for the daemon when it could not be
// reached, if the caller may write into the maildrop.
func toMaildrop(g *globals, cfg *config.Config, req pickup.Request, msg []byte, why error) error {
	req.UID = os.Getuid()
	path, err := pickup.WriteMaildrop(filepath.Join(cfg.QueueDir(), "maildrop"), req, msg)
	if err != nil {
		return errorf(exitTempFail, "%v, and %v: the message was not sent", why, err)
	}
	fmt.Fprintf(g.stderr, "mailctl: sendmail: %v: the message waits in %s until the daemon runs\n", why, path)
	return nil
}

// sendmailConfig loads the configuration; one the caller may not read
// leaves the built-in defaults (the daemon knows the real limits).
func sendmailConfig(g *globals) (*config.Config, error) {
	cfg, err := g.config()
	if errors.Is(err, fs.ErrPermission) {
		g.logger.Debug("configuration not readable: using the defaults", "err", err)
		return config.Default(), nil
	}
	return cfg, err
}

// pickupSocket is the first unix socket in [pickup] listen.
func pickupSocket(cfg *config.Config) string {
	for _, a := range cfg.ListenersFor("pickup").Listen {
		if p, ok := strings.CutPrefix(a, "unix:"); ok {
			return p
		}
	}
	return ""
}
