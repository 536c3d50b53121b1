package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/deliver"
	"mailctl/lib/smtpout"
	"mailctl/lib/spool"
)

// result is what became of a message in one attempt.
type result int

const (
	resultNone     result = iota // not attempted (claimed by another, corrupt)
	resultDone                   // finished and removed
	resultDeferred               // put back in deferred/
)

// Paths a recipient took, for the log.
const (
	pathDirect    = "direct"
	pathSmarthost = "smarthost"
	pathLocal     = "local"
)

// outcome is what happened to one recipient in this attempt.
type outcome struct {
	status smtpout.Status
	reply  *smtpout.Reply
	remote string    // the server that answered, for the DSN's Remote-MTA
	path   string    // pathDirect, pathSmarthost, pathLocal
	paced  time.Time // deferred only by the relay's limits, until then
	// fallback: direct delivery failed in a way the smarthost may fix,
	// and is about to be tried (logged there, not as a failure).
	fallback bool
}

// attempt is one delivery attempt of one message.
type attempt struct {
	r       *Runner
	env     spool.Envelope
	data    []byte
	start   time.Time
	log     *slog.Logger
	results map[int]*outcome // by index into env.Recipients
}

// process claims one message, tries every pending recipient, and puts the
// message where it belongs.
func (r *Runner) process(ctx context.Context, id string, from spool.State) result {
	env, err := r.sp.Claim(ctx, id, from)
	switch {
	case errors.Is(err, spool.ErrNotFound):
		return resultNone // taken by someone else, or deleted
	case err != nil:
		r.log.Error("cannot claim message", "id", id, "err", err)
		return resultNone
	}
	log := r.log.With("id", id)
	data, err := r.readContent(id)
	if err != nil {
		return r.unreadable(ctx, id, log, err)
	}
	a := &attempt{r: r, env: env, data: data, start: r.now(), log: log, results: map[int]*outcome{}}
	a.deliverLocal(ctx)
	a.deliverRemote(ctx)
	return a.finish(ctx)
}

