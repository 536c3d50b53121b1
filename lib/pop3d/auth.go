package pop3d

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"mailctl/lib/addr"
	"mailctl/lib/auth"
	"mailctl/lib/userdb"
)

var saslMechanisms = strings.Join(auth.Mechanisms, " ")

// authAllowed reports whether a password may be sent now: over TLS, or
// from this host when the configuration allows clear text there.
func (ss *session) authAllowed() bool {
	return ss.secure || ss.local && ss.opts.InsecureAuthLoopback
}

const replyNeedTLS = "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections; use STLS first"

func (ss *session) cmdSTLS(ctx context.Context, cmd Command) bool {
	if !ss.argCount(cmd, 0, 0) {
		return true
	}
	if ss.opts.TLS == nil {
		ss.reply("-ERR STLS not available")
		return true
	}
	if ss.secure {
		ss.reply("-ERR already using TLS")
		return true
	}
	ss.reply("+OK begin TLS negotiation")
	if err := ss.c.flush(); err != nil {
		ss.closing = true
		return false
	}
	discarded, err := ss.c.startTLS(ctx, ss.opts.TLS, ss.deadline())
	if discarded > 0 {
		// Sent in clear text after STLS: possibly injected by a man in
		// the middle (CVE-2011-0411). Never executed.
		ss.log.Warn("pop3: discarded input sent before the TLS handshake", "bytes", discarded)
	}
	if err != nil {
		ss.log.Info("pop3: STLS failed", "err", err)
		ss.closing = true
		return false
	}
	ss.secure = true
	ss.user = ""
	ss.log.Debug("pop3: TLS started")
	return false
}

func (ss *session) cmdUser(cmd Command) bool {
	if !ss.argCount(cmd, 1, 1) {
		return true
	}
	if !ss.authAllowed() {
		ss.reply(replyNeedTLS)
		return false
	}
	ss.user = cmd.Args[0]
	ss.reply("+OK send PASS")
	return false
}

func (ss *session) cmdPass(ctx context.Context, cmd Command) bool {
	user := ss.user
	ss.user = ""
	if user == "" {
		ss.reply("-ERR USER first")
		return true
	}
	if !ss.argCount(cmd, 1, 1) {
		return true
	}
	if !ss.authAllowed() {
		ss.reply(replyNeedTLS)
		return false
	}
	actx, cancel := context.WithTimeout(ctx, ss.opts.StoreTimeout)
	defer cancel()
	u, err := ss.opts.Auth.Check(actx, ss.remote, user, cmd.Args[0], userdb.POP3)
	if err != nil {
		ss.authFailed(user, err)
		return false
	}
	ss.loggedIn(ctx, u.Address, "USER")
	return false
}

func (ss *session) cmdAuth(ctx context.Context, cmd Command) bool {
	if len(cmd.Args) == 0 {
		// Not in RFC 5034, but widely sent to learn the mechanisms.
		ss.reply("+OK SASL mechanisms follow")
		for _, m := range auth.Mechanisms {
			ss.reply(m)
		}
		ss.reply(".")
		return false
	}
	if !ss.argCount(cmd, 1, 2) {
		return true
	}
	if !ss.authAllowed() {
		ss.reply(replyNeedTLS)
		return false
	}
	mech := strings.ToUpper(cmd.Args[0])
	var (
		user    userdb.User
		gotUser bool
	)
	actx, cancel := context.WithTimeout(ctx, ss.opts.StoreTimeout)
	defer cancel()
	srv, err := ss.opts.Auth.SASLServer(actx, mech, ss.remote, userdb.POP3, func(u userdb.User) { user, gotUser = u, true })
	if err != nil {
		ss.reply("-ERR unsupported authentication mechanism")
		return true
	}
	var resp []byte // nil: no initial response
	if len(cmd.Args) == 2 {
		if resp, err = decodeSASL(cmd.Args[1]); err != nil {
			ss.reply("-ERR invalid base64 in initial response")
			return true
		}
	}
	for {
		challenge, done, err := srv.Next(resp)
		if err != nil {
			ss.authFailed("", err)
			return false
		}
		if done {
			break
		}
		ss.reply("+ " + base64.StdEncoding.EncodeToString(challenge))
		if err := ss.c.flush(); err != nil {
			ss.closing = true
			return false
		}
		line, err := ss.c.readLine(ss.deadline())
		if err != nil {
			// A line too long is a failed exchange; anything else ends
			// the session, as a failed read does elsewhere.
			if errors.Is(err, errLineTooLong) {
				ss.reply("-ERR line too long")
				return true
			}
			ss.closing = true
			return false
		}
		if line == "*" {
			ss.reply("-ERR authentication cancelled")
			return false
		}
		if resp, err = base64.StdEncoding.DecodeString(line); err != nil {
			ss.reply("-ERR invalid base64")
			return true
		}
	}
	if !gotUser {
		ss.authFailed("", auth.ErrInvalid)
		return false
	}
	ss.loggedIn(ctx, user.Address, "AUTH "+mech)
	return false
}

