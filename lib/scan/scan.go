package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/smtpd"
)

// DNS is the resolver the checks ask (lib/resolver.Resolver satisfies it).
type DNS interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
	LookupAddr(ctx context.Context, ip string) ([]string, error)
}

// Zone is one DNS list queried with the client IP. A positive Weight is a
// blocklist, a negative one a welcome list.
type Zone struct {
	Zone   string
	Weight float64
}

// Engine is an external scanner (clamd, spamd…). Scan returns its Result;
// an error means the engine could not be reached or did not answer.
type Engine interface {
	Name() string
	Scan(ctx context.Context, msg []byte) (Result, error)
}

// EnginePolicy says what to do when an engine is down.
type EnginePolicy string

const (
	// PolicyTempFail answers 451: the sender tries again later.
	PolicyTempFail EnginePolicy = "tempfail"
	// PolicyAccept goes on without the engine and says so in a header.
	PolicyAccept EnginePolicy = "accept"
)

// EngineConfig is an engine with its down policy.
type EngineConfig struct {
	Engine Engine
	OnDown EnginePolicy
}

// Defaults for zero Options fields.
const (
	DefaultDeadline    = 30 * time.Second
	DefaultSpamScore   = 5.0
	DefaultRejectScore = 15.0
)

// Options configure a Scanner.
type Options struct {
	// Hostname is our authserv-id in Authentication-Results.
	Hostname string
	// LocalDomain reports whether a domain is ours (the forged local
	// sender rule); nil means none is.
	LocalDomain func(domain string) (bool, error)
	DNS         DNS
	Deadline    time.Duration
	// SpamScore and RejectScore are the thresholds: a score at or above
	// SpamScore is Spam, at or above RejectScore is refused.
	SpamScore, RejectScore float64
	// DMARCReject refuses a DMARC failure under p=reject at SMTP time.
	DMARCReject bool
	Zones       []Zone
	// Weights override the rule and check weights of DefaultWeights.
	Weights map[string]float64
	Engines []EngineConfig
	// Attachments, when set, refuses dangerous attachments outright.
	Attachments *AttachmentPolicy
	// VirusOnly runs the engines alone (submission: our own users' mail
	// is not judged as spam, but a virus is still refused).
	VirusOnly bool
	// Bayes, when set, adds the classifier's verdict on the global data
	// as the check "bayes" (see bayesScore).
	Bayes *Bayes
	// OnDKIMPass, when set, hears the domains whose DKIM signature
	// verified on a message smtpd accepted (greylisting remembers them).
	OnDKIMPass func(ctx context.Context, domains []string)
	Logger     *slog.Logger
}

// Result is one check's outcome.
type Result struct {
	Check  string  `json:"check"`
	Result string  `json:"result"` // pass, fail, none, hit, error, …
	Detail string  `json:"detail,omitempty"`
	Score  float64 `json:"score"`
	// Virus is the name of the virus an engine found.
	Virus string `json:"virus,omitempty"`
}

// Report is everything a scan found.
type Report struct {
	Results []Result `json:"results"`
	Score   float64  `json:"score"`
	Action  string   `json:"action"` // accept, spam, reject, tempfail
	Reason  string   `json:"reason,omitempty"`
	Virus   string   `json:"virus,omitempty"`
	// EngineDown names an engine that could not be reached.
	EngineDown string   `json:"engine_down,omitempty"`
	Headers    []string `json:"headers"`
	// DKIMPass lists the d= domains whose signatures verified.
	DKIMPass []string `json:"dkim_pass,omitempty"`
	// Stripped counts forged Authentication-Results fields removed.
	Stripped int `json:"stripped"`
	// Message is the message without them (nil when none was removed).
	Message []byte `json:"-"`

	scanned []byte // what the checks saw, for the per-user classifier
}

// Scanner runs the checks. It is safe for concurrent use.
type Scanner struct {
	opts    Options
	weights map[string]float64
}

