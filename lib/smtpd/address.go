package smtpd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-smtp"

	"mailctl/lib/addr"
	"mailctl/lib/aliases"
	"mailctl/lib/deliver"
)

// parseMailbox parses an address as go-smtp hands it over: source routes
// (@a,@b:) already dropped and a quoted local part already unquoted, so
// "bob@remote"@example.org arrives as bob@remote@example.org. It is split
// at the last "@": the local part is everything before it, and the
// address stays in the domain after it.
func parseMailbox(s string) (addr.Address, error) {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return addr.Address{}, fmt.Errorf("smtpd: %q: not local@domain", s)
	}
	local, domain := s[:at], s[at+1:]
	if !isDotAtom(local) {
		local = quoteLocal(local)
	}
	return addr.Parse(local + "@" + domain)
}

func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r >= 0x80 || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			continue
		}
		if !strings.ContainsRune(".!#$%&'*+-/=?^_`{|}~", r) {
			return false
		}
	}
	return true
}

func quoteLocal(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// checkLocal decides at RCPT time about an address in a local domain: it
// must lead to a user (550 5.1.1 otherwise), not all of whose mailboxes
// are full (452 4.2.2) or disabled (550 5.2.1). postmaster@ is always
// taken: when the domain has no postmaster it goes to the configured one.
// It returns the address to deliver to.
func (s *Server) checkLocal(ctx context.Context, a addr.Address, size int64) (addr.Address, *smtp.SMTPError) {
	exp, derr := s.opts.Deliverer.Expand(a)
	if a.Local == "postmaster" {
		if derr != nil && !derr.Temporary() && !s.opts.Postmaster.IsZero() && a != s.opts.Postmaster {
			s.log.Warn("no postmaster for a local domain: using the configured one", "rcpt", a.String(), "postmaster", s.opts.Postmaster.String())
			return s.opts.Postmaster, nil
		}
		if derr == nil || !derr.Temporary() {
			return a, nil
		}
	}
	if derr != nil {
		return a, deliverReply(derr)
	}
	return a, s.mailboxState(ctx, exp, size)
}

// mailboxState refuses a recipient whose every mailbox is disabled or full
// (an alias with a remote target is never refused here).
func (s *Server) mailboxState(ctx context.Context, exp aliases.Expansion, size int64) *smtp.SMTPError {
	if len(exp.Remote) > 0 || len(exp.Local) == 0 {
		return nil
	}
	disabled, full := 0, 0
	for _, ua := range exp.Local {
		u, ok, err := s.opts.Users.Lookup(ua)
		if err != nil {
			s.log.Error("users lookup", "user", ua.String(), "err", err)
			return errTempLookup
		}
		switch {
		case !ok:
			return nil // Expand found it a moment ago; let delivery decide
		case u.Disabled:
			disabled++
		case u.Quota > 0 && s.opts.Store != nil && s.overQuota(ctx, ua, u.Quota, size):
			full++
		default:
			return nil
		}
	}
	if disabled == len(exp.Local) {
		return replyErr(550, smtp.EnhancedCode{5, 2, 1}, "Mailbox disabled")
	}
	if s.opts.RejectOverQuota {
		return replyErr(552, smtp.EnhancedCode{5, 2, 2}, "Mailbox full")
	}
	return replyErr(452, smtp.EnhancedCode{4, 2, 2}, "Mailbox full, try again later")
}

// overQuota reports whether a message of size bytes (0: unknown, at least
// one byte) would not fit in the user's quota.
func (s *Server) overQuota(ctx context.Context, ua addr.Address, quota, size int64) bool {
	box, err := s.opts.Store.User(ua)
	if err != nil {
		return false // no Maildir yet: empty
	}
	defer box.Close()
	used, _, err := box.QuotaUsage(ctx)
	if err != nil {
		s.log.Warn("quota usage", "user", ua.String(), "err", err)
		return false // delivery checks again
	}
	return used+max(size, 1) > quota
}

// deliverReply is the RCPT or DATA reply for a delivery error.
func deliverReply(e *deliver.Error) *smtp.SMTPError {
	code, enh, text := e.SMTP()
	return replyErr(code, smtp.EnhancedCode(enh), text)
}

// checkSender: a submitted message's envelope sender must be the user's
// own address (with or without a +tag) or an alias that reaches the user.
// The null sender is refused: users don't send bounces.
func (s *session) checkSender(sender addr.Address) error {
	ok, err := s.srv.owns(s.user.Address, sender)
	if err != nil {
		s.log.Error("sender check", "err", err)
		return errTempLookup
	}
	if !ok {
		s.log.Warn("sender refused: not the user's", "from", sender.String())
		return replyErr(553, smtp.EnhancedCode{5, 7, 1}, fmt.Sprintf("Sender address <%s> does not belong to you", sender))
	}
	if err := s.checkRate(1, 0); err != nil {
		return err
	}
	return nil
}

// owns reports whether user may send as a: a is the user's address, or
// that address with a subaddress tag, or an alias (not a catch-all) whose
// expansion reaches the user.
func (s *Server) owns(user, a addr.Address) (bool, error) {
	if a.IsZero() {
		return false, nil
	}
	if a == user {
		return true, nil
	}
	base := a
	base.Local, _ = addr.SplitTag(a.Local, s.opts.TagSeparator)
	if base == user {
		return true, nil
	}
	for _, k := range []addr.Address{a, base} {
		_, ok, err := s.opts.Aliases.Lookup(k)
		if err != nil {
			return false, err
		}
		if !ok {
			continue
		}
		exp, derr := s.opts.Deliverer.Expand(k)
		if derr != nil {
			if derr.Temporary() {
				return false, derr
			}
			continue
		}
		if slices.Contains(exp.Local, user) {
			return true, nil
		}
	}
	return false, nil
}

// checkRate applies the per-user hourly limits to msgs more messages and
// rcpts recipients in all.
func (s *session) checkRate(msgs, rcpts int) error {
	l := s.srv.opts.SendLimits
	if l == nil || s.user == nil {
		return nil
	}
	err := l.Check(s.user.Address, msgs, rcpts)
	var le *LimitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &le):
		s.log.Warn("sending limit reached", "limit", le.Error())
		if le.Recipients {
			return replyErr(452, smtp.EnhancedCode{4, 5, 3}, le.Error())
		}
		return replyErr(450, smtp.EnhancedCode{4, 7, 1}, le.Error())
	}
	s.log.Error("sending limits", "err", err)
	return errTempLookup
}
