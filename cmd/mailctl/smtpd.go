package main

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"mailctl/lib/addr"
	"mailctl/lib/deliver"
	"mailctl/lib/greylist"
	"mailctl/lib/listen"
	"mailctl/lib/resolver"
	"mailctl/lib/scan"
	"mailctl/lib/smtpd"
	"mailctl/lib/spool"
	"mailctl/lib/srs"
)

func init() {
	register("smtpd", newSMTPDCmd)
	registerDaemon(&daemonModule{name: "smtpd", sockets: []string{"smtp"}, tls: true, serve: serveSMTPD})
}

func newSMTPDCmd(g *globals) *cobra.Command {
	var df daemonFlags
	c := &cobra.Command{
		Use:   "smtpd [--listen ADDR]... [--listen-tls ADDR]... [--inetd | --inetd-tls]",
		Short: "Receive mail from the world: the inbound MX on port 25",
		Long: helpText(`Receive mail for the local domains over SMTP (RFC 5321, with STARTTLS,
SIZE, PIPELINING, 8BITMIME, SMTPUTF8, CHUNKING and ENHANCEDSTATUSCODES) and
deliver it at once to the users' Maildirs.

Recipients are checked at RCPT: an unknown local address gets 550 5.1.1, a
full mailbox 452 4.2.2 (552 5.2.2 with deliver.over_quota = "reject"), an
address in any other domain 554 5.7.1 relaying denied. postmaster@ every
local domain, and the bare <Postmaster>, are always accepted. There is no
AUTH here: users send through submitd.

Each message gets a Received: header naming the TLS state, is refused as a
loop with more than 100 Received: headers (554 5.4.6), and is written to
every local recipient's Maildir and synced to disk before the 250. Alias
targets in other domains go to the outbound queue with the envelope sender
rewritten by SRS, so SPF still passes at the next hop. A local delivery
that fails after the data (a full disk, say) is queued for retry, and the
reply is still 250.

With [scan] enabled, every message is checked after DATA (see "mailctl
scan"): a virus, a refused attachment or a score at or above
scan.reject_score gets 550 5.7.1 for all recipients; each local user's
copy then goes to INBOX or Junk by the global score plus that user's own
classifier ("mailctl scan train"), with its own X-Spam-Status.

With [scan.greylist] enabled, the first mail from a new (client /24 or
/64, sender, recipient) gets 451 4.7.1 at RCPT; a retry after
scan.greylist.delay passes. Senders whose SPF passes, domains that signed
earlier mail with a valid DKIM signature, and loopback clients are not
delayed.

Message content with a bare CR or bare LF is refused and the connection
closed, so no lax end-of-data (SMTP smuggling) gets through. Limits from
the config: limits.message_size (SIZE), recipients, line_length,
messages_per_connection, command_timeout and session_timeout; a client
that collects 20 errors without sending a message is cut off.

The systemd socket name is "smtp".

`+daemonSocketsHelp, `0   stopped by SIGTERM or SIGINT, or (--inetd) the connection ended
69  the module is disabled, or a socket could not be opened (EX_UNAVAILABLE)
73  the queue or a log file cannot be created (EX_CANTCREAT)
77  the users file is readable by others, or privileges can't be dropped (EX_NOPERM)
78  configuration error, e.g. a missing TLS certificate (EX_CONFIG)`, filesCore+`
/var/lib/mailctl/queue/        the outbound spool (remote alias targets, retries)
/var/lib/mailctl/state/srs-secret   the SRS key (created on first use, 0600)
/var/lib/mailctl/state/greylist/    greylisting state (64 bucket files and dkim.db)
/var/lib/mailctl/scan/bayes/   the classifier's databases`, `Started as root, smtpd binds its sockets and switches to the mail account
before it reads from the network. It never relays for anyone: only
addresses of local domains are accepted. STARTTLS discards anything the
client sent before the handshake. Logs never contain message bodies.`),
		Example: `  mailctl smtpd --listen :25
  mailctl smtpd --inetd          # from inetd or a systemd Accept=yes socket`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDaemon(cmd.Context(), g, "smtpd", &df)
		},
	}
	addDaemonFlags(c, &df, true)
	return c
}

// serveSMTPD serves the MX on every listener until ctx is done.
func serveSMTPD(ctx context.Context, d *daemonEnv, lns []listen.Listener) error {
	q, rw, err := forwarding(d)
	if err != nil {
		return err
	}
	opts, err := smtpOptions(d, smtpd.MX, q, rw)
	if err != nil {
		return err
	}
	opts.SRS = rw // bounces to our SRS addresses go back to the sender
	g, err := smtpGreylist(d)
	if err != nil {
		return err
	}
	var recordDKIM []func(*scan.Options)
	if g != nil {
		opts.Greylist = g
		recordDKIM = append(recordDKIM, func(o *scan.Options) {
			o.OnDKIMPass = func(ctx context.Context, domains []string) {
				if err := g.RecordDKIM(ctx, domains...); err != nil {
					d.g.logger.Warn("greylist: cannot record DKIM domains", "err", err)
				}
			}
		})
	}
	if opts.Scanner, err = smtpScanner(d, false, recordDKIM...); err != nil {
		return err
	}
	return serveSMTPListeners(ctx, d, opts, lns)
}

