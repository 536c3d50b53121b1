package scan

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var (
	spamWords = strings.Fields("free winner viagra cash prize offer cheap loans casino bonus click unsubscribe " +
		"guaranteed million urgent wire transfer discount pharmacy replica rolex bitcoin investment limited act now")
	hamWords = strings.Fields("meeting agenda project report review schedule tomorrow lunch team budget draft " +
		"invoice attached minutes notes release branch deploy friday weekend family dinner photos thanks")
	// sharedWords appear in both classes: they must not decide.
	sharedWords = strings.Fields("hello please regards today information account email update time your the and " +
		"offer review money week message order")
)

// genMessage makes one message: mostly words of its class, some shared
// words and some of the other class as noise.
func genMessage(r *rand.Rand, spam bool, i int) []byte {
	own, other := hamWords, spamWords
	if spam {
		own, other = spamWords, hamWords
	}
	pick := func(ws []string) string { return ws[r.IntN(len(ws))] }
	var words []string
	for range 20 + r.IntN(30) {
		switch x := r.Float64(); {
		case x < 0.35:
			words = append(words, pick(own))
		case x < 0.85:
			words = append(words, pick(sharedWords))
		default:
			words = append(words, pick(other))
		}
	}
	subj := pick(sharedWords) + " " + pick(own)
	return fmt.Appendf(nil, "From: sender%d@example.com\r\nTo: u@example.org\r\nSubject: %s\r\nMessage-ID: <%d@x>\r\n\r\n%s\r\n",
		r.IntN(50), subj, i, strings.Join(words, " "))
}

type sample struct {
	msg  []byte
	spam bool
}

func genCorpus(n int, seed uint64) []sample {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]sample, n)
	for i := range out {
		spam := i%2 == 0
		out[i] = sample{genMessage(r, spam, i), spam}
	}
	return out
}

func trainCorpus(t testing.TB, b *Bayes, user string, set []sample) {
	var spam, ham [][]byte
	for _, s := range set {
		if s.spam {
			spam = append(spam, s.msg)
		} else {
			ham = append(ham, s.msg)
		}
	}
	ctx := context.Background()
	if err := b.Train(ctx, user, true, spam...); err != nil {
		t.Fatal(err)
	}
	if err := b.Train(ctx, user, false, ham...); err != nil {
		t.Fatal(err)
	}
}

// TestBayesAccuracy trains on 80 % of a generated corpus and checks the
// held-out 20 %; `make bench` prints the figure it logs.
func TestBayesAccuracy(t *testing.T) {
	corpus := genCorpus(400, 1)
	cut := len(corpus) * 8 / 10
	b := NewBayes(BayesOptions{Dir: t.TempDir()})
	trainCorpus(t, b, "", corpus[:cut])
	right, unsure := 0, 0
	for _, s := range corpus[cut:] {
		v, err := b.Classify("", s.msg)
		if err != nil {
			t.Fatal(err)
		}
		if v.Database != "global" || v.Tokens == 0 {
			t.Fatalf("verdict %+v: want global data with known tokens", v)
		}
		if (v.Spam > 0.5) == s.spam && v.Spam != 0.5 {
			right++
		}
		if v.Spam > 0.2 && v.Spam < 0.8 {
			unsure++
		}
	}
	held := len(corpus) - cut
	acc := float64(right) / float64(held)
	t.Logf("bayes accuracy: %d/%d held-out messages right (%.1f %%), %d unsure (0.2..0.8), trained on %d",
		right, held, acc*100, unsure, cut)
	if acc < 0.9 {
		t.Errorf("accuracy %.3f below 0.9", acc)
	}
}

func TestBayesUntrainedIsUnsure(t *testing.T) {
	b := NewBayes(BayesOptions{Dir: t.TempDir()})
	v, err := b.Classify("a@example.org", []byte("Subject: x\r\n\r\nfree cash\r\n"))
	if err != nil || v.Spam != 0.5 || v.Database != "global" {
		t.Fatalf("got %+v, %v; want 0.5 from global", v, err)
	}
}

