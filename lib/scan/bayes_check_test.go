package scan

import (
	"context"
	"strings"
	"testing"
)

func TestBayesScore(t *testing.T) {
	for _, c := range []struct{ p, want float64 }{{0.99, 4.9}, {0.5, 0}, {1, 5}, {0, -1}} {
		if got := round(bayesScore(c.p, 5)); got != c.want {
			t.Errorf("bayesScore(%g, 5) = %g, want %g", c.p, got, c.want)
		}
	}
}

// TestBayesCheck: a trained classifier's verdict joins the scan score.
func TestBayesCheck(t *testing.T) {
	b := NewBayes(BayesOptions{Dir: t.TempDir()})
	corpus := genCorpus(300, 5)
	trainCorpus(t, b, "", corpus)
	s := newScanner(t, newZone(t), Options{Bayes: b})
	// A message of nothing but spam words: the classifier is sure.
	spamMsg := []byte("Subject: free cash\r\n\r\n" + strings.Join(spamWords, " ") + "\r\n")
	rep, err := s.Check(context.Background(), env("a@example.com"), spamMsg)
	if err != nil {
		t.Fatal(err)
	}
	r := find(rep, "bayes")
	if r.Result != "spam" || r.Score < 4 {
		t.Fatalf("bayes result %+v, want spam scoring about 5", r)
	}
}
