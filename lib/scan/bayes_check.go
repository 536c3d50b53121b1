package scan

import "fmt"

// bayes runs the classifier on the global data: at SMTP time one reply
// covers every recipient, so no user's data may decide.
func (s *Scanner) bayes(msg []byte) Result {
	v, err := s.opts.Bayes.Classify("", msg)
	if err != nil {
		return Result{Check: "bayes", Result: "error", Detail: err.Error()}
	}
	return s.bayesResult(v)
}

// bayesResult turns a classification into the "bayes" check's result.
func (s *Scanner) bayesResult(v BayesVerdict) Result {
	r := Result{Check: "bayes", Result: "none", Score: round(bayesScore(v.Spam, s.weights["bayes"])),
		Detail: fmt.Sprintf("spam probability %.3f from %d known tokens (%s data)", v.Spam, v.Tokens, v.Database)}
	switch {
	case v.Spam >= 0.8:
		r.Result = "spam"
	case v.Spam <= 0.2:
		r.Result = "ham"
	}
	return r
}

// bayesScore maps a spam probability p to a score: weight·(2p−1) on the
// spam side, a fifth of that on the ham side, so a confident ham verdict
// cannot by itself wash out other evidence of spam.
func bayesScore(p, weight float64) float64 {
	x := weight * (2*p - 1)
	if x < 0 {
		x /= 5
	}
	return x
}
