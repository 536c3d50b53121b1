package scan

import (
	"math"
	"sort"
)

// Classifier constants, after Robinson ("A statistical approach to the
// spam problem") as bogofilter and SpamAssassin use them.
const (
	robinsonS      = 1.0 // strength of the prior belief x for rare tokens
	robinsonX      = 0.5 // assumed probability of a never-seen token
	minDeviation   = 0.1 // tokens with |f-0.5| below this are ignored
	maxInteresting = 150
)

// tokenProb is Robinson's f(w): the token's spam probability p(w), from
// the per-class frequencies, pulled towards x by how rarely it was seen.
func tokenProb(c counts, nspam, nham int) float64 {
	if nspam == 0 || nham == 0 {
		return robinsonX
	}
	sf := float64(c.spam) / float64(nspam)
	hf := float64(c.ham) / float64(nham)
	if sf+hf == 0 {
		return robinsonX
	}
	p := sf / (sf + hf)
	n := float64(c.spam + c.ham)
	return (robinsonS*robinsonX + n*p) / (robinsonS + n)
}

// fisher combines token probabilities with Fisher's method: H and S are
// the chi-square probabilities that the f's (resp. 1-f's) are random; the
// indicator (1+H-S)/2 is near 1 for spam, near 0 for ham, 0.5 unsure.
func fisher(fs []float64) float64 {
	if len(fs) == 0 {
		return robinsonX
	}
	// Most extreme first, at most maxInteresting of them.
	sort.Slice(fs, func(i, j int) bool { return math.Abs(fs[i]-0.5) > math.Abs(fs[j]-0.5) })
	if len(fs) > maxInteresting {
		fs = fs[:maxInteresting]
	}
	var lnf, ln1f float64
	for _, f := range fs {
		f = min(max(f, 1e-6), 1-1e-6)
		lnf += math.Log(f)
		ln1f += math.Log(1 - f)
	}
	h := chi2Q(-2*lnf, 2*len(fs))
	s := chi2Q(-2*ln1f, 2*len(fs))
	return (1 + h - s) / 2
}

// chi2Q is the upper tail of the chi-square distribution with an even
// number v of degrees of freedom (closed form, no gamma function).
func chi2Q(x float64, v int) float64 {
	m := x / 2
	term := math.Exp(-m)
	sum := term
	for i := 1; i < v/2; i++ {
		term *= m / float64(i)
		sum += term
	}
	return min(sum, 1)
}
