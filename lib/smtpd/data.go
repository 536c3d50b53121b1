package smtpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"mailctl/lib/addr"
	"mailctl/lib/deliver"
	"mailctl/lib/spool"
)

// Queue is the outbound spool (lib/spool): Enqueue returns once the
// message is durable.
type Queue interface {
	Enqueue(ctx context.Context, env spool.Envelope, msg io.Reader) (string, error)
}

// Data receives a message (DATA or BDAT), checks it, and delivers or
// queues it for every recipient before it answers 250.
func (s *session) Data(r io.Reader) error {
	t := s.snapshot()
	// Our Received: header goes on top; the message is read right after
	// it, into one buffer sized for the announced SIZE.
	id := newID()
	buf := bytes.NewBuffer(make([]byte, 0, min(max(t.mail.Size, 16<<10), 1<<20)+1024))
	buf.Write(s.received(&t, id))
	top := buf.Len()
	if _, err := buf.ReadFrom(r); err != nil {
		return s.readError(&t, err)
	}
	full, msg := buf.Bytes(), buf.Bytes()[top:]
	h := scanHeader(msg)
	if h.received+1 > deliver.MaxReceived { // +1: ours
		s.log.Warn("mail loop refused", "from", t.from.String(), "received", h.received)
		return replyErr(554, smtp.EnhancedCode{5, 4, 6}, fmt.Sprintf("Too many Received: headers (%d): mail loop", h.received))
	}
	if s.srv.opts.Mode == Submission {
		if err := s.checkFrom(h); err != nil {
			return err
		}
		// RFC 6409 §8.2 and §8.3: the MSA may add what the client left out.
		var add bytes.Buffer
		if !h.date {
			fmt.Fprintf(&add, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
		}
		if !h.messageID {
			fmt.Fprintf(&add, "Message-ID: <%s.%s@%s>\r\n", id, newID(), s.srv.opts.Hostname)
		}
		if add.Len() > 0 {
			full = slices.Concat(full[:top], add.Bytes(), msg)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), s.srv.opts.Limits.CommandTimeout)
	defer cancel()
	v, err := s.scan(ctx, &t, id, full)
	if err != nil {
		return err
	}
	if v.Message != nil {
		full = v.Message
	}
	if len(v.Headers) > 0 {
		var hb bytes.Buffer
		for _, f := range v.Headers {
			if !strings.ContainsAny(f, "\r\n") && strings.Contains(f, ":") {
				hb.WriteString(f + "\r\n")
			}
		}
		full = append(hb.Bytes(), full...)
	}
	if err := s.deliver(ctx, &t, id, full, v); err != nil {
		return err
	}
	s.sent++
	rcpts := make([]string, len(t.rcpts))
	for i, r := range t.rcpts {
		rcpts[i] = r.addr.String()
	}
	s.log.Info("accepted", "id", id, "from", t.from.String(), "to", strings.Join(rcpts, ","), "size", len(full), "tls", s.c.TLS() != nil)
	if s.user != nil && s.srv.opts.SendLimits != nil {
		if err := s.srv.opts.SendLimits.Record(ctx, s.user.Address, 1, len(t.rcpts)); err != nil {
			s.log.Error("sending limits: cannot record", "err", err)
		}
	}
	// go-smtp sends a returned *SMTPError as the reply whatever its code:
	// a 250 that names the message's id, for the sender's logs.
	return replyErr(250, smtp.EnhancedCode{2, 0, 0}, "Ok: queued as "+id)
}

// readError is the reply when the content could not be read.
func (s *session) readError(t *txn, err error) error {
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se): // refused content (bare CR/LF), too large
		s.log.Warn("message refused", "from", t.from.String(), "reply", se.Error())
		return se
	case errors.Is(err, smtp.ErrTooLongLine):
		return replyErr(500, smtp.EnhancedCode{5, 5, 2}, "Line too long")
	case errors.Is(err, smtp.ErrDataReset):
		return err // BDAT abandoned by RSET or a closed connection: nobody reads a reply
	}
	s.log.Info("message not received", "err", err)
	return replyErr(451, smtp.EnhancedCode{4, 3, 0}, "Error reading the message")
}

// received renders this hop's Received: header.
func (s *session) received(t *txn, id string) []byte {
	_, esmtp := s.c.Greeted()
	ri := receivedInfo{
		helo:     s.gc.Hostname(),
		remote:   s.remote,
		host:     s.srv.opts.Hostname,
		id:       id,
		esmtp:    esmtp,
		utf8:     t.mail.UTF8,
		authed:   s.user != nil,
		webmail:  s.c.webmail,
		tls:      s.c.TLS(),
		received: time.Now(),
	}
	if len(t.rcpts) == 1 {
		ri.rcpt = t.rcpts[0].addr
	}
	return ri.format()
}

// checkFrom: every address in a submitted message's From: must belong to
// the user (RFC 6409 §8 lets the MSA enforce this).
func (s *session) checkFrom(h header) error {
	if len(h.from) != 1 {
		return replyErr(550, smtp.EnhancedCode{5, 6, 0}, "The message needs exactly one From: header")
	}
	list, err := fromAddresses(h.from[0])
	if err != nil || len(list) == 0 {
		return replyErr(550, smtp.EnhancedCode{5, 6, 0}, "Cannot parse the From: header")
	}
	for _, a := range list {
		ok, err := s.srv.owns(s.user.Address, a)
		if err != nil {
			s.log.Error("From: check", "err", err)
			return errTempLookup
		}
		if !ok {
			s.log.Warn("From: refused: not the user's", "from", a.String())
			return replyErr(550, smtp.EnhancedCode{5, 7, 1}, fmt.Sprintf("From: address <%s> does not belong to you", a))
		}
	}
	return nil
}

