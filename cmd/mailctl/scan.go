package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"mailctl/lib/accounts"
	"mailctl/lib/addr"
	"mailctl/lib/config"
	"mailctl/lib/resolver"
	"mailctl/lib/scan"
	"mailctl/lib/smtpd"
)

func init() { register("scan", newScanCmd) }

// Exit codes of mailctl scan (besides 0, 1, 75 and the usual ones).
const (
	exitScanSpam  = 10
	exitScanVirus = 20
)

func newScanCmd(g *globals) *cobra.Command {
	var (
		ip, helo, from string
		rcpts          []string
		asJSON         bool
	)
	c := &cobra.Command{
		Use:   "scan [--ip ADDR] [--helo NAME] [--from SENDER] [--rcpt RCPT]... [--json] < message",
		Short: "Run the spam and virus checks on a message and explain the verdict",
		Long: helpText(`Read a message on standard input and run the checks smtpd runs after
DATA ([scan] in the configuration), as if it came from ADDR, greeted with
NAME and was sent by SENDER. Print the verdict (accept, spam, reject,
tempfail), the header fields smtpd would add, and every check's result
with its contribution to the score.

The checks: SPF on the client address, HELO and MAIL FROM; DKIM on every
signature; DMARC on the From: domain with alignment (a p=reject failure is
refused when scan.dmarc_reject is set); the DNS lists of scan.dnsbl on the
client address (an answer in 127.255.255.0/24 is the list refusing us, an
error, never a listing); the rules missing_from, missing_date,
missing_message_id, forged_local (a local From: or MAIL FROM without
authentication), html_only, many_urls (more than 10), caps_subject and
gtube; dangerous attachments (scan.attachments: programs, scripts and disk
images by name, double extensions too, and by content, inside zip archives
with limits on nesting and unpacked size) are refused outright; clamd when
scan.clamd is set, and SpamAssassin's spamd (its score
joins ours) when scan.spamd is set; the Bayes classifier's verdict on
the global data (see "mailctl scan train"). Weights come from [scan.weights]
over the built-in ones. Without --ip, SPF has no client to check and the
DNS lists are skipped. Authentication-Results fields claiming our
hostname are counted as forged: smtpd removes them.

For each --rcpt, print where that user's copy would go, INBOX or Junk:
the global score with the classifier's share taken from the user's own
data once they have trained enough (refusal is always global).`, `0   the message is clean
1   any other error
10  spam: at or above scan.spam_score, or refused by score, DMARC policy or
    attachment policy
20  a virus was found
75  an engine whose down policy is tempfail (clamd by default) could not be
    reached (EX_TEMPFAIL)
78  configuration error (EX_CONFIG)`, filesCore, `Makes DNS queries through dns.resolver and sends the message to clamd when
configured; it writes nothing. Reads the configuration and the domains
file (to know the local domains).`),
		Example: `  mailctl scan --ip 192.0.2.1 --helo mx.example.net --from a@example.net < message.eml
  mailctl scan --json < message.eml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			m, err := g.accounts()
			if err != nil {
				return err
			}
			s, err := newScanner(cfg, m, g.logger, false)
			if err != nil {
				return err
			}
			env := smtpd.Envelope{Helo: helo}
			if ip != "" {
				if env.RemoteIP, err = netip.ParseAddr(ip); err != nil {
					return &usageError{fmt.Errorf("--ip: %w", err)}
				}
			}
			if env.Sender, err = addr.ParsePath(from); err != nil {
				return withCode(exitDataErr, fmt.Errorf("--from: %w", err))
			}
			for _, r := range rcpts {
				a, err := parseAddress(r)
				if err != nil {
					return err
				}
				env.Recipients = append(env.Recipients, a)
			}
			msg, err := io.ReadAll(io.LimitReader(g.stdin, int64(cfg.Limits.MessageSize)+1))
			if err != nil {
				return err
			}
			if int64(len(msg)) > int64(cfg.Limits.MessageSize) {
				return withCode(exitDataErr, fmt.Errorf("message larger than limits.message_size (%d)", cfg.Limits.MessageSize))
			}
			rep, err := s.Check(cmd.Context(), env, msg)
			if err != nil {
				return err
			}
			var per []recipientJSON
			if rep.Action == "accept" || rep.Action == "spam" {
				for _, r := range env.Recipients {
					uv := s.ForUser(rep, r)
					per = append(per, recipientJSON{Rcpt: r.String(), Score: uv.Score, Junk: uv.Spam, Bayes: uv.Database})
				}
			}
			if asJSON {
				err = writeJSON(g.stdout, scanJSON{Report: rep, SpamScore: cfg.Scan.SpamScore, RejectScore: cfg.Scan.RejectScore, Recipients: per})
			} else {
				err = printReport(g.stdout, rep, cfg, per)
			}
			if err != nil {
				return err
			}
			return scanExit(rep)
		},
	}
	c.Flags().StringVar(&ip, "ip", "", "the client's IP `ADDR`")
	c.Flags().StringVar(&helo, "helo", "", "the client's HELO `NAME`")
	c.Flags().StringVar(&from, "from", "", "the envelope `SENDER` (MAIL FROM); empty is the null sender")
	c.Flags().StringArrayVar(&rcpts, "rcpt", nil, "an envelope recipient `RCPT` (repeatable)")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: action, reason, score, virus, headers and every check's result")
	c.AddCommand(newScanTrainCmd(g))
	return c
}

type scanJSON struct {
	*scan.Report
	SpamScore   float64         `json:"spam_score"`
	RejectScore float64         `json:"reject_score"`
	Recipients  []recipientJSON `json:"recipients,omitempty"`
}

// recipientJSON is one --rcpt's copy: the global score with that user's
// own classifier data (once trained enough) deciding Junk or INBOX.
type recipientJSON struct {
	Rcpt  string  `json:"rcpt"`
	Score float64 `json:"score"`
	Junk  bool    `json:"junk"`
	Bayes string  `json:"bayes"` // "user" or "global" data
}

// scanExit maps the verdict to the exit status.
func scanExit(rep *scan.Report) error {
	switch {
	case rep.Virus != "":
		return withCode(exitScanVirus, fmt.Errorf("virus: %s", rep.Virus))
	case rep.Action == "tempfail":
		return withCode(exitTempFail, fmt.Errorf("%s unreachable", rep.EngineDown))
	case rep.Action == "spam", rep.Action == "reject":
		return withCode(exitScanSpam, fmt.Errorf("spam (score %.1f)", rep.Score))
	}
	return nil
}

func printReport(w io.Writer, rep *scan.Report, cfg *config.Config, per []recipientJSON) error {
	fmt.Fprintf(w, "verdict: %s (score %.1f; spam at %.1f, reject at %.1f)\n", rep.Action, rep.Score, cfg.Scan.SpamScore, cfg.Scan.RejectScore)
	if rep.Reason != "" {
		fmt.Fprintf(w, "reason:  %s\n", rep.Reason)
	}
	for _, r := range per {
		folder := "INBOX"
		if r.Junk {
			folder = "Junk"
		}
		fmt.Fprintf(w, "rcpt %s: %s (score %.1f, classifier on %s data)\n", r.Rcpt, folder, r.Score, r.Bayes)
	}
	if rep.Stripped > 0 {
		fmt.Fprintf(w, "forged Authentication-Results removed: %d\n", rep.Stripped)
	}
	fmt.Fprintln(w, "\nchecks:")
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "  %s\t%s\t%+.1f\t%s\n", r.Check, r.Result, r.Score, oneLine(r.Detail))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nheaders added:")
	for _, h := range rep.Headers {
		fmt.Fprintf(w, "  %s\n", h)
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// newScanner builds lib/scan from [scan], with DNS through dns.resolver;
// more adjusts the options last.
func newScanner(cfg *config.Config, m *accounts.Manager, log *slog.Logger, virusOnly bool, more ...func(*scan.Options)) (*scan.Scanner, error) {
	res, err := resolver.New(resolver.Options{Servers: cfg.DNS.Resolver, Timeout: cfg.DNS.Timeout})
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	opts := scan.Options{
		Hostname:    cfg.Hostname,
		LocalDomain: m.IsLocalDomain,
		DNS:         res,
		Deadline:    cfg.Scan.Deadline,
		SpamScore:   cfg.Scan.SpamScore,
		RejectScore: cfg.Scan.RejectScore,
		DMARCReject: cfg.Scan.DMARCReject,
		Weights:     cfg.Scan.Weights,
		Logger:      log,
		VirusOnly:   virusOnly,
	}
	if !virusOnly {
		opts.Bayes = scan.NewBayes(scan.BayesOptions{Dir: bayesDir(cfg), LockTimeout: cfg.Limits.LockTimeout})
	}
	for _, z := range cfg.Scan.Zones() {
		opts.Zones = append(opts.Zones, scan.Zone{Zone: z.Zone, Weight: z.Weight})
	}
	if cfg.Scan.Clamd != "" {
		opts.Engines = append(opts.Engines, scan.EngineConfig{
			Engine: &scan.Clamd{Address: cfg.Scan.Clamd},
			OnDown: scan.EnginePolicy(cfg.Scan.ClamdDown),
		})
	}
	if cfg.Scan.Attachments {
		opts.Attachments = &scan.AttachmentPolicy{Extensions: cfg.Scan.BlockedExtensions}
	}
	if cfg.Scan.Spamd != "" && !virusOnly {
		opts.Engines = append(opts.Engines, scan.EngineConfig{
			Engine: &scan.Spamd{Address: cfg.Scan.Spamd},
			OnDown: scan.EnginePolicy(cfg.Scan.SpamdDown),
		})
	}
	for _, f := range more {
		f(&opts)
	}
	s, err := scan.New(opts)
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	return s, nil
}

// smtpScanner is smtpd's Scanner when [scan] is enabled (nil otherwise);
// virusOnly (submitd) runs the engines alone, and is nil without one.
func smtpScanner(d *daemonEnv, virusOnly bool, more ...func(*scan.Options)) (smtpd.Scanner, error) {
	if !d.cfg.Scan.Enabled || virusOnly && d.cfg.Scan.Clamd == "" {
		return nil, nil
	}
	s, err := newScanner(d.cfg, d.accounts, d.g.logger, virusOnly, more...)
	if err != nil {
		return nil, err
	}
	return s, nil
}
