package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/emersion/go-smtp"
	"github.com/spf13/cobra"

	"mailctl/lib/accounts"
	"mailctl/lib/addr"
	"mailctl/lib/config"
	"mailctl/lib/deliver"
	"mailctl/lib/listen"
)

func newDeliverCmd(g *globals) *cobra.Command {
	var (
		sender string
		lmtp   bool
		df     daemonFlags
		ds     deliverScan
	)
	c := &cobra.Command{
		Use:   "deliver [-f SENDER] [--scan [--ip ADDR] [--helo NAME]] RECIPIENT... < MESSAGE",
		Short: "Deliver a message from stdin to local mailboxes (the MDA), or serve LMTP",
		Long: helpText(`Read one message from stdin and deliver it to each RECIPIENT: aliases are
resolved (recursively, with loop detection), user+tag@domain reaches
"user", and each copy is written to the user's Maildir and synced to disk
before the command exits 0. Return-Path and Delivered-To headers are added.
A message whose Delivered-To already names the recipient, or that has more
than 100 Received: headers, is refused as a mail loop.

One exit status covers all recipients, so a partial failure would deliver
twice on retry: callers should pass one recipient per run (as Postfix's
mailbox_command does) or use LMTP, which answers per recipient.

Alias targets on remote domains are put in the outbound queue, the sender
rewritten by SRS so SPF still passes at the next hop; "mailctl queue run"
delivers them.

With --scan, run the spam and virus checks of [scan] first (as smtpd does
after DATA, also when scan.enabled is off; see "mailctl scan"). --ip and
--helo name the client the message came from, when the MTA in front knows
it; without --ip, SPF on the client and the DNS lists are skipped. A virus,
a refused attachment, a score at or above scan.reject_score, or (with
scan.dmarc_reject) a DMARC p=reject failure exits 65, a permanent failure,
so the MTA bounces the message rather than retrying it; an engine that is
down under the tempfail policy (clamd by default) exits 75. Otherwise each
local user's copy goes to INBOX or Junk by the global score plus that
user's own classifier, with its own X-Spam-Status and X-Spam-Score; spam
is never forwarded to remote alias targets.

With --lmtp, serve LMTP (RFC 2033) instead, with a reply per recipient, so
an existing MTA can hand mail over. When scan.enabled is on, LMTP runs the
same checks on every message: a refused one gets 550 5.7.1 and an engine
down 451 4.7.1 for every recipient, and spam goes to each user's Junk as
above. LMTP has no authentication: listen on a
unix socket or on loopback only.

`+daemonSocketsHelp, `0   delivered to every recipient
65  the message is unreadable, too large, or looping, or (--scan) refused:
    a virus, a refused attachment, spam at reject_score (EX_DATAERR)
67  unknown recipient (EX_NOUSER)
69  the mailbox is disabled (EX_UNAVAILABLE)
73  the mailbox cannot be created, or is over quota with over_quota = "reject" (EX_CANTCREAT)
75  temporary failure, retry later: disk full, read-only or locked mailbox,
    over quota with over_quota = "tempfail", the queue not writable, or
    (--scan) a scan engine down under the tempfail policy (EX_TEMPFAIL)
78  configuration error (EX_CONFIG)`, filesCore, `Started as root, deliver switches to the mail account ("user" in the
config) before reading the message, so every file it creates belongs to
that account. Alias targets are addresses only: no programs or files.
Recipient addresses are validated before they name a path.`),
		Example: `  printf 'Subject: test\n\nhello\n' | mailctl deliver bob@example.org
  mailctl deliver -f alice@example.net bob@example.org < message.eml
  mailctl deliver --scan --ip 192.0.2.1 -f alice@example.net bob@example.org < message.eml
  mailctl deliver --lmtp --listen unix:/run/mailctl/lmtp.sock`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if lmtp {
				if len(args) > 0 || sender != "" || ds.on {
					return &usageError{errors.New("--lmtp takes no recipients, no -f and no --scan")}
				}
				return runDaemon(cmd.Context(), g, "lmtp", &df)
			}
			if len(args) == 0 {
				return &usageError{errors.New("no recipients")}
			}
			if !ds.on && (ds.ip != "" || ds.helo != "") {
				return &usageError{errors.New("--ip and --helo need --scan")}
			}
			return runDeliver(cmd.Context(), g, sender, args, ds)
		},
	}
	c.Flags().BoolVar(&ds.on, "scan", false, "run the spam and virus checks first; file spam per user in Junk")
	c.Flags().StringVar(&ds.ip, "ip", "", "with --scan: the client's IP `ADDR`")
	c.Flags().StringVar(&ds.helo, "helo", "", "with --scan: the client's HELO `NAME`")
	c.Flags().StringVarP(&sender, "from", "f", "", "envelope `SENDER` (Return-Path); empty or <> for bounces")
	c.Flags().BoolVar(&lmtp, "lmtp", false, "serve LMTP instead of delivering one message")
	addDaemonFlags(c, &df, false)
	return c
}