// New checks opts and returns a Scanner.
func New(opts Options) (*Scanner, error) {
	if opts.DNS == nil {
		return nil, errors.New("scan: no DNS resolver")
	}
	if opts.Hostname == "" {
		return nil, errors.New("scan: no host name")
	}
	if opts.Deadline <= 0 {
		opts.Deadline = DefaultDeadline
	}
	if opts.SpamScore == 0 {
		opts.SpamScore = DefaultSpamScore
	}
	if opts.RejectScore == 0 {
		opts.RejectScore = DefaultRejectScore
	}
	if opts.RejectScore < opts.SpamScore {
		return nil, fmt.Errorf("scan: reject score %g below spam score %g", opts.RejectScore, opts.SpamScore)
	}
	w := map[string]float64{}
	for k, v := range DefaultWeights {
		w[k] = v
	}
	for k, v := range opts.Weights {
		if _, ok := DefaultWeights[k]; !ok {
			return nil, fmt.Errorf("scan: unknown weight %q", k)
		}
		w[k] = v
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scanner{opts: opts, weights: w}, nil
}

// Check runs every check on msg under the deadline and returns the report.
// An error means the message could not be judged at all.
func (s *Scanner) Check(ctx context.Context, env smtpd.Envelope, msg []byte) (*Report, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Deadline)
	defer cancel()
	rep := &Report{}
	clean, stripped := stripAuthResults(msg, s.opts.Hostname)
	if stripped > 0 {
		rep.Stripped, rep.Message, msg = stripped, clean, clean
	}
	rep.scanned = msg
	var a authOutcome
	attachment := "" // why an attachment is refused
	if !s.opts.VirusOnly {
		m := parseMessage(msg)
		a = s.authChecks(ctx, env, msg, m)
		rep.DKIMPass = a.dkimPass
		rep.Results = append(rep.Results, a.results...)
		rep.Results = append(rep.Results, s.dnsbl(ctx, env.RemoteIP)...)
		rep.Results = append(rep.Results, s.rules(env, m)...)
		if s.opts.Bayes != nil {
			rep.Results = append(rep.Results, s.bayes(msg))
		}
		if s.opts.Attachments != nil {
			r := Result{Check: "attachment", Result: "ok"}
			if why, bad := s.opts.Attachments.check(m); bad {
				r.Result, r.Detail = "refused", why
				attachment = why
			}
			rep.Results = append(rep.Results, r)
		}
	}
	for _, ec := range s.opts.Engines {
		r, err := ec.Engine.Scan(ctx, msg)
		if err != nil {
			r = Result{Check: ec.Engine.Name(), Result: "error", Detail: err.Error()}
			if rep.EngineDown == "" {
				rep.EngineDown = ec.Engine.Name()
			}
			if ec.OnDown == PolicyAccept {
				rep.Headers = append(rep.Headers, "X-Scan-Skipped: "+ec.Engine.Name()+" unreachable")
			} else {
				rep.Action, rep.Reason = "tempfail", "Message could not be scanned, try again later"
			}
		}
		if r.Virus != "" && rep.Virus == "" {
			rep.Virus = r.Virus
		}
		rep.Results = append(rep.Results, r)
	}
	for _, r := range rep.Results {
		rep.Score += r.Score
	}
	rep.Score = round(rep.Score)
	if !s.opts.VirusOnly {
		rep.Headers = append([]string{"Authentication-Results: " + a.header}, rep.Headers...)
	}

	switch {
	case rep.Virus != "":
		rep.Action, rep.Reason = "reject", "Virus found: "+rep.Virus
	case attachment != "":
		rep.Action, rep.Reason = "reject", "Attachment refused: "+attachment
	case rep.Action == "tempfail":
	case a.dmarcReject && s.opts.DMARCReject:
		rep.Action, rep.Reason = "reject", "DMARC policy of "+a.fromDomain+" says reject"
	case rep.Score >= s.opts.RejectScore:
		rep.Action, rep.Reason = "reject", fmt.Sprintf("Message looks like spam (score %.1f)", rep.Score)
	case rep.Score >= s.opts.SpamScore:
		rep.Action = "spam"
	default:
		rep.Action = "accept"
	}
	rep.Reason = printable(rep.Reason)
	if !s.opts.VirusOnly && (rep.Action == "spam" || rep.Action == "accept") {
		rep.Headers = append(rep.Headers, s.spamHeaders(rep.Action == "spam", rep.Score, rep.Results)...)
	}
	return rep, nil
}

// spamHeaders are the X-Spam-Status and X-Spam-Score fields of a verdict.
func (s *Scanner) spamHeaders(spam bool, score float64, rs []Result) []string {
	status := "No"
	if spam {
		status = "Yes"
	}
	return []string{
		fmt.Sprintf("X-Spam-Status: %s, score=%.1f required=%.1f tests=%s", status, score, s.opts.SpamScore, testNames(rs)),
		fmt.Sprintf("X-Spam-Score: %.1f", score),
	}
}

// Scan implements smtpd.Scanner and logs the verdict with its reasons.
func (s *Scanner) Scan(ctx context.Context, env smtpd.Envelope, msg []byte) (smtpd.Verdict, error) {
	rep, err := s.Check(ctx, env, msg)
	if err != nil {
		return smtpd.Verdict{}, err
	}
	v := smtpd.Verdict{Reason: rep.Reason, Headers: rep.Headers, Message: rep.Message}
	if s.opts.Bayes != nil && !s.opts.VirusOnly && (rep.Action == "spam" || rep.Action == "accept") {
		// Each local user's copy gets its own verdict and X-Spam-* fields.
		v.Headers = rep.CommonHeaders()
		v.Recipient = func(user addr.Address) smtpd.RecipientVerdict {
			uv := s.ForUser(rep, user)
			s.opts.Logger.Info("scan recipient verdict", "id", env.ID, "rcpt", user.String(), "junk", uv.Spam,
				"score", uv.Score, "bayes", uv.Database)
			return smtpd.RecipientVerdict{Spam: uv.Spam, Headers: uv.Headers}
		}
	}
	if s.opts.OnDKIMPass != nil && len(rep.DKIMPass) > 0 && (rep.Action == "spam" || rep.Action == "accept") {
		s.opts.OnDKIMPass(ctx, rep.DKIMPass)
	}
	switch rep.Action {
	case "spam":
		v.Action = smtpd.Spam
	case "reject":
		v.Action = smtpd.Reject
	case "tempfail":
		v.Action = smtpd.TempFail
	}
	s.opts.Logger.Info("scan verdict", "id", env.ID, "action", rep.Action, "score", rep.Score,
		"reason", rep.Reason, "virus", rep.Virus, "tests", testNames(rep.Results), "ip", env.RemoteIP.String(),
		"from", env.Sender.String())
	return v, nil
}

// testNames lists the checks that scored, with their contributions.
func testNames(rs []Result) string {
	var out []string
	for _, r := range rs {
		if r.Score != 0 {
			out = append(out, fmt.Sprintf("%s=%g", strings.ToUpper(r.Check+"_"+r.Result), round(r.Score)))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}

func round(f float64) float64 { return float64(int64(f*100+copysign(0.5, f))) / 100 }

func copysign(a, b float64) float64 {
	if b < 0 {
		return -a
	}
	return a
}

// printable keeps a reply text to printable ASCII: it goes on the wire.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}
