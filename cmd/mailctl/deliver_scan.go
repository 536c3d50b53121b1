package main

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"mailctl/lib/accounts"
	"mailctl/lib/addr"
	"mailctl/lib/config"
	"mailctl/lib/deliver"
	"mailctl/lib/smtpd"
)

// deliverScan is deliver's --scan and the client it may name.
type deliverScan struct {
	on       bool
	ip, helo string
}

// scanForDeliver runs the [scan] checks on msg before deliver writes it.
// A refused message ends the run with EX_DATAERR (65: a permanent failure,
// so the MTA in front bounces instead of retrying), an engine down under
// the tempfail policy with EX_TEMPFAIL (75). Otherwise it returns the
// message with the common header fields on top, sets env.PerUser to file
// each local user's copy in Junk or INBOX by that user's verdict, and
// reports whether the message is spam as a whole (not to be forwarded).
func scanForDeliver(ctx context.Context, g *globals, cfg *config.Config, m *accounts.Manager, ds deliverScan, env *deliver.Envelope, msg []byte) ([]byte, bool, error) {
	s, err := newScanner(cfg, m, g.logger, false)
	if err != nil {
		return nil, false, err
	}
	senv := smtpd.Envelope{Sender: env.Sender, Recipients: env.Recipients, Helo: ds.helo, ID: "deliver"}
	if ds.ip != "" {
		if senv.RemoteIP, err = netip.ParseAddr(ds.ip); err != nil {
			return nil, false, &usageError{fmt.Errorf("--ip: %w", err)}
		}
	}
	rep, err := s.Check(ctx, senv, msg)
	if err != nil {
		return nil, false, withCode(exitTempFail, fmt.Errorf("scan: %w", err))
	}
	g.logger.Info("scan verdict", "action", rep.Action, "score", rep.Score, "reason", rep.Reason,
		"virus", rep.Virus, "from", env.Sender.String())
	switch rep.Action {
	case "reject":
		return nil, false, withCode(exitDataErr, fmt.Errorf("message refused: %s", rep.Reason))
	case "tempfail":
		return nil, false, withCode(exitTempFail, fmt.Errorf("message not scanned: %s unreachable, try again later", rep.EngineDown))
	}
	if rep.Message != nil {
		msg = rep.Message // forged Authentication-Results removed
	}
	var top []byte
	for _, h := range rep.CommonHeaders() {
		top = append(top, h+"\r\n"...)
	}
	env.PerUser = func(u addr.Address) (string, []string) {
		uv := s.ForUser(rep, u)
		g.logger.Info("scan recipient verdict", "rcpt", u.String(), "junk", uv.Spam, "score", uv.Score, "bayes", uv.Database)
		if uv.Spam {
			return "Junk", uv.Headers
		}
		return "", uv.Headers
	}
	return slices.Concat(top, msg), rep.Action == "spam", nil
}