// scan asks the Scanner, if any, about the message.
func (s *session) scan(ctx context.Context, t *txn, id string, msg []byte) (Verdict, error) {
	sc := s.srv.opts.Scanner
	if sc == nil {
		return Verdict{}, nil
	}
	env := Envelope{Sender: t.from, RemoteIP: s.remote, Helo: s.gc.Hostname(), TLS: s.c.TLS() != nil, ID: id}
	for _, r := range t.rcpts {
		env.Recipients = append(env.Recipients, r.addr)
	}
	if s.user != nil {
		env.AuthUser = s.user.Address.String()
	}
	v, err := sc.Scan(ctx, env, msg)
	if err != nil {
		s.log.Error("scanner failed", "err", err)
		return v, replyErr(451, smtp.EnhancedCode{4, 7, 1}, "Message could not be checked, try again later")
	}
	reason := v.Reason
	if reason == "" || strings.ContainsAny(reason, "\r\n") {
		reason = "Message refused by policy"
	}
	switch {
	case v.Action == Reject, v.Action == Spam && s.srv.opts.Mode == Submission:
		s.log.Info("message rejected by the scanner", "id", id, "from", t.from.String(), "reason", v.Reason)
		return v, replyErr(550, smtp.EnhancedCode{5, 7, 1}, reason)
	case v.Action == TempFail:
		return v, replyErr(451, smtp.EnhancedCode{4, 7, 1}, reason)
	}
	return v, nil
}

// deliver writes the message to every local recipient's Maildir (in Junk
// for spam, as the verdict decides per user when it can) and
// queues what remains: remote recipients, and local ones whose delivery
// failed. It returns nil only when every recipient is durably delivered or
// queued. Once a recipient is accepted there is no bounce from here: a
// failed local delivery is queued for retry, and the answer is still 250 —
// unless nothing at all was delivered and every failure is permanent, when
// the sender hears it now.
func (s *session) deliver(ctx context.Context, t *txn, id string, msg []byte, v Verdict) error {
	spam := v.Action == Spam
	var local []addr.Address
	var queue []spool.Recipient
	for _, r := range t.rcpts {
		if r.remote {
			queue = append(queue, spool.Recipient{Address: r.addr})
		} else {
			local = append(local, r.addr)
		}
	}
	if spam {
		if len(queue) > 0 {
			s.log.Info("spam not forwarded", "id", id, "dropped", len(queue))
		}
		local, queue = s.srv.localUsers(local), nil
	}
	var perm *deliver.Error
	delivered, temporary := 0, 0
	if len(local) > 0 {
		env := deliver.Envelope{Sender: t.from, Recipients: local}
		if spam {
			env.Folder = "Junk"
		}
		if v.Recipient != nil {
			env.PerUser = func(u addr.Address) (string, []string) {
				rv := v.Recipient(u)
				if rv.Spam {
					return "Junk", rv.Headers
				}
				return "", rv.Headers
			}
		}
		for _, res := range s.srv.opts.Deliverer.Deliver(ctx, env, bytes.NewReader(msg), 0) {
			switch {
			case res.Err == nil:
				delivered++
				continue
			case res.Err.Temporary():
				temporary++
			case perm == nil:
				perm = res.Err
			}
			s.log.Warn("local delivery failed: queued for retry", "id", id, "to", res.Recipient.String(), "err", res.Err)
			queue = append(queue, spool.Recipient{Address: res.Recipient, Local: true, LastError: replyText(res.Err)})
		}
	}
	if delivered == 0 && temporary == 0 && perm != nil && !hasRemote(queue) {
		return deliverReply(perm)
	}
	if len(queue) == 0 {
		return nil
	}
	q := s.srv.opts.Queue
	if q == nil {
		s.log.Error("nothing to queue into: recipients fail temporarily", "id", id)
		return replyErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary local problem, try again later")
	}
	env := spool.Envelope{
		From:       t.from,
		Recipients: queue,
		Received:   time.Now(),
		Origin:     s.srv.opts.Mode.String(),
		SMTPUTF8:   t.mail.UTF8,
		EightBit:   t.mail.Body == smtp.Body8BitMIME,
	}
	if s.user != nil {
		env.AuthUser = s.user.Address.String()
	}
	qid, err := q.Enqueue(ctx, env, bytes.NewReader(msg))
	if err != nil {
		// Some copies may be in Maildirs already; a retry by the sender
		// duplicates them, which beats losing the rest.
		s.log.Error("cannot queue", "id", id, "err", err)
		return replyErr(451, smtp.EnhancedCode{4, 3, 0}, "Temporary local problem, try again later")
	}
	s.log.Info("queued", "id", id, "queue_id", qid, "recipients", len(queue))
	return nil
}

func hasRemote(rs []spool.Recipient) bool {
	for _, r := range rs {
		if !r.Local {
			return true
		}
	}
	return false
}

func replyText(e *deliver.Error) string {
	code, enh, text := e.SMTP()
	return fmt.Sprintf("%d %d.%d.%d %s", code, enh[0], enh[1], enh[2], text)
}

// localUsers narrows recipients to the local users they reach, dropping
// remote alias targets (spam is never forwarded).
func (s *Server) localUsers(rcpts []addr.Address) []addr.Address {
	var out []addr.Address
	seen := map[addr.Address]bool{}
	add := func(a addr.Address) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, r := range rcpts {
		exp, err := s.opts.Deliverer.Expand(r)
		if err != nil {
			add(r) // fails again at delivery and is queued for retry
			continue
		}
		for _, u := range exp.Local {
			add(u)
		}
	}
	return out
}
