package scan

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"mailctl/lib/addr"
	"mailctl/lib/smtpd"
)

// maxSignatures bounds the DKIM signatures verified per message.
const maxSignatures = 10

type authOutcome struct {
	results     []Result
	dkimPass    []string // d= of the signatures that verified
	header      string   // value of Authentication-Results
	fromDomain  string
	dmarcReject bool // DMARC failed and the policy says reject
}

// spfResolver adapts our DNS to the SPF library's interface.
type spfResolver struct{ d DNS }

func (r spfResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return r.d.LookupTXT(ctx, name)
}
func (r spfResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return r.d.LookupMX(ctx, name)
}
func (r spfResolver) LookupAddr(ctx context.Context, ip string) ([]string, error) {
	return r.d.LookupAddr(ctx, ip)
}
func (r spfResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, err := r.d.LookupIP(ctx, "ip", host)
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: ip}
	}
	return out, err
}

// authChecks runs SPF, DKIM and DMARC and formats their header.
func (s *Scanner) authChecks(ctx context.Context, env smtpd.Envelope, msg []byte, m *message) authOutcome {
	var out authOutcome
	var ar []authres.Result

	// SPF: MAIL FROM's domain, or the HELO name for the null sender.
	spfDomain, sender := env.Helo, "postmaster@"+env.Helo
	if env.Sender.Domain != "" {
		spfDomain, sender = env.Sender.Domain, env.Sender.String()
	}
	spfRes := spf.None
	if env.RemoteIP.IsValid() && spfDomain != "" {
		spfRes, _ = spf.CheckHostWithSender(net.IP(env.RemoteIP.Unmap().AsSlice()), env.Helo, sender,
			spf.WithContext(ctx), spf.WithResolver(spfResolver{s.opts.DNS}))
	}
	out.results = append(out.results, s.result("spf", string(spfRes), "smtp.mailfrom="+sender))
	ar = append(ar, &authres.SPFResult{Value: authres.ResultValue(spfRes), From: sender, Helo: env.Helo})

	// The HELO identity on its own (RFC 7208 §2.3), when MAIL FROM was
	// checked above and the HELO name looks like a domain.
	if env.RemoteIP.IsValid() && env.Sender.Domain != "" && strings.Contains(env.Helo, ".") && !strings.HasPrefix(env.Helo, "[") {
		heloRes, _ := spf.CheckHostWithSender(net.IP(env.RemoteIP.Unmap().AsSlice()), env.Helo, "postmaster@"+env.Helo,
			spf.WithContext(ctx), spf.WithResolver(spfResolver{s.opts.DNS}))
		out.results = append(out.results, s.result("spf_helo", string(heloRes), "smtp.helo="+env.Helo))
		ar = append(ar, &authres.SPFResult{Value: authres.ResultValue(heloRes), Helo: env.Helo})
	}

	// DKIM: every signature.
	lookup := func(name string) ([]string, error) { return s.opts.DNS.LookupTXT(ctx, name) }
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: maxSignatures})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		out.results = append(out.results, s.result("dkim", "permerror", err.Error()))
		ar = append(ar, &authres.DKIMResult{Value: authres.ResultPermError, Reason: err.Error()})
	}
	var dkimPass []string
	for _, v := range vs {
		val, detail := authres.ResultValue(authres.ResultPass), "d="+v.Domain
		switch {
		case v.Err == nil:
			dkimPass = append(dkimPass, strings.ToLower(v.Domain))
		case dkim.IsTempFail(v.Err):
			val, detail = authres.ResultTempError, detail+": "+v.Err.Error()
		case dkim.IsPermFail(v.Err):
			val, detail = authres.ResultPermError, detail+": "+v.Err.Error()
		default:
			val, detail = authres.ResultFail, detail+": "+v.Err.Error()
		}
		out.results = append(out.results, s.result("dkim", string(val), detail))
		ar = append(ar, &authres.DKIMResult{Value: val, Domain: v.Domain, Identifier: v.Identifier})
	}
	if len(vs) == 0 && err == nil {
		out.results = append(out.results, s.result("dkim", "none", ""))
		ar = append(ar, &authres.DKIMResult{Value: authres.ResultNone})
	}

	out.dkimPass = dkimPass

	// DMARC on the From: domain.
	dres, detail := s.dmarc(ctx, m, spfRes, spfDomain, dkimPass, &out)
	out.results = append(out.results, s.result("dmarc", string(dres), detail))
	ar = append(ar, &authres.DMARCResult{Value: dres, From: out.fromDomain})

	out.header = authres.Format(s.opts.Hostname, ar)
	return out
}

// dmarc evaluates the From: domain's policy (RFC 7489 §6.6).
func (s *Scanner) dmarc(ctx context.Context, m *message, spfRes spf.Result, spfDomain string, dkimPass []string, out *authOutcome) (authres.ResultValue, string) {
	from := m.fromDomain()
	if from == "" {
		return authres.ResultNone, "no single From: domain"
	}
	out.fromDomain = from
	lookup := func(name string) ([]string, error) { return s.opts.DNS.LookupTXT(ctx, name) }
	org := orgDomain(from)
	rec, err := dmarc.LookupWithOptions(from, &dmarc.LookupOptions{LookupTXT: lookup})
	sub := false
	if errors.Is(err, dmarc.ErrNoPolicy) && org != from {
		rec, err = dmarc.LookupWithOptions(org, &dmarc.LookupOptions{LookupTXT: lookup})
		sub = true
	}
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		return authres.ResultNone, "no policy for " + from
	case dmarc.IsTempFail(err):
		return authres.ResultTempError, err.Error()
	case err != nil:
		return authres.ResultPermError, err.Error()
	}
	aligned := func(d string, mode dmarc.AlignmentMode) bool {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if mode == dmarc.AlignmentStrict {
			return d == from
		}
		return orgDomain(d) == org
	}
	if spfRes == spf.Pass && aligned(spfDomain, rec.SPFAlignment) {
		return authres.ResultPass, "aligned SPF " + spfDomain
	}
	for _, d := range dkimPass {
		if aligned(d, rec.DKIMAlignment) {
			return authres.ResultPass, "aligned DKIM d=" + d
		}
	}
	policy := rec.Policy
	if sub && rec.SubdomainPolicy != "" {
		policy = rec.SubdomainPolicy
	}
	out.dmarcReject = policy == dmarc.PolicyReject
	return authres.ResultFail, "p=" + string(policy)
}

// SPFPasses reports whether sender's SPF (the HELO name's for the null
// sender) passes for the client ip: greylisting's shortcut at RCPT time.
func SPFPasses(ctx context.Context, dns DNS, ip netip.Addr, helo string, sender addr.Address) bool {
	domain, from := helo, "postmaster@"+helo
	if sender.Domain != "" {
		domain, from = sender.Domain, sender.String()
	}
	if !ip.IsValid() || domain == "" {
		return false
	}
	res, _ := spf.CheckHostWithSender(net.IP(ip.Unmap().AsSlice()), helo, from,
		spf.WithContext(ctx), spf.WithResolver(spfResolver{dns}))
	return res == spf.Pass
}

// orgDomain is the organisational domain: one label below the public suffix.
func orgDomain(d string) string {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	if o, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return o
	}
	return d
}

// result names a check's outcome and looks up its weight.
func (s *Scanner) result(check, result, detail string) Result {
	return Result{Check: check, Result: result, Detail: detail, Score: s.weights[check+"_"+result]}
}
