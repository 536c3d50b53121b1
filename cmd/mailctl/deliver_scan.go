package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"

	"github.com/emersion/go-smtp"

	"mailctl/lib/accounts"
	"mailctl/lib/addr"
	"mailctl/lib/config"
	"mailctl/lib/deliver"
	"mailctl/lib/scan"
	"mailctl/lib/smtpd"
)

// deliverScan is deliver's --scan and the client it may name.
type deliverScan struct {
	on       bool
	ip, helo string
}

// deliveryScan runs [scan] for mail handed over by another MTA: deliver
// --scan and the LMTP server.
type deliveryScan struct {
	s   *scan.Scanner
	log *slog.Logger
}

func newDeliveryScan(cfg *config.Config, m *accounts.Manager, log *slog.Logger) (*deliveryScan, error) {
	s, err := newScanner(cfg, m, log, false)
	if err != nil {
		return nil, err
	}
	return &deliveryScan{s: s, log: log}, nil
}

// judge scans msg. For a message to deliver (accept or spam) it returns
// the message with the common header fields on top, and sets env.PerUser
// to file each local user's copy in Junk or INBOX by that user's verdict,
// and env.LocalOnly for spam (never forwarded). rep.Action tells the
// caller whether to refuse (reject) or defer (tempfail) instead.
func (d *deliveryScan) judge(ctx context.Context, senv smtpd.Envelope, env *deliver.Envelope, msg []byte) ([]byte, *scan.Report, error) {
	senv.Sender, senv.Recipients = env.Sender, env.Recipients
	rep, err := d.s.Check(ctx, senv, msg)
	if err != nil {
		return nil, nil, err
	}
	d.log.Info("scan verdict", "action", rep.Action, "score", rep.Score, "reason", rep.Reason,
		"virus", rep.Virus, "from", env.Sender.String(), "tests", len(rep.Results))
	if rep.Action != "accept" && rep.Action != "spam" {
		return nil, rep, nil
	}
	if rep.Message != nil {
		msg = rep.Message // forged Authentication-Results removed
	}
	var top []byte
	for _, h := range rep.CommonHeaders() {
		top = append(top, h+"\r\n"...)
	}
	env.LocalOnly = rep.Action == "spam"
	env.PerUser = func(u addr.Address) (string, []string) {
		uv := d.s.ForUser(rep, u)
		d.log.Info("scan recipient verdict", "rcpt", u.String(), "junk", uv.Spam, "score", uv.Score, "bayes", uv.Database)
		if uv.Spam {
			return "Junk", uv.Headers
		}
		return "", uv.Headers
	}
	return slices.Concat(top, msg), rep, nil
}

// scanForDeliver is deliver --scan's scan. A refused message ends the run
// with EX_DATAERR (65: a permanent failure, so the MTA in front bounces
// instead of retrying), an engine down under the tempfail policy with
// EX_TEMPFAIL (75).
func scanForDeliver(ctx context.Context, g *globals, cfg *config.Config, m *accounts.Manager, ds deliverScan, env *deliver.Envelope, msg []byte) ([]byte, error) {
	d, err := newDeliveryScan(cfg, m, g.logger)
	if err != nil {
		return nil, err
	}
	senv := smtpd.Envelope{Helo: ds.helo, ID: "deliver"}
	if ds.ip != "" {
		if senv.RemoteIP, err = netip.ParseAddr(ds.ip); err != nil {
			return nil, &usageError{fmt.Errorf("--ip: %w", err)}
		}
	}
	out, rep, err := d.judge(ctx, senv, env, msg)
	switch {
	case err != nil:
		return nil, withCode(exitTempFail, fmt.Errorf("scan: %w", err))
	case rep.Action == "reject":
		return nil, withCode(exitDataErr, fmt.Errorf("message refused: %s", rep.Reason))
	case rep.Action == "tempfail":
		return nil, withCode(exitTempFail, fmt.Errorf("message not scanned: %s unreachable, try again later", rep.EngineDown))
	}
	return out, nil
}

// lmtpFilter is the LMTP server's scan: 550 5.7.1 for a refused message,
// 451 4.7.1 when it cannot be scanned now.
func (d *deliveryScan) lmtpFilter(ctx context.Context, env *deliver.Envelope, msg []byte) ([]byte, *smtp.SMTPError) {
	out, rep, err := d.judge(ctx, smtpd.Envelope{ID: "lmtp"}, env, msg)
	switch {
	case err != nil:
		d.log.Error("scan failed", "err", err)
		return nil, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Message could not be checked, try again later"}
	case rep.Action == "reject":
		return nil, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: rep.Reason}
	case rep.Action == "tempfail":
		return nil, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: rep.Reason}
	}
	return out, nil
}
