package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"mailctl/lib/listen"
)

// devDir is where `serve --dev` keeps everything.
const devDir = "mailctl-dev"

func newServeCmd(g *globals) *cobra.Command {
	var dev bool
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run every enabled module in one process",
		Long: helpText(`Run every enabled module (modules.NAME = true in the config) in one
process, each on the addresses its section of the config lists. This is
the quick start and suits small installs; larger ones run each daemon
under systemd or inetd.

With --dev, nothing needs root or setup: the config, the core files, the
Maildirs and a generated self-signed certificate live in ./`+devDir+`/,
every module listens on loopback high ports, DNS goes only to a loopback
resolver and no mail leaves the machine. The generated config is kept
and reused; edit it freely.`, `0   stopped by SIGINT or SIGTERM
69  no module could start (EX_UNAVAILABLE)
78  configuration error (EX_CONFIG)`, filesCore+`
./`+devDir+`/                  everything of serve --dev`, `Started as root, serve binds its sockets, then switches to the mail account
("user" in the config) before it reads from the network.`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dev {
				path, err := prepareDev(g)
				if err != nil {
					return err
				}
				g.configPath = path
			}
			return runServe(cmd.Context(), g, dev)
		},
	}
	c.Flags().BoolVar(&dev, "dev", false, "development mode: everything under ./"+devDir+", loopback ports, no root")
	return c
}

func runServe(ctx context.Context, g *globals, dev bool) error {
	cfg, err := g.config()
	if err != nil {
		return err
	}
	if err := checkDaemonFiles(cfg); err != nil {
		return err
	}
	run, started, err := startModules(ctx, g, cfg)
	if err != nil {
		return err
	}
	for _, s := range started {
		fmt.Fprintf(g.stdout, "started %s\n", s)
	}
	if err := dropPrivileges(g, cfg); err != nil {
		return err
	}
	if dev {
		fmt.Fprintf(g.stdout, "\nmailctl is running from ./%s. In another shell, add a first user:\n", devDir)
		fmt.Fprintf(g.stdout, "  export MAILCTL_CONFIG=%s\n", g.configPath)
		fmt.Fprintf(g.stdout, "  echo 'a long password' | ./mailctl useradd you@example.test --password-stdin\n")
		fmt.Fprintf(g.stdout, "then deliver a message to it:\n")
		fmt.Fprintf(g.stdout, "  printf 'Subject: hello\\n\\nfirst mail\\n' | ./mailctl deliver you@example.test\n")
		if cfg.ModuleEnabled("webmaild") && len(cfg.Webmaild.Listen) > 0 {
			fmt.Fprintf(g.stdout, "Webmail: open http://%s/ and log in as that user.\n", cfg.Webmaild.Listen[0])
		}
		fmt.Fprintf(g.stdout, "Press Ctrl-C to stop.\n")
	}
	return run(ctx)
}

// devConfig is written to ./mailctl-dev/mailctl.toml on first use.
const devConfig = `# mailctl development configuration, written by "mailctl serve --dev".
# Everything lives in this folder; every listener is on loopback.
hostname = "localhost"
domains = ["example.test"]
data_dir = "%[1]s/data"
users_file = "%[1]s/users"
aliases_file = "%[1]s/aliases"
domains_file = "%[1]s/domains"
user = ""   # run as whoever starts it

[tls]
cert = "%[1]s/tls/cert.pem"
key = "%[1]s/tls/key.pem"

[dns]
# Only a loopback resolver: the development server never asks the
# system's resolver and never sends mail off this machine.
resolver = ["127.0.0.1:53"]

[auth]
# Every listener here is on loopback: let clients log in without TLS too,
# so any IMAP, POP3 or SMTP client can try the server as it is.
plaintext_loopback = true

[modules]
smtpd = true
submitd = true
imapd = true
pop3d = true
lmtp = true
# The queue stays off: nothing leaves this machine. Mail to other domains
# waits in data/queue ("mailctl queue list" shows it).
queue = false
webmaild = true
pickup = true

[smtpd]
listen = ["127.0.0.1:10025"]

[submitd]
listen = ["127.0.0.1:10587"]
listen_tls = ["127.0.0.1:10465"]
# webmaild submits here (PROXY header first, the webmail service).
webmail_listen = ["unix:%[1]s/submission-webmail.sock"]

[imapd]
listen = ["127.0.0.1:10143"]
listen_tls = ["127.0.0.1:10993"]
# webmaild reads mail here (PROXY header first, the webmail service).
webmail_listen = ["unix:%[1]s/imap-webmail.sock"]

[pop3d]
listen = ["127.0.0.1:10110"]
listen_tls = ["127.0.0.1:10995"]

[lmtp]
listen = ["127.0.0.1:10024"]

[webmaild]
# Not 10080: browsers refuse that port (it is on their "unsafe ports" list).
listen = ["127.0.0.1:10088"]
imap = "unix:%[1]s/imap-webmail.sock"
submission = "unix:%[1]s/submission-webmail.sock"

[pickup]
# "mailctl sendmail" hands mail to this socket (MAILCTL_CONFIG must name
# this config).
listen = ["unix:%[1]s/sendmail.sock"]
domain = "example.test"   # "root" means root@example.test
`

// prepareDev creates ./mailctl-dev with a config, core files and a
// self-signed certificate, unless they exist, and returns the config path.
func prepareDev(g *globals) (string, error) {
	dir, err := filepath.Abs(devDir)
	if err != nil {
		return "", err
	}
	for _, d := range []string{dir, filepath.Join(dir, "data"), filepath.Join(dir, "tls")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return "", withCode(exitCantCreat, err)
		}
	}
	path := filepath.Join(dir, "mailctl.toml")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(path, fmt.Appendf(nil, devConfig, dir), 0o640); err != nil {
			return "", withCode(exitCantCreat, err)
		}
		fmt.Fprintf(g.stdout, "wrote %s\n", path)
	}
	for _, f := range []string{"users", "aliases", "domains"} {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			if err := os.WriteFile(p, nil, 0o640); err != nil {
				return "", withCode(exitCantCreat, err)
			}
		}
	}
	cert, key := filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
	if _, err := os.Stat(cert); errors.Is(err, os.ErrNotExist) {
		if err := listen.GenerateSelfSigned(cert, key, []string{"localhost", "127.0.0.1", "::1"}); err != nil {
			return "", withCode(exitCantCreat, fmt.Errorf("self-signed certificate: %w", err))
		}
		fmt.Fprintf(g.stdout, "generated a self-signed certificate in %s\n", filepath.Dir(cert))
	}
	return path, nil
}
