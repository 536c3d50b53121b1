package pickup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/deliver"
	"mailctl/lib/spool"
)

// Submit checks and completes a message from local user req.UID and
// delivers or queues it. The reply is ExOK only once every recipient is
// delivered or durably queued.
//
// With mustAccept (maildrop files, whose sender is not waiting for an
// answer) a recipient that fails permanently is queued anyway, so that
// the queue runner bounces it to the sender.
func (s *Server) Submit(ctx context.Context, req Request, raw []byte, mustAccept bool) Reply {
	id := s.newID()
	log := s.log.With("id", id, "uid", req.UID)
	login, fullName, err := s.opts.LookupUser(req.UID)
	if err != nil {
		log.Warn("unknown user", "err", err)
		return Reply{ExNoUser, fmt.Sprintf("uid %d has no user name (passwd entry)", req.UID)}
	}
	sub, perr := s.prepare(req, raw, login, fullName, id)
	if perr != nil {
		log.Info("message refused", "user", login, "err", perr.Msg)
		return Reply{perr.Code, perr.Msg}
	}
	log = log.With("user", login, "from", sub.sender.String())
	return s.dispatch(ctx, log, sub, mustAccept)
}

// submission is a checked message ready to go.
type submission struct {
	sender     addr.Address
	recipients []addr.Address
	msg        []byte
	utf8       bool
}

// prepare checks the request and builds the final message.
func (s *Server) prepare(req Request, raw []byte, login, fullName, id string) (*submission, *Error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errorf(ExDataErr, "empty message")
	}
	domain := s.opts.Domain
	own, err := addr.Parse(login + "@" + domain)
	if err != nil {
		return nil, errorf(ExNoUser, "user %q cannot be a mail address: %v", login, err)
	}
	sender := own
	if req.FromSet {
		from := strings.TrimSpace(req.From)
		if from != "" && from != "<>" && !qualified(strings.Trim(from, "<>")) {
			from = strings.Trim(from, "<>") + "@" + domain
		}
		if sender, err = addr.ParsePath(from); err != nil {
			return nil, errorf(ExDataErr, "sender (-f) %q: %v", req.From, err)
		}
	}
	m := parseMessage(raw)
	if n := m.count("Received"); n >= deliver.MaxReceived {
		return nil, errorf(ExDataErr, "too many Received: headers (%d): mail loop", n)
	}

	var specs []string
	for _, r := range req.Recipients {
		mbs := scanAddresses([]byte(r))
		if len(mbs) == 0 {
			return nil, errorf(ExDataErr, "recipient %q is not an address", r)
		}
		for _, mb := range mbs {
			specs = append(specs, mb.spec)
		}
	}
	if req.Extract {
		specs = append(specs, m.recipientSpecs()...)
	}
	rcpts, perr := s.recipients(specs, req.Extract)
	if perr != nil {
		return nil, perr
	}
	m.clean(domain)

	var top bytes.Buffer
	now := s.now()
	fmt.Fprintf(&top, "Received: by %s (mailctl sendmail, from userid %d)\r\n\tid %s; %s\r\n",
		s.opts.Hostname, req.UID, id, now.Format(time.RFC1123Z))
	if req.FromSet && sender != own && !s.trusted(req.UID) {
		shown := sender.String()
		if sender.IsZero() {
			shown = "<>"
		}
		fmt.Fprintf(&top, "X-Authentication-Warning: %s: %s set sender to %s using -f\r\n", s.opts.Hostname, login, shown)
	}
	if m.count("From") == 0 {
		from, name := sender, req.FullName
		if from.IsZero() {
			from = own
		}
		if name == "" && from == own {
			name = fullName
		}
		top.WriteString("From: " + (&mail.Address{Name: name, Address: from.String()}).String() + "\r\n")
	}
	if m.count("Date") == 0 {
		top.WriteString("Date: " + now.Format(time.RFC1123Z) + "\r\n")
	}
	if m.count("Message-ID") == 0 {
		fmt.Fprintf(&top, "Message-ID: <%s.%s@%s>\r\n", id, randomHex(4), s.opts.Hostname)
	}
	sub := &submission{sender: sender, recipients: rcpts, msg: m.bytes(top.Bytes())}
	sub.utf8 = has8bit([]byte(sender.String()))
	for _, f := range m.fields {
		sub.utf8 = sub.utf8 || has8bit(f.raw)
	}
	for _, r := range rcpts {
		sub.utf8 = sub.utf8 || has8bit([]byte(r.String()))
	}
	return sub, nil
}

