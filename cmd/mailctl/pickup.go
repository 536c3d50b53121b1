package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/spf13/cobra"

	"mailctl/lib/listen"
	"mailctl/lib/pickup"
	"mailctl/lib/spool"
)

func init() {
	register("pickup", newPickupCmd)
	registerDaemon(&daemonModule{name: "pickup", sockets: []string{"pickup"}, socketMode: 0o666, serve: servePickup})
}

func newPickupCmd(g *globals) *cobra.Command {
	var df daemonFlags
	c := &cobra.Command{
		Use:   "pickup",
		Short: "Take messages from local users and programs for sendmail (local submission daemon)",
		Long: helpText(`Serve the socket "mailctl sendmail" hands messages to ([pickup] listen,
by default unix:/run/mailctl/sendmail.sock, created mode 0666 so every
local user may submit). The calling user is known from the socket's peer
credentials. Each message is checked (size, recipients, loops), gets
Received: and, when missing, Date:, Message-ID: and From:, has Bcc:
removed and unqualified addresses completed with [pickup] domain (by
default the hostname); then local recipients are delivered at once and
remote ones queued for the queue runner (origin "sendmail"). A local
delivery that fails is queued too, so the queue runner retries or bounces
it - unless nothing at all could be delivered, when sendmail is told.

The daemon also picks up the maildrop directory (data_dir/queue/maildrop),
where sendmail leaves messages while the daemon is down: at start and
every 30 seconds.

`+daemonSocketsHelp+` The systemd socket is named "pickup"
(FileDescriptorName=pickup).`, `0   stopped by SIGINT or SIGTERM
69  the module is disabled, or no socket could be opened (EX_UNAVAILABLE)
73  the socket's mode could not be set (EX_CANTCREAT)
77  privileges could not be dropped (EX_NOPERM)
78  configuration error (EX_CONFIG)`, filesCore+`
/run/mailctl/sendmail.sock       the socket ([pickup] listen)
/var/lib/mailctl/queue/          the outbound spool; maildrop/ inside it`, `Started as root, pickup binds its socket, sets its mode, then switches to
the mail account before it reads a request. Who submits is taken from
SO_PEERCRED, never from the request; only root and the mail account may
set any envelope sender without an X-Authentication-Warning: header. A
maildrop file's claimed user is believed only when the file belongs to
root or the mail account (the directory is 0700, theirs); otherwise its
owner is the sender. Requests are bounded in size (limits.message_size,
limits.recipients), time (limits.command_timeout) and number (16 at once).`),
		Example: `  mailctl pickup
  mailctl pickup --listen unix:/run/mailctl/sendmail.sock
  systemctl enable --now mailctl-pickup.socket`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), g, "pickup", &df)
		},
	}
	addDaemonFlags(c, &df, false)
	return c
}

// servePickup serves the pickup sockets and the maildrop until ctx is done.
func servePickup(ctx context.Context, d *daemonEnv, lns []listen.Listener) error {
	cfg, log := d.cfg, d.g.logger
	q, err := spool.Open(cfg.QueueDir(), spool.Options{Logger: log})
	if err != nil {
		return withCode(exitCantCreat, err)
	}
	m := d.accounts
	// Remote alias targets ("root" forwarded to an outside mailbox) go to
	// the queue.
	dl := newDeliverer(d.g, cfg, m, spoolRemote(q, nil, "sendmail"))
	srv, err := pickup.New(pickup.Options{
		Hostname:      cfg.Hostname,
		Domain:        cfg.QualifyDomain(),
		MaxSize:       int64(cfg.Limits.MessageSize),
		MaxRecipients: cfg.Limits.Recipients,
		Timeout:       cfg.Limits.CommandTimeout,
		IsLocal:       m.IsLocalDomain,
		Deliverer:     dl,
		Queue:         q,
		Maildrop:      filepath.Join(cfg.QueueDir(), "maildrop"),
		Logger:        log,
	})
	if err != nil {
		return err
	}
	if ok, err := m.IsLocalDomain(cfg.QualifyDomain()); err == nil && !ok {
		log.Warn("mail to unqualified addresses (root, cron's MAILTO) goes to a domain that is not local: set [pickup] domain to a local domain",
			"domain", cfg.QualifyDomain())
	}

	// One part failing stops the rest: systemd restarts the whole daemon.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(lns)+1)
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	for _, l := range lns {
		log.Info("pickup listening", "addr", l.Addr().String())
		run(func() error { return srv.Serve(ctx, l) })
	}
	run(func() error { return srv.RunMaildrop(ctx) })
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, fmt.Errorf("pickup: %w", err))
	}
	return errors.Join(all...)
}
