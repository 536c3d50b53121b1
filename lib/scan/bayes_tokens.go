package scan

import (
	"strings"
	"unicode"
)

// Token limits: shorter words carry no signal, longer ones are mostly
// encoded junk that would only bloat the database.
const (
	minTokenLen = 3
	maxTokenLen = 40
	// maxTokensPerMessage bounds the work one huge message can cause.
	maxTokensPerMessage = 5000
)

// bayesHeaders are the header fields whose words become tokens, each
// prefixed with the lower-case field name ("subject:free").
var bayesHeaders = []string{"Subject", "From", "Reply-To", "Content-Type", "X-Mailer", "User-Agent"}

// bayesTokens returns the distinct tokens of a raw message: words of the
// decoded text parts (from the same MIME walk the rules use) plus prefixed
// words of selected headers. A message counts each token once.
func bayesTokens(raw []byte) []string {
	m := parseMessage(raw)
	seen := map[string]bool{}
	var out []string
	add := func(prefix, s string) {
		for w := range strings.FieldsFuncSeq(s, splitToken) {
			if len(out) >= maxTokensPerMessage {
				return
			}
			w = strings.ToLower(strings.Trim(w, "'.-"))
			if len(w) < minTokenLen || len(w) > maxTokenLen {
				continue
			}
			w = prefix + w
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	if m.header != nil {
		for _, f := range bayesHeaders {
			for _, v := range m.header[f] {
				add(strings.ToLower(f)+":", decodeWord(v))
			}
		}
	}
	add("", string(m.text))
	return out
}

// splitToken separates words: anything but letters, digits and the few
// marks that belong inside words, prices and URLs ($ ! ' . - _).
func splitToken(r rune) bool {
	if unicode.IsLetter(r) || unicode.IsDigit(r) {
		return false
	}
	switch r {
	case '$', '!', '\'', '.', '-', '_':
		return false
	}
	return true
}
