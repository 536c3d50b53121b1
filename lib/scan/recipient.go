package scan

import (
	"strings"

	"mailctl/lib/addr"
)

// UserVerdict is the decision for one local recipient's copy: one SMTP
// reply covers every recipient, so refusal is global, but Junk or INBOX is
// decided per user with that user's own classifier data.
type UserVerdict struct {
	Score float64
	Spam  bool
	// Database is the Bayes data that judged: "user" once the user trained
	// enough (BayesOptions.MinTrained), else "global".
	Database string
	// Headers are this copy's X-Spam-Status and X-Spam-Score fields.
	Headers []string
}

// ForUser re-judges a report made by Check for one local user: the global
// score, with the "bayes" contribution taken from the user's data when
// the user has trained enough. Without a classifier, or when the user's
// data would not be used, it is the global verdict.
func (s *Scanner) ForUser(rep *Report, user addr.Address) UserVerdict {
	uv := UserVerdict{Score: rep.Score, Spam: rep.Action == "spam", Database: "global"}
	results := rep.Results
	if s.opts.Bayes != nil {
		if v, err := s.opts.Bayes.Classify(user.String(), rep.scanned); err == nil && v.Database == "user" {
			uv.Database = "user"
			results = make([]Result, len(rep.Results))
			copy(results, rep.Results)
			uv.Score = 0
			for i, r := range results {
				if r.Check == "bayes" {
					results[i] = s.bayesResult(v)
				}
				uv.Score += results[i].Score
			}
			uv.Score = round(uv.Score)
			uv.Spam = uv.Score >= s.opts.SpamScore
		}
	}
	uv.Headers = s.spamHeaders(uv.Spam, uv.Score, results)
	return uv
}

// CommonHeaders are the report's header fields without the global
// X-Spam-* ones: what every copy gets when ForUser decides each copy.
func (r *Report) CommonHeaders() []string {
	var out []string
	for _, h := range r.Headers {
		name, _, _ := strings.Cut(h, ":")
		if !strings.EqualFold(name, "X-Spam-Status") && !strings.EqualFold(name, "X-Spam-Score") {
			out = append(out, h)
		}
	}
	return out
}
