package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"mailctl/lib/listen"
	"mailctl/lib/webmail"
)

func init() {
	register("webmaild", newWebmaildCmd)
	registerDaemon(&daemonModule{name: "webmaild", sockets: []string{"webmail", "webmail-tls"}, tls: true, serve: serveWebmaild})
}

func newWebmaildCmd(g *globals) *cobra.Command {
	var df daemonFlags
	c := &cobra.Command{
		Use:   "webmaild [--listen ADDR]... [--listen-tls ADDR]...",
		Short: "Serve webmail over HTTP(S): read, write and file mail in a browser",
		Long: helpText(`Serve the webmail: a web client for reading, writing and organising mail,
server-rendered HTML that works without JavaScript, on phones and by
keyboard. webmaild is an IMAP client of imapd (webmaild.imap) and a
submission client of submitd (webmaild.submission), on their webmail
listeners: each connection starts with a PROXY header naming the browser's
address, and the user needs the webmail service. So every submission rule
applies, and failed logins count against the browser, not webmaild.

Each web session keeps one IMAP connection and the password in memory only;
a session idle for webmaild.session_idle is logged out and forgotten.
Mozilla autoconfig is served at /.well-known/autoconfig/mail/config-v1.1.xml
and /mail/config-v1.1.xml (IMAP 993/143, submission 465/587 on hostname).

The systemd socket names are "webmail" (plain HTTP) and "webmail-tls" (HTTPS).

`+daemonSocketsHelp, `0   stopped by SIGTERM or SIGINT
69  the module is disabled, or a socket could not be opened (EX_UNAVAILABLE)
77  privileges can't be dropped (EX_NOPERM)
78  configuration error: a missing TLS certificate, or plain HTTP on an
    address that is not loopback without trusted_proxies (EX_CONFIG)`, filesCore+`
/run/mailctl/imap-webmail.sock         imapd's webmail listener (webmaild.imap)
/run/mailctl/submission-webmail.sock   submitd's webmail listener (webmaild.submission)`, `Plain HTTP is served only on loopback, or behind a reverse proxy named in
webmaild.trusted_proxies (whose X-Forwarded-For and X-Forwarded-Proto are
believed, from those addresses only); elsewhere use --listen-tls with the
configured certificate. Session cookies are HttpOnly, SameSite=Strict and
Secure (except plain HTTP on loopback); every POST carries a CSRF token.
Pages carry a strict Content-Security-Policy, Referrer-Policy: no-referrer
and nosniff; a message's HTML is sanitised and shown in a sandboxed frame
whose own response forbids scripts; attachments are always downloads.
Passwords and message contents are never logged or written to disk.`),
		Example: `  mailctl webmaild --listen 127.0.0.1:8080      # behind a reverse proxy
  mailctl webmaild --listen-tls :443`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDaemon(cmd.Context(), g, "webmaild", &df)
		},
	}
	addDaemonFlags(c, &df, true)
	return c
}

// serveWebmaild serves the webmail on every listener until ctx is done.
func serveWebmaild(ctx context.Context, d *daemonEnv, lns []listen.Listener) error {
	cfg := d.cfg
	w := cfg.Webmaild
	proxies, err := webmail.ParsePrefixes(w.TrustedProxies)
	if err != nil {
		return withCode(exitConfig, err)
	}
	for _, l := range lns {
		if l.Mode != listen.Implicit {
			if err := webmail.CheckPlainListener(l.Addr(), proxies); err != nil {
				return withCode(exitConfig, err)
			}
		}
	}
	domain := cfg.Hostname
	if len(cfg.Domains) > 0 {
		domain = cfg.Domains[0]
	}
	srv, err := webmail.New(webmail.Options{
		Hostname: cfg.Hostname, Domain: domain, IMAP: w.IMAP, Submission: w.Submission,
		SessionIdle: w.SessionIdle, MaxSessions: w.MaxSessions, PageSize: w.PageSize,
		MaxMessageSize: int64(cfg.Limits.MessageSize), TrustedProxies: proxies, Logger: d.g.logger,
	})
	if err != nil {
		return withCode(exitConfig, err)
	}
	defer srv.Close()
	// ReadTimeout bounds a request body trickled in by a stranger (uploads
	// are capped at limits.message_size); WriteTimeout a reader that never
	// drains a download.
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 20 * time.Second, ReadTimeout: 10 * time.Minute,
		WriteTimeout: 10 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(lns))
	for i, l := range lns {
		d.g.logger.Info("webmaild listening", "addr", l.Addr().String(), "tls", l.Mode.String())
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				errs[i] = err
				cancel() // one listener failing stops the others
			}
		}()
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	wg.Wait()
	return errors.Join(errs...)
}
