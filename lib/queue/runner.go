package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/deliver"
	"mailctl/lib/safeio"
	"mailctl/lib/smtpout"
	"mailctl/lib/spool"
)

// Mode is how remote mail leaves (config relay.mode).
type Mode string

const (
	ModeDirect              Mode = "direct"
	ModeSmarthost           Mode = "smarthost"
	ModeDirectThenSmarthost Mode = "direct-then-smarthost"
)

// Signer adds a signature to outgoing mail (DKIM). It returns msg
// unchanged when fromDomain has no key.
type Signer interface {
	Sign(msg []byte, fromDomain string) ([]byte, error)
}

// LocalDeliverer delivers to local mailboxes; *deliver.Deliverer is one.
type LocalDeliverer interface {
	Deliver(ctx context.Context, env deliver.Envelope, r io.Reader, maxSize int64) []deliver.Result
}

// Options configure a Runner.
type Options struct {
	Spool *spool.Spool
	SMTP  *smtpout.Client
	// Local delivers local recipients (retries) and bounces to local
	// senders; nil fails them temporarily.
	Local         LocalDeliverer
	IsLocalDomain func(domain string) (bool, error)
	Hostname      string       // Reporting-MTA and the MAILER-DAEMON domain
	Postmaster    addr.Address // gets reports that can't go to the sender
	Mode          Mode
	RetryInitial  time.Duration
	RetryMax      time.Duration
	MaxAge        time.Duration
	DelayWarning  time.Duration // 0: never
	Concurrency   int
	// The relay's limits; 0 is none.
	RelayPerHour, RelayPerDay int
	RelayMaxSize              int64
	// StateDir holds the runner lock, the relay counter and the delay
	// warning markers.
	StateDir string
	Signer   Signer        // nil: no signing
	Poll     time.Duration // how often the daemon looks at incoming/ (0: 1s)
	Logger   *slog.Logger
	Now      func() time.Time // tests move the clock; nil is time.Now
}

// ErrBusy is returned when another runner holds the runner lock.
var ErrBusy = errors.New("queue: another queue runner is running")

// Runner delivers what is in the spool.
type Runner struct {
	opts  Options
	sp    *spool.Spool
	log   *slog.Logger
	now   func() time.Time
	pacer *pacer
}

// New checks the options and returns a Runner.
func New(opts Options) (*Runner, error) {
	switch {
	case opts.Spool == nil:
		return nil, errors.New("queue: no spool")
	case opts.SMTP == nil:
		return nil, errors.New("queue: no SMTP client")
	case opts.StateDir == "":
		return nil, errors.New("queue: no state directory")
	case opts.Hostname == "":
		return nil, errors.New("queue: no hostname")
	case opts.IsLocalDomain == nil:
		return nil, errors.New("queue: no local domain check")
	}
	switch opts.Mode {
	case ModeDirect:
	case ModeSmarthost, ModeDirectThenSmarthost:
		if !opts.SMTP.HasRelay() {
			return nil, fmt.Errorf("queue: mode %s needs a relay", opts.Mode)
		}
	default:
		return nil, fmt.Errorf("queue: unknown mode %q", opts.Mode)
	}
	if opts.RetryInitial <= 0 {
		opts.RetryInitial = 5 * time.Minute
	}
	opts.RetryMax = max(opts.RetryMax, opts.RetryInitial)
	if opts.MaxAge <= 0 {
		opts.MaxAge = 5 * 24 * time.Hour
	}
	opts.Concurrency = max(opts.Concurrency, 1)
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(opts.StateDir, warnedDir), 0o700); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	r := &Runner{opts: opts, sp: opts.Spool, log: opts.Logger, now: opts.Now}
	r.pacer = &pacer{path: filepath.Join(opts.StateDir, "relay-sends"), perHour: opts.RelayPerHour, perDay: opts.RelayPerDay}
	return r, nil
}

// Stats counts what one RunOnce did.
type Stats struct {
	Attempted int // messages taken from the queue
	Done      int // … and finished (every recipient delivered or bounced)
	Deferred  int // … and put back for a later attempt
}