// TestBayesUserFallback: a user's data judges only once it has enough of
// both classes; training a user also trains the global database.
func TestBayesUserFallback(t *testing.T) {
	dir := t.TempDir()
	b := NewBayes(BayesOptions{Dir: dir, MinTrained: 10})
	corpus := genCorpus(40, 2)
	const user = "Bob@Example.ORG"
	trainCorpus(t, b, user, corpus[:10]) // 5 spam, 5 ham: too few
	msg := corpus[30].msg
	if v, _ := b.Classify(user, msg); v.Database != "global" {
		t.Fatalf("after 5+5: %+v, want global", v)
	}
	trainCorpus(t, b, user, corpus[10:30])
	if v, _ := b.Classify(user, msg); v.Database != "user" {
		t.Fatalf("after 15+15: %+v, want user", v)
	}
	if v, _ := b.Classify("other@example.org", msg); v.Database != "global" {
		t.Fatalf("other user: %+v, want global", v)
	}
	for _, u := range []string{"", "bob@example.org"} {
		s, h, n, err := b.Stats(u)
		if err != nil || s != 15 || h != 15 || n == 0 {
			t.Errorf("Stats(%q) = %d %d %d %v, want 15 15 >0", u, s, h, n, err)
		}
	}
	if _, err := b.Classify("not an address", msg); err == nil {
		t.Error("bad user address: no error")
	}
}

func TestBayesPrune(t *testing.T) {
	dir := t.TempDir()
	b := NewBayes(BayesOptions{Dir: dir, MaxTokens: 30})
	trainCorpus(t, b, "", genCorpus(60, 3))
	_, _, n, err := b.Stats("")
	if err != nil || n == 0 || n > 30 {
		t.Fatalf("tokens after prune = %d, %v; want 1..30", n, err)
	}
}

func TestBayesFormat(t *testing.T) {
	db := &bayesDB{nspam: 3, nham: 4, tokens: map[string]counts{"free": {3, 1}, "subject:hello": {0, 2}}}
	data := db.encode()
	want := "mailctl-bayes 1 3 4\nfree 3 1\nsubject:hello 0 2\n"
	if string(data) != want {
		t.Fatalf("encode = %q, want %q", data, want)
	}
	back := &bayesDB{tokens: map[string]counts{}}
	if err := back.decode(data); err != nil || back.nspam != 3 || back.tokens["free"] != (counts{3, 1}) {
		t.Fatalf("decode: %+v %v", back, err)
	}
	for _, bad := range []string{"", "junk\n", "mailctl-bayes 1 x 2\n", "mailctl-bayes 1 1 1\nfree 1\n", "mailctl-bayes 1 1 1\nfree -1 0\n"} {
		if err := (&bayesDB{tokens: map[string]counts{}}).decode([]byte(bad)); err == nil {
			t.Errorf("decode(%q): no error", bad)
		}
	}
}

func TestBayesTokens(t *testing.T) {
	msg := "Subject: =?utf-8?q?FREE_Cash?=\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nV2luIGEgUHJpemUh\r\n--b--\r\n"
	got := strings.Join(bayesTokens([]byte(msg)), " ")
	for _, w := range []string{"subject:free", "subject:cash", "win", "prize!"} {
		if !strings.Contains(" "+got+" ", " "+w+" ") {
			t.Errorf("tokens %q lack %q", got, w)
		}
	}
}

// TestBayesConcurrentProcesses: two processes train at once; no update is
// lost because each read-modify-write holds the OFD lock.
func TestBayesConcurrentProcesses(t *testing.T) {
	if dir := os.Getenv("MAILCTL_BAYES_HELPER"); dir != "" {
		b := NewBayes(BayesOptions{Dir: dir})
		for i, s := range genCorpus(20, 4) {
			if err := b.Train(context.Background(), "", i%2 == 0, s.msg); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for range 2 {
		c := exec.Command(os.Args[0], "-test.run=^TestBayesConcurrentProcesses$")
		c.Env = append(os.Environ(), "MAILCTL_BAYES_HELPER="+dir)
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	b := NewBayes(BayesOptions{Dir: dir})
	s, h, _, err := b.Stats("")
	if err != nil || s != 20 || h != 20 {
		t.Fatalf("after two processes of 10+10: %d spam %d ham (%v), want 20 20", s, h, err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "global.db"))
	if !strings.HasPrefix(string(data), "mailctl-bayes 1 "+strconv.Itoa(20)+" 20\n") {
		t.Errorf("file header %q", strings.SplitN(string(data), "\n", 2)[0])
	}
}