// newDeliverer wires the MDA to the core files and the store. remote
// queues alias targets on other domains; nil makes them fail temporarily.
func newDeliverer(g *globals, cfg *config.Config, m *accounts.Manager, remote deliver.RemoteFunc) *deliver.Deliverer {
	return deliver.New(deliver.Options{
		Store:           m.Store,
		Users:           m.Users,
		Aliases:         m.Aliases,
		LocalDomain:     m.IsLocalDomain,
		TagSeparator:    cfg.SubaddressSeparator,
		RejectOverQuota: cfg.Deliver.OverQuota == "reject",
		Remote:          remote,
		Logger:          g.logger,
	})
}

func runDeliver(ctx context.Context, g *globals, sender string, rcpts []string, ds deliverScan) error {
	cfg, err := g.config()
	if err != nil {
		return err
	}
	if err := dropPrivileges(g, cfg); err != nil {
		return err
	}
	env := deliver.Envelope{}
	if env.Sender, err = addr.ParsePath(sender); err != nil {
		return withCode(exitDataErr, fmt.Errorf("-f: %w", err))
	}
	for _, r := range rcpts {
		a, err := addr.Parse(r)
		if err != nil {
			return withCode(exitNoUser, fmt.Errorf("recipient %q: %w", r, err))
		}
		env.Recipients = append(env.Recipients, a)
	}
	m, err := g.accounts()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Limits.LockTimeout+cfg.Limits.CommandTimeout)
	defer cancel()
	// Remote alias targets go to the outbound queue, the sender rewritten
	// by SRS, as smtpd does.
	remote := lazyRemote(&daemonEnv{g: g, cfg: cfg, accounts: m}, "deliver")
	var in io.Reader = g.stdin
	maxSize := int64(cfg.Limits.MessageSize)
	if ds.on {
		msg, err := io.ReadAll(io.LimitReader(g.stdin, int64(cfg.Limits.MessageSize)+1))
		if err != nil {
			return withCode(exitIOErr, fmt.Errorf("reading the message: %w", err))
		}
		if int64(len(msg)) > int64(cfg.Limits.MessageSize) {
			return withCode(exitDataErr, fmt.Errorf("message larger than limits.message_size (%d)", cfg.Limits.MessageSize))
		}
		if msg, err = scanForDeliver(ctx, g, cfg, m, ds, &env, msg); err != nil {
			return err
		}
		// Checked above: the scan's header fields may not push it over.
		in, maxSize = bytes.NewReader(msg), 0
	}
	results := newDeliverer(g, cfg, m, remote).Deliver(ctx, env, in, maxSize)
	return deliverExit(results)
}

// deliverExit folds per-recipient results into one exit status: any
// temporary failure wins (the caller will retry), then the first permanent
// one.
func deliverExit(results []deliver.Result) error {
	var first *deliver.Error
	var firstRcpt addr.Address
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		if r.Err.Temporary() {
			return withCode(exitTempFail, fmt.Errorf("%s: %s", r.Recipient, r.Err.Msg))
		}
		if first == nil {
			first, firstRcpt = r.Err, r.Recipient
		}
	}
	if first == nil {
		return nil
	}
	code := exitSoftware
	switch first.Kind {
	case deliver.KindUnknownUser:
		code = exitNoUser
	case deliver.KindLoop, deliver.KindBadMessage:
		code = exitDataErr
	case deliver.KindDisabled:
		code = exitUnavailable
	case deliver.KindOverQuota, deliver.KindCantCreate:
		code = exitCantCreat
	}
	return withCode(code, fmt.Errorf("%s: %s", firstRcpt, first.Msg))
}

func init() {
	registerDaemon(&daemonModule{name: "lmtp", sockets: []string{"lmtp"}, serve: serveLMTP})
}

// serveLMTP serves LMTP on every listener until ctx is done.
func serveLMTP(ctx context.Context, d *daemonEnv, lns []listen.Listener) error {
	dl := newDeliverer(d.g, d.cfg, d.accounts, lazyRemote(d, "lmtp"))
	var filter func(context.Context, *deliver.Envelope, []byte) ([]byte, *smtp.SMTPError)
	if d.cfg.Scan.Enabled {
		ds, err := newDeliveryScan(d.cfg, d.accounts, d.g.logger)
		if err != nil {
			return err
		}
		filter = ds.lmtpFilter
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(lns))
	for _, l := range lns {
		s := deliver.NewLMTPServer(dl, deliver.LMTPOptions{
			Hostname:        d.cfg.Hostname,
			MaxMessageBytes: int64(d.cfg.Limits.MessageSize),
			MaxRecipients:   d.cfg.Limits.Recipients,
			MaxLineLength:   d.cfg.Limits.LineLength,
			Timeout:         d.cfg.Limits.CommandTimeout,
			Filter:          filter,
			Logger:          d.g.logger,
		})
		d.g.logger.Info("lmtp listening", "addr", l.Addr().String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- deliver.ServeLMTP(ctx, s, l)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