// decodeSASL decodes an initial response; "=" is an empty one (RFC 5034
// §4).
func decodeSASL(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

// authFailed answers a refused login. Only a wrong password counts
// towards MaxAuthFailures; the reasons told after a right password
// (disabled, no POP3) are lib/auth's to give.
func (ss *session) authFailed(user string, err error) {
	attrs := []any{"user", user, "err", err}
	switch {
	case errors.Is(err, auth.ErrServiceDenied):
		ss.log.Info("pop3: login refused: no pop3 service", attrs...)
		ss.reply("-ERR [SYS/PERM] POP3 access is not enabled for this account; ask your administrator")
	case errors.Is(err, auth.ErrDisabled):
		ss.log.Info("pop3: login refused: account disabled", attrs...)
		ss.reply("-ERR [SYS/PERM] this account is disabled; ask your administrator")
	case errors.Is(err, auth.ErrLockedOut):
		ss.log.Info("pop3: login refused: address locked out", attrs...)
		ss.reply("-ERR [SYS/TEMP] too many failed logins from your address; try again later")
		ss.closing = true
	case auth.IsTemporary(err):
		ss.log.Warn("pop3: login failed: temporary error", attrs...)
		ss.reply("-ERR [SYS/TEMP] authentication temporarily unavailable; try again later")
	default:
		ss.log.Info("pop3: login failed", attrs...)
		ss.reply("-ERR [AUTH] authentication failed")
		ss.failures++
		if ss.failures >= ss.opts.MaxAuthFailures {
			ss.reply("-ERR too many failed logins, closing connection")
			ss.closing = true
		}
	}
}

// loggedIn opens the maildrop of an authenticated user and enters the
// TRANSACTION state.
func (ss *session) loggedIn(ctx context.Context, a addr.Address, how string) {
	octx, cancel := context.WithTimeout(ctx, ss.opts.StoreTimeout)
	defer cancel()
	box, err := openMaildrop(octx, ss.opts.Store, a, ss.opts.LockWait)
	switch {
	case errors.Is(err, errInUse):
		ss.log.Info("pop3: login refused: maildrop in use", "user", a.String())
		ss.reply("-ERR [IN-USE] maildrop already in use by another POP3 session")
		return
	case err != nil:
		ss.log.Error("pop3: open maildrop", "user", a.String(), "err", err)
		ss.reply("-ERR [SYS/TEMP] cannot open the maildrop; try again later")
		return
	}
	ss.box, ss.state, ss.login = box, stateTransaction, a.String()
	ss.log.Info("pop3: login", "user", ss.login, "method", how, "tls", ss.secure, "messages", box.live)
	ss.reply("+OK maildrop has " + itoa(box.live) + " messages (" + itoa64(box.liveSize) + " octets)")
}