// smtpGreylist is the MX's greylist when [scan.greylist] is enabled (nil
// otherwise), state under state_dir/greylist, SPF through dns.resolver.
func smtpGreylist(d *daemonEnv) (*greylist.Greylist, error) {
	gc := d.cfg.Scan.Greylist
	if !gc.Enabled {
		return nil, nil
	}
	res, err := resolver.New(resolver.Options{Servers: d.cfg.DNS.Resolver, Timeout: d.cfg.DNS.Timeout})
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	g, err := greylist.New(greylist.Options{
		Dir:         filepath.Join(d.cfg.StateDir(), "greylist"),
		Delay:       gc.Delay,
		RetryWindow: gc.RetryWindow,
		Expiry:      gc.Expiry,
		MaxEntries:  gc.MaxEntries,
		SPFPass: func(ctx context.Context, ip netip.Addr, helo string, sender addr.Address) bool {
			return scan.SPFPasses(ctx, res, ip, helo, sender)
		},
		LockTimeout: d.cfg.Limits.LockTimeout,
		Logger:      d.g.logger,
	})
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	return g, nil
}

// smtpPrimaryDomain is the first local domain (the config's before the
// domains file's), else the hostname: it receives SRS bounces and the
// bare <Postmaster>.
func smtpPrimaryDomain(d *daemonEnv) string {
	if len(d.cfg.Domains) > 0 {
		return d.cfg.Domains[0]
	}
	if ds, err := d.accounts.LocalDomains(); err == nil && len(ds) > 0 {
		return ds[0]
	}
	return d.cfg.Hostname
}

// smtpOptions wires lib/smtpd to the config, the core files, the store
// and the queue. rw rewrites senders of forwarded mail (nil: never).
func smtpOptions(d *daemonEnv, mode smtpd.Mode, q *spool.Spool, rw *srs.SRS) (smtpd.Options, error) {
	cfg, m := d.cfg, d.accounts
	pm := addr.Address{Local: "postmaster", Domain: smtpPrimaryDomain(d)}
	if cfg.Postmaster != "" {
		if a, err := addr.Parse(cfg.Postmaster); err == nil {
			pm = a
		}
	}
	dl := newDeliverer(d.g, cfg, m, spoolRemote(q, rw, mode.String()))
	return smtpd.Options{
		Mode:            mode,
		Hostname:        cfg.Hostname,
		Deliverer:       dl,
		Users:           m.Users,
		Store:           m.Store,
		LocalDomain:     m.IsLocalDomain,
		Aliases:         m.Aliases,
		TagSeparator:    cfg.SubaddressSeparator,
		Postmaster:      pm,
		Queue:           q,
		TLS:             d.tls,
		RejectOverQuota: cfg.Deliver.OverQuota == "reject",
		Limits: smtpd.Limits{
			MessageSize:           int64(cfg.Limits.MessageSize),
			Recipients:            cfg.Limits.Recipients,
			LineLength:            cfg.Limits.LineLength,
			MessagesPerConnection: cfg.Limits.MessagesPerConnection,
			CommandTimeout:        cfg.Limits.CommandTimeout,
			SessionTimeout:        cfg.Limits.SessionTimeout,
		},
		Logger: d.g.logger,
	}, nil
}

// spoolRemote queues mail for remote alias targets, with the sender
// rewritten by rw (SRS) when rw is set.
func spoolRemote(q *spool.Spool, rw *srs.SRS, origin string) deliver.RemoteFunc {
	return func(ctx context.Context, sender addr.Address, rcpts []addr.Address, msg []byte) error {
		from := sender
		if rw != nil {
			f, err := rw.Forward(sender)
			switch {
			case err == nil:
				from = f
			case errors.Is(err, srs.ErrTooLong):
				// Too long to wrap: forwarded as it is.
			default:
				return err
			}
		}
		env := spool.Envelope{From: from, Received: time.Now(), Origin: origin, EightBit: has8Bit(msg)}
		for _, r := range append([]addr.Address{from}, rcpts...) {
			if !isASCIIAddress(r) {
				env.SMTPUTF8 = true
			}
		}
		for _, r := range rcpts {
			env.Recipients = append(env.Recipients, spool.Recipient{Address: r})
		}
		_, err := q.Enqueue(ctx, env, bytes.NewReader(msg))
		return err
	}
}

func has8Bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

func isASCIIAddress(a addr.Address) bool { return !has8Bit([]byte(a.Local + a.Domain)) }

// serveSMTPListeners runs one server on every listener; one failing stops
// the others (systemd restarts us whole).
func serveSMTPListeners(ctx context.Context, d *daemonEnv, opts smtpd.Options, lns []listen.Listener) error {
	srv, err := smtpd.New(opts)
	if err != nil {
		return withCode(exitConfig, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(lns))
	for i, l := range lns {
		d.g.logger.Info(opts.Mode.String()+" listening", "addr", l.Addr().String(), "tls", l.Mode.String(), "webmail", l.Webmail)
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve := srv.Serve
			if l.Webmail { // submitd's listener for webmaild
				serve = srv.ServeWebmail
			}
			if errs[i] = serve(ctx, l); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
