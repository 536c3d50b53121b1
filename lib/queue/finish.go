package queue

import (
	"context"
	"fmt"
	"time"

	"mailctl/lib/smtpout"
	"mailctl/lib/spool"
)

// finish gives up on what is too old, queues the bounces and the delay
// warning, and then removes the message or puts it back in deferred/.
// The bounces are durable before the message's state changes.
func (a *attempt) finish(ctx context.Context) result {
	interrupted := ctx.Err() != nil
	// The spool must be updated even when we are being stopped.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	r, now := a.r, a.r.now()

	if !interrupted && now.Sub(a.env.Received) >= r.opts.MaxAge {
		a.expire()
	}
	var failed []int
	for i, o := range a.results {
		if o.status == smtpout.Failed {
			failed = append(failed, i)
		}
	}
	if len(failed) > 0 {
		if err := r.bounce(sctx, a, failed, false); err != nil {
			a.log.Error("cannot queue the bounce: the failed recipients stay queued", "err", err)
			for _, i := range failed {
				a.results[i].status = smtpout.Deferred
			}
		}
	}

	remaining := 0
	for i, rc := range a.env.Recipients {
		if rc.Status != spool.StatusPending {
			continue
		}
		if o := a.results[i]; o == nil || o.status == smtpout.Deferred {
			remaining++
		}
	}
	id := a.env.ID
	if remaining == 0 {
		if err := r.sp.Remove(sctx, id, spool.Active); err != nil {
			a.log.Error("cannot remove the delivered message", "err", err)
			return resultNone
		}
		r.clearWarned(id)
		a.log.Info("message done", "recipients", len(a.env.Recipients))
		return resultDone
	}

	if !interrupted && r.opts.DelayWarning > 0 && now.Sub(a.env.Received) >= r.opts.DelayWarning && !a.env.From.IsZero() && !r.warned(id) {
		var delayed []int
		for i, o := range a.results {
			if o.status == smtpout.Deferred {
				delayed = append(delayed, i)
			}
		}
		if len(delayed) > 0 {
			if err := r.bounce(sctx, a, delayed, true); err != nil {
				a.log.Error("cannot queue the delay warning", "err", err)
			} else {
				r.markWarned(id)
			}
		}
	}

	counted, next := a.schedule(now, interrupted)
	err := r.sp.Move(sctx, id, spool.Active, spool.Deferred, func(e *spool.Envelope) {
		var last string
		for i := range e.Recipients {
			o := a.results[i]
			if o == nil || e.Recipients[i].Status != spool.StatusPending {
				continue
			}
			e.Recipients[i].LastError = o.reply.String()
			switch o.status {
			case smtpout.Sent:
				e.Recipients[i].Status = spool.StatusSent
			case smtpout.Failed:
				e.Recipients[i].Status = spool.StatusFailed
			default:
				if last == "" {
					last = o.reply.String()
				}
			}
		}
		if counted {
			e.Attempts++
		}
		e.NextAttempt = next
		if last != "" {
			e.LastError = last
		}
	})
	if err != nil {
		a.log.Error("cannot defer the message (it stays in active/ until the next start)", "err", err)
		return resultNone
	}
	a.log.Info("message deferred", "remaining", remaining, "next_attempt", next.UTC().Format(time.RFC3339))
	return resultDeferred
}

// expire fails every recipient still deferred: the message is too old.
func (a *attempt) expire() {
	age := a.r.now().Sub(a.env.Received).Round(time.Minute)
	for i, rc := range a.env.Recipients {
		if rc.Status != spool.StatusPending {
			continue
		}
		o := a.results[i]
		if o == nil || o.status != smtpout.Deferred {
			continue
		}
		enh := o.reply.Enhanced
		if enh[0] != 4 {
			enh = [3]int{4, 4, 7}
		}
		a.results[i] = &outcome{status: smtpout.Failed, remote: o.remote, path: o.path, reply: &smtpout.Reply{
			Code: o.reply.Code, Enhanced: enh, Local: o.reply.Local,
			Text: fmt.Sprintf("%s (gave up after %s in the queue)", o.reply.Text, age),
		}}
		a.log.Warn("delivery time expired", "to", rc.Address.String(), "age", age.String(), "reply", o.reply.String())
	}
}

// schedule says whether this attempt counts as one (a message held back
// only by the relay's limits, or interrupted by shutdown, was not really
// tried) and when the next one is due.
func (a *attempt) schedule(now time.Time, interrupted bool) (bool, time.Time) {
	if interrupted {
		return false, now
	}
	tried := false
	var paced time.Time
	for _, o := range a.results {
		if o.status != smtpout.Deferred {
			continue
		}
		if o.paced.IsZero() {
			tried = true
		} else if paced.IsZero() || o.paced.Before(paced) {
			paced = o.paced
		}
	}
	if !tried && !paced.IsZero() {
		return false, paced
	}
	next := now.Add(a.r.backoff(a.env.Attempts + 1))
	if !paced.IsZero() && paced.Before(next) {
		next = paced
	}
	return true, next
}

// backoff is the wait after the n-th attempt (n ≥ 1): RetryInitial,
// doubling, at most RetryMax.
func (r *Runner) backoff(n int) time.Duration {
	d := r.opts.RetryInitial
	for i := 1; i < n && d < r.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, r.opts.RetryMax)
}
