package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mailctl/lib/addr"
	"mailctl/lib/config"
	"mailctl/lib/dkim"
	"mailctl/lib/listen"
	"mailctl/lib/queue"
	"mailctl/lib/resolver"
	"mailctl/lib/smtpout"
	"mailctl/lib/spool"
)

func init() {
	register("queue", newQueueCmd)
	registerDaemon(&daemonModule{name: "queue", serve: serveQueue})
}

const queueFiles = filesCore + `
/var/lib/mailctl/queue/        the outbound spool: incoming/ active/ deferred/ hold/ corrupt/, msg/
/var/lib/mailctl/state/        queue-runner.lock, relay-sends (relay rate counter), queue-warned/
/var/lib/mailctl/dkim/         DKIM keys outbound mail is signed with`

const queueSecurity = `Started as root, queue run switches to the mail account before it reads
the queue. On port 25 STARTTLS is used whenever offered, without checking
certificates (no MTA can count on them), and a failed handshake is retried
in plain text. The relay is only ever used over TLS verified against the
system roots or relay.ca_file, so its password never crosses the network
in the clear; the password is never logged or shown by "config check".
Every DNS lookup goes to the config's dns.resolver. Logs never contain
message bodies.`

func newQueueCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "queue",
		Short: "Deliver, list and manage the outbound queue",
		Long: helpText(`The outbound queue holds what smtpd, submitd and sendmail accepted for
remote recipients (and local ones whose delivery failed for a while).
"queue run" delivers it: by MX, through the relay, or by MX with the relay
as an immediate fallback (relay.mode). Temporary failures are retried
with growing pauses (queue.retry_initial, up to queue.retry_max) until
queue.max_age; permanent ones come back to the sender as a delivery status
notification (RFC 3464). The other subcommands show and manage what
waits.`, exitAdmin, queueFiles, queueSecurity),
	}
	c.AddCommand(newQueueRunCmd(g), newQueueListCmd(g), newQueueShowCmd(g), newQueueFlushCmd(g), newQueueDeleteCmd(g))
	return c
}

func newQueueRunCmd(g *globals) *cobra.Command {
	var once bool
	c := &cobra.Command{
		Use:   "run [--once]",
		Short: "Deliver the queue: a daemon, or once for a timer",
		Long: helpText(`Deliver what is in the queue, as it arrives and as retries fall due,
until stopped (SIGTERM): the "queue" module of "mailctl serve".

With --once, deliver everything that is due now — including the relay
fallback and the bounces this produces — and exit: for a systemd timer or
cron. Deferred messages are not an error.

Only one runner works at a time. At its start it puts back what a runner
that was killed left half-done; a message survives any crash, at worst
delivered twice, never lost. With --once, finding another runner at work
is not an error either: that runner delivers what is due.`, `0   done (--once), or stopped by SIGINT or SIGTERM; deferrals are not errors
69  the queue module is disabled (EX_UNAVAILABLE)
73  the queue cannot be opened (EX_CANTCREAT)
75  another queue runner is running (the daemon only) (EX_TEMPFAIL)
77  the users file is readable by others, or privileges can't be dropped (EX_NOPERM)
78  configuration error, e.g. an unreadable relay.password_file (EX_CONFIG)`, queueFiles, queueSecurity),
		Example: `  mailctl queue run
  mailctl queue run --once        # from a systemd timer or cron`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runQueue(cmd.Context(), g, once)
		},
	}
	c.Flags().BoolVar(&once, "once", false, "deliver what is due now, then exit")
	return c
}

// runQueue is "queue run": the daemon's set-up without sockets.
func runQueue(ctx context.Context, g *globals, once bool) error {
	cfg, err := g.config()
	if err != nil {
		return err
	}
	if err := requireModule(cfg, "queue"); err != nil {
		return err
	}
	if err := checkDaemonFiles(cfg); err != nil {
		return err
	}
	if err := dropPrivileges(g, cfg); err != nil {
		return err
	}
	m, err := g.accounts()
	if err != nil {
		return err
	}
	d := &daemonEnv{g: g, cfg: cfg, accounts: m}
	if !once {
		return serveQueue(ctx, d, nil)
	}
	r, err := newQueueRunner(d)
	if err != nil {
		return err
	}
	st, err := r.RunOnce(ctx)
	switch {
	case errors.Is(err, queue.ErrBusy):
		g.logger.Info("another queue runner is at work: it delivers what is due")
		return nil
	case err != nil && ctx.Err() == nil:
		return withCode(exitTempFail, err)
	}
	g.logger.Info("queue run done", "attempted", st.Attempted, "done", st.Done, "deferred", st.Deferred)
	return nil
}

