package scan

import (
	"bytes"
	"regexp"
	"strings"
	"unicode"

	"mailctl/lib/addr"
	"mailctl/lib/smtpd"
)

// gtube is SpamAssassin's Generic Test for Unsolicited Bulk Email.
const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

var urlRE = regexp.MustCompile(`(?i)\bhttps?://[^\s"'<>]+`)

// rules applies the header and body heuristics.
func (s *Scanner) rules(env smtpd.Envelope, m *message) []Result {
	var out []Result
	hit := func(name, detail string) {
		out = append(out, Result{Check: name, Result: "hit", Detail: detail, Score: s.weights[name]})
	}
	if m.header == nil || m.header.Get("From") == "" {
		hit("missing_from", "")
	}
	if m.header == nil || m.header.Get("Date") == "" {
		hit("missing_date", "")
	}
	if m.header == nil || m.header.Get("Message-Id") == "" {
		hit("missing_message_id", "")
	}
	if d := m.fromDomain(); d != "" && env.AuthUser == "" && s.isLocal(d) {
		hit("forged_local", "From: "+d+" without authentication")
	} else if env.Sender.Domain != "" && env.AuthUser == "" && s.isLocal(env.Sender.Domain) {
		hit("forged_local", "MAIL FROM "+env.Sender.String()+" without authentication")
	}
	if m.hasHTML && !m.hasPlain {
		hit("html_only", "")
	}
	if n := len(urlRE.FindAll(m.text, maxURLs+1)); n > maxURLs {
		hit("many_urls", "more than 10 URLs")
	}
	if capsSubject(m.subject()) {
		hit("caps_subject", "")
	}
	if bytes.Contains(m.text, []byte(gtube)) {
		hit("gtube", "GTUBE test string")
	}
	return out
}

func (s *Scanner) isLocal(domain string) bool {
	if s.opts.LocalDomain == nil {
		return false
	}
	d, err := addr.ParseDomain(domain)
	if err != nil {
		return false
	}
	ok, err := s.opts.LocalDomain(d)
	return err == nil && ok
}

// capsSubject: at least 10 letters, and none of them lower-case.
func capsSubject(subj string) bool {
	letters := 0
	for _, r := range subj {
		if unicode.IsLower(r) {
			return false
		}
		if unicode.IsUpper(r) {
			letters++
		}
	}
	return letters >= 10 && strings.TrimSpace(subj) != ""
}