// start takes the runner lock and puts back what a dead runner left.
func (r *Runner) start(ctx context.Context) (*safeio.Lock, error) {
	lctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	lock, err := safeio.LockFile(lctx, filepath.Join(r.opts.StateDir, "queue-runner.lock"))
	if errors.Is(err, safeio.ErrLockTimeout) {
		return nil, ErrBusy
	}
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	n, err := r.sp.RequeueActive(ctx)
	if err != nil {
		lock.Unlock()
		return nil, fmt.Errorf("queue: requeue active: %w", err)
	}
	if n > 0 {
		r.log.Warn("messages left in active/ by a runner that stopped were put back", "count", n)
	}
	if _, err := r.sp.Recover(ctx); err != nil {
		r.log.Error("spool recovery", "err", err)
	}
	r.cleanWarned()
	return lock, nil
}

// job is a message to attempt.
type job struct {
	id    string
	state spool.State
}

// due lists what can be attempted now, and when the next deferred message
// becomes due (zero if none).
func (r *Runner) due(ctx context.Context, withDeferred bool) ([]job, time.Time, error) {
	states := []spool.State{spool.Incoming}
	if withDeferred {
		states = append(states, spool.Deferred)
	}
	entries, err := r.sp.List(ctx, states...)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := r.now()
	var jobs []job
	var next time.Time
	for _, e := range entries {
		if e.State == spool.Deferred && e.NextAttempt.After(now) {
			if next.IsZero() || e.NextAttempt.Before(next) {
				next = e.NextAttempt
			}
			continue
		}
		jobs = append(jobs, job{e.ID, e.State})
	}
	return jobs, next, nil
}

// RunOnce delivers everything that is due — including the smarthost
// fallback and the bounces this run produces — and returns. Deferrals
// are not errors. It returns ErrBusy when another runner is running.
func (r *Runner) RunOnce(ctx context.Context) (Stats, error) {
	lock, err := r.start(ctx)
	if err != nil {
		return Stats{}, err
	}
	defer lock.Unlock()
	var (
		st   Stats
		mu   sync.Mutex
		seen = map[string]bool{} // each message once per run
	)
	for pass := 0; pass < 100 && ctx.Err() == nil; pass++ {
		jobs, _, err := r.due(ctx, true)
		if err != nil {
			return st, err
		}
		var todo []job
		for _, j := range jobs {
			if !seen[j.id] {
				seen[j.id] = true
				todo = append(todo, j)
			}
		}
		if len(todo) == 0 {
			break
		}
		sem := make(chan struct{}, r.opts.Concurrency)
		var wg sync.WaitGroup
		for _, j := range todo {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				res := r.process(ctx, j.id, j.state)
				mu.Lock()
				st.add(res)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	return st, ctx.Err()
}

func (s *Stats) add(res result) {
	switch res {
	case resultDone:
		s.Attempted++
		s.Done++
	case resultDeferred:
		s.Attempted++
		s.Deferred++
	}
}

// Run is the daemon: it delivers what is due until ctx is done, then
// waits for the deliveries in progress (which end at once: they run
// under ctx) and puts them back.
func (r *Runner) Run(ctx context.Context) error {
	lock, err := r.start(ctx)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	r.log.Info("queue runner started", "mode", string(r.opts.Mode), "concurrency", r.opts.Concurrency)

	var (
		mu       sync.Mutex
		inflight = map[string]bool{}
		wg       sync.WaitGroup
		sem      = make(chan struct{}, r.opts.Concurrency)
		wake     = make(chan struct{}, 1)
		nextDef  time.Time // when deferred/ must be looked at again
	)
	defer wg.Wait()
	for ctx.Err() == nil {
		now := r.now()
		withDeferred := !now.Before(nextDef)
		jobs, next, err := r.due(ctx, withDeferred)
		if err != nil && ctx.Err() == nil {
			r.log.Error("cannot list the queue", "err", err)
		}
		if withDeferred {
			nextDef = now.Add(time.Minute)
			if !next.IsZero() && next.Before(nextDef) {
				nextDef = next
			}
		}
		for _, j := range jobs {
			mu.Lock()
			busy := inflight[j.id]
			mu.Unlock()
			if busy {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
			mu.Lock()
			inflight[j.id] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.process(ctx, j.id, j.state)
				mu.Lock()
				delete(inflight, j.id)
				mu.Unlock()
				<-sem
				select {
				case wake <- struct{}{}: // a bounce may be waiting
				default:
				}
			}()
		}
		wait := r.opts.Poll
		if d := nextDef.Sub(r.now()); d < wait {
			wait = max(d, 10*time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
	r.log.Info("queue runner stopping")
	return nil
}