// serveQueue is the queue daemon: it has no sockets.
func serveQueue(ctx context.Context, d *daemonEnv, _ []listen.Listener) error {
	r, err := newQueueRunner(d)
	if err != nil {
		return err
	}
	if err := r.Run(ctx); err != nil {
		if errors.Is(err, queue.ErrBusy) {
			return withCode(exitTempFail, err)
		}
		return err
	}
	return nil
}

// newQueueRunner wires the runner to the config: spool, resolver, SMTP
// client and relay, local delivery, signing.
func newQueueRunner(d *daemonEnv) (*queue.Runner, error) {
	cfg, log := d.cfg, d.g.logger
	sp, err := spool.Open(cfg.QueueDir(), spool.Options{UID: -1, GID: -1, Logger: log})
	if err != nil {
		return nil, withCode(exitCantCreat, err)
	}
	res, err := resolver.New(resolver.Options{Servers: cfg.DNS.Resolver, Timeout: cfg.DNS.Timeout})
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	relay, err := relayOptions(cfg)
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	client, err := smtpout.New(smtpout.Options{
		Hostname:       cfg.Hostname,
		Resolver:       res,
		Port:           cfg.Queue.Port,
		CommandTimeout: cfg.Limits.CommandTimeout,
		Self:           smtpout.LocalEndpoints(cfg.SMTPD.Listen, smtpout.InterfaceAddrs()),
		Relay:          relay,
		Logger:         log,
	})
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	rw, err := srsRewriter(d)
	if err != nil {
		return nil, err
	}
	// Local recipients retried from the queue may be aliases of remote
	// addresses: those are queued again, the sender rewritten by SRS.
	m := d.accounts
	dl := newDeliverer(d.g, cfg, m, spoolRemote(sp, rw, "queue"))
	signer, err := queueSigner(cfg)
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	r, err := queue.New(queue.Options{
		Spool:         sp,
		SMTP:          client,
		Local:         dl,
		IsLocalDomain: d.accounts.IsLocalDomain,
		Hostname:      cfg.Hostname,
		Postmaster:    queuePostmaster(d),
		Mode:          queue.Mode(cfg.Relay.Mode),
		RetryInitial:  cfg.Queue.RetryInitial,
		RetryMax:      cfg.Queue.RetryMax,
		MaxAge:        cfg.Queue.MaxAge,
		DelayWarning:  cfg.Queue.DelayWarning,
		Concurrency:   cfg.Queue.Concurrency,
		RelayPerHour:  cfg.Relay.MessagesPerHour,
		RelayPerDay:   cfg.Relay.MessagesPerDay,
		RelayMaxSize:  int64(cfg.Relay.MaxSize),
		StateDir:      cfg.StateDir(),
		Signer:        signer,
		Logger:        log,
	})
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	return r, nil
}

// queueSigner signs outbound mail with the DKIM keys of its From:
// domain (data_dir/dkim, where "mailctl dkim keygen" puts them; keys
// added later are picked up without a restart). A domain without a key
// goes out unsigned.
func queueSigner(cfg *config.Config) (queue.Signer, error) {
	ks, err := dkim.Open(dkimDir(cfg))
	if err != nil {
		return nil, fmt.Errorf("DKIM keys: %w", err)
	}
	return ks, nil
}

// queuePostmaster receives reports about failed null-sender messages.
func queuePostmaster(d *daemonEnv) addr.Address {
	if a, err := addr.Parse(d.cfg.Postmaster); err == nil {
		return a
	}
	return addr.Address{Local: "postmaster", Domain: smtpPrimaryDomain(d)}
}