// recipients qualifies, parses and de-duplicates recipient addr-specs.
func (s *Server) recipients(specs []string, extract bool) ([]addr.Address, *Error) {
	var out []addr.Address
	seen := map[addr.Address]bool{}
	for _, spec := range specs {
		if !qualified(spec) {
			spec += "@" + s.opts.Domain
		}
		a, err := addr.Parse(spec)
		if err != nil {
			return nil, errorf(ExDataErr, "recipient %q: %v", spec, err)
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	switch {
	case len(out) == 0 && extract:
		return nil, errorf(ExDataErr, "no recipients: none given and none in To:, Cc: or Bcc:")
	case len(out) == 0:
		return nil, errorf(ExUsage, "no recipients given")
	case s.opts.MaxRecipients > 0 && len(out) > s.opts.MaxRecipients:
		return nil, errorf(ExDataErr, "%d recipients: more than the limit of %d (limits.recipients)", len(out), s.opts.MaxRecipients)
	}
	return out, nil
}

// dispatch delivers to local recipients and queues the rest, as smtpd
// does: a failed local delivery is queued (Local) for the queue runner to
// retry or bounce, unless nothing was delivered or queued and every
// failure is permanent — then the caller hears it now.
func (s *Server) dispatch(ctx context.Context, log *slog.Logger, sub *submission, mustAccept bool) Reply {
	var local []addr.Address
	var queue []spool.Recipient
	for _, r := range sub.recipients {
		ok, err := s.opts.IsLocal(r.Domain)
		if err != nil {
			log.Error("local domains unreadable", "err", err)
			return Reply{ExTempFail, "local domains cannot be read; try again later"}
		}
		if ok && s.opts.Deliverer != nil {
			local = append(local, r)
		} else {
			queue = append(queue, spool.Recipient{Address: r, Local: ok})
		}
	}
	delivered, temporary := 0, 0
	var perm *deliver.Error
	if len(local) > 0 {
		env := deliver.Envelope{Sender: sub.sender, Recipients: local}
		for _, res := range s.opts.Deliverer.Deliver(ctx, env, bytes.NewReader(sub.msg), 0) {
			switch {
			case res.Err == nil:
				delivered++
				continue
			case res.Err.Temporary():
				temporary++
			case perm == nil:
				perm = res.Err
			}
			log.Warn("local delivery failed: queued", "to", res.Recipient.String(), "err", res.Err)
			queue = append(queue, spool.Recipient{Address: res.Recipient, Local: true, LastError: replyText(res.Err)})
		}
	}
	if !mustAccept && delivered == 0 && temporary == 0 && perm != nil && !hasRemote(queue) {
		log.Info("refused", "err", perm.Msg)
		return Reply{exitFor(perm), perm.Msg}
	}
	text := fmt.Sprintf("delivered to %d local recipient(s)", delivered)
	if len(queue) > 0 {
		env := spool.Envelope{
			From:       sub.sender,
			Recipients: queue,
			Received:   s.now(),
			Origin:     "sendmail",
			SMTPUTF8:   sub.utf8,
			EightBit:   has8bit(sub.msg),
		}
		qid, err := s.opts.Queue.Enqueue(ctx, env, bytes.NewReader(sub.msg))
		if err != nil {
			// Local copies may be in Maildirs already: a retry duplicates
			// them, which beats losing the rest.
			log.Error("cannot queue", "err", err)
			return Reply{ExTempFail, "the message could not be queued; try again later"}
		}
		text += fmt.Sprintf(", queued as %s for %d", qid, len(queue))
		log.Info("queued", "queue_id", qid, "recipients", len(queue), "delivered", delivered, "size", len(sub.msg))
	} else {
		log.Info("delivered", "recipients", delivered, "size", len(sub.msg))
	}
	return Reply{ExOK, text}
}

func hasRemote(rs []spool.Recipient) bool {
	for _, r := range rs {
		if !r.Local {
			return true
		}
	}
	return false
}

// replyText is a delivery error as the spool keeps it: an SMTP reply.
func replyText(e *deliver.Error) string {
	code, enh, text := e.SMTP()
	return fmt.Sprintf("%d %d.%d.%d %s", code, enh[0], enh[1], enh[2], text)
}

// exitFor maps a permanent delivery failure to a sysexits code.
func exitFor(e *deliver.Error) int {
	switch e.Kind {
	case deliver.KindUnknownUser:
		return ExNoUser
	case deliver.KindLoop, deliver.KindBadMessage:
		return ExDataErr
	case deliver.KindDisabled:
		return ExUnavailable
	case deliver.KindOverQuota, deliver.KindCantCreate:
		return ExCantCreat
	}
	return ExSoftware
}

// newID names a submission in Received:, Message-ID: and the log: 8 hex
// digits of time and 8 of randomness.
func (s *Server) newID() string {
	return fmt.Sprintf("%08x%s", uint32(s.now().Unix()), randomHex(4))
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