func (r *Runner) readContent(id string) ([]byte, error) {
	rc, err := r.sp.OpenMessage(id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// unreadable puts aside a message whose content can't be read: corrupt
// when it is gone, deferred when reading failed (a disk error may pass).
func (r *Runner) unreadable(ctx context.Context, id string, log *slog.Logger, err error) result {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if errors.Is(err, spool.ErrNotFound) {
		log.Error("message content missing: moved to corrupt", "err", err)
		if err := r.sp.Move(sctx, id, spool.Active, spool.Corrupt, nil); err != nil {
			log.Error("cannot move to corrupt", "err", err)
		}
		return resultNone
	}
	log.Error("cannot read message content: deferred", "err", err)
	if err := r.sp.Move(sctx, id, spool.Active, spool.Deferred, func(e *spool.Envelope) {
		e.NextAttempt = r.now().Add(r.opts.RetryInitial)
		e.LastError = "cannot read the queued message: " + err.Error()
	}); err != nil {
		log.Error("cannot defer", "err", err)
	}
	return resultDeferred
}

// pending returns the indices of pending recipients, local or remote.
func (a *attempt) pending(local bool) []int {
	var out []int
	for i, rc := range a.env.Recipients {
		if rc.Status == spool.StatusPending && rc.Local == local {
			out = append(out, i)
		}
	}
	return out
}

// deliverLocal retries local recipients through the MDA.
func (a *attempt) deliverLocal(ctx context.Context) {
	idx := a.pending(true)
	if len(idx) == 0 {
		return
	}
	if a.r.opts.Local == nil {
		for _, i := range idx {
			a.set(i, &outcome{status: smtpout.Deferred, path: pathLocal, reply: &smtpout.Reply{Code: 451, Enhanced: [3]int{4, 3, 0}, Text: "local delivery is not available to the queue", Local: true}})
		}
		return
	}
	env := deliver.Envelope{Sender: a.env.From}
	for _, i := range idx {
		env.Recipients = append(env.Recipients, a.env.Recipients[i].Address)
	}
	for n, res := range a.r.opts.Local.Deliver(ctx, env, bytes.NewReader(a.data), 0) {
		o := &outcome{status: smtpout.Sent, path: pathLocal, reply: &smtpout.Reply{Code: 250, Enhanced: [3]int{2, 0, 0}, Text: "delivered to the mailbox", Local: true}}
		if res.Err != nil {
			code, enh, text := res.Err.SMTP()
			o.reply = &smtpout.Reply{Code: code, Enhanced: enh, Text: text, Local: true}
			o.status = smtpout.Failed
			if res.Err.Temporary() || code < 500 {
				o.status = smtpout.Deferred
			}
		}
		a.set(idx[n], o)
	}
}

// deliverRemote sends to remote recipients by the configured mode.
func (a *attempt) deliverRemote(ctx context.Context) {
	idx := a.pending(false)
	if len(idx) == 0 {
		return
	}
	m := &smtpout.Message{From: a.env.From, Data: a.data, SMTPUTF8: a.env.SMTPUTF8, Sign: a.signer()}
	if a.r.opts.Mode == ModeSmarthost {
		a.relay(ctx, m, idx)
		return
	}
	var fallback []int
	groups := byDomain(a.env.Recipients, idx)
	for n, group := range groups {
		rcpts := make([]addr.Address, len(group.idx))
		for k, i := range group.idx {
			rcpts[k] = a.env.Recipients[i].Address
		}
		res := a.r.opts.SMTP.Direct(ctx, group.domain, m, rcpts)
		fallback = append(fallback, a.apply(group.idx, res, pathDirect)...)
		if n < len(groups)-1 || len(fallback) > 0 {
			a.checkpoint(ctx, res)
		}
	}
	if len(fallback) > 0 {
		a.relay(ctx, m, fallback)
	}
}

// apply records SMTP results for the recipients idx (same order as sent)
// and returns those whose failure calls for the smarthost.
func (a *attempt) apply(idx []int, res []smtpout.RcptResult, path string) []int {
	byAddr := map[addr.Address][]int{}
	for _, i := range idx {
		rc := a.env.Recipients[i].Address
		byAddr[rc] = append(byAddr[rc], i)
	}
	var fallback []int
	for _, rr := range res {
		is := byAddr[rr.Rcpt]
		if len(is) == 0 {
			continue
		}
		i := is[0]
		byAddr[rr.Rcpt] = is[1:]
		fb := rr.Fallback && rr.Status != smtpout.Sent && path == pathDirect && a.r.opts.Mode == ModeDirectThenSmarthost
		a.set(i, &outcome{status: rr.Status, reply: rr.Reply, remote: rr.Host, path: path, fallback: fb})
		if fb {
			fallback = append(fallback, i)
		}
	}
	return fallback
}

// relay hands recipients to the smarthost, within its limits.
func (a *attempt) relay(ctx context.Context, m *smtpout.Message, idx []int) {
	o := a.r.opts
	if o.RelayMaxSize > 0 && int64(len(a.data)) > o.RelayMaxSize {
		if o.Mode == ModeSmarthost {
			r := &smtpout.Reply{Code: 552, Enhanced: [3]int{5, 3, 4}, Local: true,
				Text: fmt.Sprintf("message of %d bytes is larger than the relay takes (relay.max_size %d)", len(a.data), o.RelayMaxSize)}
			for _, i := range idx {
				a.set(i, &outcome{status: smtpout.Failed, reply: r, path: pathSmarthost})
			}
		} else {
			a.log.Warn("message too large for the relay: direct delivery result stands", "size", len(a.data), "relay_max_size", o.RelayMaxSize)
		}
		return
	}
	slot, until, err := a.r.pacer.reserve(ctx, a.r.now())
	if err != nil || !until.IsZero() {
		text := fmt.Sprintf("relay limit reached (%s); waiting until %s", a.r.pacer.limits(), until.UTC().Format(time.RFC3339))
		if err != nil {
			text = "cannot count relay sends: " + err.Error()
			until = a.r.now().Add(o.RetryInitial)
		}
		for _, i := range idx {
			t := text
			if prev := a.results[i]; prev != nil {
				t += " (direct: " + prev.reply.String() + ")"
			}
			a.set(i, &outcome{status: smtpout.Deferred, path: pathSmarthost, paced: until,
				reply: &smtpout.Reply{Code: 451, Enhanced: [3]int{4, 4, 5}, Text: t, Local: true}})
		}
		return
	}
	rcpts := make([]addr.Address, len(idx))
	for k, i := range idx {
		rcpts[k] = a.env.Recipients[i].Address
	}
	res := o.SMTP.Relay(ctx, m, rcpts)
	sent := false
	for _, rr := range res {
		sent = sent || rr.Status == smtpout.Sent
	}
	if !sent {
		a.r.pacer.release(ctx, slot)
	}
	a.apply(idx, res, pathSmarthost)
}

// set records an outcome and logs it.
func (a *attempt) set(i int, o *outcome) {
	a.results[i] = o
	rc := a.env.Recipients[i].Address.String()
	attrs := []any{"to", rc, "path", o.path, "reply", o.reply.String()}
	if o.remote != "" {
		attrs = append(attrs, "host", o.remote)
	}
	if o.fallback {
		a.log.Info("direct delivery refused: trying the smarthost now", attrs...)
		return
	}
	switch o.status {
	case smtpout.Sent:
		a.log.Info("delivered", attrs...)
	case smtpout.Failed:
		a.log.Warn("delivery failed", attrs...)
	default:
		a.log.Info("delivery deferred", attrs...)
	}
}

// signedOrigins are the origins of mail that starts here: only that is
// signed. Mail that came in on port 25 and leaves again through an alias
// is not, or a forged "From: you@our-domain" from outside would go out
// carrying our signature.
var signedOrigins = map[string]bool{"submitd": true, "sendmail": true, originBounce: true, originPostmaster: true}

// signer wraps the Signer for the message's From: domain.
func (a *attempt) signer() func([]byte) ([]byte, error) {
	s := a.r.opts.Signer
	if s == nil || !signedOrigins[a.env.Origin] {
		return nil
	}
	domain := fromDomain(a.data)
	if domain == "" {
		domain = a.env.From.Domain
	}
	if domain == "" {
		return nil
	}
	return func(msg []byte) ([]byte, error) { return s.Sign(msg, domain) }
}

// domainGroup is the pending remote recipients of one domain.
type domainGroup struct {
	domain string
	idx    []int
}

// byDomain groups recipients by domain, in order of first appearance.
func byDomain(rcpts []spool.Recipient, idx []int) []domainGroup {
	var out []domainGroup
	pos := map[string]int{}
	for _, i := range idx {
		d := rcpts[i].Address.Domain
		k, ok := pos[d]
		if !ok {
			k = len(out)
			pos[d] = k
			out = append(out, domainGroup{domain: d})
		}
		out[k].idx = append(out[k].idx, i)
	}
	return out
}

// checkpoint records recipients just sent before the attempt goes on to
// other destinations, so that a crash in between does not send to them
// again. Failures are not recorded here: their bounce is queued first, at
// the end.
func (a *attempt) checkpoint(ctx context.Context, res []smtpout.RcptResult) {
	sent := map[addr.Address]bool{}
	for _, rr := range res {
		if rr.Status == smtpout.Sent {
			sent[rr.Rcpt] = true
		}
	}
	if len(sent) == 0 || ctx.Err() != nil {
		return
	}
	err := a.r.sp.Move(ctx, a.env.ID, spool.Active, spool.Active, func(e *spool.Envelope) {
		for i := range e.Recipients {
			if o := a.results[i]; o != nil && o.status == smtpout.Sent && sent[e.Recipients[i].Address] && e.Recipients[i].Status == spool.StatusPending {
				e.Recipients[i].Status = spool.StatusSent
				e.Recipients[i].LastError = o.reply.String()
			}
		}
	})
	if err != nil {
		a.log.Warn("cannot record the recipients delivered so far", "err", err)
	}
}