// relayOptions builds the smarthost settings; nil when no host is set.
func relayOptions(cfg *config.Config) (*smtpout.Relay, error) {
	rc := cfg.Relay
	if rc.Host == "" {
		return nil, nil
	}
	r := &smtpout.Relay{
		Host: rc.Host, Port: rc.EffectivePort(), ImplicitTLS: rc.TLS == config.RelayTLSImplicit,
		TLS: &tls.Config{MinVersion: tls.VersionTLS12}, Username: rc.Username, Password: rc.Password,
	}
	if rc.CAFile != "" {
		pem, err := os.ReadFile(rc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("relay.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("relay.ca_file %s: no PEM certificate in it", rc.CAFile)
		}
		r.TLS.RootCAs = pool
	}
	if rc.PasswordFile != "" {
		b, err := os.ReadFile(rc.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("relay.password_file: %w", err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		if r.Password = strings.TrimRight(first, "\r"); r.Password == "" {
			return nil, fmt.Errorf("relay.password_file %s: empty first line", rc.PasswordFile)
		}
	}
	return r, nil
}

// openQueueSpool opens the spool for the admin subcommands; run as root,
// anything it creates goes to the mail account.
func openQueueSpool(g *globals) (*spool.Spool, error) {
	cfg, err := g.config()
	if err != nil {
		return nil, err
	}
	uid, gid := -1, -1
	if os.Geteuid() == 0 && cfg.User != "" {
		if uid, gid, err = listen.LookupAccount(cfg.User); err != nil {
			return nil, withCode(exitConfig, fmt.Errorf("mail account %q: %w", cfg.User, err))
		}
	}
	sp, err := spool.Open(cfg.QueueDir(), spool.Options{UID: uid, GID: gid, Logger: g.logger})
	if err != nil {
		return nil, withCode(exitCantCreat, err)
	}
	return sp, nil
}

// queueEntry is one message as list and show print it in JSON.
type queueEntry struct {
	ID          string      `json:"id"`
	State       string      `json:"state"`
	Sender      string      `json:"sender"`
	Recipients  []queueRcpt `json:"recipients"`
	LastReply   string      `json:"last_reply"`
	Attempts    int         `json:"attempts"`
	Received    time.Time   `json:"received"`
	NextAttempt *time.Time  `json:"next_attempt,omitempty"`
	Size        int64       `json:"size"`
	Origin      string      `json:"origin"`
	Header      string      `json:"header,omitempty"`
}

type queueRcpt struct {
	Address   string `json:"address"`
	Status    string `json:"status"` // pending, sent, failed
	Local     bool   `json:"local"`
	LastReply string `json:"last_reply,omitempty"`
}

func toQueueEntry(e spool.Entry) queueEntry {
	q := queueEntry{
		ID: e.ID, State: string(e.State), Sender: e.From.String(), LastReply: e.LastError,
		Attempts: e.Attempts, Received: e.Received, Size: e.Size, Origin: e.Origin,
		Recipients: []queueRcpt{},
	}
	if !e.NextAttempt.IsZero() {
		t := e.NextAttempt
		q.NextAttempt = &t
	}
	for _, r := range e.Recipients {
		st := r.Status
		if st == spool.StatusPending {
			st = "pending"
		}
		q.Recipients = append(q.Recipients, queueRcpt{Address: r.Address.String(), Status: st, Local: r.Local, LastReply: r.LastError})
	}
	return q
}

func newQueueListCmd(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the messages in the queue and why they wait",
		Long: helpText(`List every message in the queue, oldest first within each state
(incoming, active, deferred, hold, corrupt): its ID, size, age, sender, and
each recipient still waiting with the last reply about it. With --json,
an array of objects with id, state, sender, recipients (address, status,
local, last_reply), last_reply, attempts, received, next_attempt, size and
origin.`, exitAdmin, queueFiles, "Reads the queue; needs the rights of the mail account (or root)."),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sp, err := openQueueSpool(g)
			if err != nil {
				return err
			}
			es, err := sp.List(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]queueEntry, 0, len(es))
				for _, e := range es {
					out = append(out, toQueueEntry(e))
				}
				return writeJSON(g.stdout, out)
			}
			printQueue(g.stdout, es, time.Now())
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// printQueue prints the human listing.
func printQueue(w io.Writer, es []spool.Entry, now time.Time) {
	if len(es) == 0 {
		fmt.Fprintln(w, "The queue is empty.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSIZE\tAGE\tSENDER")
	for _, e := range es {
		sender := e.From.String()
		if sender == "" {
			sender = "<>"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, e.State, config.Size(max(e.Size, 0)), age(now.Sub(e.Received)), sender)
		for _, r := range e.Recipients {
			if r.Status != spool.StatusPending && e.State != spool.Corrupt {
				continue
			}
			line := "    -> " + r.Address.String()
			if r.LastError != "" {
				line += "  (" + r.LastError + ")"
			}
			fmt.Fprintln(tw, line)
		}
		if e.State == spool.Corrupt && e.LastError != "" {
			fmt.Fprintln(tw, "    ! "+e.LastError)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%d message(s)\n", len(es))
}

// age prints a duration briefly: 45s, 12m, 3h, 2d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(int(d.Seconds()), 0))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func newQueueShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show one queued message: envelope, state, replies and header",
		Long: helpText(`Show everything the queue knows about one message: state, sender,
each recipient with its status and last reply, attempts, next attempt,
and the message's header (never its body).`, exitAdmin, queueFiles, "Reads the queue; needs the rights of the mail account (or root)."),
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sp, err := openQueueSpool(g)
			if err != nil {
				return err
			}
			e, err := sp.Get(args[0])
			if err != nil {
				return queueError(err)
			}
			q := toQueueEntry(e)
			q.Header = readQueuedHeader(sp, e.ID)
			if asJSON {
				return writeJSON(g.stdout, q)
			}
			printQueueEntry(g.stdout, q)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func printQueueEntry(w io.Writer, q queueEntry) {
	sender := q.Sender
	if sender == "" {
		sender = "<>"
	}
	fmt.Fprintf(w, "id:           %s\nstate:        %s\nsender:       %s\norigin:       %s\nreceived:     %s\nsize:         %d\nattempts:     %d\n",
		q.ID, q.State, sender, q.Origin, q.Received.Local().Format(time.RFC3339), q.Size, q.Attempts)
	if q.NextAttempt != nil {
		fmt.Fprintf(w, "next attempt: %s\n", q.NextAttempt.Local().Format(time.RFC3339))
	}
	if q.LastReply != "" {
		fmt.Fprintf(w, "last reply:   %s\n", q.LastReply)
	}
	fmt.Fprintln(w, "recipients:")
	for _, r := range q.Recipients {
		kind := ""
		if r.Local {
			kind = " (local)"
		}
		fmt.Fprintf(w, "  %-8s %s%s\n", r.Status, r.Address, kind)
		if r.LastReply != "" {
			fmt.Fprintf(w, "           %s\n", r.LastReply)
		}
	}
	if q.Header != "" {
		fmt.Fprintf(w, "header:\n%s", q.Header)
	}
}

// readQueuedHeader returns the header of a queued message ("" if gone),
// with LF line ends, at most 64 KiB.
func readQueuedHeader(sp *spool.Spool, id string) string {
	rc, err := sp.OpenMessage(id)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 64<<10))
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	if i := strings.Index(s, "\n\n"); i >= 0 {
		s = s[:i+1]
	}
	return strings.ToValidUTF8(s, "?")
}

func newQueueFlushCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "flush",
		Short: "Make every deferred message due now",
		Long: helpText(`Move every deferred message back to incoming/, so the running queue
daemon tries it within a second (or the next "queue run --once" does).`, exitAdmin, queueFiles, "Changes the queue; run as the mail account or root."),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sp, err := openQueueSpool(g)
			if err != nil {
				return err
			}
			n, err := queue.Flush(cmd.Context(), sp)
			if err != nil {
				return queueError(err)
			}
			fmt.Fprintf(g.stdout, "%d deferred message(s) made due\n", n)
			return nil
		},
	}
}

func newQueueDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Remove a message from the queue without delivering it",
		Long: helpText(`Remove a message from the queue for good, without a bounce. A message
being delivered right now can't be removed: try again in a moment.`, `0   removed
66  no such message in the queue (EX_NOINPUT)
75  the message is being delivered right now (EX_TEMPFAIL)
78  configuration error (EX_CONFIG)`, queueFiles, "Changes the queue; run as the mail account or root."),
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sp, err := openQueueSpool(g)
			if err != nil {
				return err
			}
			if err := queue.Delete(cmd.Context(), sp, args[0]); err != nil {
				return queueError(err)
			}
			fmt.Fprintf(g.stdout, "%s removed\n", args[0])
			return nil
		},
	}
}

// queueError maps queue errors to exit codes.
func queueError(err error) error {
	switch {
	case errors.Is(err, spool.ErrNotFound):
		return withCode(exitNoInput, err)
	case errors.Is(err, queue.ErrActive):
		return withCode(exitTempFail, err)
	}
	return err
}
